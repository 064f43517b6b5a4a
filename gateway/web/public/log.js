// Leveled logging for the UI. Modules log through createLogger(scope);
// this module alone decides where entries go: the browser console at or
// above the chosen level, and any sink added (a test, a diagnostics view).

/** @typedef {'debug' | 'info' | 'warn' | 'error'} LogLevel */
/** @typedef {LogLevel | 'silent'} LogThreshold */

/**
 * @typedef {object} LogEntry
 * @property {LogLevel} level
 * @property {string} scope   the module or object that wrote it
 * @property {string} message
 * @property {unknown} detail  an error or a value that explains it, or undefined
 * @property {number} time    Date.now() when it was written
 */

/** @typedef {(entry: LogEntry) => void} LogSink */

/**
 * @typedef {object} Logger
 * @property {(message: string, detail?: unknown) => void} debug
 * @property {(message: string, detail?: unknown) => void} info
 * @property {(message: string, detail?: unknown) => void} warn
 * @property {(message: string, detail?: unknown) => void} error
 */

/** @type {Record<LogThreshold, number>} */
const RANK = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** @type {LogThreshold} */
let consoleThreshold = 'info';

/** @type {Set<LogSink>} */
const sinks = new Set();

/**
 * Sets the lowest level that reaches the console ('silent': none).
 * @param {LogThreshold} level
 */
export function setLogLevel(level) {
  consoleThreshold = level;
}

/** @returns {LogThreshold} */
export function logLevel() {
  return consoleThreshold;
}

/**
 * True when text names a level or 'silent'.
 * @param {string} text
 * @returns {text is LogThreshold}
 */
export function isLogThreshold(text) {
  return Object.prototype.hasOwnProperty.call(RANK, text);
}

/**
 * Adds a sink that receives every entry, whatever the console level.
 * Returns the function that removes it.
 * @param {LogSink} sink
 * @returns {() => void}
 */
export function addLogSink(sink) {
  sinks.add(sink);
  return () => {
    sinks.delete(sink);
  };
}

/** @param {LogEntry} entry */
function toConsole(entry) {
  if (RANK[entry.level] < RANK[consoleThreshold]) {
    return;
  }
  const text = `[aura] ${entry.scope}: ${entry.message}`;
  const args = entry.detail === undefined ? [text] : [text, entry.detail];
  switch (entry.level) {
    case 'debug':
      console.debug(...args);
      break;
    case 'info':
      console.info(...args);
      break;
    case 'warn':
      console.warn(...args);
      break;
    case 'error':
      console.error(...args);
      break;
  }
}

/**
 * @param {LogLevel} level
 * @param {string} scope
 * @param {string} message
 * @param {unknown} detail
 */
function write(level, scope, message, detail) {
  /** @type {LogEntry} */
  const entry = { level, scope, message, detail, time: Date.now() };
  toConsole(entry);
  for (const sink of sinks) {
    try {
      sink(entry);
    } catch {
      // a failing sink must not break the code that logs
    }
  }
}

/**
 * A logger whose entries carry scope.
 * @param {string} scope
 * @returns {Logger}
 */
export function createLogger(scope) {
  return {
    debug: (message, detail) => write('debug', scope, message, detail),
    info: (message, detail) => write('info', scope, message, detail),
    warn: (message, detail) => write('warn', scope, message, detail),
    error: (message, detail) => write('error', scope, message, detail),
  };
}
