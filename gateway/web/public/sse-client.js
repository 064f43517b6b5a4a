// SseClient: one Server-Sent Events stream over EventSource, with the
// reconnect policy of the UI. A dropped or refused connection is closed at
// once (the browser's own retry never runs beside ours) and opened again
// after 1, 2, 4, 8 and 16 s; after the fifth failed try the client gives up
// with an `error` "Connection failed". Each new connection carries the last
// event id as ?lastEventId= (a new EventSource cannot send Last-Event-ID), so
// the stream resumes where it stopped. A terminal event ends the stream.

import { createLogger } from './log.js';

/** The events after which the server closes a job's stream. */
export const TERMINAL_EVENTS = Object.freeze(['job-completed', 'job-failed', 'job-cancelled']);

/** Tries after a failure before the client gives up. */
export const MAX_RECONNECT_ATTEMPTS = 5;

/** The wait before the first try; each further try waits twice as long. */
export const BASE_RECONNECT_DELAY_MS = 1000;

/** The message of the `error` the client emits when it gives up. */
export const CONNECTION_FAILED = 'Connection failed';

/** EventSource.readyState of a connection that will not be retried. */
const EVENT_SOURCE_CLOSED = 2;

/**
 * What a handler receives. Server events carry the event's name, id and
 * parsed JSON data. The client's own notices have fromServer false:
 * `open` (connected), `reconnecting` (data {attempt, delayMs}), `end` (data
 * {reason}: the terminal event's name, or 'finished' when there was nothing
 * left to stream) and `error` (data {message: 'Connection failed',
 * attempts}). A server `error` event has fromServer true.
 * @typedef {object} SseMessage
 * @property {string} type
 * @property {string} id   the event's id, '' when it has none
 * @property {unknown} data
 * @property {boolean} fromServer
 */

/** @typedef {(message: SseMessage) => void} SseHandler */

/**
 * The part of EventSource the client uses (tests pass a fake).
 * @typedef {object} EventSourceLike
 * @property {number} readyState
 * @property {() => void} close
 * @property {(type: string, listener: (event: Event) => void) => void} addEventListener
 * @property {(type: string, listener: (event: Event) => void) => void} removeEventListener
 */

/** @typedef {new (url: string, init?: EventSourceInit) => EventSourceLike} EventSourceConstructor */

/**
 * Gives the URL of the next connection (a freshly signed link, say), or
 * null when the stream has nothing more to give, which ends the client
 * without another try. attempt is 0 for the first connection, then the
 * number of the try. A rejection counts as a failed try.
 * @typedef {(attempt: number) => Promise<string | null>} SsePrepare
 */

/**
 * @typedef {object} SseClientOptions
 * @property {EventSourceConstructor} [EventSource]  default: the global one
 * @property {string} [lastEventId]  resume after this id; '' (default) starts
 *   with the server's snapshot
 * @property {SsePrepare} [prepare]  called before every connection
 * @property {number} [maxAttempts]  default MAX_RECONNECT_ATTEMPTS
 * @property {number} [baseDelayMs]  default BASE_RECONNECT_DELAY_MS
 * @property {readonly string[]} [terminalEvents]  default TERMINAL_EVENTS
 * @property {boolean} [withCredentials]
 */

/** @typedef {'idle' | 'connecting' | 'open' | 'waiting' | 'closed'} SseState */

/** Notices of the client itself, never listened for on the EventSource. */
const CLIENT_EVENTS = new Set(['open', 'reconnecting', 'end']);

/**
 * The wait before try number attempt (1-based): 1000 · 2^(attempt−1) ms.
 * @param {number} attempt
 * @param {number} [baseDelayMs]
 * @returns {number}
 */
export function reconnectDelayMs(attempt, baseDelayMs = BASE_RECONNECT_DELAY_MS) {
  return baseDelayMs * 2 ** (attempt - 1);
}

/**
 * url with its lastEventId query parameter set to id (other parameters,
 * such as a signed token, are kept), or removed when id is ''.
 * @param {string} url
 * @param {string} id
 * @returns {string}
 */
export function withLastEventId(url, id) {
  const hashAt = url.indexOf('#');
  const hash = hashAt >= 0 ? url.slice(hashAt) : '';
  const rest = hashAt >= 0 ? url.slice(0, hashAt) : url;
  const queryAt = rest.indexOf('?');
  const path = queryAt >= 0 ? rest.slice(0, queryAt) : rest;
  const params = new URLSearchParams(queryAt >= 0 ? rest.slice(queryAt + 1) : '');
  if (id === '') {
    params.delete('lastEventId');
  } else {
    params.set('lastEventId', id);
  }
  const query = params.toString();
  return `${path}${query ? `?${query}` : ''}${hash}`;
}

/**
 * True for an event that carries data: a server's message, as opposed to
 * EventSource's own `error` for a failed connection.
 * @param {Event} event
 * @returns {event is MessageEvent<string>}
 */
function isMessage(event) {
  return 'data' in event && typeof event.data === 'string';
}

/**
 * JSON data parsed, or the text itself when it is not JSON.
 * @param {string} text
 * @returns {unknown}
 */
function parseData(text) {
  try {
    return /** @type {unknown} */ (JSON.parse(text));
  } catch {
    return text;
  }
}

const log = createLogger('sse');

export class SseClient {
  /** @type {string} */
  #url;
  /** @type {EventSourceConstructor | undefined} */
  #EventSource;
  /** @type {SsePrepare | undefined} */
  #prepare;
  /** @type {number} */
  #maxAttempts;
  /** @type {number} */
  #baseDelayMs;
  /** @type {Set<string>} */
  #terminal;
  /** @type {boolean} */
  #withCredentials;

  /** @type {Map<string, Set<SseHandler>>} */
  #handlers = new Map();
  /** Event names listened for on each EventSource. @type {Set<string>} */
  #types = new Set();
  /** @type {EventSourceLike | null} */
  #source = null;
  /** @type {((event: Event) => void) | null} */
  #listener = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #timer = null;
  /** Counts connections begun, so that a late prepare() is dropped. */
  #generation = 0;
  #attempts = 0;
  /** @type {string} */
  #lastEventId;
  /** @type {SseState} */
  #state = 'idle';

  /**
   * @param {string} url  the stream's URL; a signed ?token= in it is kept
   * @param {SseClientOptions} [options]
   */
  constructor(url, options = {}) {
    this.#url = url;
    this.#EventSource = options.EventSource;
    this.#prepare = options.prepare;
    this.#maxAttempts = options.maxAttempts ?? MAX_RECONNECT_ATTEMPTS;
    this.#baseDelayMs = options.baseDelayMs ?? BASE_RECONNECT_DELAY_MS;
    this.#terminal = new Set(options.terminalEvents ?? TERMINAL_EVENTS);
    this.#withCredentials = options.withCredentials ?? false;
    this.#lastEventId = options.lastEventId ?? '';
    for (const type of this.#terminal) {
      this.#types.add(type);
    }
  }

  /** The id of the last event received (or the one given to start after). */
  get lastEventId() {
    return this.#lastEventId;
  }

  /** @returns {SseState} */
  get state() {
    return this.#state;
  }

  /** Failed tries since the last successful open. */
  get attempts() {
    return this.#attempts;
  }

  /**
   * Calls handler for every event named type (see SseMessage for the
   * client's own). Returns the function that removes it.
   * @param {string} type
   * @param {SseHandler} handler
   * @returns {() => void}
   */
  on(type, handler) {
    let set = this.#handlers.get(type);
    if (!set) {
      set = new Set();
      this.#handlers.set(type, set);
    }
    set.add(handler);
    if (!CLIENT_EVENTS.has(type) && type !== 'error' && !this.#types.has(type)) {
      this.#types.add(type);
      if (this.#source && this.#listener) {
        this.#source.addEventListener(type, this.#listener);
      }
    }
    return () => this.off(type, handler);
  }

  /**
   * Removes a handler added with on().
   * @param {string} type
   * @param {SseHandler} handler
   */
  off(type, handler) {
    this.#handlers.get(type)?.delete(handler);
  }

  /** Opens the stream; does nothing unless the client is idle. */
  connect() {
    if (this.#state !== 'idle') {
      return;
    }
    this.#open();
  }

  /** Stops the client for good: no event, no reconnect, from now on. */
  close() {
    if (this.#state === 'closed') {
      return;
    }
    this.#state = 'closed';
    this.#teardown();
  }

  /** Closes the EventSource and cancels a pending reconnect. */
  #teardown() {
    this.#generation++;
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const source = this.#source;
    const listener = this.#listener;
    this.#source = null;
    this.#listener = null;
    if (source) {
      if (listener) {
        for (const type of this.#types) {
          source.removeEventListener(type, listener);
        }
        source.removeEventListener('error', listener);
        source.removeEventListener('open', listener);
      }
      source.close();
    }
  }

  /** Begins a connection: asks prepare() for its URL when there is one. */
  #open() {
    this.#state = 'connecting';
    const generation = ++this.#generation;
    if (!this.#prepare) {
      this.#create(this.#url);
      return;
    }
    let pending;
    try {
      pending = this.#prepare(this.#attempts);
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (url) => {
        if (generation !== this.#generation || this.#state === 'closed') {
          return;
        }
        if (url === null) {
          this.#end('finished');
          return;
        }
        this.#url = url;
        this.#create(url);
      },
      (/** @type {unknown} */ error) => {
        if (generation !== this.#generation || this.#state === 'closed') {
          return;
        }
        log.warn('cannot prepare the connection', error);
        this.#retry();
      },
    );
  }

  /** @param {string} url */
  #create(url) {
    const Source = this.#EventSource ?? /** @type {EventSourceConstructor | undefined} */ (globalThis.EventSource);
    if (!Source) {
      log.error('this browser has no EventSource');
      this.#giveUp();
      return;
    }
    const target = withLastEventId(url, this.#lastEventId);
    /** @type {EventSourceLike} */
    let source;
    try {
      source = new Source(target, { withCredentials: this.#withCredentials });
    } catch (error) {
      log.warn(`cannot open ${url}`, error);
      this.#retry();
      return;
    }
    /** @param {Event} event */
    const listener = (event) => this.#onEvent(source, event);
    this.#source = source;
    this.#listener = listener;
    source.addEventListener('open', listener);
    source.addEventListener('error', listener);
    for (const type of this.#types) {
      source.addEventListener(type, listener);
    }
  }

  /**
   * @param {EventSourceLike} source
   * @param {Event} event
   */
  #onEvent(source, event) {
    if (source !== this.#source) {
      return; // an instance already closed
    }
    if (event.type === 'open') {
      this.#attempts = 0;
      this.#state = 'open';
      this.#emit({ type: 'open', id: '', data: null, fromServer: false });
      return;
    }
    if (isMessage(event)) {
      this.#onMessage(event);
      return;
    }
    // EventSource's `error`: the connection dropped (readyState CONNECTING,
    // it would retry by itself) or was refused (CLOSED: a status other than
    // 200, a 204 included, which prepare() tells apart by asking the API)
    const refused = source.readyState === EVENT_SOURCE_CLOSED;
    log.info(`${refused ? 'connection refused' : 'connection lost'}; last event ${this.#lastEventId || 'none'}`);
    this.#teardown();
    this.#retry();
  }

  /** @param {MessageEvent<string>} event */
  #onMessage(event) {
    if (event.lastEventId) {
      this.#lastEventId = event.lastEventId;
    }
    this.#emit({ type: event.type, id: event.lastEventId, data: parseData(event.data), fromServer: true });
    if (this.#terminal.has(event.type) && this.#state !== 'closed') {
      this.#end(event.type);
    }
  }

  /** Schedules the next try, or gives up after the last one. */
  #retry() {
    if (this.#state === 'closed') {
      return;
    }
    if (this.#attempts >= this.#maxAttempts) {
      this.#giveUp();
      return;
    }
    this.#attempts++;
    const attempt = this.#attempts;
    const delayMs = reconnectDelayMs(attempt, this.#baseDelayMs);
    this.#state = 'waiting';
    this.#emit({ type: 'reconnecting', id: '', data: { attempt, delayMs }, fromServer: false });
    if (this.#state !== 'waiting') {
      return; // a handler closed the client
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#state === 'waiting') {
        this.#open();
      }
    }, delayMs);
  }

  #giveUp() {
    const attempts = this.#attempts;
    this.#state = 'closed';
    this.#teardown();
    log.warn(`giving up after ${attempts} tries`);
    this.#emit({ type: 'error', id: '', data: { message: CONNECTION_FAILED, attempts }, fromServer: false });
  }

  /** @param {string} reason */
  #end(reason) {
    this.#state = 'closed';
    this.#teardown();
    this.#emit({ type: 'end', id: '', data: { reason }, fromServer: false });
  }

  /** @param {SseMessage} message */
  #emit(message) {
    const set = this.#handlers.get(message.type);
    if (!set) {
      return;
    }
    for (const handler of [...set]) {
      try {
        handler(message);
      } catch (error) {
        log.error(`a handler of ${message.type} failed`, error);
      }
    }
  }
}
