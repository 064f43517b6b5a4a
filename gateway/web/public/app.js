// The page: wires the API client, the jobs store, the Generate Video form,
// the Quick Demo button and one panel per job, newest first.

import { ApiClient, ApiError, sessionTokenStore } from './api.js';
import { Announcer, required, setText, show } from './dom.js';
import { GenerateForm } from './generate-form.js';
import { JobPanel } from './job-panel.js';
import { isFinished, JobsStore } from './jobs-store.js';
import { createLogger, isLogThreshold, setLogLevel } from './log.js';
import { TokenDialog } from './token-dialog.js';

/** @typedef {import('./jobs-store.js').JobChange} JobChange */
/** @typedef {import('./api.js').Accepted} Accepted */

const log = createLogger('app');

/** ?log=debug (or localStorage aura.logLevel) chooses what reaches the console. */
function chooseLogLevel() {
  const asked = new URLSearchParams(location.search).get('log') ?? safeLocalStorage('aura.logLevel');
  if (asked && isLogThreshold(asked)) {
    setLogLevel(asked);
  }
}

/**
 * @param {string} key
 * @returns {string | null}
 */
function safeLocalStorage(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

/**
 * What a failed call tells the person.
 * @param {unknown} error
 * @returns {string}
 */
function describeFailure(error) {
  if (error instanceof ApiError) {
    if (error.status === 401) return 'The API needs a valid token.';
    const id = error.correlationId ? ` (reference ${error.correlationId})` : '';
    return `${error.message}${id}`;
  }
  return error instanceof Error ? error.message : 'Something went wrong.';
}

/** The list of panels, kept in the store's order. */
class PanelList {
  /** @type {HTMLElement} */
  #container;
  /** @type {HTMLElement} */
  #empty;
  /** @type {JobsStore} */
  #store;
  /** @type {Map<string, JobPanel>} */
  #panels = new Map();
  /** Jobs changed since the last frame. @type {Set<string>} */
  #dirty = new Set();
  #frame = 0;
  /** @type {(jobId: string) => JobPanel} */
  #createPanel;

  /**
   * @param {HTMLElement} container
   * @param {HTMLElement} empty  shown while there is no job
   * @param {JobsStore} store
   * @param {(jobId: string) => JobPanel} createPanel
   */
  constructor(container, empty, store, createPanel) {
    this.#container = container;
    this.#empty = empty;
    this.#store = store;
    this.#createPanel = createPanel;
    store.subscribe((change) => this.#onChange(change));
  }

  /**
   * @param {string} jobId
   * @returns {JobPanel | undefined}
   */
  get(jobId) {
    return this.#panels.get(jobId);
  }

  /** Rewrites every panel's age ("5 min ago"). */
  refreshAges() {
    for (const panel of this.#panels.values()) {
      panel.refreshAge();
    }
  }

  /** @param {JobChange} change */
  #onChange(change) {
    if (change.kind === 'removed') {
      this.#remove(change.jobId);
      return;
    }
    if (!this.#panels.has(change.jobId)) {
      this.#insert(change.jobId);
      return;
    }
    // progress comes in bursts: draw once a frame
    this.#dirty.add(change.jobId);
    if (this.#frame === 0) {
      this.#frame = requestAnimationFrame(() => this.#flush());
    }
  }

  #flush() {
    this.#frame = 0;
    for (const jobId of this.#dirty) {
      const job = this.#store.get(jobId);
      const panel = this.#panels.get(jobId);
      if (job && panel && panel.job !== job) {
        panel.update(job);
      }
    }
    this.#dirty.clear();
  }

  /** @param {string} jobId */
  #insert(jobId) {
    const panel = this.#createPanel(jobId);
    this.#panels.set(jobId, panel);
    // newest first: before the first panel of an older job (ids sort by time)
    let before = null;
    for (const child of this.#container.children) {
      const other = child instanceof HTMLElement ? child.dataset.jobId : undefined;
      if (other !== undefined && other < jobId) {
        before = child;
        break;
      }
    }
    this.#container.insertBefore(panel.element, before);
    show(this.#empty, false);
  }

  /** @param {string} jobId */
  #remove(jobId) {
    const panel = this.#panels.get(jobId);
    if (!panel) return;
    this.#panels.delete(jobId);
    this.#dirty.delete(jobId);
    const next = panel.element.nextElementSibling ?? panel.element.previousElementSibling;
    const hadFocus = panel.element.contains(document.activeElement);
    panel.destroy();
    panel.element.remove();
    show(this.#empty, this.#panels.size === 0);
    if (hadFocus) {
      const target = next instanceof HTMLElement ? next.querySelector('button') : null;
      (target ?? document.getElementById('jobs-title'))?.focus();
    }
  }
}

function main() {
  chooseLogLevel();
  const announcer = new Announcer(required(document, '#announcer', HTMLElement));
  const dialog = new TokenDialog(required(document, '#token-dialog', HTMLDialogElement));
  const tokens = sessionTokenStore();
  const api = new ApiClient({ tokens, askToken: (reason) => dialog.ask(reason) });
  const store = new JobsStore({ api });
  const banner = required(document, '[data-role="banner"]', HTMLElement);
  const bannerText = required(banner, '[data-role="banner-text"]', HTMLElement);
  const bannerRetry = required(banner, '[data-role="banner-retry"]', HTMLButtonElement);
  /** @type {(() => void) | null} */
  let bannerAction = null;

  /**
   * Shows message at the top of the page, with a Try again button when
   * action is given; an empty message hides it.
   * @param {string} message
   * @param {(() => void) | null} [action]
   */
  const notify = (message, action = null) => {
    setText(bannerText, message);
    bannerAction = action;
    show(bannerRetry, action !== null);
    show(banner, message !== '');
  };
  bannerRetry.addEventListener('click', () => {
    const action = bannerAction;
    notify('');
    action?.();
  });
  required(banner, '[data-role="banner-close"]', HTMLButtonElement).addEventListener('click', () => notify(''));

  /** @type {import('./job-panel.js').ArtifactAccess} */
  const access = { needsToken: () => api.hasToken, fetch: (url) => api.fetchArtifact(url) };

  const panels = new PanelList(
    required(document, '#jobs', HTMLElement),
    required(document, '[data-role="empty"]', HTMLElement),
    store,
    (jobId) => {
      const job = store.get(jobId);
      if (!job) throw new Error(`no job ${jobId}`);
      return new JobPanel(
        job,
        {
          cancel: async (id) => {
            try {
              await store.cancel(id);
              announcer.say('Cancel requested.');
            } catch (error) {
              notify(`The job could not be canceled: ${describeFailure(error)}`);
            }
          },
          retry: async (id) => {
            try {
              await store.retry(id);
              announcer.say('The job was queued again.');
            } catch (error) {
              notify(`The job could not be retried: ${describeFailure(error)}`);
            }
          },
          showLog: (id) => store.loadLog(id),
          reconnect: (id) => store.startStreaming(id),
          dismiss: (id) => store.remove(id),
          announce: (message) => announcer.say(message),
        },
        access,
      );
    },
  );

  /**
   * Shows and streams a job the server has just accepted.
   * @param {Accepted} accepted
   * @param {string} title
   */
  const track = (accepted, title) => {
    store.addAccepted(accepted, title);
    store.startStreaming(accepted.jobId);
    panels.get(accepted.jobId)?.element.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    announcer.say(`${title || 'The video'}: queued.`);
  };

  new GenerateForm(required(document, '#generate', HTMLFormElement), async (request) => {
    const accepted = await api.createJob(request);
    track(accepted, request.brief.topic);
  });

  const demo = required(document, '#quick-demo', HTMLButtonElement);
  demo.addEventListener('click', async () => {
    if (demo.disabled) return;
    demo.disabled = true;
    demo.setAttribute('aria-busy', 'true');
    try {
      const accepted = await api.quickDemo();
      track(accepted, 'Quick demo');
      // the demo's title is the server's
      api.getJob(accepted.jobId).then(
        (doc) => {
          if (store.get(doc.jobId)) store.applyDocument(doc);
        },
        (/** @type {unknown} */ error) => log.debug('cannot fetch the demo job', error),
      );
    } catch (error) {
      notify(`The demo could not be started: ${describeFailure(error)}`);
    } finally {
      demo.disabled = false;
      demo.removeAttribute('aria-busy');
    }
  });

  const loadHistory = async () => {
    try {
      await store.loadHistory({ limit: 20 });
    } catch (error) {
      log.warn('cannot load the job history', error);
      notify(`Earlier jobs could not be loaded: ${describeFailure(error)}`, () => void loadHistory());
    }
  };
  void loadHistory();
  setInterval(() => panels.refreshAges(), 30000);

  // streams stop with the page; one restored from the back/forward cache
  // picks them up again where they stopped
  window.addEventListener('pagehide', () => store.dispose());
  window.addEventListener('pageshow', (event) => {
    if (!event.persisted) return;
    for (const job of store.list()) {
      if (!isFinished(job.status)) store.startStreaming(job.id);
    }
  });
}

main();
