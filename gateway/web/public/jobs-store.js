// JobsStore: the state of every job the UI shows, kept current by one
// event stream per job. A job's state comes from the API's documents and
// from its events, each applied once in order of seq: an event at or below
// the last one applied (a duplicate, or one out of order) is ignored.
// Subscribers hear of every job added, changed or removed.

import { ApiError, isRecord } from './api.js';
import { createLogger } from './log.js';
import { SseClient } from './sse-client.js';

/** @typedef {import('./api.js').JobDocument} JobDocument */
/** @typedef {import('./api.js').JobSummary} JobSummary */
/** @typedef {import('./api.js').Accepted} Accepted */
/** @typedef {import('./api.js').Artifact} Artifact */
/** @typedef {import('./api.js').JobError} JobError */
/** @typedef {import('./api.js').JobOutput} JobOutput */
/** @typedef {import('./api.js').StepStatus} StepStatus */
/** @typedef {import('./api.js').ApiClient} ApiClient */
/** @typedef {import('./sse-client.js').SseHandler} SseHandler */
/** @typedef {import('./sse-client.js').SsePrepare} SsePrepare */

/** The pipeline's steps, in order. */
export const STEP_NAMES = /** @type {const} */ (['plan', 'tts', 'visuals', 'compose', 'render']);

/** @typedef {typeof STEP_NAMES[number]} StepName */

/** @typedef {'Queued' | 'Running' | 'Done' | 'Failed' | 'Skipped' | 'Canceled'} JobStatus */

/** Every event type of a job's stream. */
export const JOB_EVENTS = /** @type {const} */ ([
  'job-status',
  'step-status',
  'step-progress',
  'warning',
  'error',
  'job-completed',
  'job-failed',
  'job-cancelled',
]);

/** @type {readonly JobStatus[]} */
const JOB_STATUSES = ['Queued', 'Running', 'Done', 'Failed', 'Skipped', 'Canceled'];
/** @type {readonly StepStatus[]} */
const STEP_STATUSES = ['Pending', 'Running', 'Done', 'Skipped', 'Failed', 'Canceled'];

/**
 * One event as received, in the job's log.
 * @typedef {object} LogEntry
 * @property {number} seq
 * @property {string} event
 * @property {Record<string, unknown>} data
 * @property {number} receivedAt  Date.now() when it arrived
 */

/**
 * How the job's stream is doing: idle (none open), connecting, live,
 * reconnecting (waiting for the next try) or lost (gave up).
 * @typedef {'idle' | 'connecting' | 'live' | 'reconnecting' | 'lost'} StreamState
 */

/** @typedef {{ code: string, message: string }} JobWarning */

/**
 * A job as the UI shows it. The store replaces the object on every change
 * (so a reference comparison tells whether it changed), except the log,
 * which is one array the store only appends to.
 * @typedef {object} Job
 * @property {string} id
 * @property {string} title
 * @property {JobStatus} status
 * @property {string} stage  the step at work ('plan' … 'render'), 'queued' or 'complete'
 * @property {string} phase  the server's phase
 * @property {number} percent  0–100 over the whole job
 * @property {string} progressMessage  the latest progress message
 * @property {Record<StepName, StepStatus>} steps
 * @property {Artifact[]} artifacts
 * @property {JobOutput | null} output
 * @property {JobError | null} error
 * @property {string} failedStep  the step a failure or cancellation stopped in
 * @property {JobWarning[]} warnings
 * @property {number | null} eta  seconds left in the step at work, as last reported
 * @property {number} attempt
 * @property {number | null} queuePosition
 * @property {string | null} createdAt
 * @property {string | null} finishedAt
 * @property {number} lastSeq  the last event applied (log and stream position)
 * @property {number} stateSeq  the event the state reflects (a document may be ahead of the log)
 * @property {number} knownSeq  the latest event the server has reported
 * @property {readonly LogEntry[]} log
 * @property {StreamState} stream
 * @property {number} reconnectAttempt  the try the stream waits for (when reconnecting)
 * @property {number} reconnectDelayMs
 * @property {string} eventsUrl  links.events (with its signed token when auth is on)
 * @property {number} linkTime  when eventsUrl was received
 */

/** @typedef {{ jobId: string, kind: 'added' | 'updated' | 'removed' }} JobChange */
/** @typedef {(change: JobChange) => void} JobListener */

/**
 * An event of a job's stream, as SseClient hands it over.
 * @typedef {object} JobEventInput
 * @property {string} type
 * @property {string} [id]
 * @property {unknown} data
 */

/**
 * The part of SseClient the store uses.
 * @typedef {object} JobStream
 * @property {(type: string, handler: SseHandler) => () => void} on
 * @property {() => void} connect
 * @property {() => void} close
 */

/** @typedef {(url: string, options: { lastEventId: string, prepare: SsePrepare }) => JobStream} StreamFactory */

/** @typedef {Pick<ApiClient, 'getJob' | 'listJobs' | 'cancelJob' | 'retryJob'>} JobsApi */

/**
 * @typedef {object} JobsStoreOptions
 * @property {JobsApi} api
 * @property {StreamFactory} [createStream]  default: an SseClient
 * @property {() => number} [now]
 * @property {number} [linkMaxAgeMs]  an events link older than this is fetched afresh before use
 */

const log = createLogger('jobs');

/**
 * @param {unknown} value
 * @returns {value is JobStatus}
 */
function isJobStatus(value) {
  return typeof value === 'string' && /** @type {readonly string[]} */ (JOB_STATUSES).includes(value);
}

/**
 * @param {unknown} value
 * @returns {value is StepStatus}
 */
function isStepStatus(value) {
  return typeof value === 'string' && /** @type {readonly string[]} */ (STEP_STATUSES).includes(value);
}

/**
 * @param {unknown} value
 * @returns {value is StepName}
 */
export function isStepName(value) {
  return typeof value === 'string' && /** @type {readonly string[]} */ (STEP_NAMES).includes(value);
}

/**
 * True once a job can change no more without a retry.
 * @param {JobStatus} status
 */
export function isFinished(status) {
  return status === 'Done' || status === 'Failed' || status === 'Canceled' || status === 'Skipped';
}

/**
 * @param {Record<string, unknown>} data
 * @param {string} key
 * @returns {string | undefined}
 */
function text(data, key) {
  const value = data[key];
  return typeof value === 'string' ? value : undefined;
}

/**
 * @param {Record<string, unknown>} data
 * @param {string} key
 * @returns {number | undefined}
 */
function number(data, key) {
  const value = data[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * @param {unknown} value
 * @returns {JobError | null}
 */
function toJobError(value) {
  if (!isRecord(value)) {
    return null;
  }
  return { code: String(value.code ?? ''), message: String(value.message ?? '') };
}

/**
 * @param {unknown} value
 * @returns {Artifact[]}
 */
function toArtifacts(value) {
  if (!Array.isArray(value)) {
    return [];
  }
  return value.filter(isRecord).map((item) => ({
    name: String(item.name ?? ''),
    path: String(item.path ?? ''),
    url: String(item.url ?? ''),
    type: String(item.type ?? ''),
    sizeBytes: typeof item.sizeBytes === 'number' ? item.sizeBytes : 0,
  }));
}

/**
 * @param {unknown} value
 * @returns {JobOutput | null}
 */
function toOutput(value) {
  if (!isRecord(value)) {
    return null;
  }
  return {
    videoPath: String(value.videoPath ?? ''),
    subtitlePath: String(value.subtitlePath ?? ''),
    sizeBytes: typeof value.sizeBytes === 'number' ? value.sizeBytes : 0,
    durationSeconds: typeof value.durationSeconds === 'number' ? value.durationSeconds : 0,
  };
}

/** @returns {Record<StepName, StepStatus>} */
function pendingSteps() {
  return { plan: 'Pending', tts: 'Pending', visuals: 'Pending', compose: 'Pending', render: 'Pending' };
}

/**
 * The stage of a job in status, at work in step (or phase).
 * @param {JobStatus} status
 * @param {string} step
 * @param {string} previous
 */
function stageOf(status, step, previous) {
  if (status === 'Queued') return 'queued';
  if (status === 'Done') return 'complete';
  if (isStepName(step)) return step;
  return previous === 'queued' || previous === 'complete' ? 'plan' : previous;
}

/**
 * A job known only by its id.
 * @param {string} id
 * @returns {Job}
 */
export function newJob(id) {
  return {
    id,
    title: '',
    status: 'Queued',
    stage: 'queued',
    phase: '',
    percent: 0,
    progressMessage: '',
    steps: pendingSteps(),
    artifacts: [],
    output: null,
    error: null,
    failedStep: '',
    warnings: [],
    eta: null,
    attempt: 1,
    queuePosition: null,
    createdAt: null,
    finishedAt: null,
    lastSeq: 0,
    stateSeq: 0,
    knownSeq: 0,
    log: [],
    stream: 'idle',
    reconnectAttempt: 0,
    reconnectDelayMs: 0,
    eventsUrl: `/api/jobs/${encodeURIComponent(id)}/events`,
    linkTime: 0,
  };
}

/**
 * job after the event type with data: a new object (the log excepted).
 * @param {Job} job
 * @param {string} type
 * @param {Record<string, unknown>} data
 * @returns {Job}
 */
export function applyEvent(job, type, data) {
  const next = { ...job };
  switch (type) {
    case 'job-status': {
      const status = text(data, 'status');
      const attempt = number(data, 'attempt');
      if (attempt !== undefined && attempt > job.attempt) {
        // a new attempt: the failure that ended the last one is over
        next.attempt = attempt;
        next.error = null;
        next.failedStep = '';
        next.steps = { ...job.steps };
        for (const step of STEP_NAMES) {
          if (next.steps[step] === 'Failed' || next.steps[step] === 'Canceled') {
            next.steps[step] = 'Pending';
          }
        }
      }
      if (isJobStatus(status)) next.status = status;
      next.phase = text(data, 'phase') ?? job.phase;
      next.percent = number(data, 'percent') ?? job.percent;
      next.queuePosition = number(data, 'queuePosition') ?? null;
      next.stage = stageOf(next.status, next.phase, job.stage);
      if (next.status !== 'Running') next.eta = null;
      break;
    }
    case 'step-status': {
      const step = text(data, 'step');
      const status = text(data, 'status');
      if (!isStepName(step) || !isStepStatus(status)) break;
      next.steps = { ...job.steps, [step]: status };
      if (status === 'Running') {
        next.stage = step;
        next.phase = step;
        next.eta = null;
      }
      break;
    }
    case 'step-progress': {
      const step = text(data, 'step');
      if (isStepName(step)) {
        next.stage = step;
        if (job.steps[step] === 'Pending') next.steps = { ...job.steps, [step]: 'Running' };
      }
      next.phase = text(data, 'phase') ?? job.phase;
      next.percent = number(data, 'percent') ?? job.percent;
      next.progressMessage = text(data, 'message') ?? job.progressMessage;
      next.eta = number(data, 'etaSeconds') ?? null;
      break;
    }
    case 'warning':
      next.warnings = [...job.warnings, { code: text(data, 'code') ?? '', message: text(data, 'message') ?? '' }];
      break;
    case 'error':
      next.error = { code: text(data, 'code') ?? '', message: text(data, 'message') ?? '' };
      break;
    case 'job-completed':
      next.status = 'Done';
      next.stage = 'complete';
      next.phase = 'complete';
      next.percent = 100;
      next.eta = null;
      next.error = null;
      next.queuePosition = null;
      next.artifacts = toArtifacts(data.artifacts);
      next.output = toOutput(data.output);
      break;
    case 'job-failed':
      next.status = 'Failed';
      next.eta = null;
      next.error = toJobError(data.error) ?? job.error;
      next.failedStep = text(data, 'step') ?? job.failedStep;
      break;
    case 'job-cancelled':
      next.status = 'Canceled';
      next.eta = null;
      next.failedStep = text(data, 'step') ?? job.failedStep;
      break;
    default:
      break;
  }
  return next;
}

/**
 * @param {JobDocument | JobSummary} doc
 * @returns {doc is JobDocument}
 */
function isDocument(doc) {
  return 'lastEventId' in doc && typeof doc.lastEventId === 'number';
}

/** @type {StreamFactory} */
function defaultStreamFactory(url, options) {
  return new SseClient(url, options);
}

export class JobsStore {
  /** @type {Map<string, Job>} */
  #jobs = new Map();
  /** @type {Map<string, JobStream>} */
  #streams = new Map();
  /** @type {Set<JobListener>} */
  #listeners = new Set();
  /** @type {JobsApi} */
  #api;
  /** @type {StreamFactory} */
  #createStream;
  /** @type {() => number} */
  #now;
  /** @type {number} */
  #linkMaxAgeMs;

  /** @param {JobsStoreOptions} options */
  constructor(options) {
    this.#api = options.api;
    this.#createStream = options.createStream ?? defaultStreamFactory;
    this.#now = options.now ?? Date.now;
    this.#linkMaxAgeMs = options.linkMaxAgeMs ?? 30000;
  }

  /**
   * Calls listener after every change; returns the function that stops it.
   * @param {JobListener} listener
   * @returns {() => void}
   */
  subscribe(listener) {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * @param {string} jobId
   * @returns {Job | undefined}
   */
  get(jobId) {
    return this.#jobs.get(jobId);
  }

  /**
   * Every job, newest first (job ids sort by creation time).
   * @returns {Job[]}
   */
  list() {
    return [...this.#jobs.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  /** @param {string} jobId */
  isStreaming(jobId) {
    return this.#streams.has(jobId);
  }

  /**
   * Adds the job a submission made (its 202 answer).
   * @param {Accepted} accepted
   * @param {string} [title]
   * @returns {Job}
   */
  addAccepted(accepted, title = '') {
    const existing = this.#jobs.get(accepted.jobId);
    const job = { ...(existing ?? newJob(accepted.jobId)) };
    if (!existing) {
      job.title = title;
      if (isJobStatus(accepted.status)) job.status = accepted.status;
      job.stage = accepted.stage || job.stage;
      job.createdAt = new Date(this.#now()).toISOString();
    }
    if (accepted.links?.events) {
      job.eventsUrl = accepted.links.events;
      job.linkTime = this.#now();
    }
    this.#put(job, existing ? 'updated' : 'added');
    return job;
  }

  /**
   * Takes what a document of the API says of a job: its links, and its
   * state unless events beyond it were applied already. A full document
   * (GET /api/jobs/{id}) also says up to which event its state goes.
   * @param {JobDocument | JobSummary} doc
   * @returns {Job}
   */
  applyDocument(doc) {
    const existing = this.#jobs.get(doc.jobId);
    const job = { ...(existing ?? newJob(doc.jobId)) };
    job.title = doc.title || job.title;
    if (doc.links?.events) {
      job.eventsUrl = doc.links.events;
      job.linkTime = this.#now();
    }
    const full = isDocument(doc);
    if (full) {
      job.knownSeq = Math.max(job.knownSeq, doc.lastEventId);
    }
    const fresher = full ? doc.lastEventId >= job.stateSeq : job.stateSeq === 0;
    if (fresher) {
      if (isJobStatus(doc.status)) job.status = doc.status;
      job.phase = doc.phase;
      job.percent = doc.percent;
      if (doc.attempt > job.attempt) job.warnings = [];
      job.attempt = doc.attempt;
      job.createdAt = doc.createdAt ?? job.createdAt;
      job.finishedAt = doc.finishedAt;
      job.stage = stageOf(job.status, full ? doc.step : doc.phase, job.stage);
      if (full) {
        job.stateSeq = doc.lastEventId;
        job.queuePosition = doc.queuePosition;
        job.error = doc.error ? { code: doc.error.code, message: doc.error.message } : null;
        job.failedStep = job.status === 'Failed' || job.status === 'Canceled' ? doc.step : '';
        job.artifacts = toArtifacts(doc.artifacts);
        job.output = toOutput(doc.output);
        const steps = pendingSteps();
        for (const item of doc.steps ?? []) {
          if (isStepName(item.name) && isStepStatus(item.status)) steps[item.name] = item.status;
        }
        job.steps = steps;
      }
      if (job.status !== 'Running') job.eta = null;
    }
    this.#put(job, existing ? 'updated' : 'added');
    return job;
  }

  /**
   * Applies one event of a job's stream. Returns false, changing nothing,
   * for an event without a job id or seq, or whose seq is at or below the
   * last one applied to that job.
   * @param {JobEventInput} event
   * @returns {boolean}
   */
  updateJobFromSse(event) {
    const data = event.data;
    if (!isRecord(data)) {
      return false;
    }
    const jobId = text(data, 'jobId');
    const seq = number(data, 'seq') ?? Number.parseInt(event.id ?? '', 10);
    if (!jobId || !Number.isSafeInteger(seq) || seq < 1) {
      log.debug(`an event ${event.type} without a job id or seq was ignored`);
      return false;
    }
    const existing = this.#jobs.get(jobId);
    const current = existing ?? newJob(jobId);
    if (seq <= current.lastSeq) {
      log.debug(`job ${jobId}: event ${seq} ignored, ${current.lastSeq} applied already`);
      return false;
    }
    // events the state already covers (a document was ahead) only fill the log
    const job = seq > current.stateSeq ? applyEvent(current, event.type, data) : { ...current };
    job.lastSeq = seq;
    job.stateSeq = Math.max(current.stateSeq, seq);
    job.knownSeq = Math.max(current.knownSeq, seq);
    /** @type {LogEntry[]} */ (job.log).push({ seq, event: event.type, data, receivedAt: this.#now() });
    this.#put(job, existing ? 'updated' : 'added');
    return true;
  }

  /**
   * Loads the newest jobs (GET /api/jobs), then each one's document, and
   * streams those still at work. Rejects when the listing fails.
   * @param {{ limit?: number }} [options]
   * @returns {Promise<void>}
   */
  async loadHistory(options = {}) {
    const page = await this.#api.listJobs({ limit: options.limit ?? 20 });
    for (const item of page.items) {
      if (!this.#jobs.has(item.jobId)) {
        this.applyDocument(item);
      }
    }
    await Promise.all(
      page.items.map(async (item) => {
        try {
          const doc = await this.#api.getJob(item.jobId);
          if (!this.#jobs.has(doc.jobId)) {
            return; // removed meanwhile
          }
          const job = this.applyDocument(doc);
          if (!isFinished(job.status)) {
            this.startStreaming(job.id);
          }
        } catch (error) {
          log.warn(`cannot load job ${item.jobId}`, error);
        }
      }),
    );
  }

  /**
   * Opens the job's event stream, from the event after the last applied
   * (from the first when none was). Does nothing when it is open.
   * @param {string} jobId
   */
  startStreaming(jobId) {
    if (this.#streams.has(jobId)) {
      return;
    }
    let job = this.#jobs.get(jobId);
    if (!job) {
      job = newJob(jobId);
      this.#put(job, 'added');
    }
    const stream = this.#createStream(job.eventsUrl, {
      lastEventId: String(job.lastSeq),
      prepare: (attempt) => this.#prepareStream(jobId, attempt),
    });
    this.#streams.set(jobId, stream);
    this.#setStream(jobId, 'connecting');
    for (const type of JOB_EVENTS) {
      if (type === 'error') continue;
      stream.on(type, (message) => {
        this.updateJobFromSse(message);
      });
    }
    stream.on('error', (message) => {
      if (message.fromServer) {
        this.updateJobFromSse(message);
        return;
      }
      if (this.#streams.get(jobId) === stream) {
        this.#streams.delete(jobId);
        this.#setStream(jobId, 'lost');
      }
    });
    stream.on('open', () => this.#setStream(jobId, 'live'));
    stream.on('reconnecting', (message) => {
      const data = isRecord(message.data) ? message.data : {};
      this.#setStream(jobId, 'reconnecting', number(data, 'attempt') ?? 0, number(data, 'delayMs') ?? 0);
    });
    stream.on('end', () => {
      if (this.#streams.get(jobId) !== stream) {
        return;
      }
      this.#streams.delete(jobId);
      this.#setStream(jobId, 'idle');
      const ended = this.#jobs.get(jobId);
      // a stream ends at a terminal event; a job retried after it has more
      if (ended && ended.knownSeq > ended.lastSeq) {
        this.startStreaming(jobId);
      }
    });
    stream.connect();
  }

  /**
   * Closes the job's event stream, if open.
   * @param {string} jobId
   */
  stopStreaming(jobId) {
    const stream = this.#streams.get(jobId);
    if (!stream) {
      return;
    }
    this.#streams.delete(jobId);
    stream.close();
    this.#setStream(jobId, 'idle');
  }

  /**
   * Fetches the events a finished job's log lacks (a job from history).
   * @param {string} jobId
   */
  loadLog(jobId) {
    const job = this.#jobs.get(jobId);
    if (job && !this.#streams.has(jobId) && job.lastSeq < job.knownSeq) {
      this.startStreaming(jobId);
    }
  }

  /**
   * Asks the server to cancel the job. Rejects with an ApiError.
   * @param {string} jobId
   */
  async cancel(jobId) {
    const doc = await this.#api.cancelJob(jobId);
    this.applyDocument(doc);
  }

  /**
   * Runs a failed or cancelled job again and streams it. Rejects with an
   * ApiError.
   * @param {string} jobId
   */
  async retry(jobId) {
    const doc = await this.#api.retryJob(jobId);
    this.applyDocument(doc);
    this.startStreaming(jobId);
  }

  /**
   * Forgets the job, closing its stream (the job itself goes on).
   * @param {string} jobId
   */
  remove(jobId) {
    this.stopStreaming(jobId);
    if (this.#jobs.delete(jobId)) {
      this.#notify({ jobId, kind: 'removed' });
    }
  }

  /** Closes every stream. */
  dispose() {
    for (const jobId of [...this.#streams.keys()]) {
      this.stopStreaming(jobId);
    }
  }

  /**
   * The URL of the job's next connection: the link in hand when fresh,
   * else a fresh one from GET /api/jobs/{id} (its signed token may have
   * expired). null when the job has nothing more to stream: finished with
   * every event applied (where the gateway would answer 204), or gone.
   * @param {string} jobId
   * @param {number} attempt
   * @returns {Promise<string | null>}
   */
  async #prepareStream(jobId, attempt) {
    const job = this.#jobs.get(jobId);
    if (!job) {
      return null;
    }
    if (attempt === 0 && this.#now() - job.linkTime < this.#linkMaxAgeMs) {
      return job.eventsUrl;
    }
    /** @type {JobDocument} */
    let doc;
    try {
      doc = await this.#api.getJob(jobId);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        log.warn(`job ${jobId} is gone`);
        return null;
      }
      throw error;
    }
    if (!this.#jobs.has(jobId)) {
      return null;
    }
    const fresh = this.applyDocument(doc);
    if (isFinished(fresh.status) && doc.lastEventId <= fresh.lastSeq) {
      return null;
    }
    return fresh.eventsUrl;
  }

  /**
   * @param {string} jobId
   * @param {StreamState} state
   * @param {number} [attempt]
   * @param {number} [delayMs]
   */
  #setStream(jobId, state, attempt = 0, delayMs = 0) {
    const job = this.#jobs.get(jobId);
    if (!job || (job.stream === state && job.reconnectAttempt === attempt)) {
      return;
    }
    this.#put({ ...job, stream: state, reconnectAttempt: attempt, reconnectDelayMs: delayMs }, 'updated');
  }

  /**
   * @param {Job} job
   * @param {'added' | 'updated'} kind
   */
  #put(job, kind) {
    this.#jobs.set(job.id, job);
    this.#notify({ jobId: job.id, kind });
  }

  /** @param {JobChange} change */
  #notify(change) {
    for (const listener of [...this.#listeners]) {
      try {
        listener(change);
      } catch (error) {
        log.error('a listener failed', error);
      }
    }
  }
}
