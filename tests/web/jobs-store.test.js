// JobsStore: recorded event streams of real jobs (fixtures/, made by
// fixtures/record.py against the real gateway) give the job states a
// person would see; duplicates and events out of order change nothing;
// streams open, resume and close as the job needs.

import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

import { ApiError } from '../../gateway/web/public/api.js';
import { JobsStore, STEP_NAMES } from '../../gateway/web/public/jobs-store.js';
import { SseClient } from '../../gateway/web/public/sse-client.js';
import { FakeEventSource, FakeEventSourceConstructor, loadFixture, settle, useFakeTimers } from './support.js';

/** @typedef {import('../../gateway/web/public/jobs-store.js').Job} Job */
/** @typedef {import('../../gateway/web/public/jobs-store.js').JobsApi} JobsApi */
/** @typedef {import('../../gateway/web/public/jobs-store.js').StreamFactory} StreamFactory */
/** @typedef {import('../../gateway/web/public/api.js').JobDocument} JobDocument */
/** @typedef {import('../../gateway/web/public/api.js').JobPage} JobPage */
/** @typedef {import('../../gateway/web/public/sse-client.js').SseHandler} SseHandler */
/** @typedef {import('../../gateway/web/public/sse-client.js').SsePrepare} SsePrepare */
/** @typedef {import('./support.js').RecordedEvent} RecordedEvent */

/** An API whose calls fail unless a test gives them an answer. */
class FakeApi {
  /** @type {Map<string, JobDocument>} */
  docs = new Map();
  /** @type {JobPage} */
  page = { items: [], nextCursor: null };
  /** @type {string[]} */
  calls = [];

  /** @param {string} jobId */
  getJob(jobId) {
    this.calls.push(`get ${jobId}`);
    const doc = this.docs.get(jobId);
    return doc ? Promise.resolve(structuredClone(doc)) : Promise.reject(new ApiError('no job', 404, null));
  }

  listJobs() {
    this.calls.push('list');
    return Promise.resolve(structuredClone(this.page));
  }

  /** @param {string} jobId */
  cancelJob(jobId) {
    return this.getJob(jobId);
  }

  /** @param {string} jobId */
  retryJob(jobId) {
    return this.getJob(jobId);
  }
}

/** A stream the test feeds by hand. */
class FakeStream {
  /** @type {Map<string, SseHandler[]>} */
  handlers = new Map();
  connected = false;
  closed = false;

  /**
   * @param {string} url
   * @param {{ lastEventId: string, prepare: SsePrepare }} options
   */
  constructor(url, options) {
    this.url = url;
    this.lastEventId = options.lastEventId;
    this.prepare = options.prepare;
  }

  /**
   * @param {string} type
   * @param {SseHandler} handler
   */
  on(type, handler) {
    this.handlers.set(type, [...(this.handlers.get(type) ?? []), handler]);
    return () => {};
  }

  connect() {
    this.connected = true;
  }

  close() {
    this.closed = true;
  }

  /**
   * @param {string} type
   * @param {unknown} data
   * @param {{ id?: string, fromServer?: boolean }} [more]
   */
  emit(type, data, more = {}) {
    for (const handler of this.handlers.get(type) ?? []) {
      handler({ type, id: more.id ?? '', data, fromServer: more.fromServer ?? false });
    }
  }

  /** @param {RecordedEvent} event */
  deliver(event) {
    this.emit(event.event, event.data, { id: event.id, fromServer: true });
  }
}

/**
 * A store on a fake API whose streams are FakeStreams, kept in order.
 * @param {FakeApi} [api]
 */
function makeStore(api = new FakeApi()) {
  /** @type {FakeStream[]} */
  const streams = [];
  /** @type {StreamFactory} */
  const createStream = (url, options) => {
    const stream = new FakeStream(url, options);
    streams.push(stream);
    return stream;
  };
  const store = new JobsStore({ api, createStream });
  return { store, api, streams };
}

/**
 * Applies recorded events to store the way a stream would.
 * @param {JobsStore} store
 * @param {RecordedEvent[]} events
 * @returns {boolean[]}
 */
function applyAll(store, events) {
  return events.map((e) => store.updateJobFromSse({ type: e.event, id: e.id, data: e.data }));
}

/**
 * @param {JobsStore} store
 * @param {string} jobId
 * @returns {Job}
 */
function jobOf(store, jobId) {
  const job = store.get(jobId);
  assert.ok(job, `job ${jobId} is in the store`);
  return job;
}

/**
 * The parts of a job a person sees.
 * @param {Job} job
 */
function visible(job) {
  return {
    status: job.status,
    stage: job.stage,
    phase: job.phase,
    percent: job.percent,
    progressMessage: job.progressMessage,
    steps: job.steps,
    error: job.error,
    eta: job.eta,
    attempt: job.attempt,
    artifacts: job.artifacts.map((a) => a.name),
  };
}

describe('a recorded stream gives the job states a person sees', () => {
  test('a quick demo that succeeds (media pipeline)', () => {
    const fixture = loadFixture('job-done');
    const { store } = makeStore();
    const results = applyAll(store, fixture.events);
    assert.ok(results.every(Boolean), 'every event is new and applied');

    const job = jobOf(store, fixture.jobId);
    assert.equal(job.status, 'Done');
    assert.equal(job.percent, 100);
    assert.equal(job.stage, 'complete');
    assert.equal(job.phase, 'complete');
    assert.equal(job.eta, null);
    assert.equal(job.error, null);
    assert.deepEqual(job.steps, { plan: 'Done', tts: 'Done', visuals: 'Done', compose: 'Done', render: 'Done' });
    for (const name of ['video.mp4', 'video.vtt', 'video.srt']) {
      const artifact = job.artifacts.find((a) => a.name === name);
      assert.ok(artifact, `${name} is listed`);
      assert.equal(artifact.url, `/api/jobs/${fixture.jobId}/artifacts/${name}`);
      assert.ok(artifact.sizeBytes > 0);
    }
    const lastProgress = fixture.events.filter((e) => e.event === 'step-progress').at(-1);
    assert.equal(job.progressMessage, lastProgress?.data.message);
    // the log: one entry per event, in order
    assert.deepEqual(
      job.log.map((entry) => [entry.seq, entry.event]),
      fixture.events.map((e) => [Number(e.id), e.event]),
    );
    assert.equal(job.lastSeq, Number(fixture.events.at(-1)?.id));
    // the stream's end state agrees with the API's document of the job
    assert.equal(job.status, fixture.job.status);
    assert.deepEqual(
      STEP_NAMES.map((s) => job.steps[s]),
      fixture.job.steps.map((s) => s.status),
    );
  });

  test('states along the way: queued, then each step with its phase, percent, message and ETA', () => {
    const fixture = loadFixture('job-failed');
    const { store } = makeStore();
    const id = fixture.jobId;
    /** @param {number} seq */
    const upTo = (seq) => applyAll(store, fixture.events.filter((e) => Number(e.id) <= seq && Number(e.id) > (jobOf(store, id)?.lastSeq ?? 0)));

    applyAll(store, fixture.events.slice(0, 1));
    let job = jobOf(store, id);
    assert.equal(job.status, 'Queued');
    assert.equal(job.stage, 'queued');
    assert.equal(job.queuePosition, 1);

    upTo(11); // tts at 50 %
    job = jobOf(store, id);
    const event11 = fixture.events.find((e) => e.id === '11');
    assert.equal(job.status, 'Running');
    assert.equal(job.stage, 'tts');
    assert.equal(job.phase, 'tts');
    assert.equal(job.percent, event11?.data.percent);
    assert.equal(job.progressMessage, event11?.data.message);
    assert.equal(job.eta, event11?.data.etaSeconds);
    assert.deepEqual(job.steps, { plan: 'Done', tts: 'Running', visuals: 'Pending', compose: 'Pending', render: 'Pending' });
    assert.equal(job.queuePosition, null);

    upTo(14); // visuals starts: no ETA for it yet
    job = jobOf(store, id);
    assert.equal(job.stage, 'visuals');
    assert.equal(job.eta, null);
    assert.equal(job.steps.tts, 'Done');
    assert.equal(job.steps.visuals, 'Running');
  });

  test('a job that fails: Failed, with the error and the failed step', () => {
    const fixture = loadFixture('job-failed');
    const { store } = makeStore();
    applyAll(store, fixture.events);
    const job = jobOf(store, fixture.jobId);
    assert.equal(job.status, 'Failed');
    assert.deepEqual(job.error, fixture.job.error);
    assert.equal(job.error?.code, 'SyntheticFailure');
    assert.equal(job.failedStep, 'visuals');
    assert.equal(job.eta, null);
    assert.deepEqual(job.steps, { plan: 'Done', tts: 'Done', visuals: 'Failed', compose: 'Pending', render: 'Pending' });
    assert.equal(job.percent, fixture.job.percent);
  });

  test('a job cancelled during tts: Canceled, tts Canceled, the rest Pending', () => {
    const fixture = loadFixture('job-cancelled');
    const { store } = makeStore();
    applyAll(store, fixture.events);
    const job = jobOf(store, fixture.jobId);
    assert.equal(job.status, 'Canceled');
    assert.equal(job.failedStep, 'tts');
    assert.equal(job.error, null);
    assert.deepEqual(job.steps, { plan: 'Done', tts: 'Canceled', visuals: 'Pending', compose: 'Pending', render: 'Pending' });
  });

  test('a job retried after a failure: Done on attempt 2, the finished steps Skipped, the error gone', () => {
    const fixture = loadFixture('job-retried');
    const { store } = makeStore();
    const failedAt = fixture.events.findIndex((e) => e.event === 'job-failed');
    applyAll(store, fixture.events.slice(0, failedAt + 1));
    assert.equal(jobOf(store, fixture.jobId).status, 'Failed');
    assert.ok(jobOf(store, fixture.jobId).error);

    applyAll(store, fixture.events.slice(failedAt + 1, failedAt + 2)); // Queued, attempt 2
    let job = jobOf(store, fixture.jobId);
    assert.equal(job.status, 'Queued');
    assert.equal(job.attempt, 2);
    assert.equal(job.error, null);
    assert.equal(job.steps.compose, 'Pending');

    applyAll(store, fixture.events.slice(failedAt + 2));
    job = jobOf(store, fixture.jobId);
    assert.equal(job.status, 'Done');
    assert.deepEqual(job.steps, { plan: 'Skipped', tts: 'Skipped', visuals: 'Skipped', compose: 'Done', render: 'Done' });
    assert.deepEqual(
      STEP_NAMES.map((s) => job.steps[s]),
      fixture.job.steps.map((s) => s.status),
    );
  });
});

describe('duplicates and events out of order', () => {
  test('an event at or below the last applied seq is ignored', () => {
    const fixture = loadFixture('job-failed');
    const { store } = makeStore();
    applyAll(store, fixture.events.slice(0, 12));
    const before = jobOf(store, fixture.jobId);

    // the same event again, and an older one (job-status Queued, seq 1)
    const again = fixture.events[11];
    const old = fixture.events[0];
    assert.ok(again && old);
    assert.equal(store.updateJobFromSse({ type: again.event, id: again.id, data: again.data }), false);
    assert.equal(store.updateJobFromSse({ type: old.event, id: old.id, data: old.data }), false);
    const after = jobOf(store, fixture.jobId);
    assert.equal(after, before, 'the job object is the same: nothing changed');
    assert.equal(after.status, 'Running');
    assert.equal(after.log.length, 12);
  });

  test('replaying a stream with repeats and stragglers ends as the stream in order does', () => {
    const fixture = loadFixture('job-done');
    const inOrder = makeStore().store;
    applyAll(inOrder, fixture.events);

    // every event twice, and after each fifth one, an event from long ago
    /** @type {RecordedEvent[]} */
    const messy = [];
    fixture.events.forEach((event, index) => {
      messy.push(event, event);
      const straggler = fixture.events[Math.max(0, index - 7)];
      if (index % 5 === 4 && straggler) messy.push(straggler);
    });
    const { store } = makeStore();
    const results = applyAll(store, messy);
    assert.equal(results.filter(Boolean).length, fixture.events.length, 'each seq applied once');

    const job = jobOf(store, fixture.jobId);
    assert.deepEqual(visible(job), visible(jobOf(inOrder, fixture.jobId)));
    const seqs = job.log.map((entry) => entry.seq);
    assert.deepEqual(seqs, fixture.events.map((e) => Number(e.id)), 'the log has each event once, in order');
  });

  test('a late progress event cannot move a finished job back', () => {
    const fixture = loadFixture('job-done');
    const { store } = makeStore();
    applyAll(store, fixture.events);
    const progress = fixture.events.find((e) => e.event === 'step-progress');
    assert.ok(progress);
    assert.equal(store.updateJobFromSse({ type: progress.event, id: progress.id, data: progress.data }), false);
    assert.equal(jobOf(store, fixture.jobId).status, 'Done');
    assert.equal(jobOf(store, fixture.jobId).percent, 100);
  });

  test('events without a job id or a seq are ignored', () => {
    const { store } = makeStore();
    assert.equal(store.updateJobFromSse({ type: 'job-status', data: { status: 'Running', seq: 3 } }), false);
    assert.equal(store.updateJobFromSse({ type: 'job-status', data: { jobId: 'J', status: 'Running' } }), false);
    assert.equal(store.updateJobFromSse({ type: 'job-status', data: 'not json' }), false);
    assert.equal(store.list().length, 0);
  });
});

describe('several jobs and subscribers', () => {
  test('interleaved streams of two jobs each reach their own state', () => {
    const done = loadFixture('job-done');
    const failed = loadFixture('job-failed');
    const { store } = makeStore();
    const length = Math.max(done.events.length, failed.events.length);
    for (let i = 0; i < length; i++) {
      applyAll(store, [done.events[i], failed.events[i]].filter((e) => e !== undefined));
    }
    assert.equal(jobOf(store, done.jobId).status, 'Done');
    assert.equal(jobOf(store, failed.jobId).status, 'Failed');
    assert.equal(jobOf(store, done.jobId).log.length, done.events.length);
    assert.equal(jobOf(store, failed.jobId).log.length, failed.events.length);
  });

  test('subscribers hear of every change, and not of ignored events', () => {
    const fixture = loadFixture('job-cancelled');
    const { store } = makeStore();
    /** @type {string[]} */
    const heard = [];
    const stop = store.subscribe((change) => heard.push(`${change.kind} ${change.jobId}`));
    applyAll(store, fixture.events.slice(0, 3));
    assert.deepEqual(heard, [`added ${fixture.jobId}`, `updated ${fixture.jobId}`, `updated ${fixture.jobId}`]);
    applyAll(store, fixture.events.slice(0, 3));
    assert.equal(heard.length, 3);
    store.remove(fixture.jobId);
    assert.equal(heard.at(-1), `removed ${fixture.jobId}`);
    stop();
    applyAll(store, fixture.events);
    assert.equal(heard.length, 4);
  });

  test('list() gives the newest job first', () => {
    const { store } = makeStore();
    for (const id of ['01J0000000000000000000000A', '01J0000000000000000000000C', '01J0000000000000000000000B']) {
      store.updateJobFromSse({ type: 'job-status', id: '1', data: { jobId: id, status: 'Queued', seq: 1 } });
    }
    assert.deepEqual(
      store.list().map((j) => j.id),
      ['01J0000000000000000000000C', '01J0000000000000000000000B', '01J0000000000000000000000A'],
    );
  });
});

describe('streaming', () => {
  /** @type {ReturnType<typeof loadFixture>} */
  let fixture;
  beforeEach(() => {
    fixture = loadFixture('job-failed');
  });

  test('startStreaming opens the job link from the first event; stopStreaming closes it', () => {
    const { store, streams } = makeStore();
    store.addAccepted(
      {
        jobId: fixture.jobId,
        status: 'Queued',
        stage: 'queued',
        correlationId: 'c',
        links: { self: '', events: `/api/jobs/${fixture.jobId}/events?token=t`, cancel: '' },
      },
      'A job that fails in visuals',
    );
    store.startStreaming(fixture.jobId);
    store.startStreaming(fixture.jobId); // already open: nothing more
    assert.equal(streams.length, 1);
    const stream = streams[0];
    assert.ok(stream);
    assert.equal(stream.url, `/api/jobs/${fixture.jobId}/events?token=t`);
    assert.equal(stream.lastEventId, '0');
    assert.ok(stream.connected);
    assert.equal(jobOf(store, fixture.jobId).stream, 'connecting');

    stream.emit('open', null);
    assert.equal(jobOf(store, fixture.jobId).stream, 'live');
    for (const event of fixture.events.slice(0, 10)) stream.deliver(event);
    assert.equal(jobOf(store, fixture.jobId).lastSeq, 10);

    store.stopStreaming(fixture.jobId);
    assert.ok(stream.closed);
    assert.equal(store.isStreaming(fixture.jobId), false);
    assert.equal(jobOf(store, fixture.jobId).stream, 'idle');
    assert.equal(jobOf(store, fixture.jobId).title, 'A job that fails in visuals');

    // a new stream resumes after the last event applied
    store.startStreaming(fixture.jobId);
    assert.equal(streams[1]?.lastEventId, '10');
  });

  test('a server error event updates the job; "Connection failed" marks the stream lost', () => {
    const { store, streams } = makeStore();
    store.startStreaming(fixture.jobId);
    const stream = streams[0];
    assert.ok(stream);
    for (const event of fixture.events.slice(0, 17)) stream.deliver(event); // up to the error event
    assert.equal(jobOf(store, fixture.jobId).error?.code, 'SyntheticFailure');
    assert.equal(jobOf(store, fixture.jobId).stream, 'connecting');
    stream.emit('reconnecting', { attempt: 2, delayMs: 2000 });
    assert.equal(jobOf(store, fixture.jobId).stream, 'reconnecting');
    assert.equal(jobOf(store, fixture.jobId).reconnectAttempt, 2);
    stream.emit('error', { message: 'Connection failed', attempts: 5 });
    assert.equal(jobOf(store, fixture.jobId).stream, 'lost');
    assert.equal(store.isStreaming(fixture.jobId), false);
  });

  test('remove() closes the stream of the job it forgets', () => {
    const { store, streams } = makeStore();
    store.startStreaming(fixture.jobId);
    store.remove(fixture.jobId);
    assert.ok(streams[0]?.closed);
    assert.equal(store.get(fixture.jobId), undefined);
  });

  test('before a reconnect the job is fetched: a fresh link, or null once it is finished and applied', async () => {
    const api = new FakeApi();
    const { store, streams } = makeStore(api);
    store.startStreaming(fixture.jobId);
    const stream = streams[0];
    assert.ok(stream);
    for (const event of fixture.events.slice(0, 12)) stream.deliver(event);

    // still running: a fresh link
    const running = structuredClone(fixture.job);
    Object.assign(running, { status: 'Running', error: null, lastEventId: 15 });
    running.links.events = `/api/jobs/${fixture.jobId}/events?token=fresh`;
    api.docs.set(fixture.jobId, running);
    assert.equal(await stream.prepare(1), `/api/jobs/${fixture.jobId}/events?token=fresh`);
    assert.ok(api.calls.includes(`get ${fixture.jobId}`));

    // finished, but events 13..20 not applied: stream on to get them
    api.docs.set(fixture.jobId, fixture.job);
    assert.notEqual(await stream.prepare(2), null);
    for (const event of fixture.events.slice(12)) stream.deliver(event);
    // finished and every event applied: nothing more (the gateway's 204)
    assert.equal(await stream.prepare(3), null);

    // a job that is gone: nothing more either
    api.docs.delete(fixture.jobId);
    assert.equal(await stream.prepare(4), null);
  });

  test('the first connection uses a link fetched moments ago without asking again', async () => {
    const api = new FakeApi();
    const { store, streams } = makeStore(api);
    api.docs.set(fixture.jobId, fixture.job);
    store.applyDocument(await api.getJob(fixture.jobId));
    api.calls = [];
    store.startStreaming(fixture.jobId);
    assert.equal(await streams[0]?.prepare(0), fixture.job.links.events);
    assert.deepEqual(api.calls, []);
  });

  test('a stream that ended at job-failed goes on when the job was retried since', () => {
    const retried = loadFixture('job-retried');
    const { store, streams } = makeStore();
    store.applyDocument(retried.job); // the history says Done, event 43
    store.loadLog(retried.jobId);
    const first = streams[0];
    assert.ok(first);
    assert.equal(first.lastEventId, '0');
    const failedAt = retried.events.findIndex((e) => e.event === 'job-failed');
    for (const event of retried.events.slice(0, failedAt + 1)) first.deliver(event);
    // the document is ahead: replayed events fill the log, the state stays Done
    assert.equal(jobOf(store, retried.jobId).status, 'Done');
    first.emit('end', { reason: 'job-failed' });

    const second = streams[1];
    assert.ok(second, 'a second stream opens for the rest');
    assert.equal(second.lastEventId, String(failedAt + 1));
    for (const event of retried.events.slice(failedAt + 1)) second.deliver(event);
    second.emit('end', { reason: 'job-completed' });
    assert.equal(streams.length, 2);
    const job = jobOf(store, retried.jobId);
    assert.equal(job.log.length, retried.events.length);
    assert.equal(job.status, 'Done');
    assert.deepEqual(job.steps, { plan: 'Skipped', tts: 'Skipped', visuals: 'Skipped', compose: 'Done', render: 'Done' });
  });
});

describe('history', () => {
  test('loadHistory shows the newest jobs, with their documents, and streams those at work', async () => {
    const done = loadFixture('job-done');
    const running = structuredClone(loadFixture('job-failed').job);
    Object.assign(running, { status: 'Running', error: null, step: 'tts', phase: 'tts', percent: 25 });
    const api = new FakeApi();
    api.docs.set(done.jobId, done.job);
    api.docs.set(running.jobId, running);
    /** @param {JobDocument} doc */
    const summary = (doc) => ({
      jobId: doc.jobId,
      title: doc.title,
      status: doc.status,
      phase: doc.phase,
      percent: doc.percent,
      attempt: doc.attempt,
      createdAt: doc.createdAt,
      finishedAt: doc.finishedAt,
      links: doc.links,
    });
    api.page = { items: [summary(running), summary(done.job)], nextCursor: null };
    const { store, streams } = makeStore(api);
    await store.loadHistory();

    assert.deepEqual(
      store.list().map((j) => j.id),
      [running.jobId, done.jobId],
    );
    const finished = jobOf(store, done.jobId);
    assert.equal(finished.status, 'Done');
    assert.equal(finished.title, 'Welcome to Aura Video Studio');
    assert.ok(finished.artifacts.some((a) => a.name === 'video.mp4'));
    assert.equal(finished.knownSeq, done.job.lastEventId);
    assert.equal(store.isStreaming(done.jobId), false);

    const atWork = jobOf(store, running.jobId);
    assert.equal(atWork.status, 'Running');
    assert.equal(atWork.stage, 'tts');
    assert.equal(store.isStreaming(running.jobId), true);
    assert.equal(streams.length, 1);
    assert.equal(streams[0]?.lastEventId, '0', 'the stream replays the whole log');
  });
});

describe('with the real SseClient', () => {
  test('a dropped stream resumes after the last event; the overlap the server resends is ignored', async (t) => {
    useFakeTimers(t);
    FakeEventSource.reset();
    const fixture = loadFixture('job-done');
    const api = new FakeApi();
    const running = structuredClone(fixture.job);
    Object.assign(running, { status: 'Running', lastEventId: 30 });
    api.docs.set(fixture.jobId, running);
    const store = new JobsStore({
      api,
      createStream: (url, options) => new SseClient(url, { ...options, EventSource: FakeEventSourceConstructor }),
    });
    store.applyDocument(running);
    store.startStreaming(fixture.jobId);
    await settle();
    const first = FakeEventSource.last;
    first.open();
    for (const e of fixture.events.slice(0, 20)) first.message(e.event, e.data, e.id);
    first.drop();
    assert.equal(jobOf(store, fixture.jobId).stream, 'reconnecting');

    t.mock.timers.tick(1000);
    await settle();
    const second = FakeEventSource.last;
    assert.notEqual(second, first);
    assert.equal(new URL(second.url, 'http://localhost').searchParams.get('lastEventId'), '20');
    second.open();
    // a server that replays a little too much
    for (const e of fixture.events.slice(15)) second.message(e.event, e.data, e.id);

    const job = jobOf(store, fixture.jobId);
    assert.equal(job.status, 'Done');
    assert.equal(job.stream, 'idle');
    assert.deepEqual(job.log.map((entry) => entry.seq), fixture.events.map((e) => Number(e.id)));
    assert.equal(second.closed, true, 'the stream ends at job-completed');
    assert.equal(FakeEventSource.instances.length, 2);
  });
});
