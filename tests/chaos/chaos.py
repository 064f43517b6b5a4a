"""Chaos run: jobs on real processes while workers, the broker and the
gateway are killed with SIGKILL, a worker is frozen past its lease, and
event-stream clients reconnect through all of it. Afterwards every job
must have ended exactly once, the journal must agree with the API, every
client must have seen each of its jobs' events exactly once and in order,
every video must decode, and neither server may have leaked descriptors
or memory.

    chaos.py --short            fixed schedule, about a minute (ctest chaos.short)
    chaos.py --long             CHAOS_SECONDS (default 600) of random chaos

CHAOS_SEED reproduces a run's schedule and choices (the seed is printed);
CHAOS_LOG_DIR keeps every program's log; CHAOS_LOG_LEVEL sets theirs
(default info). docs/RELIABILITY.md describes the run."""

import argparse
import heapq
import http.client
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster  # noqa: E402
from followers import TERMINAL, Client, HttpStream, fingerprint  # noqa: E402

PROBE = os.path.join(os.environ.get("AURA_TEST_TOOLS", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "tests")), "mp4_probe")

LEASE_MS = 1500
MAX_ATTEMPTS = 10
SYNTHETIC = ["synth-1", "synth-2", "synth-3"]
MEDIA = ["media-1", "media-2"]
STEP_MS = (200, 800)        # synthetic step time, drawn per worker start
FD_TOLERANCE = 4
OUTAGE_SUBMITS = 10         # jobs submitted around each broker or gateway kill
OUTAGE_INDEX = 1000000      # their numbers (in Idempotency-Keys) start here

SETTINGS = {
    "AURA_LEASE_MS": LEASE_MS,
    # several heartbeats per lease, so that a loaded machine does not
    # lose healthy workers
    "AURA_HEARTBEAT_MS": 250,
    "AURA_MAX_ATTEMPTS": MAX_ATTEMPTS,
    "AURA_SYNTHETIC_REPORTS": 10,
    "AURA_KEEPALIVE_S": 2,
    "AURA_LOG_LEVEL": os.environ.get("CHAOS_LOG_LEVEL", "info"),
}

SHORT = {
    "name": "short",
    "synthetic_jobs": 50,       # in all: 30 at the start, 20 around the outages
    "media_jobs": 3,
    "clients": 20,
    "followers": (2, 3),        # clients per job: at least, at most
    "client_drop_rate": 0.01,   # chance a client drops its stream after an event
    "warmup_s": 3.0,            # before a (re)started server's baseline sample
    "rss_tolerance_mib": 24,
    "drain_s": 150,             # for the jobs to end once the chaos stops
}

LONG = {
    "name": "long",
    "synthetic_jobs": 50,       # at the start; then the backlog is kept up
    "media_jobs": 3,
    "clients": 20,
    "followers": (1, 2),
    "client_drop_rate": 0.005,
    "warmup_s": 15.0,
    "rss_tolerance_mib": 48,
    "drain_s": 300,
    "backlog": 14,              # unfinished jobs the submitter keeps
    "cancel_rate": 0.04,
}

TOPICS = ["Why the sky is blue", "How bees make honey", "The water cycle",
          "Volcanoes", "Photosynthesis", "How a bicycle stays up",
          "Tides and the moon", "What a compiler does", "Rainbows",
          "The life of a star"]


def log(message):
    print(message, flush=True)


# schedule -------------------------------------------------------------------

class Action:
    """One disruption at `at` seconds into the chaos window, undone (a
    restart, a SIGCONT) `hold` seconds later."""

    def __init__(self, at, do, target=None, hold=1.0, step_ms=None):
        self.at, self.do, self.target, self.hold = at, do, target, hold
        self.step_ms = step_ms

    def __str__(self):
        what = {"kill-worker": f"kill -9 {self.target}, restart after {self.hold:.1f} s",
                "stop-worker": f"SIGSTOP {self.target} for {self.hold:.1f} s",
                "kill-broker": f"kill -9 broker, restart after {self.hold:.1f} s",
                "kill-gateway": f"kill -9 gateway, restart on its port after {self.hold:.1f} s",
                }[self.do]
        if self.step_ms:
            what += f" with {self.step_ms} ms steps"
        return f"{self.at:6.1f} s  {what}"


def short_schedule(rng):
    """A fixed sequence; the seed picks which synthetic worker is which."""
    a, b, c = rng.sample(SYNTHETIC, 3)
    lease_s = LEASE_MS / 1000

    def step():
        return rng.randint(*STEP_MS)
    actions = [
        Action(2.0, "kill-worker", a, 0.8, step()),
        Action(4.5, "stop-worker", b, 2.5 * lease_s),
        Action(6.0, "kill-broker", hold=1.0),
        Action(9.0, "kill-worker", c, 0.5, step()),
        Action(11.0, "kill-gateway", hold=1.0),
        Action(13.5, "kill-worker", a, 0.5, step()),
        Action(16.0, "kill-worker", c, 1.0, step()),
        Action(18.0, "kill-worker", b, 0.5, step()),
    ]
    # (seconds into the window, index of the synthetic job to cancel)
    cancels = [(3.0, 5), (7.5, 15), (11.5, 25)]
    return actions, cancels


def long_schedule(rng, seconds):
    """Worker kills every 2.5–6 s and a freeze every 40–80 s, on workers
    not already down or frozen; the broker and the gateway once each, in
    the first half, so that the second half measures their growth."""
    lease_s = LEASE_MS / 1000
    actions = [
        Action(rng.uniform(0.15, 0.30) * seconds, "kill-broker", hold=rng.uniform(0.5, 2.0)),
        Action(rng.uniform(0.35, 0.50) * seconds, "kill-gateway", hold=rng.uniform(0.5, 2.0)),
    ]
    workers = list(SYNTHETIC)
    busy_until = {w: 0.0 for w in workers}
    t = rng.uniform(1.0, 3.0)
    next_stop = rng.uniform(5.0, 20.0)
    while t < seconds - 2:
        free = [w for w in workers if busy_until[w] <= t]
        if free:
            w = rng.choice(free)
            if t >= next_stop:
                hold = rng.uniform(2.0, 3.0) * lease_s
                actions.append(Action(t, "stop-worker", w, hold))
                busy_until[w] = t + hold + 2.0
                next_stop = t + rng.uniform(40.0, 80.0)
            else:
                hold = rng.uniform(0.3, 2.0)
                actions.append(Action(t, "kill-worker", w, hold, rng.randint(*STEP_MS)))
                busy_until[w] = t + hold + 3.0
        t += rng.uniform(2.5, 6.0)
    actions.sort(key=lambda a: a.at)
    return actions, []


# jobs and the API -------------------------------------------------------------

class Job:
    def __init__(self, job_id, index, kind, followers):
        self.id, self.index, self.kind, self.followers = job_id, index, kind, followers
        self.cancel_answer = None     # 202 or 409 once a cancel was answered
        self.cancel_status = None     # the job's status in that answer


class Api:
    """Requests through the gateway, repeated while the gateway or the
    broker is away (connection errors, 502, 503)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.retries = 0
        self.lock = threading.Lock()

    def call(self, method, path, body=None, headers=None, patience_s=60.0):
        deadline = time.monotonic() + patience_s
        delay = 0.1
        last = None
        while True:
            try:
                status, hdrs, data = self.cluster.stack.request(
                    method, path, body, headers, timeout=10)
                if status not in (502, 503):
                    return status, hdrs, data
                last = f"{status} {data[:200]!r}"
            except (OSError, http.client.HTTPException) as exc:
                last = repr(exc)
            with self.lock:
                self.retries += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {path}: no answer in {patience_s:.0f} s; "
                                     f"last {last}")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def json(self, method, path, body=None, headers=None, expect=(200,)):
        status, _, data = self.call(method, path, body, headers)
        if status not in expect:
            raise AssertionError(f"{method} {path} answered {status}: {data[:300]!r}")
        return json.loads(data) if data else None

    def list_all(self, limit=25):
        """Every job through GET /api/jobs pages: (items in order, pages)."""
        items, cursor, pages = [], None, 0
        while True:
            path = f"/api/jobs?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            page = self.json("GET", path)
            items += page["items"]
            pages += 1
            cursor = page["nextCursor"]
            if not cursor:
                return items, pages


class Run:
    def __init__(self, cfg, seed, seconds):
        self.cfg, self.seed, self.seconds = cfg, seed, seconds
        self.rng = random.Random(seed)
        self.jobs = {}                # id -> Job
        self.order = []               # ids in submission order
        self.terminal_seen = set()    # jobs some client saw end
        self.lock = threading.Lock()
        self.cluster = None
        self.api = None
        self.clients = []
        self.failures = []
        self.stats = {}
        self.t0 = None
        self.submitting = threading.Event()

    # helpers ----------------------------------------------------------------

    def expect(self, ok, message):
        if not ok:
            self.failures.append(message)
        return ok

    def elapsed(self):
        return time.monotonic() - self.t0 if self.t0 else 0.0

    def on_terminal(self, job):
        with self.lock:
            self.terminal_seen.add(job)

    def submit(self, index, kind, followers=None):
        key = f"chaos-{self.seed}-{index}"
        body = {"brief": {"topic": f"{TOPICS[index % len(TOPICS)]} ({index})"},
                "planSpec": {"targetDuration": 5}, "renderSpec": {"res": "720p"}}
        doc = self.api.json("POST", "/api/jobs", body, {"Idempotency-Key": key},
                            expect=(202,))
        job_id = doc["jobId"]
        if followers is None:
            followers = self.draw_followers(self.rng)
        with self.lock:
            if job_id in self.jobs:
                self.failures.append(f"submit #{index} (key {key}) answered job {job_id} "
                                     f"of submit #{self.jobs[job_id].index}")
                return job_id
            self.jobs[job_id] = Job(job_id, index, kind, followers)
            self.order.append(job_id)
        for c in followers:
            self.clients[c].follow(job_id)
        return job_id

    def draw_followers(self, rng):
        low, high = self.cfg["followers"]
        return rng.sample(range(self.cfg["clients"]), rng.randint(low, high))

    def cancel(self, job_id):
        status, _, data = self.api.call("POST", f"/api/jobs/{job_id}/cancel")
        job = self.jobs[job_id]
        job.cancel_answer = status
        if status == 202:
            job.cancel_status = json.loads(data)["status"]
        elif status != 409:
            self.failures.append(f"cancel of {job_id} answered {status}: {data[:200]!r}")
        log(f"[{self.elapsed():6.1f}s] cancel {job_id}: {status} {job.cancel_status or ''}")

    def unfinished(self):
        with self.lock:
            return len(self.order) - len(self.terminal_seen & set(self.order))

    # phases -------------------------------------------------------------------

    def start(self):
        settings = dict(SETTINGS)
        self.cluster = Cluster(settings)
        self.api = Api(self.cluster)
        self.cluster.start_broker()
        self.cluster.start_gateway()
        self.cluster.stack.wait_ready(timeout=30)
        time.sleep(1.0)
        usage = self.cluster.sample("gateway")
        self.stats["gateway_idle_fds"] = usage["fds"]
        self.stats["gateway_idle_rss"] = usage["rss_kib"]
        self.cluster.start_sampler()
        self.clients = [Client(i, self.cluster.port, self.seed, self.cfg["client_drop_rate"],
                               stall_s=15.0, on_terminal=self.on_terminal)
                        for i in range(self.cfg["clients"])]
        for c in self.clients:
            c.start()
        self.media_phase()
        for name in SYNTHETIC:
            self.cluster.add_worker(name, "synthetic", 2, self.rng.randint(*STEP_MS))

    def media_phase(self):
        """The media jobs run before any synthetic worker exists, on two
        media workers: a worker runs only its own pipeline's steps and
        takes the others' Done steps on trust, so a media worker given a
        job whose plan a synthetic worker marked Done would find no
        plan.json. Once a job is well into its render, its worker is
        killed and restarted; once a job of a later attempt is, its worker
        is frozen past its lease, so that the job moves to the other
        worker, and then continued. Both workers are stopped once the
        jobs have ended."""
        self.t0 = time.monotonic()
        for name in MEDIA:
            self.cluster.add_worker(name, "media", self.cfg["media_jobs"])
        media = [self.submit(i, "media") for i in range(self.cfg["media_jobs"])]
        lease_s = LEASE_MS / 1000

        job, owner = self.rendering(media, attempt=1)
        if owner is not None:
            self.cluster.kill_worker(owner)
            log(f"[{self.elapsed():6.1f}s] kill -9 {owner} while it renders {job}")
            time.sleep(0.5)
            self.cluster.restart_worker(owner)
            log(f"[{self.elapsed():6.1f}s] {owner} restarted")

        job, owner = self.rendering(media, attempt=2)
        if owner is not None:
            self.cluster.stop_worker(owner)
            log(f"[{self.elapsed():6.1f}s] SIGSTOP {owner} while it renders {job}")
            time.sleep(2.5 * lease_s)
            self.cluster.continue_worker(owner)
            log(f"[{self.elapsed():6.1f}s] SIGCONT {owner}")

        deadline = time.monotonic() + 240
        while not set(media) <= self.terminal_seen:
            assert time.monotonic() < deadline, "the media jobs did not end within 240 s"
            time.sleep(0.2)
        for name in MEDIA:
            code = self.cluster.retire_worker(name)
            self.expect(code == 0, f"{name} exited {code} on SIGTERM with no job left")
        log(f"[{self.elapsed():6.1f}s] media jobs ended; media workers stopped")

    def rendering(self, jobs, attempt, timeout_s=90):
        """Waits for one of jobs to be past 90 % (render runs from 85 % to
        100 %, so part of the video is written) in an attempt of at least
        `attempt`; returns it and the worker that accepted that attempt,
        or (None, None) when none gets there in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for job in jobs:
                snap = self.api.json("GET", f"/api/jobs/{job}")
                if (snap["status"] == "Running" and snap["step"] == "render"
                        and snap["percent"] >= 90 and snap["attempt"] >= attempt):
                    owner = self.cluster.worker_of(job, snap["attempt"])
                    if owner is not None:
                        return job, owner
            time.sleep(0.1)
        self.failures.append(f"no media job rendered past 90 % in attempt {attempt} or "
                             f"later within {timeout_s} s")
        return None, None

    def submitter(self, cancels, outages):
        """Submits the synthetic jobs (all at once for the short form,
        keeping a backlog for the long one), the jobs of `outages` at
        their times, each from a thread of its own, and sends the cancels."""
        base = self.cfg["media_jobs"]
        synthetic = []
        threads = []
        outages = list(outages)

        def submit_one(index, followers):
            try:
                self.submit(index, "outage", followers)
            except Exception as exc:  # noqa: BLE001 - reported with the run
                self.failures.append(f"submit #{index}: {type(exc).__name__}: {exc}")
        try:
            upfront = self.cfg["synthetic_jobs"] - (len(outages) if self.cfg["name"] == "short"
                                                    else 0)
            for i in range(upfront):
                synthetic.append(self.submit(base + i, "synthetic"))
            due = [(at, synthetic[i]) for at, i in cancels]
            heapq.heapify(due)
            index = base + len(synthetic)
            long_form = self.cfg["name"] == "long"
            while self.submitting.is_set():
                now = self.elapsed()
                while outages and outages[0][0] <= now:
                    _, number, followers = outages.pop(0)
                    threads.append(threading.Thread(target=submit_one,
                                                    args=(number, followers), daemon=True))
                    threads[-1].start()
                while due and due[0][0] <= now:
                    self.cancel(heapq.heappop(due)[1])
                if long_form and self.unfinished() < self.cfg["backlog"]:
                    job = self.submit(index, "synthetic")
                    index += 1
                    if self.rng.random() < self.cfg["cancel_rate"]:
                        heapq.heappush(due, (now + self.rng.uniform(0.5, 8.0), job))
                    continue
                if not long_form and not due and not outages:
                    break
                time.sleep(0.02 if outages else 0.2)
        except Exception as exc:  # noqa: BLE001 - reported with the run
            self.failures.append(f"submitter: {type(exc).__name__}: {exc}")
        for t in threads:
            t.join(90)

    def chaos(self, actions):
        """Runs the disruptions at their times; returns when the last is undone."""
        steps = []
        c = self.cluster
        for n, a in enumerate(actions):
            # phase 0 disrupts, phase 1 undoes it
            steps.append((a.at, n, 0, a))
            steps.append((a.at + a.hold, n, 1, a))
        heapq.heapify(steps)
        skipped = set()
        while steps:
            at, n, phase, a = heapq.heappop(steps)
            delay = at - self.elapsed()
            if delay > 0:
                time.sleep(delay)
            if phase == 1 and n in skipped:
                continue
            stamp = f"[{self.elapsed():6.1f}s]"
            if a.do == "kill-worker":
                if phase == 0:
                    done = c.kill_worker(a.target)
                    log(f"{stamp} kill -9 {a.target}" + ("" if done else ": down, skipped"))
                    if not done:
                        skipped.add(n)
                else:
                    c.restart_worker(a.target, a.step_ms)
                    log(f"{stamp} {a.target} restarted")
            elif a.do == "stop-worker":
                if phase == 0:
                    done = c.stop_worker(a.target)
                    log(f"{stamp} SIGSTOP {a.target}" + ("" if done else ": not up, skipped"))
                    if not done:
                        skipped.add(n)
                else:
                    c.continue_worker(a.target)
                    log(f"{stamp} SIGCONT {a.target}")
            elif a.do == "kill-broker":
                if phase == 0:
                    c.kill_broker()
                    log(f"{stamp} kill -9 broker")
                else:
                    c.restart_broker()
                    log(f"{stamp} broker restarted")
            elif a.do == "kill-gateway":
                if phase == 0:
                    c.kill_gateway()
                    log(f"{stamp} kill -9 gateway")
                else:
                    c.restart_gateway()
                    log(f"{stamp} gateway restarted on port {c.port}")
        self.stats["skipped"] = len(skipped)

    def drain(self):
        """Waits until every job has ended and every client is done."""
        deadline = time.monotonic() + self.cfg["drain_s"]
        statuses = {}
        while time.monotonic() < deadline:
            items, _ = self.api.list_all(limit=100)
            statuses = {i["jobId"]: i["status"] for i in items}
            left = [j for j in self.order if statuses.get(j) not in TERMINAL.values()]
            if not left:
                break
            time.sleep(1.0)
        else:
            left = [j for j in self.order if statuses.get(j) not in TERMINAL.values()]
            self.failures.append(f"{len(left)} jobs never ended within {self.cfg['drain_s']} s "
                                 f"of the chaos' end: " + ", ".join(
                                     f"{j} {statuses.get(j)}" for j in left[:10]))
        log(f"[{self.elapsed():6.1f}s] every job has ended" if not left else
            f"[{self.elapsed():6.1f}s] {len(left)} jobs still unfinished")
        for c in self.clients:
            c.finish()
        deadline = time.monotonic() + 60
        for c in self.clients:
            c.join(max(deadline - time.monotonic(), 0.1))
        for c in self.clients:
            if c.is_alive():
                c.abort()
                c.join(5)
        log(f"[{self.elapsed():6.1f}s] clients done")

    def measure_end(self):
        """The servers' final samples, once the cluster is whole and
        settled and the gateway's streams have closed."""
        c = self.cluster
        deadline = time.monotonic() + 15
        while not c.whole(3.0) and time.monotonic() < deadline:
            time.sleep(0.2)
        idle = self.stats["gateway_idle_fds"]
        gateway = c.sample("gateway")
        while gateway and gateway["fds"] > idle + FD_TOLERANCE and time.monotonic() < deadline:
            time.sleep(0.5)
            gateway = c.sample("gateway")
        self.stats["end_broker"] = c.sample("broker")
        self.stats["end_gateway"] = gateway
        c.stop_sampler()

    # checks ---------------------------------------------------------------

    def replay(self, job_id):
        """The job's whole stream from the gateway: (status, ended properly,
        events)."""
        for _ in range(5):
            try:
                sock = socket.create_connection(("127.0.0.1", self.cluster.port), timeout=30)
            except OSError:
                time.sleep(0.5)
                continue
            try:
                sock.sendall((f"GET /api/jobs/{job_id}/events HTTP/1.1\r\n"
                              f"Host: 127.0.0.1:{self.cluster.port}\r\n"
                              "Accept: text/event-stream\r\nLast-Event-ID: 0\r\n\r\n").encode())
                stream = HttpStream()
                frames = []
                while not stream.finished:
                    data = sock.recv(65536)
                    if not data:
                        break
                    frames += stream.feed(data)
                return stream.status, stream.finished, [f for f in frames if "event" in f]
            finally:
                sock.close()
        return None, False, []

    def check(self, codes):
        api, c = self.api, self.cluster
        items, pages = api.list_all(limit=25)
        self.stats["pages"] = pages
        listed = {}
        for item in items:
            self.expect(item["jobId"] not in listed, f"GET /api/jobs lists {item['jobId']} twice")
            listed[item["jobId"]] = item
        ids = [i["jobId"] for i in items]
        self.expect(ids == sorted(ids, reverse=True), "GET /api/jobs is not newest first")
        extra = set(listed) - set(self.jobs)
        self.expect(not extra, f"GET /api/jobs lists jobs nobody submitted: {sorted(extra)[:5]}")

        snaps, replays = {}, {}
        for job_id in self.order:
            snaps[job_id] = api.json("GET", f"/api/jobs/{job_id}")
            replays[job_id] = self.replay(job_id)
        self.check_jobs(listed, snaps, replays)
        self.check_clients(snaps, replays)
        self.check_videos(snaps)
        # the metrics of the gateway alive at the end
        status, _, body = api.call("GET", "/metrics")
        text = body.decode() if status == 200 else ""
        for name in ("broker_gaps_total", "broker_gaps_filled_total", "sse_reconnects_total",
                     "sse_streams_cut_total", "broker_timeouts_total"):
            m = re.search(rf"(?m)^aura_gateway_{name} (\S+)$", text)
            self.stats[f"metric {name}"] = int(float(m.group(1))) if m else None

        codes.update(c.stop_all())
        self.stats["exit codes"] = codes
        for name, code in codes.items():
            self.expect(code == 0, f"{name} exited {code} on SIGTERM at the end")
        self.check_journal(snaps)
        self.check_usage()

    def check_jobs(self, listed, snaps, replays):
        outcome = {"Done": 0, "Failed": 0, "Canceled": 0}
        lost_failures = []
        reruns = 0
        max_attempt = 1
        warnings = {}
        replayed = 0
        for job_id in self.order:
            job, snap = self.jobs[job_id], snaps[job_id]
            status, n, attempt = snap["status"], snap["lastEventId"], snap["attempt"]
            where = f"job {job_id} (#{job.index}, {job.kind})"
            item = listed.get(job_id)
            if self.expect(item is not None, f"{where}: missing from GET /api/jobs"):
                self.expect((item["status"], item["attempt"]) == (status, attempt),
                            f"{where}: listed {item['status']} attempt {item['attempt']}, "
                            f"GET says {status} attempt {attempt}")
            if not self.expect(status in outcome, f"{where}: ended {status}"):
                continue
            outcome[status] += 1
            reruns += attempt > 1
            max_attempt = max(max_attempt, attempt)

            code, finished, events = replays[job_id]
            replayed += len(events)
            seqs = [int(e["id"]) for e in events]
            self.expect(code == 200 and finished,
                        f"{where}: replay answered {code}, ended properly {finished}")
            self.expect(seqs == list(range(1, n + 1)),
                        f"{where}: replay ids are not 1..{n}: {compress(seqs)}")
            kinds = [e["event"] for e in events]
            ends = [k for k in kinds if k in TERMINAL]
            self.expect(len(ends) == 1 and kinds and kinds[-1] in TERMINAL,
                        f"{where}: terminal events {ends}, last {kinds[-1:]}")
            if kinds and kinds[-1] in TERMINAL:
                self.expect(TERMINAL[kinds[-1]] == status,
                            f"{where}: status {status} but its last event is {kinds[-1]}")
                data = json.loads(events[-1]["data"])
                self.expect(data.get("attempt") == attempt,
                            f"{where}: {kinds[-1]} of attempt {data.get('attempt')}, "
                            f"job at attempt {attempt}")
            ended = [json.loads(e["data"])["status"] for e in events
                     if e["event"] == "job-status"
                     and json.loads(e["data"])["status"] in outcome]
            self.expect(ended == [status], f"{where}: job-status to an end: {ended}")
            if len(events) >= 2:
                self.expect(events[-2]["event"] == "job-status",
                            f"{where}: the terminal event follows {events[-2]['event']}")
            for e in events:
                if e["event"] == "warning":
                    code_w = json.loads(e["data"]).get("code")
                    warnings[code_w] = warnings.get(code_w, 0) + 1

            # what the run did to the job decides how it may end
            if job.cancel_answer == 202:
                allowed = {"Canceled", "Done"} if job.cancel_status == "Running" else {"Canceled"}
                self.expect(status in allowed, f"{where}: cancel answered 202 "
                            f"({job.cancel_status}), ended {status}")
            elif job.cancel_answer == 409:
                self.expect(status in ("Done", "Failed"),
                            f"{where}: cancel answered 409, ended {status}")
            else:
                self.expect(status != "Canceled", f"{where}: Canceled, never cancelled")
            if status == "Failed":
                error = snap.get("error") or {}
                if error.get("code") == "WorkerLost" and attempt == MAX_ATTEMPTS:
                    lost_failures.append(job_id)
                else:
                    self.failures.append(f"{where}: Failed with {error} at attempt {attempt}")
            if status == "Done":
                steps = {s["name"]: s["status"] for s in snap["steps"]}
                self.expect(all(v in ("Done", "Skipped") for v in steps.values()),
                            f"{where}: Done with steps {steps}")
        self.stats.update(outcome=outcome, lost_failures=lost_failures, reruns=reruns,
                          max_attempt=max_attempt, warnings=warnings, replayed=replayed)

    def check_clients(self, snaps, replays):
        checked = lost = repeated = streams = 0
        drops = voluntary = refused = stalls = connects = 0
        for c in self.clients:
            self.expect(c.error is None, f"client {c.index} crashed: {c.error}")
            for job_id, f in c.follows.items():
                n = snaps[job_id]["lastEventId"] if job_id in snaps else None
                where = f"client {c.index}, job {job_id}"
                streams += 1
                checked += len(f.ids)
                connects += f.connects
                drops += f.drops
                voluntary += f.voluntary
                refused += f.refused
                stalls += f.stalls
                repeated += len(f.ids) - len(set(f.ids))
                if n is not None:
                    lost += len(set(range(1, n + 1)) - set(f.ids))
                    self.expect(f.ids == list(range(1, n + 1)),
                                f"{where}: received ids {compress(f.ids)}, want 1..{n}")
                self.expect(f.done, f"{where}: never finished (last id {f.last_id}, "
                            f"{f.connects} connects, answers {f.statuses})")
                for a in f.anomalies[:3]:
                    self.failures.append(f"{where}: {a}")
                _, _, events = replays.get(job_id, (None, None, []))
                want = [fingerprint(e["event"], e.get("data", "null")) for e in events]
                if f.ids == list(range(1, len(want) + 1)):
                    differ = [i + 1 for i, (a, b) in enumerate(zip(f.prints, want)) if a != b]
                    self.expect(not differ, f"{where}: events {compress(differ)} differ "
                                "from the journal's replay")
        self.stats.update(client_events=checked, lost=lost, repeated=repeated,
                          streams=streams, connects=connects, drops=drops,
                          voluntary=voluntary, refused=refused, stalls=stalls)

    def check_videos(self, snaps):
        decoded = 0
        for job_id in self.order:
            job, snap = self.jobs[job_id], snaps[job_id]
            where = f"job {job_id} (#{job.index}, {job.kind})"
            names = {a["name"]: a for a in (snap.get("artifacts") or [])}
            if job.kind == "media":
                self.expect(snap["status"] == "Done" and "video.mp4" in names,
                            f"{where}: ended {snap['status']} without video.mp4 "
                            f"(artifacts {sorted(names)})")
            if snap["status"] != "Done" or "video.mp4" not in names:
                continue
            path = os.path.join(self.cluster.stack.dir, "artifacts", job_id, "video.mp4")
            if not self.expect(os.path.exists(path), f"{where}: {path} is missing"):
                continue
            self.expect(os.path.getsize(path) == names["video.mp4"]["sizeBytes"],
                        f"{where}: video.mp4 has {os.path.getsize(path)} bytes, "
                        f"job says {names['video.mp4']['sizeBytes']}")
            out = subprocess.run([PROBE, path], capture_output=True, text=True, timeout=120)
            if not self.expect(out.returncode == 0, f"{where}: mp4_probe failed: "
                               f"{out.stdout.strip()} {out.stderr.strip()}"):
                continue
            info = json.loads(out.stdout)
            video = [s for s in info["streams"] if s["type"] == "video"]
            audio = [s for s in info["streams"] if s["type"] == "audio"]
            ok = (len(video) == 1 and len(audio) == 1 and video[0]["codec"] == "h264"
                  and (video[0]["width"], video[0]["height"]) == (1280, 720)
                  and 3 <= info["duration"] <= 15
                  and abs(info["videoFrames"] - info["duration"] * video[0]["fps"]) <= 3)
            if self.expect(ok, f"{where}: video.mp4 is not a whole 720p video: {info}"):
                decoded += 1
        self.stats["videos"] = decoded

    def check_journal(self, snaps):
        path = os.path.join(self.cluster.stack.dir, "data", "aura.db")
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = {r[0]: r[1:] for r in db.execute("SELECT id, status, attempt FROM jobs")}
            events = {r[0]: r[1:] for r in db.execute(
                "SELECT job, count(*), min(seq), max(seq) FROM events GROUP BY job")}
        finally:
            db.close()
        extra = set(rows) - set(self.jobs)
        self.expect(not extra, f"the journal holds jobs nobody submitted: {sorted(extra)[:5]}")
        for job_id in self.order:
            snap = snaps[job_id]
            where = f"job {job_id}"
            row = rows.get(job_id)
            if not self.expect(row is not None, f"{where}: not in the journal"):
                continue
            self.expect(tuple(row) == (snap["status"], snap["attempt"]),
                        f"{where}: journal says {row[0]} attempt {row[1]}, API "
                        f"{snap['status']} attempt {snap['attempt']}")
            n = snap["lastEventId"]
            self.expect(events.get(job_id) == (n, 1, n),
                        f"{where}: journal events (count, min, max) {events.get(job_id)}, "
                        f"want ({n}, 1, {n})")
        self.stats["journal_jobs"] = len(rows)

    def check_usage(self):
        c, s = self.cluster, self.stats
        warmup = self.cfg["warmup_s"]
        tolerance = self.cfg["rss_tolerance_mib"] * 1024
        for role in ("broker", "gateway"):
            end = s[f"end_{role}"]
            if not self.expect(end is not None, f"{role}: no final sample"):
                continue
            mine = [x for x in c.samples if x["pid"] == end["pid"]]
            # the broker's descriptors depend on how many workers are
            # connected: its baseline is taken with all of them
            later = [x for x in mine if x["t"] >= x["since"] + warmup
                     and (x["settled_s"] >= 1.0 or role == "gateway")]
            base = later[0] if later else None
            s[f"{role}_base"] = base
            s[f"{role}_peak_rss"] = max([x["rss_kib"] for x in mine] + [end["rss_kib"]])
            if not self.expect(base is not None,
                               f"{role}: no sample {warmup:.0f} s after its start with every "
                               "program up for a second (the run ended too soon)"):
                continue
            growth = end["rss_kib"] - base["rss_kib"]
            self.expect(growth <= tolerance,
                        f"{role}: VmRSS grew {growth / 1024:.1f} MiB "
                        f"({base['rss_kib'] / 1024:.1f} → {end['rss_kib'] / 1024:.1f} MiB), "
                        f"over {tolerance / 1024:.0f} MiB")
        end, base = s.get("end_broker"), s.get("broker_base")
        if end and base:
            self.expect(end["fds"] <= base["fds"] + FD_TOLERANCE,
                        f"broker: {base['fds']} descriptors after its warm-up, "
                        f"{end['fds']} at the end")
        end = s.get("end_gateway")
        if end:
            self.expect(end["fds"] <= s["gateway_idle_fds"] + FD_TOLERANCE,
                        f"gateway: {s['gateway_idle_fds']} descriptors idle at the start, "
                        f"{end['fds']} idle at the end")

    # report -------------------------------------------------------------------

    def summary(self, wall_s):
        s, c = self.stats, self.cluster
        o = s.get("outcome", {})

        def mib(kib):
            return f"{kib / 1024:.1f}"

        def usage(role):
            end, base = s.get(f"end_{role}"), s.get(f"{role}_base")
            if not end:
                return "not measured"
            first_fds = s["gateway_idle_fds"] if role == "gateway" else (base or end)["fds"]
            label = "idle " if role == "gateway" else ""
            text = f"fds {label}{first_fds} → {end['fds']} ({end['fds'] - first_fds:+d})"
            if base:
                text += (f"; VmRSS {mib(base['rss_kib'])} → {mib(end['rss_kib'])} MiB "
                         f"({(end['rss_kib'] - base['rss_kib']) / 1024:+.1f}), "
                         f"peak {mib(s[f'{role}_peak_rss'])} MiB")
            return text
        counts = c.counts
        rows = [
            ("seed", f"{self.seed} (CHAOS_SEED={self.seed} reproduces the schedule)"),
            ("form", f"{self.cfg['name']}, chaos window {self.seconds:.0f} s, "
                     f"wall {wall_s:.0f} s"),
            ("jobs", f"{len(self.order)} submitted ({self.cfg['media_jobs']} media first, "
                     f"{sum(j.kind == 'outage' for j in self.jobs.values())} around the "
                     "broker's and gateway's kills): "
                     f"{o.get('Done', 0)} Done, {o.get('Failed', 0)} Failed, "
                     f"{o.get('Canceled', 0)} Canceled; "
                     f"{len(s.get('lost_failures', []))} failed after {MAX_ATTEMPTS} attempts"),
            ("jobs run more than once", f"{s.get('reruns', 0)} (highest attempt "
                                        f"{s.get('max_attempt', 1)}); warnings "
                                        f"{s.get('warnings', {})}"),
            ("videos decoded", str(s.get("videos", 0))),
            ("kills", f"worker kill -9 {counts['worker kill -9']}, worker SIGSTOP past the "
                      f"lease {counts['worker SIGSTOP']}, broker kill -9 "
                      f"{counts['broker kill -9']}, gateway kill -9 {counts['gateway kill -9']}"),
            ("restarts", str(counts["restarts"])),
            ("SSE clients", f"{len(self.clients)} following {s.get('streams', 0)} job streams: "
                            f"{s.get('connects', 0)} connects, {s.get('drops', 0)} cut by the "
                            f"server side, {s.get('voluntary', 0)} dropped by the client, "
                            f"{s.get('refused', 0)} refused, {s.get('stalls', 0)} stalled"),
            ("events checked", f"{s.get('client_events', 0)} received by clients, "
                               f"{s.get('replayed', 0)} in the final replays"),
            ("events lost / repeated", f"{s.get('lost', '?')} / {s.get('repeated', '?')}"),
            ("API requests retried", str(self.api.retries if self.api else 0)),
            ("broker", usage("broker")),
            ("gateway", usage("gateway")),
            ("gateway counters (last one)", ", ".join(
                f"{k[7:]} {v}" for k, v in s.items() if k.startswith("metric "))),
        ]
        width = max(len(k) for k, _ in rows)
        log("")
        log(f"| {'':<{width}} | chaos run |")
        log(f"|{'-' * (width + 2)}|-----------|")
        for k, v in rows:
            log(f"| {k:<{width}} | {v} |")


def compress(ids):
    """A list of ints as runs: [1-40, 42, 44-50]."""
    out = []
    for i in ids:
        if out and isinstance(out[-1], list) and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return "[" + ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in out) + "]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    form = parser.add_mutually_exclusive_group(required=True)
    form.add_argument("--short", action="store_true")
    form.add_argument("--long", action="store_true")
    args = parser.parse_args()
    cfg = SHORT if args.short else LONG

    seed_text = os.environ.get("CHAOS_SEED", "")
    seed = int(seed_text) if seed_text else int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    if args.short:
        actions, cancels = short_schedule(rng)
        seconds = max(a.at + a.hold for a in actions)
    else:
        seconds = float(os.environ.get("CHAOS_SECONDS", "600"))
        if seconds < 30:
            parser.error("CHAOS_SECONDS must be at least 30")
        actions, cancels = long_schedule(rng, seconds)
    run = Run(cfg, seed, seconds)
    # the run's own choices (followers, cancels, step times) come from
    # a generator seeded after the schedule's
    run.rng = random.Random(rng.random())
    # submits around the broker's and the gateway's deaths, several at
    # once: a POST whose answer was lost is sent again with its
    # Idempotency-Key and must not make a second job
    outages = []
    for a in actions:
        if a.do in ("kill-broker", "kill-gateway"):
            for k in range(OUTAGE_SUBMITS):
                at = a.at - 0.1 + k * (a.hold + 0.3) / (OUTAGE_SUBMITS - 1)
                outages.append((at, OUTAGE_INDEX + len(outages), run.draw_followers(rng)))
    outages.sort()

    log(f"chaos {cfg['name']}: seed {seed} (CHAOS_SEED={seed} to reproduce)")
    log(f"schedule ({len(actions)} disruptions):")
    for a in actions[:40]:
        log(f"  {a}")
    if len(actions) > 40:
        log(f"  … and {len(actions) - 40} more")

    def terminate(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, terminate)

    began = time.monotonic()
    status = 1
    submitter = None
    codes = {}
    try:
        run.start()
        run.t0 = time.monotonic()
        log(f"chaos window of {seconds:.0f} s begins; times below count from here")
        run.submitting.set()
        submitter = threading.Thread(target=run.submitter, args=(cancels, outages),
                                     daemon=True)
        submitter.start()
        run.chaos(actions)
        remaining = seconds - run.elapsed()
        if remaining > 0:
            time.sleep(remaining)
        run.submitting.clear()
        submitter.join(60)
        log(f"[{run.elapsed():6.1f}s] chaos over; {len(run.order)} jobs submitted")
        run.cluster.make_whole()
        run.drain()
        run.measure_end()
        run.check(codes)
    except (KeyboardInterrupt, SystemExit) as exc:
        run.failures.append(f"interrupted ({type(exc).__name__} {exc})")
        status = 130 if isinstance(exc, KeyboardInterrupt) else int(exc.code or 1)
    except Exception as exc:  # noqa: BLE001 - every failure is reported below
        run.failures.append(f"the run stopped: {type(exc).__name__}: {exc}")
    finally:
        run.submitting.clear()
        for c in run.clients:
            c.abort()
        wall = time.monotonic() - began
        if run.cluster is not None:
            if run.failures:
                log("\nlast lines of each program:\n" + run.cluster.log_tails())
            log_dir = os.environ.get("CHAOS_LOG_DIR")
            if log_dir:
                run.cluster.write_logs(log_dir)
                log(f"logs in {log_dir}")
            run.summary(wall)
            run.cluster.close()
    if run.failures:
        log(f"\nFAILED: {len(run.failures)} problems")
        for f in run.failures[:60]:
            log(f"  - {f}")
        if len(run.failures) > 60:
            log(f"  … and {len(run.failures) - 60} more")
        return status
    log("\nOK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
