// SseClient: the reconnect policy (1, 2, 4, 8, 16 s, then "Connection
// failed"), the last event id carried across connections, and the ways a
// stream ends for good.

import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';

import {
  CONNECTION_FAILED,
  SseClient,
  reconnectDelayMs,
  withLastEventId,
} from '../../gateway/web/public/sse-client.js';
import { FakeEventSource, FakeEventSourceConstructor, settle, useFakeTimers } from './support.js';

/** @typedef {import('../../gateway/web/public/sse-client.js').SseMessage} SseMessage */
/** @typedef {import('../../gateway/web/public/sse-client.js').SseClientOptions} SseClientOptions */

const URL_WITH_TOKEN = '/api/jobs/01JABCDEFGHJKMNPQRSTVWXYZ0/events?token=signed.abc';

/**
 * A client on the fake EventSource, and every message it emitted.
 * @param {SseClientOptions} [options]
 */
function makeClient(options = {}) {
  const client = new SseClient(URL_WITH_TOKEN, { EventSource: FakeEventSourceConstructor, ...options });
  /** @type {SseMessage[]} */
  const seen = [];
  for (const type of ['open', 'reconnecting', 'end', 'error', 'job-status', 'job-completed']) {
    client.on(type, (message) => seen.push(message));
  }
  return { client, seen };
}

/**
 * The lastEventId parameter of a URL, or null.
 * @param {string} url
 */
function lastEventIdOf(url) {
  return new URL(url, 'http://localhost').searchParams.get('lastEventId');
}

beforeEach(() => FakeEventSource.reset());

describe('reconnect delays', () => {
  test('the delay of try n is 1000 · 2^(n−1) ms', () => {
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => reconnectDelayMs(n)), [1000, 2000, 4000, 8000, 16000]);
  });

  test('a dropped stream is retried after exactly 1, 2, 4, 8 and 16 s, then fails with "Connection failed"', (t) => {
    useFakeTimers(t);
    const { client, seen } = makeClient();
    client.connect();
    assert.equal(FakeEventSource.instances.length, 1);

    const expected = [1000, 2000, 4000, 8000, 16000];
    for (const [index, delay] of expected.entries()) {
      const failing = FakeEventSource.last;
      failing.drop();
      // our retry replaces the browser's: the failed instance is closed at once
      assert.equal(failing.closed, true, `instance ${index} closed before the retry`);
      assert.equal(client.state, 'waiting');
      t.mock.timers.tick(delay - 1);
      assert.equal(FakeEventSource.instances.length, index + 1, `try ${index + 1} not before ${delay} ms`);
      t.mock.timers.tick(1);
      assert.equal(FakeEventSource.instances.length, index + 2, `try ${index + 1} at ${delay} ms`);
    }

    FakeEventSource.last.drop();
    assert.equal(FakeEventSource.last.closed, true);
    const reconnecting = seen.filter((m) => m.type === 'reconnecting').map((m) => m.data);
    assert.deepEqual(
      reconnecting,
      expected.map((delayMs, i) => ({ attempt: i + 1, delayMs })),
    );
    const errors = seen.filter((m) => m.type === 'error');
    assert.equal(errors.length, 1);
    assert.deepEqual(errors[0]?.data, { message: CONNECTION_FAILED, attempts: 5 });
    assert.equal(errors[0]?.fromServer, false);
    assert.equal(client.state, 'closed');

    // and nothing more, however long one waits
    t.mock.timers.tick(10 * 60 * 1000);
    assert.equal(FakeEventSource.instances.length, 6);
  });

  test('a refused connection (a non-200 answer) follows the same schedule', (t) => {
    useFakeTimers(t);
    const { client } = makeClient();
    client.connect();
    FakeEventSource.last.refuse();
    t.mock.timers.tick(999);
    assert.equal(FakeEventSource.instances.length, 1);
    t.mock.timers.tick(1);
    assert.equal(FakeEventSource.instances.length, 2);
  });

  test('a successful open resets the count: the next drop waits 1 s again', (t) => {
    useFakeTimers(t);
    const { client } = makeClient();
    client.connect();
    FakeEventSource.last.drop();
    t.mock.timers.tick(1000);
    FakeEventSource.last.drop();
    t.mock.timers.tick(2000);
    assert.equal(FakeEventSource.instances.length, 3);
    assert.equal(client.attempts, 2);

    FakeEventSource.last.open();
    assert.equal(client.attempts, 0);
    assert.equal(client.state, 'open');
    FakeEventSource.last.drop();
    t.mock.timers.tick(999);
    assert.equal(FakeEventSource.instances.length, 3);
    t.mock.timers.tick(1);
    assert.equal(FakeEventSource.instances.length, 4);
  });

  test('opens in between let it retry forever, five tries at a time', (t) => {
    useFakeTimers(t);
    const { client, seen } = makeClient();
    client.connect();
    for (let round = 0; round < 12; round++) {
      FakeEventSource.last.open();
      FakeEventSource.last.drop();
      t.mock.timers.tick(1000);
    }
    assert.equal(FakeEventSource.instances.length, 13);
    assert.equal(seen.filter((m) => m.type === 'error').length, 0);
  });
});

describe('close()', () => {
  test('close() during the wait cancels the reconnect', (t) => {
    useFakeTimers(t);
    const { client, seen } = makeClient();
    client.connect();
    FakeEventSource.last.drop();
    t.mock.timers.tick(500);
    client.close();
    t.mock.timers.tick(60000);
    assert.equal(FakeEventSource.instances.length, 1);
    assert.equal(client.state, 'closed');
    assert.equal(seen.filter((m) => m.type === 'error').length, 0);
  });

  test('close() on an open stream closes the EventSource and silences it', (t) => {
    useFakeTimers(t);
    const { client, seen } = makeClient();
    client.connect();
    const source = FakeEventSource.last;
    source.open();
    client.close();
    assert.equal(source.closed, true);
    const before = seen.length;
    source.message('job-status', { jobId: 'x', seq: 1 }, '1');
    source.drop();
    t.mock.timers.tick(60000);
    assert.equal(seen.length, before);
    assert.equal(FakeEventSource.instances.length, 1);
  });

  test('connect() after close() does nothing', () => {
    const { client } = makeClient();
    client.close();
    client.connect();
    assert.equal(FakeEventSource.instances.length, 0);
  });
});

describe('last event id', () => {
  test('a reconnect carries the last event id as ?lastEventId= and keeps the token', (t) => {
    useFakeTimers(t);
    const { client } = makeClient();
    client.connect();
    assert.equal(FakeEventSource.last.url, URL_WITH_TOKEN, 'the first connection asks for the snapshot');
    FakeEventSource.last.open();
    FakeEventSource.last.message('job-status', { jobId: 'x', status: 'Running', seq: 6 }, '6');
    FakeEventSource.last.message('job-status', { jobId: 'x', status: 'Running', seq: 7 }, '7');
    assert.equal(client.lastEventId, '7');
    FakeEventSource.last.drop();
    t.mock.timers.tick(1000);

    const url = new URL(FakeEventSource.last.url, 'http://localhost');
    assert.equal(url.pathname, '/api/jobs/01JABCDEFGHJKMNPQRSTVWXYZ0/events');
    assert.equal(url.searchParams.get('lastEventId'), '7');
    assert.equal(url.searchParams.get('token'), 'signed.abc');

    // a try that fails before any event keeps the same id
    FakeEventSource.last.refuse();
    t.mock.timers.tick(2000);
    assert.equal(lastEventIdOf(FakeEventSource.last.url), '7');
  });

  test('a given lastEventId applies from the first connection ("0": replay from the start)', () => {
    const { client } = makeClient({ lastEventId: '0' });
    client.connect();
    assert.equal(lastEventIdOf(FakeEventSource.last.url), '0');
  });

  test('withLastEventId sets, replaces and removes the parameter, keeping the others', () => {
    assert.equal(withLastEventId('/e', '3'), '/e?lastEventId=3');
    assert.equal(withLastEventId('/e?token=a.b', '3'), '/e?token=a.b&lastEventId=3');
    assert.equal(withLastEventId('/e?lastEventId=2&token=t', '9'), '/e?lastEventId=9&token=t');
    assert.equal(withLastEventId('/e?lastEventId=2&token=t', ''), '/e?token=t');
    assert.equal(withLastEventId('/e#top', '1'), '/e?lastEventId=1#top');
  });
});

describe('events and the end of a stream', () => {
  test('server events reach their handlers with parsed data and ids', () => {
    const { client, seen } = makeClient();
    client.connect();
    FakeEventSource.last.open();
    FakeEventSource.last.message('job-status', { jobId: 'x', status: 'Queued', seq: 1 }, '1');
    const message = seen.find((m) => m.type === 'job-status');
    assert.deepEqual(message, {
      type: 'job-status',
      id: '1',
      data: { jobId: 'x', status: 'Queued', seq: 1 },
      fromServer: true,
    });
  });

  test('handlers added after connect() still get their events; off() stops them', () => {
    const { client } = makeClient();
    client.connect();
    /** @type {string[]} */
    const got = [];
    /** @param {SseMessage} m */
    const handler = (m) => got.push(m.id);
    client.on('step-progress', handler);
    FakeEventSource.last.message('step-progress', { seq: 2 }, '2');
    client.off('step-progress', handler);
    FakeEventSource.last.message('step-progress', { seq: 3 }, '3');
    assert.deepEqual(got, ['2']);
  });

  test('a terminal event ends the stream without retrying', (t) => {
    useFakeTimers(t);
    const { client, seen } = makeClient();
    client.connect();
    const source = FakeEventSource.last;
    source.open();
    source.message('job-completed', { jobId: 'x', status: 'Succeeded', seq: 9 }, '9');
    assert.equal(source.closed, true);
    assert.equal(client.state, 'closed');
    assert.deepEqual(seen.filter((m) => m.type === 'end').map((m) => m.data), [{ reason: 'job-completed' }]);
    source.drop(); // the server closes the connection after the terminal event
    t.mock.timers.tick(60000);
    assert.equal(FakeEventSource.instances.length, 1);
    assert.equal(seen.filter((m) => m.type === 'error').length, 0);
  });

  test('job-failed and job-cancelled end it too', () => {
    for (const type of ['job-failed', 'job-cancelled']) {
      FakeEventSource.reset();
      const client = new SseClient('/e', { EventSource: FakeEventSourceConstructor });
      client.connect();
      FakeEventSource.last.message(type, { seq: 4 }, '4');
      assert.equal(client.state, 'closed', type);
      assert.equal(FakeEventSource.last.closed, true, type);
    }
  });

  test('a server `error` event is passed on, marked fromServer, and keeps the stream', () => {
    const { client, seen } = makeClient();
    client.connect();
    FakeEventSource.last.open();
    FakeEventSource.last.message('error', { code: 'SyntheticFailure', message: 'boom', retryable: true, seq: 5 }, '5');
    const errors = seen.filter((m) => m.type === 'error');
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.fromServer, true);
    assert.equal(client.state, 'open');
    assert.equal(FakeEventSource.instances.length, 1);
  });

  test('a failing handler does not stop the others', () => {
    const client = new SseClient('/e', { EventSource: FakeEventSourceConstructor });
    /** @type {string[]} */
    const got = [];
    client.on('job-status', () => {
      throw new Error('handler bug');
    });
    client.on('job-status', (m) => got.push(m.id));
    client.connect();
    FakeEventSource.last.message('job-status', { seq: 1 }, '1');
    assert.deepEqual(got, ['1']);
  });
});

describe('prepare()', () => {
  test('is asked for the URL of every connection, with the try number', async (t) => {
    useFakeTimers(t);
    /** @type {number[]} */
    const asked = [];
    const { client } = makeClient({
      prepare: (attempt) => {
        asked.push(attempt);
        return Promise.resolve(`/api/jobs/J/events?token=fresh-${attempt}`);
      },
    });
    client.connect();
    await settle();
    assert.equal(FakeEventSource.last.url, '/api/jobs/J/events?token=fresh-0');
    FakeEventSource.last.message('job-status', { seq: 3 }, '3');
    FakeEventSource.last.refuse(); // an expired token: 401
    t.mock.timers.tick(1000);
    await settle();
    assert.deepEqual(asked, [0, 1]);
    const url = new URL(FakeEventSource.last.url, 'http://localhost');
    assert.equal(url.searchParams.get('token'), 'fresh-1');
    assert.equal(url.searchParams.get('lastEventId'), '3');
  });

  test('null (a finished job: the gateway would answer 204) ends it with no other connection', async (t) => {
    useFakeTimers(t);
    const { client, seen } = makeClient({
      prepare: (attempt) => Promise.resolve(attempt === 0 ? '/e' : null),
    });
    client.connect();
    await settle();
    FakeEventSource.last.refuse();
    t.mock.timers.tick(1000);
    await settle();
    assert.equal(FakeEventSource.instances.length, 1);
    assert.equal(client.state, 'closed');
    assert.deepEqual(seen.filter((m) => m.type === 'end').map((m) => m.data), [{ reason: 'finished' }]);
    assert.equal(seen.filter((m) => m.type === 'error').length, 0);
  });

  test('a rejection counts as a failed try', async (t) => {
    useFakeTimers(t);
    let calls = 0;
    const { client, seen } = makeClient({
      prepare: () => {
        calls++;
        return Promise.reject(new Error('offline'));
      },
    });
    client.connect();
    for (const delay of [1000, 2000, 4000, 8000, 16000]) {
      await settle();
      t.mock.timers.tick(delay);
    }
    await settle();
    assert.equal(calls, 6);
    assert.equal(FakeEventSource.instances.length, 0);
    assert.deepEqual(seen.filter((m) => m.type === 'error').map((m) => m.data), [
      { message: CONNECTION_FAILED, attempts: 5 },
    ]);
  });

  test('close() while prepare() is pending opens nothing', async () => {
    /** @type {(url: string) => void} */
    let release = () => {};
    const { client } = makeClient({
      prepare: () =>
        new Promise((resolve) => {
          release = resolve;
        }),
    });
    client.connect();
    client.close();
    release('/e');
    await settle();
    assert.equal(FakeEventSource.instances.length, 0);
  });
});
