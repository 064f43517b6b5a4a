// Wording and numbers as the UI shows them.

import { isStepName } from './jobs-store.js';

/** @typedef {import('./jobs-store.js').Job} Job */
/** @typedef {import('./jobs-store.js').LogEntry} LogEntry */

/** What each step does, as its label. */
export const STEP_LABELS = Object.freeze({
  plan: 'Plan',
  tts: 'Voice',
  visuals: 'Visuals',
  compose: 'Compose',
  render: 'Render',
});

/** @type {Readonly<Record<string, string>>} */
const STAGE_LABELS = Object.freeze({
  queued: 'Waiting in the queue',
  plan: 'Planning scenes',
  tts: 'Recording narration',
  visuals: 'Drawing visuals',
  compose: 'Composing the timeline',
  render: 'Rendering the video',
  complete: 'Complete',
});

/**
 * A step's label ('tts' is "Voice"); text that names no step, as it is.
 * @param {string} name
 * @returns {string}
 */
export function stepLabel(name) {
  return isStepName(name) ? STEP_LABELS[name] : name;
}

/**
 * The stage of a job in words.
 * @param {string} stage
 * @returns {string}
 */
export function stageLabel(stage) {
  return STAGE_LABELS[stage] ?? stage;
}

/**
 * A percentage as a whole number with its sign: "42%".
 * @param {number} percent
 * @returns {string}
 */
export function formatPercent(percent) {
  const value = Number.isFinite(percent) ? Math.min(100, Math.max(0, percent)) : 0;
  return `${Math.floor(value)}%`;
}

/**
 * A duration in seconds as "45 s", "2 min 5 s" or "1 h 3 min".
 * @param {number} seconds
 * @returns {string}
 */
export function formatDuration(seconds) {
  const total = Math.max(0, Math.round(seconds));
  if (total < 60) {
    return `${total} s`;
  }
  const minutes = Math.floor(total / 60);
  if (minutes < 60) {
    const rest = total % 60;
    return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
  }
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

/**
 * What the ETA line says of a job.
 * @param {Job} job
 * @returns {string}
 */
export function etaText(job) {
  if (job.status === 'Queued') {
    return job.queuePosition !== null && job.queuePosition > 0
      ? `Waiting for a worker (number ${job.queuePosition} in line)`
      : 'Waiting for a worker';
  }
  if (job.status !== 'Running') {
    return '';
  }
  if (job.eta === null) {
    return 'Estimating time left…';
  }
  if (job.eta <= 0) {
    return isStepName(job.stage) ? `Finishing ${STEP_LABELS[job.stage]}…` : 'Finishing…';
  }
  return `About ${formatDuration(job.eta)} left in this step`;
}

/**
 * A size in bytes as "512 B", "48 KB" or "3.2 MB".
 * @param {number} bytes
 * @returns {string}
 */
export function formatBytes(bytes) {
  if (bytes < 1024) {
    return `${bytes} B`;
  }
  if (bytes < 1024 * 1024) {
    return `${Math.round(bytes / 1024)} KB`;
  }
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/**
 * A clock time with milliseconds: "14:03:27.512".
 * @param {number} unixMs
 * @returns {string}
 */
export function formatClock(unixMs) {
  const date = new Date(unixMs);
  /** @param {number} n @param {number} width */
  const pad = (n, width) => String(n).padStart(width, '0');
  return `${pad(date.getHours(), 2)}:${pad(date.getMinutes(), 2)}:${pad(date.getSeconds(), 2)}.${pad(date.getMilliseconds(), 3)}`;
}

/**
 * When a job was made, in words: "just now", "5 min ago", or a date.
 * @param {string | null} iso
 * @param {number} [now]
 * @returns {string}
 */
export function formatAge(iso, now = Date.now()) {
  if (!iso) {
    return '';
  }
  const then = Date.parse(iso);
  if (Number.isNaN(then)) {
    return '';
  }
  const seconds = Math.round((now - then) / 1000);
  if (seconds < 45) return 'just now';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(then).toLocaleDateString(undefined, { month: 'short', day: 'numeric', year: 'numeric' });
}

/**
 * One line that says what a logged event was.
 * @param {LogEntry} entry
 * @returns {string}
 */
export function describeEvent(entry) {
  const d = entry.data;
  /** @param {string} key */
  const s = (key) => (typeof d[key] === 'string' || typeof d[key] === 'number' ? String(d[key]) : '');
  switch (entry.event) {
    case 'job-status': {
      const position = s('queuePosition');
      return `${s('status')} · ${s('phase')} · ${formatPercent(Number(d.percent))} · attempt ${s('attempt')}${position ? ` · #${position} in queue` : ''}`;
    }
    case 'step-status':
      return `${s('step')} ${s('status')}`;
    case 'step-progress': {
      const eta = typeof d.etaSeconds === 'number' ? ` · ${formatDuration(d.etaSeconds)} left` : '';
      return `${s('step')} ${formatPercent(Number(d.percent))} · ${s('message')}${eta}`;
    }
    case 'warning':
    case 'error':
      return `${s('code')}: ${s('message')}`;
    case 'job-completed':
      return `Succeeded · ${Array.isArray(d.artifacts) ? d.artifacts.length : 0} files`;
    case 'job-failed': {
      const error = typeof d.error === 'object' && d.error !== null ? /** @type {Record<string, unknown>} */ (d.error) : {};
      return `Failed in ${s('step')} · ${String(error.code ?? '')}: ${String(error.message ?? '')}`;
    }
    case 'job-cancelled':
      return `Canceled during ${s('step')}`;
    default:
      return JSON.stringify(d);
  }
}
