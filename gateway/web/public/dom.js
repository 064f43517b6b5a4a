// Small DOM helpers: elements built from a tag, attributes and children,
// and a polite announcer for screen readers.

/** @typedef {string | number | boolean | null | undefined} AttributeValue */
/** @typedef {Node | string | null | undefined | false} Child */

/**
 * A new element. An attribute whose value is true is set empty, one that
 * is false, null or undefined is left out; `class` sets the class list.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, AttributeValue>} [attributes]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) {
      continue;
    }
    element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    element.append(child);
  }
  return element;
}

/**
 * The element under root that matches selector. Throws when there is
 * none: the page's markup and the code that uses it go together.
 * @template {Element} T
 * @param {ParentNode} root
 * @param {string} selector
 * @param {new (...args: never[]) => T} type
 * @returns {T}
 */
export function required(root, selector, type) {
  const element = root.querySelector(selector);
  if (!(element instanceof type)) {
    throw new Error(`the page lacks ${selector}`);
  }
  return element;
}

/**
 * Sets element's text when it differs (a live region then speaks only on
 * a real change).
 * @param {Element} element
 * @param {string} value
 */
export function setText(element, value) {
  if (element.textContent !== value) {
    element.textContent = value;
  }
}

/**
 * Sets or removes an attribute when it differs.
 * @param {Element} element
 * @param {string} name
 * @param {string | null} value  null removes it
 */
export function setAttribute(element, name, value) {
  if (value === null) {
    if (element.hasAttribute(name)) element.removeAttribute(name);
  } else if (element.getAttribute(name) !== value) {
    element.setAttribute(name, value);
  }
}

/**
 * Shows or hides element with the hidden attribute.
 * @param {HTMLElement} element
 * @param {boolean} visible
 */
export function show(element, visible) {
  if (element.hidden === visible) {
    element.hidden = !visible;
  }
}

/** Speaks short messages through one polite live region. */
export class Announcer {
  /** @type {HTMLElement} */
  #region;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #timer = null;

  /** @param {HTMLElement} region  an element with aria-live="polite" */
  constructor(region) {
    this.#region = region;
  }

  /**
   * Announces message. The region is emptied first, so that the same
   * words said twice are read twice.
   * @param {string} message
   */
  say(message) {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
    }
    this.#region.textContent = '';
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#region.textContent = message;
    }, 50);
  }
}
