// The web UI end to end: headless Chromium (Debian's package, driven by
// playwright-core) against a real gateway, broker and worker. A person
// clicks Quick Demo and watches the video, cancels a job, and keeps
// watching a job while the gateway is killed and started again.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { BIN_DIR, REPO_ROOT, Stack, Stop, WEB_DIR, waitFor } from './stack.mjs';

const STEPS = ['plan', 'tts', 'visuals', 'compose', 'render'];
const CHROMIUM = process.env.AURA_CHROMIUM || '/usr/bin/chromium';
const OUT_DIR = process.env.AURA_E2E_OUT || path.join(path.dirname(BIN_DIR), 'e2e');
const INSTALL_HINT = 'run deploy/install-deps.sh';

// playwright-core comes from the UI's own dev dependencies, so there is one
// pinned copy; the browser is the system's, never a downloaded one.
function loadPlaywright() {
  const requireFromWeb = createRequire(path.join(REPO_ROOT, 'gateway', 'web', 'package.json'));
  try {
    return requireFromWeb('playwright-core');
  } catch (err) {
    throw new Error(`playwright-core cannot be loaded from gateway/web/node_modules (${err.code || err.message}): ${INSTALL_HINT}`);
  }
}

function checkPrerequisites() {
  try {
    fs.accessSync(CHROMIUM, fs.constants.X_OK);
  } catch {
    throw new Error(`no Chromium at ${CHROMIUM}: ${INSTALL_HINT}`);
  }
  if (!fs.existsSync(path.join(WEB_DIR, 'index.html'))) {
    throw new Error(`no web UI at ${WEB_DIR}/index.html (AURA_WEB_DIR)`);
  }
  return loadPlaywright();
}

let browser;

before(async () => {
  const { chromium } = checkPrerequisites();
  fs.mkdirSync(OUT_DIR, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // a container may forbid the sandbox's namespaces; the page is ours
    args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'],
  });
});

after(async () => {
  await browser?.close();
});

// Runs in the page before its own scripts: records every value each job
// panel shows, so that a state the page drew for a moment is seen too.
// A MutationObserver with old values catches changes made and overwritten
// within one turn of the event loop; a snapshot after each batch catches
// the rest.
function installRecorder() {
  /** @type {Record<string, {status: string[], phase: string[], percent: string[], steps: Record<string, string[]>}>} */
  const jobs = {};
  window.__auraRecorder = { jobs, loadedAt: Date.now() };
  /** @param {string[]} list @param {string | null | undefined} value */
  const note = (list, value) => {
    if (value === null || value === undefined) return;
    if (list[list.length - 1] !== value) list.push(value);
  };
  /** @param {Element} panel */
  const recordOf = (panel) => {
    const id = panel.getAttribute('data-job-id') || '';
    jobs[id] ||= { status: [], phase: [], percent: [], steps: {} };
    return jobs[id];
  };
  /** @param {Element} panel */
  const snapshot = (panel) => {
    const rec = recordOf(panel);
    /** @param {string} sel */
    const text = (sel) => panel.querySelector(sel)?.textContent?.trim();
    note(rec.status, text('[data-role=status]'));
    note(rec.phase, text('[data-role=phase]'));
    note(rec.percent, text('[data-role=percent]'));
    for (const el of panel.querySelectorAll('[data-step]')) {
      const name = el.getAttribute('data-step') || '';
      note((rec.steps[name] ||= []), el.getAttribute('data-status'));
    }
  };
  const observer = new MutationObserver((records) => {
    for (const r of records) {
      if (r.type !== 'attributes' || r.attributeName !== 'data-status') continue;
      const el = /** @type {Element} */ (r.target);
      const panel = el.closest('[data-job-id]');
      const name = el.getAttribute('data-step');
      if (!panel || !name) continue;
      note((recordOf(panel).steps[name] ||= []), r.oldValue);
    }
    document.querySelectorAll('[data-job-id]').forEach(snapshot);
  });
  observer.observe(document, {
    subtree: true,
    childList: true,
    characterData: true,
    attributes: true,
    attributeOldValue: true,
    attributeFilter: ['data-status', 'data-job-id', 'value', 'class', 'hidden'],
  });
}

// What the page shows of one job right now, plus everything it has shown.
async function panelState(page, jobId) {
  return page.evaluate((id) => {
    const panel = document.querySelector(`[data-job-id="${id}"]`);
    const seen = window.__auraRecorder?.jobs[id] || null;
    if (!panel) return { present: false, seen };
    const text = (sel) => panel.querySelector(sel)?.textContent?.trim() ?? null;
    const steps = {};
    for (const el of panel.querySelectorAll('[data-step]')) steps[el.getAttribute('data-step')] = el.getAttribute('data-status');
    return {
      present: true,
      status: text('[data-role=status]'),
      phase: text('[data-role=phase]'),
      percent: text('[data-role=percent]'),
      message: text('[data-role=message]'),
      error: text('[data-role=error]'),
      steps,
      seen,
    };
  }, jobId);
}

// Waits until the panel's status is one of wanted and answers its state;
// a terminal status that is not wanted fails at once.
async function waitForPanelStatus(page, jobId, wanted, timeoutMs) {
  const terminal = ['Done', 'Failed', 'Canceled'];
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await panelState(page, jobId);
    if (wanted.includes(last.status)) return last;
    if (terminal.includes(last.status)) {
      assert.fail(`the panel of job ${jobId} shows ${last.status}, not ${wanted.join(' or ')}: ${JSON.stringify(last)}`);
    }
    if (Date.now() >= deadline) {
      assert.fail(`the panel of job ${jobId} did not show ${wanted.join(' or ')} within ${timeoutMs} ms; it shows ${JSON.stringify(last)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// Clicks what starts a job and answers the new job's id, read from the
// POST the page makes.
async function startJob(page, pathname, click) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === pathname, { timeout: 30000 }),
    click(),
  ]);
  assert.equal(response.status(), 202, `POST ${pathname} answered ${response.status()}: ${await response.text()}`);
  const { jobId } = await response.json();
  assert.match(jobId, /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/);
  const panel = page.locator(`[data-job-id="${jobId}"]`);
  await panel.waitFor({ state: 'visible', timeout: 15000 });
  const first = await page.locator('[data-job-id]').first().getAttribute('data-job-id');
  assert.equal(first, jobId, 'the newest job\'s panel comes first');
  return { jobId, panel };
}

async function submitForm(page, topic) {
  await page.locator('form#generate [name=topic]').fill(topic);
  return startJob(page, '/api/jobs', () => page.locator('#generate-submit').click());
}

// Every step ends Done and never showed Skipped, Failed or Canceled.
function assertEveryStepDone(seen, state) {
  for (const step of STEPS) {
    const history = seen.steps[step] || [];
    assert.equal(state.steps[step], 'Done', `step ${step} shows ${state.steps[step]} at the end (it showed ${JSON.stringify(history)})`);
    for (const bad of ['Skipped', 'Failed', 'Canceled']) {
      assert.ok(!history.includes(bad), `step ${step} showed ${bad}: ${JSON.stringify(history)}`);
    }
  }
}

// A step the server ran for at least minMs was drawn Running before Done.
// The page draws at most once a frame, so a step of a few milliseconds
// (plan and compose of the demo) may go from Pending to Done at once; the
// log shows its Running all the same.
function assertRunningShown(seen, events, minMs) {
  const shown = [];
  for (const step of STEPS) {
    const at = (status) => events.find((e) => e.event === 'step-status' && e.data.step === step && e.data.status === status);
    const running = at('Running');
    const done = at('Done');
    assert.ok(running && done, `the server sent no Running and Done for step ${step}`);
    const ranMs = (done.data.ts - running.data.ts) / 1000;
    const history = seen.steps[step] || [];
    if (ranMs >= minMs) {
      const i = history.indexOf('Running');
      assert.ok(i >= 0 && history.lastIndexOf('Done') > i, `step ${step} ran ${Math.round(ranMs)} ms, yet the panel showed ${JSON.stringify(history)}`);
      shown.push(step);
    }
  }
  return shown;
}

// The panel's log holds every event of the job, in order: data-seq runs
// 1..n without a gap or a repeat and each entry names the event the
// server numbered so.
function assertLogComplete(entries, events) {
  const seqs = entries.map(([seq]) => seq);
  assert.ok(seqs.length > 0, 'the log has entries');
  assert.equal(seqs[0], 1, `the panel was there from the job's start, yet its log starts at ${seqs[0]}`);
  for (let i = 1; i < seqs.length; i++) {
    assert.equal(seqs[i], seqs[i - 1] + 1, `the log's data-seq goes ${seqs[i - 1]} then ${seqs[i]}: ${JSON.stringify(seqs)}`);
  }
  const last = events[events.length - 1].id;
  assert.equal(seqs[seqs.length - 1], last, `the log ends at ${seqs[seqs.length - 1]}, the job's events at ${last}`);
  for (const [seq, event] of entries) {
    const sent = events.find((e) => e.id === seq);
    assert.equal(event, sent?.event, `log entry ${seq} says ${event}; the server's event ${seq} is ${sent?.event}`);
  }
}

// A person on a phone must not need to scroll sideways.
async function assertFitsWidth(page) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  assert.ok(scrollWidth <= innerWidth, `the page is ${scrollWidth} px wide in a ${innerWidth} px viewport`);
}

// The event log of a panel as [seq, event] pairs in page order; the log
// may be folded away until its button is pressed.
async function logEntries(panel) {
  const entries = panel.locator('[data-role=log][data-seq], [data-role=log] [data-seq]');
  if ((await entries.count()) === 0) {
    const button = panel.locator('button[data-role=logs]');
    if ((await button.count()) > 0) await button.click();
    await waitFor(async () => (await entries.count()) > 0, { timeoutMs: 10000, describe: () => 'the panel\'s log entries' });
  }
  return entries.evaluateAll((els) => els.map((el) => [Number(el.getAttribute('data-seq')), el.getAttribute('data-event')]));
}

// One browser page on a stack of its own; whatever happens, every process
// of the stack is killed. A failure leaves a screenshot and the logs.
async function withStack(name, { settings, viewport }, body) {
  fs.rmSync(path.join(OUT_DIR, `${name}-failure.png`), { force: true });
  const stack = new Stack(settings);
  const pageErrors = [];
  const consoleLines = [];
  let context;
  let page;
  try {
    await stack.startAll();
    context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
    await context.addInitScript(installRecorder);
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.stack || err.message));
    page.on('console', (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`));
    const response = await page.goto(`${stack.url}/`, { waitUntil: 'load', timeout: 30000 });
    assert.equal(response?.status(), 200, 'the UI answers at /');
    await body({ stack, page });
    assert.deepEqual(pageErrors, [], 'the page threw no uncaught error');
  } catch (err) {
    let shot = '';
    if (page) {
      shot = path.join(OUT_DIR, `${name}-failure.png`);
      await page.screenshot({ path: shot, fullPage: true }).catch(() => {
        shot = '(no screenshot)';
      });
    }
    const details = [
      `screenshot: ${shot}`,
      `--- page errors ---\n${pageErrors.join('\n')}`,
      `--- page console ---\n${consoleLines.slice(-40).join('\n')}`,
      stack.logs(),
    ].join('\n');
    if (err instanceof Error) {
      try {
        err.message += `\n${details}`;
      } catch {
        // a read-only message: the details go to stderr alone
      }
    }
    process.stderr.write(`${name} failed:\n${details}\n`);
    throw err;
  } finally {
    await context?.close().catch(() => {});
    await stack.close();
  }
}

test('Quick Demo shows every step, reaches Done and plays the video', { timeout: 150000 }, async (t) => {
  await withStack('quick-demo', { settings: { AURA_PIPELINE: 'media' }, viewport: { width: 1280, height: 900 } }, async ({ stack, page }) => {
    const { jobId, panel } = await startJob(page, '/api/quick/demo', () => page.locator('button#quick-demo').click());

    // rendering a 12 s 1080p video takes a few seconds, more on a busy machine
    const state = await waitForPanelStatus(page, jobId, ['Done'], 100000);
    const { seen } = state;
    assertEveryStepDone(seen, state);
    const events = await stack.events(jobId);
    const shownRunning = assertRunningShown(seen, events, 300);
    assert.ok(shownRunning.includes('render'), 'rendering takes seconds: the panel showed it Running');
    assertLogComplete(await logEntries(panel), events);
    assert.ok(seen.status.includes('Running'), `the status never showed Running: ${JSON.stringify(seen.status)}`);
    assert.equal(state.percent, '100%');
    assert.ok(seen.phase.length >= 2, `the phase never changed: ${JSON.stringify(seen.phase)}`);
    const bar = await panel.locator('progress').evaluate((el) => ({ value: el.value, max: el.max }));
    assert.equal(bar.value, bar.max, `the progress bar is at ${bar.value} of ${bar.max}`);
    assert.equal((await stack.job(jobId)).status, 'Done');

    const video = panel.locator('video');
    await video.waitFor({ state: 'attached', timeout: 15000 });
    assert.equal(await video.count(), 1, 'one <video> in the finished panel');
    let media;
    await waitFor(
      async () => {
        media = await video.evaluate((v) => ({ readyState: v.readyState, networkState: v.networkState, duration: v.duration, error: v.error ? `${v.error.code} ${v.error.message}` : null, src: v.currentSrc }));
        if (media.error !== null) throw new Stop(`the video failed to load: ${JSON.stringify(media)}`);
        return media.readyState >= 2 && media.duration > 5;
      },
      { timeoutMs: 60000, describe: () => `the video to load (readyState >= 2, duration > 5 s); it reports ${JSON.stringify(media)}` },
    );
    // it plays: a second of it decodes (muted, as autoplay rules want)
    const played = await video.evaluate(async (v) => {
      v.muted = true;
      await v.play();
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`stuck at ${v.currentTime} s`)), 30000);
        const check = () => {
          if (v.currentTime >= 1) {
            clearTimeout(timer);
            v.removeEventListener('timeupdate', check);
            resolve(undefined);
          }
        };
        v.addEventListener('timeupdate', check);
      });
      v.pause();
      return { currentTime: v.currentTime, videoWidth: v.videoWidth, videoHeight: v.videoHeight };
    });
    assert.deepEqual([played.videoWidth, played.videoHeight], [1920, 1080], `the demo is 1080p: ${JSON.stringify(played)}`);

    for (const name of ['video.mp4', 'video.srt', 'video.vtt']) {
      const link = panel.locator(`a[data-artifact="${name}"]`);
      assert.equal(await link.count(), 1, `one link to ${name}`);
      const href = await link.evaluate((a) => /** @type {HTMLAnchorElement} */ (a).href);
      const res = await fetch(href);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, 200, `${href} answered ${res.status}`);
      assert.ok(body.length > 0, `${href} is empty`);
      if (name === 'video.vtt') assert.match(body.toString('utf8'), /^WEBVTT/);
      if (name === 'video.mp4') assert.match(res.headers.get('content-type') || '', /^video\/mp4/);
    }

    await panel.scrollIntoViewIfNeeded();
    await panel.screenshot({ path: path.join(OUT_DIR, 'quick-demo.png') });
    t.diagnostic(`phases seen ${JSON.stringify(seen.phase)}; steps ${JSON.stringify(seen.steps)}; held Running long enough to be drawn: ${shownRunning.join(', ')}; video ${JSON.stringify(media)}`);
  });
});

test('a running job is canceled from its panel', { timeout: 60000 }, async () => {
  const settings = { AURA_PIPELINE: 'synthetic', AURA_SYNTHETIC_STEP_MS: 1500 };
  await withStack('cancel', { settings, viewport: { width: 360, height: 780 } }, async ({ stack, page }) => {
    const { jobId, panel } = await submitForm(page, 'How bees make honey');
    await waitForPanelStatus(page, jobId, ['Running'], 30000);
    await assertFitsWidth(page);

    const cancel = panel.locator('button[data-role=cancel]');
    await cancel.click({ timeout: 10000 });
    const state = await waitForPanelStatus(page, jobId, ['Canceled'], 30000);
    assert.equal((await stack.job(jobId)).status, 'Canceled', 'the job is canceled on the server too');

    const cancelGone = (await cancel.count()) === 0 || !(await cancel.isVisible()) || (await cancel.isDisabled());
    assert.ok(cancelGone, 'the cancel button is hidden or disabled once the job is canceled');
    const retry = panel.locator('button[data-role=retry]');
    await retry.waitFor({ state: 'visible', timeout: 10000 });
    assert.ok(await retry.isEnabled(), 'the retry button can be pressed');
    for (const step of STEPS) {
      assert.notEqual(state.steps[step], 'Running', `step ${step} still shows Running after the cancel: ${JSON.stringify(state.steps)}`);
    }
    await assertFitsWidth(page);
    await panel.screenshot({ path: path.join(OUT_DIR, 'cancel.png') });
  });
});

test('the panel reaches Done across a gateway restart with no step skipped', { timeout: 90000 }, async (t) => {
  const settings = { AURA_PIPELINE: 'synthetic', AURA_SYNTHETIC_STEP_MS: 1200 };
  await withStack('gateway-restart', { settings, viewport: { width: 360, height: 780 } }, async ({ stack, page }) => {
    const { jobId, panel } = await submitForm(page, 'Why leaves change colour');
    const loadedAt = await page.evaluate(() => window.__auraRecorder.loadedAt);

    let state;
    await waitFor(
      async () => {
        state = await panelState(page, jobId);
        return state.steps.tts === 'Running' || state.steps.visuals === 'Running';
      },
      { timeoutMs: 60000, intervalMs: 50, describe: () => `tts or visuals to show Running; the panel shows ${JSON.stringify(state)}` },
    );
    assert.equal((await stack.job(jobId)).status, 'Running', 'the gateway goes down mid-job');
    const port = stack.port;
    await stack.gateway.kill();
    await stack.startGateway(port);
    assert.equal(stack.port, port);
    await stack.waitReady();

    state = await waitForPanelStatus(page, jobId, ['Done'], 50000);
    assert.equal(await page.evaluate(() => window.__auraRecorder.loadedAt), loadedAt, 'the page was not reloaded');
    assertEveryStepDone(state.seen, state);
    assert.equal((await stack.job(jobId)).status, 'Done');

    const events = await stack.events(jobId);
    for (const step of STEPS) {
      for (const status of ['Running', 'Done']) {
        assert.ok(events.some((e) => e.event === 'step-status' && e.data.step === step && e.data.status === status), `the server sent no ${status} for step ${step}`);
      }
    }
    const entries = await logEntries(panel);
    assertLogComplete(entries, events);
    await assertFitsWidth(page);
    t.diagnostic(`log seq ${entries[0][0]}..${entries[entries.length - 1][0]}; steps seen ${JSON.stringify(state.seen.steps)}`);

    await panel.scrollIntoViewIfNeeded();
    await panel.screenshot({ path: path.join(OUT_DIR, 'gateway-restart.png') });
  });
});
