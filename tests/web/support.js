// Shared pieces of the web unit tests: a fake EventSource the tests drive
// by hand, fake timers, and the recorded event streams in fixtures/.

import { readFileSync } from 'node:fs';
import { setLogLevel } from '../../gateway/web/public/log.js';

// the modules log reconnects and ignored events; the tests check behaviour
setLogLevel('silent');

/**
 * @typedef {object} RecordedEvent
 * @property {string} id
 * @property {string} event
 * @property {Record<string, unknown>} data
 */

/**
 * @typedef {object} Fixture
 * @property {string} description
 * @property {string} jobId
 * @property {RecordedEvent[]} events
 * @property {import('../../gateway/web/public/api.js').JobDocument} job
 */

/**
 * A recorded job (see fixtures/record.py): its events and final document.
 * @param {'job-done' | 'job-failed' | 'job-cancelled' | 'job-retried'} name
 * @returns {Fixture}
 */
export function loadFixture(name) {
  const url = new URL(`./fixtures/${name}.json`, import.meta.url);
  return /** @type {Fixture} */ (JSON.parse(readFileSync(url, 'utf8')));
}

/** @typedef {(event: Event) => void} Listener */

/**
 * An EventSource the test drives: open(), message(), drop() (the network
 * went away: the browser would retry by itself) and refuse() (a non-200
 * answer such as 204 or 401: the browser gives up).
 */
export class FakeEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;

  /** Every instance made, oldest first. @type {FakeEventSource[]} */
  static instances = [];

  /** @type {string} */
  url;
  readyState = FakeEventSource.CONNECTING;
  closed = false;
  /** @type {Map<string, Set<Listener>>} */
  listeners = new Map();

  /** @param {string} url */
  constructor(url) {
    this.url = url;
    FakeEventSource.instances.push(this);
  }

  static reset() {
    FakeEventSource.instances = [];
  }

  /** The newest instance. */
  static get last() {
    const source = FakeEventSource.instances.at(-1);
    if (!source) throw new Error('no EventSource was made');
    return source;
  }

  /**
   * @param {string} type
   * @param {Listener} listener
   */
  addEventListener(type, listener) {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    set.add(listener);
  }

  /**
   * @param {string} type
   * @param {Listener} listener
   */
  removeEventListener(type, listener) {
    this.listeners.get(type)?.delete(listener);
  }

  close() {
    this.readyState = FakeEventSource.CLOSED;
    this.closed = true;
  }

  /** @param {Record<string, unknown> & { type: string }} event */
  dispatch(event) {
    for (const listener of [...(this.listeners.get(event.type) ?? [])]) {
      listener(/** @type {Event} */ (/** @type {unknown} */ (event)));
    }
  }

  open() {
    this.readyState = FakeEventSource.OPEN;
    this.dispatch({ type: 'open' });
  }

  /**
   * A server event, as the browser hands it over.
   * @param {string} type
   * @param {unknown} data
   * @param {string} [id]
   */
  message(type, data, id = '') {
    this.dispatch({ type, data: JSON.stringify(data), lastEventId: id });
  }

  drop() {
    this.readyState = FakeEventSource.CONNECTING;
    this.dispatch({ type: 'error' });
  }

  refuse() {
    this.readyState = FakeEventSource.CLOSED;
    this.dispatch({ type: 'error' });
  }
}

/**
 * The constructor the SseClient gets.
 * @type {import('../../gateway/web/public/sse-client.js').EventSourceConstructor}
 */
export const FakeEventSourceConstructor = FakeEventSource;

/**
 * Replaces setTimeout and clearTimeout with node:test's fake timers.
 * Node 20.11 and later take {apis}; Node 18.19 to 20.10 took the list.
 * @param {import('node:test').TestContext} t
 */
export function useFakeTimers(t) {
  const timers = t.mock.timers;
  try {
    timers.enable({ apis: ['setTimeout'] });
  } catch {
    const enableList = /** @type {(apis: string[]) => void} */ (/** @type {unknown} */ (timers.enable.bind(timers)));
    enableList(['setTimeout']);
  }
}

/** Lets pending promise callbacks run (setImmediate is not faked). */
export function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}
