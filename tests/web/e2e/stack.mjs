// Starts a real broker, gateway and workers for a browser test.
// Every stack lives in its own temporary directory: ZeroMQ endpoints are
// ipc:// sockets there and the gateway picks a free loopback port. Each
// program runs in its own process group, which is killed when the stack
// closes, whatever happened, and when this Node process exits.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '..', '..', '..');
export const BIN_DIR = process.env.AURA_BIN_DIR || path.join(REPO_ROOT, 'build', 'bin');
export const WEB_DIR = process.env.AURA_WEB_DIR || path.join(REPO_ROOT, 'gateway', 'web', 'public');

const LOG_LINES_KEPT = 2000;
const living = new Set();
const openDirs = new Set();

// A Node process that ends for any reason leaves no program behind: the
// programs have process groups of their own, so a Ctrl-C or a SIGTERM sent
// to this one does not reach them.
const killAll = () => {
  for (const proc of living) proc.signal('SIGKILL');
  for (const dir of openDirs) fs.rmSync(dir, { recursive: true, force: true });
};
process.on('exit', killAll);
for (const [sig, number] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
  process.once(sig, () => {
    killAll();
    process.exit(128 + number);
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Thrown by a probe of waitFor to end the wait at once: what it waited for
// can no longer happen.
export class Stop extends Error {}

// Calls probe until it returns a truthy value and returns that value; throws
// with describe()'s text once timeoutMs have passed, or what the probe
// threw as a Stop.
export async function waitFor(probe, { timeoutMs = 30000, intervalMs = 100, describe } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      if (err instanceof Stop) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const what = describe ? await describe() : 'condition';
      const cause = lastError ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await sleep(intervalMs);
  }
}

// One running program; its stderr is kept line by line.
export class Program {
  constructor(name, file, env) {
    this.name = name;
    this.lines = [];
    this.exit = null; // {code, signal} once it has ended
    this.waiters = new Set();
    this.child = spawn(file, [], {
      env,
      detached: true, // a process group of its own
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    living.add(this);
    let partial = '';
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop();
      for (const line of parts) this.push(line);
    });
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        if (partial) this.push(partial);
        partial = '';
        this.exit = { code, signal };
        living.delete(this);
        this.notify();
        resolve(this.exit);
      });
      this.child.on('error', (err) => {
        this.push(`spawn failed: ${err.message}`);
        this.exit = { code: null, signal: null, error: err };
        living.delete(this);
        this.notify();
        resolve(this.exit);
      });
    });
  }

  push(line) {
    this.lines.push(line);
    if (this.lines.length > LOG_LINES_KEPT) this.lines.shift();
    this.notify();
  }

  notify() {
    for (const wake of this.waiters) wake();
  }

  // Resolves with the first match of pattern in a stderr line; rejects when
  // the program ends or timeoutMs pass without one.
  waitForLine(pattern, timeoutMs = 15000) {
    return new Promise((resolve, reject) => {
      let timer;
      const check = () => {
        for (const line of this.lines) {
          const m = pattern.exec(line);
          if (m) return done(null, m);
        }
        if (this.exit) {
          return done(new Error(`${this.name} ended (${JSON.stringify(this.exit)}) before a line matching ${pattern}:\n${this.log()}`));
        }
        return undefined;
      };
      const done = (err, m) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (err) reject(err);
        else resolve(m);
      };
      timer = setTimeout(() => done(new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms:\n${this.log()}`)), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  log(last = 80) {
    return this.lines.slice(-last).join('\n');
  }

  signal(sig) {
    if (this.exit) return;
    try {
      process.kill(-this.child.pid, sig);
    } catch {
      // the group is gone already
    }
  }

  // SIGKILL, as a crash would, and waits until the program is reaped.
  async kill() {
    this.signal('SIGKILL');
    await this.exited;
  }
}

// Broker, gateway and workers on ipc:// endpoints in a temporary directory.
export class Stack {
  constructor(settings = {}) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aura-e2e-'));
    openDirs.add(this.dir);
    this.env = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith('AURA_')) this.env[key] = value;
    }
    Object.assign(this.env, {
      AURA_BROKER_FRONTEND: `ipc://${this.dir}/frontend`,
      AURA_BROKER_JOBS: `ipc://${this.dir}/jobs`,
      AURA_BROKER_EVENTS: `ipc://${this.dir}/events`,
      AURA_BROKER_PUBLISH: `ipc://${this.dir}/publish`,
      AURA_HTTP_ADDR: '127.0.0.1:0',
      AURA_DATA_DIR: `${this.dir}/data`,
      AURA_ARTIFACT_DIR: `${this.dir}/artifacts`,
      AURA_WEB_DIR: WEB_DIR,
      AURA_PIPELINE: 'synthetic',
      AURA_LOG_LEVEL: 'debug',
      // a page opens streams and posts faster than the defaults expect
      // only under test; the limits have tests of their own
      AURA_RATE_LIMIT: '0',
      AURA_MAX_STREAMS_PER_IP: '0',
    });
    for (const [key, value] of Object.entries(settings)) this.env[key] = String(value);
    this.programs = [];
    this.gateway = null;
    this.port = null;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  start(name, program, settings = {}) {
    const env = { ...this.env };
    for (const [key, value] of Object.entries(settings)) env[key] = String(value);
    const file = path.join(BIN_DIR, program);
    if (!fs.existsSync(file)) throw new Error(`${file} does not exist: build the project first (make)`);
    const proc = new Program(name, file, env);
    this.programs.push(proc);
    return proc;
  }

  async startBroker() {
    const broker = this.start('broker', 'aura-broker');
    await broker.waitForLine(/\bready\b/);
    return broker;
  }

  async startWorker(settings = {}) {
    const n = this.programs.filter((p) => p.name.startsWith('worker')).length + 1;
    const worker = this.start(`worker-${n}`, 'aura-worker', { AURA_WORKER_ID: `worker-${n}`, ...settings });
    await worker.waitForLine(/\bready\b/);
    return worker;
  }

  // Starts a gateway on a free port, or on the port given (as a restarted
  // gateway must, for pages that hold the old address): the port may stay
  // busy for a moment after the last holder died, so binding is retried.
  async startGateway(port = 0, settings = {}) {
    const deadline = Date.now() + 15000;
    const n = this.programs.filter((p) => p.name.startsWith('gateway')).length + 1;
    for (let attempt = 1; ; attempt++) {
      const gateway = this.start(`gateway-${n}.${attempt}`, 'aura-gateway', {
        AURA_HTTP_ADDR: `127.0.0.1:${port}`,
        ...settings,
      });
      try {
        const m = await gateway.waitForLine(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
        this.port = Number(m[1]);
        this.gateway = gateway;
        return gateway;
      } catch (err) {
        await gateway.kill();
        if (port === 0 || Date.now() >= deadline) throw err;
        await sleep(200);
      }
    }
  }

  async waitReady(timeoutMs = 20000) {
    await waitFor(async () => (await fetch(`${this.url}/readyz`)).status === 200, {
      timeoutMs,
      intervalMs: 50,
      describe: () => `${this.url}/readyz to answer 200\n${this.logs()}`,
    });
  }

  async startAll() {
    await this.startBroker();
    await this.startGateway();
    await this.startWorker();
    await this.waitReady();
    return this;
  }

  async job(id) {
    const res = await fetch(`${this.url}/api/jobs/${id}`);
    if (res.status !== 200) throw new Error(`GET /api/jobs/${id} answered ${res.status}: ${await res.text()}`);
    return res.json();
  }

  // Every event of a finished job as the server numbered them: the stream
  // from the start, which the gateway closes after the terminal event.
  async events(id) {
    const res = await fetch(`${this.url}/api/jobs/${id}/events`, {
      headers: { Accept: 'text/event-stream', 'Last-Event-ID': '0' },
      signal: AbortSignal.timeout(30000),
    });
    if (res.status !== 200) throw new Error(`GET /api/jobs/${id}/events answered ${res.status}`);
    return parseEventStream(await res.text());
  }

  logs(last = 40) {
    return this.programs.map((p) => `--- ${p.name} ${p.exit ? JSON.stringify(p.exit) : '(running)'} ---\n${p.log(last)}`).join('\n');
  }

  async close() {
    await Promise.all(this.programs.map((p) => p.kill()));
    fs.rmSync(this.dir, { recursive: true, force: true });
    openDirs.delete(this.dir);
  }
}

// The events of a text/event-stream body as {id, event, data} with data
// parsed as JSON; comments and retry fields are left out.
export function parseEventStream(text) {
  const events = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const fields = { id: null, event: 'message', data: [] };
    for (const line of block.split(/\r?\n/)) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (name === 'id') fields.id = Number(value);
      else if (name === 'event') fields.event = value;
      else if (name === 'data') fields.data.push(value);
    }
    if (fields.data.length > 0) events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data.join('\n')) });
  }
  return events;
}
