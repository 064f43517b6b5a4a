// ApiClient: the gateway's REST API as typed calls. Every call sends the
// API token, when one is known, as Authorization: Bearer; a 401 asks for a
// token (once for all calls waiting at that moment) and tries again with
// it. Failures become ApiError, with the problem+json document the
// gateway answered (RFC 9457) and its field errors.

import { createLogger } from './log.js';

/** @typedef {'Queued' | 'Running' | 'Done' | 'Failed' | 'Canceled'} ServerJobStatus */
/** @typedef {'Pending' | 'Running' | 'Done' | 'Skipped' | 'Failed' | 'Canceled'} StepStatus */

/** @typedef {{ field: string, message: string }} FieldError */

/**
 * An application/problem+json answer.
 * @typedef {object} Problem
 * @property {string} [type]
 * @property {string} [title]
 * @property {number} [status]
 * @property {string} [detail]
 * @property {string} [correlationId]
 * @property {FieldError[]} [errors]
 */

/** @typedef {{ self: string, events: string, cancel: string }} JobLinks */

/**
 * @typedef {object} Artifact
 * @property {string} name
 * @property {string} path
 * @property {string} url
 * @property {string} type
 * @property {number} sizeBytes
 */

/**
 * @typedef {object} JobOutput
 * @property {string} videoPath
 * @property {string} subtitlePath
 * @property {number} sizeBytes
 * @property {number} durationSeconds
 */

/** @typedef {{ code: string, message: string }} JobError */

/**
 * GET /api/jobs/{id}, and the answer of cancel and retry.
 * @typedef {object} JobDocument
 * @property {string} jobId
 * @property {string} title
 * @property {ServerJobStatus} status
 * @property {string} phase
 * @property {number} percent
 * @property {number} attempt
 * @property {string} step
 * @property {{ name: string, status: StepStatus }[]} steps
 * @property {string | null} createdAt
 * @property {string | null} startedAt
 * @property {string | null} finishedAt
 * @property {number | null} queuePosition
 * @property {JobError | null} error
 * @property {Artifact[]} artifacts
 * @property {JobOutput | null} output
 * @property {number} lastEventId
 * @property {JobLinks} links
 */

/**
 * An item of GET /api/jobs.
 * @typedef {object} JobSummary
 * @property {string} jobId
 * @property {string} title
 * @property {ServerJobStatus} status
 * @property {string} phase
 * @property {number} percent
 * @property {number} attempt
 * @property {string | null} createdAt
 * @property {string | null} finishedAt
 * @property {JobLinks} links
 */

/**
 * @typedef {object} JobPage
 * @property {JobSummary[]} items
 * @property {string | null} nextCursor
 * @property {{ events?: string }} [links]
 */

/**
 * The 202 answer of POST /api/jobs and POST /api/quick/demo.
 * @typedef {object} Accepted
 * @property {string} jobId
 * @property {ServerJobStatus} status
 * @property {string} stage
 * @property {string} correlationId
 * @property {JobLinks} links
 */

/**
 * The body of POST /api/jobs (only brief.topic is required).
 * @typedef {object} JobRequest
 * @property {{ topic: string, audience?: string, goal?: string, tone?: string, language?: string, aspect?: string }} brief
 * @property {{ targetDuration?: number | string, pacing?: string, density?: string, style?: string }} [planSpec]
 * @property {{ voiceName?: string, rate?: number, pitch?: number, pause?: string | number }} [voiceSpec]
 * @property {{ res?: string | { width: number, height: number }, container?: string, videoBitrateK?: number, audioBitrateK?: number, fps?: number, codec?: string, qualityLevel?: number }} [renderSpec]
 */

/**
 * Keeps the API token (for the browser session, say).
 * @typedef {object} TokenStore
 * @property {() => string | null} get
 * @property {(token: string) => void} set
 * @property {() => void} clear
 */

/**
 * Asks the person for a token; resolves to null when they decline.
 * reason is 'required' on the first 401, 'rejected' when the token sent
 * was refused.
 * @typedef {(reason: 'required' | 'rejected') => Promise<string | null>} TokenPrompt
 */

/**
 * @typedef {object} ApiClientOptions
 * @property {string} [baseUrl]  prefix of every path ('' : same origin)
 * @property {typeof fetch} [fetch]
 * @property {TokenStore} [tokens]
 * @property {TokenPrompt} [askToken]
 * @property {number} [timeoutMs]  per call, default 15000
 */

/** How many times one call asks for a token before it fails with the 401. */
const TOKEN_TRIES = 3;

const log = createLogger('api');

/** A failed call: an HTTP error answer, or no answer at all (status 0). */
export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {number} status
   * @param {Problem | null} problem
   */
  constructor(message, status, problem) {
    super(message);
    this.name = 'ApiError';
    /** @type {number} */
    this.status = status;
    /** @type {Problem | null} */
    this.problem = problem;
  }

  /** @returns {FieldError[]} */
  get fieldErrors() {
    return this.problem?.errors ?? [];
  }

  /** @returns {string} */
  get correlationId() {
    return this.problem?.correlationId ?? '';
  }
}

/**
 * True for a value that is an object (not null, not an array).
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
export function isRecord(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The problem document in body, or null when it is not one.
 * @param {unknown} body
 * @returns {Problem | null}
 */
export function toProblem(body) {
  if (!isRecord(body)) {
    return null;
  }
  /** @type {Problem} */
  const problem = {};
  if (typeof body.type === 'string') problem.type = body.type;
  if (typeof body.title === 'string') problem.title = body.title;
  if (typeof body.status === 'number') problem.status = body.status;
  if (typeof body.detail === 'string') problem.detail = body.detail;
  if (typeof body.correlationId === 'string') problem.correlationId = body.correlationId;
  if (Array.isArray(body.errors)) {
    problem.errors = body.errors
      .filter(isRecord)
      .map((item) => ({ field: String(item.field ?? ''), message: String(item.message ?? '') }));
  }
  return problem;
}

/**
 * A store in sessionStorage under key: the token lives as long as the tab.
 * Without sessionStorage (private modes, tests) it lives in memory.
 * @param {string} [key]
 * @returns {TokenStore}
 */
export function sessionTokenStore(key = 'aura.apiToken') {
  /** @type {string | null} */
  let memory = null;
  /** @returns {Storage | null} */
  const storage = () => {
    try {
      return globalThis.sessionStorage ?? null;
    } catch {
      return null;
    }
  };
  return {
    get: () => storage()?.getItem(key) ?? memory,
    set: (token) => {
      memory = token;
      try {
        storage()?.setItem(key, token);
      } catch (error) {
        log.warn('cannot keep the token in sessionStorage', error);
      }
    },
    clear: () => {
      memory = null;
      storage()?.removeItem(key);
    },
  };
}

export class ApiClient {
  /** @type {string} */
  #baseUrl;
  /** @type {typeof fetch} */
  #fetch;
  /** @type {TokenStore} */
  #tokens;
  /** @type {TokenPrompt | undefined} */
  #askToken;
  /** @type {number} */
  #timeoutMs;
  /** The prompt in progress, shared by every call that met a 401. @type {Promise<string | null> | null} */
  #asking = null;

  /** @param {ApiClientOptions} [options] */
  constructor(options = {}) {
    this.#baseUrl = options.baseUrl ?? '';
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#tokens = options.tokens ?? sessionTokenStore();
    this.#askToken = options.askToken;
    this.#timeoutMs = options.timeoutMs ?? 15000;
  }

  /** True when calls send a token (so media must be fetched with it). */
  get hasToken() {
    return this.#tokens.get() !== null;
  }

  /**
   * A page of jobs, newest first.
   * @param {{ limit?: number, status?: ServerJobStatus, cursor?: string }} [query]
   * @returns {Promise<JobPage>}
   */
  async listJobs(query = {}) {
    const params = new URLSearchParams();
    if (query.status) params.set('status', query.status);
    if (query.limit) params.set('limit', String(query.limit));
    if (query.cursor) params.set('cursor', query.cursor);
    const text = params.toString();
    return /** @type {JobPage} */ (await this.#json('GET', `/api/jobs${text ? `?${text}` : ''}`));
  }

  /**
   * @param {string} jobId
   * @returns {Promise<JobDocument>}
   */
  async getJob(jobId) {
    return /** @type {JobDocument} */ (await this.#json('GET', `/api/jobs/${encodeURIComponent(jobId)}`));
  }

  /**
   * @param {JobRequest} request
   * @returns {Promise<Accepted>}
   */
  async createJob(request) {
    return /** @type {Accepted} */ (await this.#json('POST', '/api/jobs', request));
  }

  /** @returns {Promise<Accepted>} */
  async quickDemo() {
    return /** @type {Accepted} */ (await this.#json('POST', '/api/quick/demo'));
  }

  /**
   * @param {string} jobId
   * @returns {Promise<JobDocument>}
   */
  async cancelJob(jobId) {
    return /** @type {JobDocument} */ (await this.#json('POST', `/api/jobs/${encodeURIComponent(jobId)}/cancel`));
  }

  /**
   * @param {string} jobId
   * @returns {Promise<JobDocument>}
   */
  async retryJob(jobId) {
    return /** @type {JobDocument} */ (await this.#json('POST', `/api/jobs/${encodeURIComponent(jobId)}/retry`));
  }

  /**
   * An artifact's bytes, fetched with the token (media elements and
   * download links cannot send it).
   * @param {string} url
   * @returns {Promise<Blob>}
   */
  async fetchArtifact(url) {
    const response = await this.#send('GET', url, undefined, '*/*', 0);
    return await response.blob();
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @returns {Promise<unknown>}
   */
  async #json(method, path, body) {
    const response = await this.#send(method, path, body, 'application/json', this.#timeoutMs);
    if (response.status === 204) {
      return null;
    }
    try {
      return /** @type {unknown} */ (await response.json());
    } catch {
      throw new ApiError(`${method} ${path}: the answer is not JSON`, response.status, null);
    }
  }

  /**
   * Sends one request, asking for a token on 401; resolves to a 2xx answer.
   * @param {string} method
   * @param {string} path
   * @param {unknown} body
   * @param {string} accept
   * @param {number} timeoutMs  0: no timeout
   * @returns {Promise<Response>}
   */
  async #send(method, path, body, accept, timeoutMs) {
    for (let tries = 0; ; tries++) {
      const token = this.#tokens.get();
      /** @type {Record<string, string>} */
      const headers = { Accept: accept };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      if (token !== null) headers.Authorization = `Bearer ${token}`;
      /** @type {RequestInit} */
      const init = { method, headers, cache: 'no-store' };
      if (body !== undefined) init.body = JSON.stringify(body);
      if (timeoutMs > 0 && typeof AbortSignal.timeout === 'function') {
        init.signal = AbortSignal.timeout(timeoutMs);
      }
      /** @type {Response} */
      let response;
      try {
        response = await this.#fetch(`${this.#baseUrl}${path}`, init);
      } catch (error) {
        log.warn(`${method} ${path}: no answer`, error);
        throw new ApiError('The server could not be reached. Check your connection and try again.', 0, null);
      }
      if (response.status === 401 && this.#askToken && tries < TOKEN_TRIES) {
        const fresh = await this.#promptToken(token !== null ? 'rejected' : 'required', token);
        if (fresh !== null) {
          continue;
        }
      }
      if (!response.ok) {
        throw await this.#failure(method, path, response);
      }
      return response;
    }
  }

  /**
   * Asks for a token once for every call waiting: a call that sent the
   * token another call has just replaced goes on with the new one.
   * @param {'required' | 'rejected'} reason
   * @param {string | null} sent  the token the refused call carried
   * @returns {Promise<string | null>}
   */
  #promptToken(reason, sent) {
    const current = this.#tokens.get();
    if (current !== null && current !== sent) {
      return Promise.resolve(current);
    }
    if (!this.#asking && this.#askToken) {
      const ask = this.#askToken;
      this.#asking = (async () => {
        try {
          const token = (await ask(reason))?.trim() ?? '';
          if (token === '') {
            return null;
          }
          this.#tokens.set(token);
          return token;
        } finally {
          this.#asking = null;
        }
      })();
    }
    return this.#asking ?? Promise.resolve(null);
  }

  /**
   * The ApiError for an error answer.
   * @param {string} method
   * @param {string} path
   * @param {Response} response
   * @returns {Promise<ApiError>}
   */
  async #failure(method, path, response) {
    /** @type {Problem | null} */
    let problem = null;
    const type = response.headers.get('Content-Type') ?? '';
    if (type.includes('json')) {
      try {
        problem = toProblem(await response.json());
      } catch {
        problem = null;
      }
    }
    const message = problem?.detail ?? problem?.title ?? `${response.status} ${response.statusText}`.trim();
    log.info(`${method} ${path}: ${response.status} ${message}`);
    return new ApiError(message, response.status, problem);
  }
}
