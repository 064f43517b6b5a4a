// GenerateForm: the Generate Video form. It turns the fields into the job
// request the API takes and shows the server's verdict on each field next
// to it: the gateway is the one judge of what a valid request is.

import { required, setAttribute, setText, show } from './dom.js';

/** @typedef {import('./api.js').JobRequest} JobRequest */
/** @typedef {import('./api.js').FieldError} FieldError */

/** The form's fields, by name. */
export const FORM_FIELDS = /** @type {const} */ ([
  'topic',
  'audience',
  'goal',
  'tone',
  'duration',
  'aspect',
  'resolution',
  'voiceRate',
  'quality',
]);

/** @typedef {typeof FORM_FIELDS[number]} FormField */
/** @typedef {Partial<Record<FormField, string>>} FormValues */

/** Where each field goes in the request (and so in the server's errors). */
export const FIELD_PATHS = /** @type {const} */ ({
  topic: 'brief.topic',
  audience: 'brief.audience',
  goal: 'brief.goal',
  tone: 'brief.tone',
  duration: 'planSpec.targetDuration',
  aspect: 'brief.aspect',
  resolution: 'renderSpec.res',
  voiceRate: 'voiceSpec.rate',
  quality: 'renderSpec.qualityLevel',
});

/**
 * The field a server error's path names ("renderSpec.res.width" is the
 * resolution's), or null when no field of the form holds it.
 * @param {string} path
 * @returns {FormField | null}
 */
export function fieldForPath(path) {
  for (const field of FORM_FIELDS) {
    const target = FIELD_PATHS[field];
    if (path === target || path.startsWith(`${target}.`)) {
      return field;
    }
  }
  return null;
}

/**
 * A number when text is one, else text itself (the server then names
 * the field and what it must be).
 * @param {string} text
 * @returns {number | string}
 */
function numberOrText(text) {
  const value = Number(text);
  return text !== '' && Number.isFinite(value) ? value : text;
}

/**
 * The job request for the form's values; empty fields are left out, so
 * the server's defaults apply.
 * @param {FormValues} values
 * @returns {JobRequest}
 */
export function buildJobRequest(values) {
  /** @param {FormField} field */
  const get = (field) => (values[field] ?? '').trim();
  /** @type {JobRequest} */
  const request = { brief: { topic: get('topic') } };
  for (const field of /** @type {const} */ (['audience', 'goal', 'tone', 'aspect'])) {
    const value = get(field);
    if (value !== '') request.brief[field] = value;
  }
  const duration = get('duration');
  if (duration !== '') request.planSpec = { targetDuration: numberOrText(duration) };
  const rate = get('voiceRate');
  if (rate !== '') {
    // a rate that is not a number still goes, for the server to name
    request.voiceSpec = { rate: /** @type {number} */ (numberOrText(rate)) };
  }
  const res = get('resolution');
  const quality = get('quality');
  if (res !== '' || quality !== '') {
    request.renderSpec = {};
    if (res !== '') request.renderSpec.res = res;
    if (quality !== '') request.renderSpec.qualityLevel = /** @type {number} */ (numberOrText(quality));
  }
  return request;
}

/**
 * The errors a submission met, sorted: those of a field of the form, and
 * those of anything else.
 * @param {FieldError[]} errors
 * @returns {{ byField: Map<FormField, string[]>, other: string[] }}
 */
export function sortFieldErrors(errors) {
  /** @type {Map<FormField, string[]>} */
  const byField = new Map();
  /** @type {string[]} */
  const other = [];
  for (const error of errors) {
    const field = fieldForPath(error.field);
    if (field) {
      byField.set(field, [...(byField.get(field) ?? []), error.message]);
    } else {
      other.push(`${error.field}: ${error.message}`);
    }
  }
  return { byField, other };
}

/** @typedef {(request: JobRequest) => Promise<void>} SubmitHandler */

/** @typedef {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} FieldControl */

export class GenerateForm {
  /** @type {HTMLFormElement} */
  #form;
  /** @type {HTMLButtonElement} */
  #submit;
  /** @type {HTMLElement} */
  #formError;
  /** @type {Map<FormField, { control: FieldControl, error: HTMLElement }>} */
  #fields = new Map();
  /** @type {SubmitHandler} */
  #onSubmit;

  /**
   * @param {HTMLFormElement} form  form#generate
   * @param {SubmitHandler} onSubmit  sends the request; rejects with an
   *   ApiError whose field errors are then shown
   */
  constructor(form, onSubmit) {
    this.#form = form;
    this.#onSubmit = onSubmit;
    this.#submit = required(form, '#generate-submit', HTMLButtonElement);
    this.#formError = required(form, '[data-role="form-error"]', HTMLElement);
    for (const field of FORM_FIELDS) {
      const control = form.elements.namedItem(field);
      if (
        !(control instanceof HTMLInputElement) &&
        !(control instanceof HTMLSelectElement) &&
        !(control instanceof HTMLTextAreaElement)
      ) {
        throw new Error(`the form lacks the field ${field}`);
      }
      const error = required(form, `[data-error-for="${field}"]`, HTMLElement);
      this.#fields.set(field, { control, error });
      control.addEventListener('input', () => this.#clearField(field));
    }
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#send();
    });
  }

  /** @returns {FormValues} */
  values() {
    /** @type {FormValues} */
    const values = {};
    for (const [field, { control }] of this.#fields) {
      values[field] = control.value;
    }
    return values;
  }

  /**
   * Shows errors next to their fields, the others (and message, when no
   * error names a field) above the submit button; focuses the first
   * field in error.
   * @param {FieldError[]} errors
   * @param {string} message
   */
  showErrors(errors, message) {
    this.clearErrors();
    const { byField, other } = sortFieldErrors(errors);
    /** @type {FieldControl | null} */
    let first = null;
    for (const field of FORM_FIELDS) {
      const messages = byField.get(field);
      const entry = this.#fields.get(field);
      if (!messages || !entry) continue;
      setText(entry.error, messages.join(' '));
      show(entry.error, true);
      setAttribute(entry.control, 'aria-invalid', 'true');
      first ??= entry.control;
    }
    const summary = other.length > 0 ? other.join(' ') : byField.size === 0 ? message : '';
    setText(this.#formError, summary);
    show(this.#formError, summary !== '');
    first?.focus();
  }

  /** Hides every error. */
  clearErrors() {
    for (const field of FORM_FIELDS) {
      this.#clearField(field);
    }
    setText(this.#formError, '');
    show(this.#formError, false);
  }

  /** @param {FormField} field */
  #clearField(field) {
    const entry = this.#fields.get(field);
    if (!entry) return;
    setText(entry.error, '');
    show(entry.error, false);
    setAttribute(entry.control, 'aria-invalid', null);
  }

  async #send() {
    if (this.#submit.disabled) {
      return;
    }
    this.clearErrors();
    this.#submit.disabled = true;
    this.#form.setAttribute('aria-busy', 'true');
    const label = this.#submit.textContent ?? '';
    this.#submit.textContent = 'Starting…';
    try {
      await this.#onSubmit(buildJobRequest(this.values()));
    } catch (error) {
      const errors =
        typeof error === 'object' && error !== null && 'fieldErrors' in error && Array.isArray(error.fieldErrors)
          ? /** @type {FieldError[]} */ (error.fieldErrors)
          : [];
      this.showErrors(errors, error instanceof Error ? error.message : 'The job could not be started.');
    } finally {
      this.#submit.disabled = false;
      this.#form.removeAttribute('aria-busy');
      this.#submit.textContent = label;
    }
  }
}
