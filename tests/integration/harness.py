"""Starts real Aura processes for a test and talks to them.

Every stack lives in its own temporary directory: ZeroMQ endpoints are ipc://
sockets there and the gateway listens on a free loopback port it picks
itself, so tests can run in parallel. Each process gets its own process group,
which the stack kills when the test ends, whatever happened.
"""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

BIN_DIR = os.environ.get(
    "AURA_BIN_DIR",
    os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin"))

JOB_ID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


class Process:
    """One running program; its stderr is collected line by line."""

    def __init__(self, name, argv, env):
        self.name = name
        self.lines = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for_line(self, pattern, timeout=10.0):
        """Returns the first match of pattern in a stderr line."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    m = regex.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None
                                 and not self._reader.is_alive()):
                    raise AssertionError(
                        f"{self.name}: no line matching {pattern!r}; "
                        f"exit={self.proc.poll()}; log:\n" + self.log())
                self._cond.wait(min(left, 0.2))

    def log(self):
        with self._cond:
            return "\n".join(self.lines[-60:])

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout=5.0):
        """SIGTERM, then the exit code, or None if it had to be killed."""
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait()
            return None

    def kill9(self):
        """SIGKILL, as a crash would, and reap it."""
        self.signal(signal.SIGKILL)
        self.proc.wait(5)

    def kill(self):
        self.signal(signal.SIGKILL)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self._reader.join(5)
        self.proc.stderr.close()


class Stack:
    """Broker, gateway and workers on ipc:// endpoints in a temporary dir."""

    def __init__(self, **settings):
        self.dir = tempfile.mkdtemp(prefix="aura-test-")
        self.env = dict(os.environ)
        for key in list(self.env):
            if key.startswith("AURA_") and key != "AURA_BIN_DIR":
                del self.env[key]
        self.env.update({
            "AURA_BROKER_FRONTEND": f"ipc://{self.dir}/frontend",
            "AURA_BROKER_JOBS": f"ipc://{self.dir}/jobs",
            "AURA_BROKER_EVENTS": f"ipc://{self.dir}/events",
            "AURA_BROKER_PUBLISH": f"ipc://{self.dir}/publish",
            "AURA_HTTP_ADDR": "127.0.0.1:0",
            "AURA_DATA_DIR": f"{self.dir}/data",
            "AURA_ARTIFACT_DIR": f"{self.dir}/artifacts",
            "AURA_PIPELINE": "synthetic",
            "AURA_LEASE_MS": "1000",
            "AURA_SYNTHETIC_STEP_MS": "100",
            "AURA_HEARTBEAT_MS": "200",
            "AURA_LOG_LEVEL": "debug",
            # tests fire requests faster than any person; the limits'
            # own tests set them
            "AURA_RATE_LIMIT": "0",
            "AURA_MAX_STREAMS_PER_IP": "0",
        })
        self.env.update({k: str(v) for k, v in settings.items()})
        self.processes = []
        self.broker = self.gateway = None
        self.workers = []
        self.port = None

    def endpoint(self, name):
        return self.env["AURA_BROKER_" + name.upper()]

    def start_broker(self):
        self.broker = self._start("broker", "aura-broker")
        self.broker.wait_for_line(r"\bready\b")
        return self.broker

    def start_worker(self, **settings):
        n = len(self.workers) + 1
        env = {"AURA_WORKER_ID": f"worker-{n}", **settings}
        worker = self._start(f"worker-{n}", "aura-worker", env)
        worker.wait_for_line(r"\bready\b")
        self.workers.append(worker)
        return worker

    def start_gateway(self, **settings):
        self.gateway = self._start("gateway", "aura-gateway", settings)
        m = self.gateway.wait_for_line(r"listening on http://127\.0\.0\.1:(\d+)")
        self.port = int(m.group(1))
        return self.gateway

    def start_all(self):
        self.start_broker()
        self.start_gateway()
        self.start_worker()
        self.wait_ready()
        return self

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("gateway never became ready:\n" + self.logs())

    def _start(self, name, program, settings=None):
        env = dict(self.env)
        env.update({k: str(v) for k, v in (settings or {}).items()})
        proc = Process(name, [os.path.join(BIN_DIR, program)], env)
        self.processes.append(proc)
        return proc

    def logs(self):
        return "\n".join(f"--- {p.name} ---\n{p.log()}" for p in self.processes)

    def close(self):
        """Kills every process. In a sanitizer build (the *SAN_OPTIONS of
        tests/CMakeLists.txt name a log_path) they are first asked to stop,
        so that leak checks run at exit, and a report any of them wrote
        fails the test: an aborted worker is otherwise retried unseen."""
        logs = set()
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"):
            m = re.search(r"(?:^|:)log_path=([^:]+)", os.environ.get(var, ""))
            if m:
                logs.add(m.group(1))
        if logs:
            for proc in self.processes:
                if proc.alive():
                    proc.signal(signal.SIGTERM)
            deadline = time.monotonic() + 15.0
            for proc in self.processes:
                try:
                    proc.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        for proc in self.processes:
            proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
        reports = []
        for proc in self.processes:
            for log in logs:
                path = f"{log}.{proc.proc.pid}"
                if os.path.exists(path):
                    with open(path, encoding="utf-8", errors="replace") as f:
                        reports.append(f"--- {proc.name}: {path} ---\n{f.read()}")
        if reports:
            raise AssertionError("sanitizer reports:\n" + "\n".join(reports))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # HTTP ----------------------------------------------------------------

    def connection(self, timeout=10.0):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=10.0):
        """Returns (status, headers, body bytes)."""
        conn = self.connection(timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            hdrs = {"Content-Type": "application/json"} if body is not None else {}
            hdrs.update(headers or {})
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def submit(self, brief=None, headers=None, **spec):
        body = {"brief": brief or {"topic": "Why the sky is blue"}, **spec}
        status, _, data = self.request("POST", "/api/jobs", body, headers)
        assert status == 202, f"submit answered {status}: {data!r}"
        return json.loads(data)["jobId"]

    def job(self, job_id):
        status, _, data = self.request("GET", f"/api/jobs/{job_id}")
        assert status == 200, f"GET job answered {status}: {data!r}"
        return json.loads(data)

    def wait_job(self, job_id, statuses, timeout=20.0):
        """Polls the job until its status is one of statuses."""
        if isinstance(statuses, str):
            statuses = (statuses,)
        deadline = time.monotonic() + timeout
        snap = None
        while time.monotonic() < deadline:
            try:
                snap = self.job(job_id)
                if snap["status"] in statuses:
                    return snap
            except (AssertionError, OSError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} never reached {statuses}; last {snap}\n"
                             + self.logs())

    def events(self, job_id, last_event_id=None, timeout=30.0):
        """Reads a job's SSE stream until the server closes it."""
        conn = self.connection(timeout)
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        conn.request("GET", f"/api/jobs/{job_id}/events", headers=headers)
        resp = conn.getresponse()
        try:
            if resp.status != 200:
                return resp.status, resp.headers, [], resp.read()
            return resp.status, resp.headers, parse_sse(resp), b""
        finally:
            conn.close()


def parse_sse(stream):
    """Parses an event stream into a list of dicts with the fields of each
    event: id, event, data (parsed JSON), retry, or comment."""
    events = []
    current = {}
    while True:
        raw = stream.readline()
        if not raw:
            break
        line = raw.decode("utf-8").rstrip("\r\n")
        if line == "":
            if current:
                if "data" in current:
                    current["data"] = json.loads(current["data"])
                events.append(current)
            current = {}
            continue
        if line.startswith(":"):
            events.append({"comment": line[1:].strip()})
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data" and "data" in current:
            current["data"] += "\n" + value
        else:
            current[field] = value
    return events
