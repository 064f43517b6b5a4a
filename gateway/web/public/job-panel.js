// JobPanel: one job's generation panel. It is built once and then patched
// on every change of the job, so that focus, the log's scroll position and
// a playing video survive the many progress events of a run.

import { h, setAttribute, setText, show } from './dom.js';
import {
  describeEvent,
  etaText,
  formatAge,
  formatBytes,
  formatClock,
  formatPercent,
  stageLabel,
  STEP_LABELS,
  stepLabel,
} from './format.js';
import { isStepName, STEP_NAMES } from './jobs-store.js';
import { createLogger } from './log.js';

/** @typedef {import('./jobs-store.js').Job} Job */
/** @typedef {import('./jobs-store.js').StepName} StepName */
/** @typedef {import('./api.js').Artifact} Artifact */

/**
 * What the panel's buttons do; each returns when the request is over (the
 * panel disables the button meanwhile).
 * @typedef {object} PanelActions
 * @property {(jobId: string) => Promise<void>} cancel
 * @property {(jobId: string) => Promise<void>} retry
 * @property {(jobId: string) => void} showLog  the log was opened
 * @property {(jobId: string) => void} reconnect
 * @property {(jobId: string) => void} dismiss
 * @property {(message: string) => void} announce
 */

/**
 * How the panel reaches artifacts: directly by URL, or (when the API
 * needs a token, which media elements cannot send) through object URLs of
 * bytes fetched with it.
 * @typedef {object} ArtifactAccess
 * @property {() => boolean} needsToken
 * @property {(url: string) => Promise<Blob>} fetch
 */

/**
 * The elements update() patches.
 * @typedef {object} PanelParts
 * @property {HTMLElement} title
 * @property {HTMLElement} status
 * @property {HTMLElement} age
 * @property {HTMLElement} stage
 * @property {HTMLElement} phase
 * @property {HTMLElement} percent
 * @property {HTMLElement} message
 * @property {HTMLElement} eta
 * @property {HTMLElement} connection
 * @property {HTMLButtonElement} reconnect
 * @property {HTMLElement} error
 * @property {HTMLButtonElement} cancel
 * @property {HTMLButtonElement} retry
 * @property {HTMLButtonElement} logs
 * @property {HTMLElement} logSection
 * @property {HTMLElement} result
 */

/** The files offered for download, in order. */
const DOWNLOADS = /** @type {const} */ ([
  { name: 'video.mp4', label: 'MP4 video' },
  { name: 'video.srt', label: 'SRT subtitles' },
  { name: 'video.vtt', label: 'WebVTT subtitles' },
]);

const log = createLogger('panel');

/**
 * The URL of a job's artifact.
 * @param {string} jobId
 * @param {string} name
 */
export function artifactUrl(jobId, name) {
  return `/api/jobs/${encodeURIComponent(jobId)}/artifacts/${encodeURIComponent(name)}`;
}

/** @param {Job} job */
function statusNote(job) {
  switch (job.status) {
    case 'Queued':
      return 'Waiting for a worker…';
    case 'Done':
      return 'Your video is ready.';
    case 'Canceled':
      return job.failedStep ? `Canceled during ${stepLabel(job.failedStep)}.` : 'Canceled.';
    case 'Failed':
      return 'The job failed.';
    default:
      return 'Starting…';
  }
}

/**
 * The stage line: what the job is doing, or where it stopped.
 * @param {Job} job
 */
function stageText(job) {
  const step = isStepName(job.stage) ? STEP_LABELS[job.stage] : '';
  if (job.status === 'Failed' && step) return `Stopped in ${step}`;
  if (job.status === 'Canceled' && step) return `Canceled in ${step}`;
  return stageLabel(job.stage);
}

export class JobPanel {
  /** @type {HTMLElement} */
  element;
  /** @type {Job} */
  #job;
  /** @type {PanelActions} */
  #actions;
  /** @type {ArtifactAccess} */
  #access;
  /** @type {PanelParts} */
  #parts;
  /** @type {Map<StepName, HTMLElement>} */
  #steps = new Map();
  /** @type {HTMLProgressElement} */
  #progress;
  /** @type {HTMLOListElement} */
  #logList;
  #loggedCount = 0;
  /** @type {HTMLElement | null} */
  #result = null;
  /** @type {string[]} */
  #objectUrls = [];
  #destroyed = false;
  #posterAsked = false;
  /** Announced already: the status and stage, and the last tenth of percent. */
  #spoken = { status: '', stage: '', tenth: -1 };

  /**
   * @param {Job} job
   * @param {PanelActions} actions
   * @param {ArtifactAccess} access
   */
  constructor(job, actions, access) {
    this.#job = job;
    this.#actions = actions;
    this.#access = access;
    const id = job.id;
    const dom = `job-${id}`;

    const title = h('h3', { class: 'job-title', id: `${dom}-title` });
    const status = h('span', { class: 'badge', 'data-role': 'status' });
    const age = h('time', { class: 'job-age', 'data-role': 'age' });
    const dismiss = h(
      'button',
      { type: 'button', class: 'icon-button', 'data-role': 'dismiss', 'aria-label': 'Close this panel', title: 'Close this panel' },
      h('span', { 'aria-hidden': 'true' }, '×'),
    );
    const stage = h('span', { class: 'stage', 'data-role': 'stage' });
    const phase = h('span', { class: 'phase', 'data-role': 'phase' });
    const percent = h('span', { class: 'percent', 'data-role': 'percent', 'aria-hidden': 'true' });
    this.#progress = h('progress', { max: 100, value: 0, 'aria-labelledby': `${dom}-title`, class: 'progress' });
    const message = h('p', { class: 'message', 'data-role': 'message' });
    const eta = h('p', { class: 'eta', 'data-role': 'eta' });
    const connection = h('span', { class: 'connection', 'data-role': 'connection' });
    const reconnect = h('button', { type: 'button', class: 'link-button', 'data-role': 'reconnect', hidden: true }, 'Reconnect');
    const error = h('div', { class: 'error', 'data-role': 'error', role: 'alert', hidden: true });

    const steps = h('ol', { class: 'steps', 'aria-label': 'Steps' });
    for (const step of STEP_NAMES) {
      const state = h('span', { class: 'step-status' });
      const item = h(
        'li',
        { class: 'step', 'data-step': step, 'data-status': 'Pending' },
        h('span', { class: 'step-name' }, STEP_LABELS[step]),
        h('span', { class: 'step-state' }, h('span', { class: 'step-dot', 'aria-hidden': 'true' }), state),
      );
      this.#steps.set(step, item);
      steps.append(item);
    }

    const cancel = h('button', { type: 'button', class: 'button secondary', 'data-role': 'cancel', hidden: true }, 'Cancel');
    const retry = h('button', { type: 'button', class: 'button primary', 'data-role': 'retry', hidden: true }, 'Retry');
    const logs = h(
      'button',
      { type: 'button', class: 'button ghost', 'data-role': 'logs', 'aria-expanded': 'false', 'aria-controls': `${dom}-log` },
      'View logs',
    );
    this.#logList = h('ol', { class: 'log-list' });
    const logSection = h(
      'section',
      { class: 'log', id: `${dom}-log`, 'data-role': 'log', 'aria-label': 'Event log', hidden: true, tabindex: 0 },
      this.#logList,
    );
    const result = h('div', { class: 'result', 'data-role': 'result' });

    this.element = h(
      'article',
      { class: 'job card', 'data-job-id': id, 'aria-labelledby': `${dom}-title` },
      h('header', { class: 'job-head' }, h('div', { class: 'job-heading' }, title, h('div', { class: 'job-meta' }, status, age)), dismiss),
      h('div', { class: 'job-stage' }, stage, phase),
      h('div', { class: 'progress-row' }, this.#progress, percent),
      message,
      steps,
      h('div', { class: 'job-foot' }, eta, h('span', { class: 'connection-wrap' }, connection, reconnect)),
      error,
      result,
      h('div', { class: 'actions' }, cancel, retry, logs),
      logSection,
    );
    this.#parts = { title, status, age, stage, phase, percent, message, eta, connection, reconnect, error, cancel, retry, logs, logSection, result };

    cancel.addEventListener('click', () => void this.#run(cancel, () => this.#actions.cancel(id)));
    retry.addEventListener('click', () => void this.#run(retry, () => this.#actions.retry(id)));
    logs.addEventListener('click', () => this.#toggleLog());
    reconnect.addEventListener('click', () => this.#actions.reconnect(id));
    dismiss.addEventListener('click', () => this.#actions.dismiss(id));
    this.update(job);
  }

  /** The job shown. */
  get job() {
    return this.#job;
  }

  /**
   * Shows job: patches only what changed.
   * @param {Job} job
   */
  update(job) {
    if (this.#destroyed) return;
    this.#job = job;
    const p = this.#parts;
    setText(p.title, job.title || 'Untitled video');
    setText(p.status, job.status);
    setAttribute(p.status, 'data-status', job.status);
    setAttribute(this.element, 'data-status', job.status);
    this.refreshAge();
    setText(p.stage, stageText(job));
    setText(p.phase, job.phase || '—');
    setText(p.percent, formatPercent(job.percent));
    const value = String(Math.min(100, Math.max(0, job.percent)));
    setAttribute(this.#progress, 'value', value);
    setAttribute(this.#progress, 'aria-valuetext', `${formatPercent(job.percent)}, ${stageLabel(job.stage)}`);
    setText(p.message, job.status === 'Canceled' || !job.progressMessage ? statusNote(job) : job.progressMessage);
    for (const step of STEP_NAMES) {
      const item = this.#steps.get(step);
      if (!item) continue;
      const status = job.steps[step];
      setAttribute(item, 'data-status', status);
      setAttribute(item, 'aria-current', status === 'Running' ? 'step' : null);
      const label = item.querySelector('.step-status');
      if (label) setText(label, status);
    }
    const eta = etaText(job);
    setText(p.eta, eta);
    show(p.eta, eta !== '');
    this.#showConnection(job);
    this.#showError(job);
    const working = job.status === 'Queued' || job.status === 'Running';
    show(p.cancel, working);
    show(p.retry, job.status === 'Failed' || job.status === 'Canceled');
    if (job.status === 'Done') {
      this.#showResult(job);
      this.#refreshResult(job);
    }
    this.#appendLog(job);
    this.#announce(job);
  }

  /** Rewrites "5 min ago", which goes stale while nothing else changes. */
  refreshAge() {
    const age = this.#parts.age;
    const created = this.#job.createdAt;
    setText(age, formatAge(created));
    setAttribute(age, 'datetime', created);
    setAttribute(age, 'title', created ? new Date(created).toLocaleString() : null);
  }

  /** Releases what the panel holds (object URLs); the element is the caller's to remove. */
  destroy() {
    this.#destroyed = true;
    const video = this.element.querySelector('video');
    if (video) {
      video.pause();
      video.removeAttribute('src');
      video.load();
    }
    for (const url of this.#objectUrls) {
      URL.revokeObjectURL(url);
    }
    this.#objectUrls = [];
  }

  /**
   * Disables button while action runs.
   * @param {HTMLButtonElement} button
   * @param {() => Promise<void>} action
   */
  async #run(button, action) {
    if (button.disabled) return;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      await action();
    } catch (error) {
      log.warn('a job action failed', error);
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  }

  #toggleLog() {
    const p = this.#parts;
    const open = p.logSection.hidden;
    show(p.logSection, open);
    setAttribute(p.logs, 'aria-expanded', String(open));
    setText(p.logs, open ? 'Hide logs' : 'View logs');
    if (open) {
      this.#actions.showLog(this.#job.id);
      p.logSection.scrollTop = p.logSection.scrollHeight;
    }
  }

  /** @param {Job} job */
  #appendLog(job) {
    if (job.log.length < this.#loggedCount) {
      this.#logList.replaceChildren();
      this.#loggedCount = 0;
    }
    if (job.log.length === this.#loggedCount) return;
    const section = this.#parts.logSection;
    const atBottom = section.scrollHeight - section.scrollTop - section.clientHeight < 24;
    const fragment = document.createDocumentFragment();
    for (const entry of job.log.slice(this.#loggedCount)) {
      fragment.append(
        h(
          'li',
          { class: 'log-entry', 'data-seq': entry.seq, 'data-event': entry.event },
          h('span', { class: 'log-seq' }, `#${entry.seq}`),
          h('time', { class: 'log-time', datetime: new Date(entry.receivedAt).toISOString() }, formatClock(entry.receivedAt)),
          h('span', { class: 'log-event' }, entry.event),
          h('span', { class: 'log-text' }, describeEvent(entry)),
        ),
      );
    }
    this.#logList.append(fragment);
    this.#loggedCount = job.log.length;
    if (atBottom && !section.hidden) {
      section.scrollTop = section.scrollHeight;
    }
  }

  /** @param {Job} job */
  #showConnection(job) {
    const p = this.#parts;
    /** @type {Record<string, string>} */
    const words = {
      idle: '',
      connecting: 'Connecting…',
      live: 'Live',
      reconnecting: `Reconnecting (try ${job.reconnectAttempt} of 5, in ${Math.round(job.reconnectDelayMs / 1000)} s)…`,
      lost: 'Connection lost',
    };
    const text = words[job.stream] ?? '';
    setText(p.connection, text);
    setAttribute(p.connection, 'data-state', job.stream);
    show(p.connection, text !== '');
    show(p.reconnect, job.stream === 'lost' && (job.status === 'Queued' || job.status === 'Running'));
  }

  /** @param {Job} job */
  #showError(job) {
    const p = this.#parts;
    const error = job.error;
    if (!error || job.status === 'Done') {
      show(p.error, false);
      p.error.replaceChildren();
      delete p.error.dataset.signature;
      return;
    }
    const where = job.failedStep ? ` in ${stepLabel(job.failedStep)}` : '';
    const heading = job.status === 'Failed' ? `Failed${where}` : 'A step reported an error';
    const signature = `${heading}|${error.code}|${error.message}`;
    if (p.error.dataset.signature !== signature) {
      p.error.dataset.signature = signature;
      p.error.replaceChildren(
        h('strong', { class: 'error-title' }, heading),
        h('span', { class: 'error-message' }, error.message || 'No details were given.'),
        ...(error.code ? [h('code', { class: 'error-code' }, error.code)] : []),
      );
    }
    show(p.error, true);
  }

  /**
   * Builds the player and the download links, once.
   * @param {Job} job
   */
  #showResult(job) {
    if (this.#result) return;
    const id = job.id;
    const videoUrl = artifactUrl(id, 'video.mp4');
    const vttUrl = artifactUrl(id, 'video.vtt');
    const video = h('video', { controls: true, preload: 'metadata', playsinline: true, class: 'player' });
    const track = h('track', { kind: 'captions', srclang: 'en', label: 'English captions', default: true });
    video.append(track);
    const note = h('p', { class: 'result-note', 'data-role': 'video-note', hidden: true });
    video.addEventListener('error', () => {
      setText(note, 'The video could not be loaded. The download links may still work.');
      show(note, true);
    });

    const links = h('ul', { class: 'downloads', 'aria-label': 'Downloads' });
    for (const item of DOWNLOADS) {
      const url = artifactUrl(id, item.name);
      const link = h(
        'a',
        { href: url, download: item.name, 'data-artifact': item.name, class: 'download' },
        h('span', { class: 'download-label' }, item.label),
        h('span', { class: 'download-size', hidden: true }),
      );
      link.addEventListener('click', (event) => {
        if (this.#access.needsToken()) {
          event.preventDefault();
          void this.#download(url, item.name);
        }
      });
      links.append(h('li', {}, link));
    }
    this.#result = h('div', { class: 'result-body' }, video, note, links);
    this.#parts.result.append(this.#result);

    if (this.#access.needsToken()) {
      void this.#attach(video, 'src', videoUrl);
      void this.#attach(track, 'src', vttUrl);
    } else {
      track.src = vttUrl;
      video.src = videoUrl;
    }
  }

  /**
   * What the job's document adds to the result once known (a panel from
   * history is built before it arrives): the files' sizes and the poster.
   * @param {Job} job
   */
  #refreshResult(job) {
    if (!this.#result) return;
    for (const link of this.#result.querySelectorAll('a[data-artifact]')) {
      const size = link.querySelector('.download-size');
      const bytes = job.artifacts.find((a) => a.name === link.getAttribute('data-artifact'))?.sizeBytes ?? 0;
      if (size instanceof HTMLElement) {
        setText(size, bytes > 0 ? formatBytes(bytes) : '');
        show(size, bytes > 0);
      }
    }
    const video = this.#result.querySelector('video');
    const thumbnail = job.artifacts.find((a) => a.name === 'thumbnail.png');
    if (video && thumbnail && !video.hasAttribute('poster') && !this.#posterAsked) {
      this.#posterAsked = true;
      if (this.#access.needsToken()) {
        void this.#attach(video, 'poster', thumbnail.url);
      } else {
        video.poster = thumbnail.url;
      }
    }
  }

  /**
   * Sets element[attribute] to an object URL of url's bytes.
   * @param {HTMLElement} element
   * @param {string} attribute
   * @param {string} url
   */
  async #attach(element, attribute, url) {
    try {
      const blob = await this.#access.fetch(url);
      if (this.#destroyed) return;
      const objectUrl = URL.createObjectURL(blob);
      this.#objectUrls.push(objectUrl);
      element.setAttribute(attribute, objectUrl);
    } catch (error) {
      log.warn(`cannot load ${url}`, error);
    }
  }

  /**
   * Downloads url through an object URL (the API needs the token).
   * @param {string} url
   * @param {string} name
   */
  async #download(url, name) {
    try {
      const blob = await this.#access.fetch(url);
      const objectUrl = URL.createObjectURL(blob);
      const anchor = h('a', { href: objectUrl, download: name, hidden: true });
      document.body.append(anchor);
      anchor.click();
      anchor.remove();
      setTimeout(() => URL.revokeObjectURL(objectUrl), 60000);
    } catch (error) {
      log.warn(`cannot download ${name}`, error);
      this.#actions.announce(`${name} could not be downloaded.`);
    }
  }

  /**
   * Tells screen readers of a new status, a new step, and every tenth of
   * progress (not every event: a run sends hundreds).
   * @param {Job} job
   */
  #announce(job) {
    const spoken = this.#spoken;
    const name = job.title || 'The video';
    if (spoken.status === '') {
      // the first look: nothing has changed yet
      spoken.status = job.status;
      spoken.stage = job.stage;
      spoken.tenth = Math.floor(job.percent / 10);
      return;
    }
    if (job.status !== spoken.status) {
      spoken.status = job.status;
      spoken.stage = job.stage;
      const said = {
        Queued: `${name}: queued.`,
        Running: `${name}: started.`,
        Done: `${name}: done. The video is ready to play.`,
        Failed: `${name}: failed. ${job.error?.message ?? ''}`,
        Canceled: `${name}: canceled.`,
        Skipped: `${name}: skipped.`,
      }[job.status];
      this.#actions.announce(said);
      return;
    }
    if (job.status !== 'Running') return;
    const tenth = Math.floor(job.percent / 10);
    if (job.stage !== spoken.stage) {
      spoken.stage = job.stage;
      spoken.tenth = tenth;
      this.#actions.announce(`${name}: ${stageLabel(job.stage)}, ${formatPercent(job.percent)}.`);
    } else if (tenth > spoken.tenth) {
      spoken.tenth = tenth;
      this.#actions.announce(`${name}: ${formatPercent(job.percent)}.`);
    }
  }
}
