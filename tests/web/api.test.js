// ApiClient: the bearer token, the one prompt for it on 401, and
// problem+json answers turned into errors with their field errors.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ApiClient, ApiError } from '../../gateway/web/public/api.js';
import './support.js';

/** @typedef {import('../../gateway/web/public/api.js').TokenStore} TokenStore */

/**
 * A token store in memory.
 * @param {string | null} [initial]
 * @returns {TokenStore & { value: string | null }}
 */
function memoryTokens(initial = null) {
  const store = {
    /** @type {string | null} */
    value: initial,
    get: () => store.value,
    /** @param {string} token */
    set: (token) => {
      store.value = token;
    },
    clear: () => {
      store.value = null;
    },
  };
  return store;
}

/**
 * A fetch that answers from handler and records each request.
 * @param {(url: string, init: RequestInit) => Response} handler
 */
function fakeFetch(handler) {
  /** @type {{ url: string, method: string, authorization: string | null, body: string | null }[]} */
  const requests = [];
  /** @type {typeof fetch} */
  const fetchFn = (input, init = {}) => {
    const url = String(input);
    const headers = new Headers(init.headers);
    requests.push({
      url,
      method: init.method ?? 'GET',
      authorization: headers.get('Authorization'),
      body: typeof init.body === 'string' ? init.body : null,
    });
    return Promise.resolve(handler(url, init));
  };
  return { fetchFn, requests };
}

/**
 * @param {number} status
 * @param {unknown} body
 * @param {string} [type]
 */
function json(status, body, type = 'application/json') {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': type } });
}

const JOB = { jobId: '01JABCDEFGHJKMNPQRSTVWXYZ0', status: 'Queued', stage: 'queued', correlationId: 'c', links: { self: '', events: '', cancel: '' } };

describe('ApiClient', () => {
  test('sends the known token as Authorization: Bearer', async () => {
    const { fetchFn, requests } = fakeFetch(() => json(202, JOB));
    const api = new ApiClient({ fetch: fetchFn, tokens: memoryTokens('s3cret') });
    await api.quickDemo();
    assert.equal(requests[0]?.authorization, 'Bearer s3cret');
    assert.equal(requests[0]?.method, 'POST');
    assert.equal(requests[0]?.url, '/api/quick/demo');
  });

  test('a 401 asks for the token once for all calls waiting, keeps it, and tries again with it', async () => {
    const { fetchFn, requests } = fakeFetch((_url, init) => {
      const auth = new Headers(init.headers).get('Authorization');
      return auth === 'Bearer right' ? json(200, { items: [], nextCursor: null }) : json(401, { status: 401 }, 'application/problem+json');
    });
    const tokens = memoryTokens();
    /** @type {string[]} */
    const asked = [];
    const api = new ApiClient({
      fetch: fetchFn,
      tokens,
      askToken: async (reason) => {
        asked.push(reason);
        await new Promise((resolve) => setImmediate(resolve));
        return 'right';
      },
    });
    await Promise.all([api.listJobs(), api.listJobs({ limit: 5 }), api.listJobs({ status: 'Running' })]);
    assert.deepEqual(asked, ['required']);
    assert.equal(tokens.value, 'right');
    assert.equal(requests.filter((r) => r.authorization === 'Bearer right').length, 3);
    assert.ok(requests.some((r) => r.url === '/api/jobs?limit=5'));
  });

  test('a refused token is asked for again, as rejected; declining gives the 401', async () => {
    const { fetchFn } = fakeFetch(() => json(401, { status: 401, detail: 'bad token' }, 'application/problem+json'));
    /** @type {string[]} */
    const asked = [];
    const api = new ApiClient({
      fetch: fetchFn,
      tokens: memoryTokens('old'),
      askToken: (reason) => {
        asked.push(reason);
        return Promise.resolve(null);
      },
    });
    await assert.rejects(api.getJob('01JABCDEFGHJKMNPQRSTVWXYZ0'), (error) => error instanceof ApiError && error.status === 401);
    assert.deepEqual(asked, ['rejected']);
  });

  test('a problem+json answer becomes an ApiError with its field errors', async () => {
    const problem = {
      type: '/problems/invalid-request',
      title: 'Invalid request',
      status: 400,
      detail: 'planSpec.targetDuration: must be from 5 s to 10 min',
      correlationId: 'abc-123',
      errors: [{ field: 'planSpec.targetDuration', message: 'must be from 5 s to 10 min' }],
    };
    const { fetchFn, requests } = fakeFetch(() => json(400, problem, 'application/problem+json'));
    const api = new ApiClient({ fetch: fetchFn, tokens: memoryTokens() });
    const request = { brief: { topic: 'Bees' }, planSpec: { targetDuration: 2 } };
    const error = await api.createJob(request).then(
      () => assert.fail('createJob resolved'),
      (/** @type {unknown} */ e) => e,
    );
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 400);
    assert.equal(error.message, problem.detail);
    assert.equal(error.correlationId, 'abc-123');
    assert.deepEqual(error.fieldErrors, problem.errors);
    assert.deepEqual(JSON.parse(requests[0]?.body ?? 'null'), request);
  });

  test('no answer at all is an ApiError with status 0', async () => {
    const api = new ApiClient({ fetch: () => Promise.reject(new TypeError('network down')), tokens: memoryTokens() });
    await assert.rejects(api.listJobs(), (error) => error instanceof ApiError && error.status === 0);
  });
});
