"""The system under test for the chaos run: one broker, one gateway and
several workers on ipc:// endpoints in a temporary directory (the
integration tests' harness.Stack), with kill -9, SIGSTOP/SIGCONT and
restarts on the same endpoints, port and data directory; a sampler of the
broker's and the gateway's open file descriptors and resident memory; and
a guardian process that kills every program and removes the directory
should this process die without cleaning up (a SIGKILL from a timeout)."""

import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from harness import Stack  # noqa: E402

# Reads "+ <pgid>", "- <pgid>", "dir <path>" and "done" lines; when its
# input ends without "done", it kills the groups still listed and removes
# the directories.
GUARDIAN = r"""
import os, shutil, signal, sys
groups, dirs = set(), []
for line in sys.stdin:
    op, _, arg = line.strip().partition(" ")
    if op == "+":
        groups.add(int(arg))
    elif op == "-":
        groups.discard(int(arg))
    elif op == "dir":
        dirs.append(arg)
    elif op == "done":
        sys.exit(0)
for group in groups:
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
for path in dirs:
    shutil.rmtree(path, ignore_errors=True)
"""


class Guardian:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", GUARDIAN],
                                     stdin=subprocess.PIPE, start_new_session=True,
                                     text=True)
        self.lock = threading.Lock()

    def tell(self, line):
        with self.lock:
            try:
                self.proc.stdin.write(line + "\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass

    def dismiss(self):
        self.tell("done")
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        self.proc.wait(10)


class GuardedStack(Stack):
    """A Stack whose programs are known to the guardian from their start."""

    def __init__(self, guardian, **settings):
        super().__init__(**settings)
        self.guardian = guardian
        guardian.tell(f"dir {self.dir}")

    def _start(self, name, program, settings=None):
        proc = super()._start(name, program, settings)
        self.guardian.tell(f"+ {proc.proc.pid}")
        return proc


def proc_usage(pid):
    """(open file descriptors, VmRSS in KiB) of a process, or None once
    it is gone."""
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return fds, int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


class Worker:
    def __init__(self, name, pipeline, slots):
        self.name = name
        self.pipeline = pipeline
        self.slots = slots
        self.proc = None
        self.state = "down"      # up, down or stopped
        self.step_ms = None
        self.starts = 0


class Cluster:
    """Starts, kills, stops and restarts the programs. Every change of a
    program's state goes through here, under one lock, so the sampler
    knows when the cluster is whole."""

    def __init__(self, settings, ready_timeout_s=30.0):
        self.guardian = Guardian()
        self.stack = GuardedStack(self.guardian, **settings)
        self.ready_timeout_s = ready_timeout_s
        self.lock = threading.RLock()
        self.workers = {}
        self.retired = []           # programs killed on purpose, for logs
        self.counts = {"worker kill -9": 0, "worker SIGSTOP": 0,
                       "broker kill -9": 0, "gateway kill -9": 0, "restarts": 0}
        self.port = None
        self.broker_since = self.gateway_since = None
        self.changed_at = time.monotonic()  # last time a program went down or up
        self.samples = []           # dicts: t, role, pid, fds, rss_kib, since, settled_s
        self._sampling = threading.Event()
        self._sampler = None

    # programs ------------------------------------------------------------

    def start_broker(self):
        with self.lock:
            proc = self.stack._start("broker", "aura-broker")
            proc.wait_for_line(r"\bready\b", timeout=self.ready_timeout_s)
            self.stack.broker = proc
            self.broker_since = time.monotonic()
            self.changed_at = self.broker_since

    def start_gateway(self):
        with self.lock:
            addr = f"127.0.0.1:{self.port}" if self.port else "127.0.0.1:0"
            proc = self.stack._start("gateway", "aura-gateway", {"AURA_HTTP_ADDR": addr})
            m = proc.wait_for_line(r"listening on http://127\.0\.0\.1:(\d+)",
                                   timeout=self.ready_timeout_s)
            self.stack.gateway = proc
            self.port = self.stack.port = int(m.group(1))
            self.gateway_since = time.monotonic()
            self.changed_at = self.gateway_since

    def add_worker(self, name, pipeline, slots, step_ms=None):
        self.workers[name] = Worker(name, pipeline, slots)
        self.start_worker(name, step_ms)

    def start_worker(self, name, step_ms=None):
        with self.lock:
            w = self.workers[name]
            if step_ms is not None:
                w.step_ms = step_ms
            env = {"AURA_WORKER_ID": name, "AURA_PIPELINE": w.pipeline,
                   "AURA_WORKER_SLOTS": w.slots}
            if w.step_ms is not None:
                env["AURA_SYNTHETIC_STEP_MS"] = w.step_ms
            w.proc = self.stack._start(name, "aura-worker", env)
            w.proc.wait_for_line(r"\bready\b", timeout=self.ready_timeout_s)
            w.state = "up"
            w.starts += 1
            self.changed_at = time.monotonic()

    def worker_of(self, job, attempt):
        """The running worker that accepted `attempt` of job, or None."""
        pattern = f"accepted attempt {attempt} "
        with self.lock:
            for name, w in self.workers.items():
                if w.state != "down" and any(
                        pattern in line and f"job={job}" in line for line in list(w.proc.lines)):
                    return name
        return None

    def _retire(self, proc):
        """Forgets a program that was killed and reaped, keeping its log:
        its process group id may be reused, so nothing signals it again."""
        proc._reader.join(5)
        if not proc._reader.is_alive():
            proc.proc.stderr.close()
        if proc in self.stack.processes:
            self.stack.processes.remove(proc)
        self.guardian.tell(f"- {proc.proc.pid}")
        self.retired.append(proc)

    def kill_worker(self, name):
        with self.lock:
            w = self.workers[name]
            if w.state == "down":
                return False
            w.proc.kill9()
            self._retire(w.proc)
            w.state = "down"
            self.counts["worker kill -9"] += 1
            self.changed_at = time.monotonic()
            return True

    def restart_worker(self, name, step_ms=None):
        with self.lock:
            if self.workers[name].state != "down":
                return False
            self.start_worker(name, step_ms)
            self.counts["restarts"] += 1
            return True

    def retire_worker(self, name):
        """Stops a worker for good with SIGTERM; returns its exit status."""
        with self.lock:
            w = self.workers.pop(name)
            if w.state == "down":
                return None
            code = w.proc.stop(15)
            self._retire(w.proc)
            self.changed_at = time.monotonic()
            return code

    def stop_worker(self, name):
        with self.lock:
            w = self.workers[name]
            if w.state != "up":
                return False
            w.proc.signal(signal.SIGSTOP)
            w.state = "stopped"
            self.counts["worker SIGSTOP"] += 1
            self.changed_at = time.monotonic()
            return True

    def continue_worker(self, name):
        with self.lock:
            w = self.workers[name]
            if w.state != "stopped":
                return False
            w.proc.signal(signal.SIGCONT)
            w.state = "up"
            self.changed_at = time.monotonic()
            return True

    def kill_broker(self):
        with self.lock:
            self.stack.broker.kill9()
            self._retire(self.stack.broker)
            self.stack.broker = None
            self.counts["broker kill -9"] += 1
            self.changed_at = time.monotonic()

    def restart_broker(self):
        with self.lock:
            self.start_broker()
            self.counts["restarts"] += 1

    def kill_gateway(self):
        with self.lock:
            self.stack.gateway.kill9()
            self._retire(self.stack.gateway)
            self.stack.gateway = None
            self.counts["gateway kill -9"] += 1
            self.changed_at = time.monotonic()

    def restart_gateway(self):
        with self.lock:
            self.start_gateway()
            self.counts["restarts"] += 1

    def make_whole(self):
        """Continues stopped workers and starts dead programs."""
        with self.lock:
            if self.stack.broker is None:
                self.restart_broker()
            if self.stack.gateway is None:
                self.restart_gateway()
            for name, w in self.workers.items():
                if w.state == "stopped":
                    self.continue_worker(name)
                elif w.state == "down":
                    self.restart_worker(name)

    def settled_s(self):
        """How long every program has been running since the last change,
        or -1 while one is down or stopped."""
        with self.lock:
            if (self.stack.broker is None or self.stack.gateway is None
                    or any(w.state != "up" for w in self.workers.values())):
                return -1.0
            return time.monotonic() - self.changed_at

    def whole(self, settled_s):
        """True when every program runs and none changed for settled_s."""
        return self.settled_s() >= settled_s

    def stop_all(self):
        """SIGTERM to the gateway, the workers, then the broker (the order
        aura-up uses); returns each one's exit status (None: killed after
        a timeout)."""
        codes = {}
        with self.lock:
            if self.stack.gateway is not None:
                codes["gateway"] = self.stack.gateway.stop(10)
            for name, w in self.workers.items():
                if w.state == "stopped":
                    w.proc.signal(signal.SIGCONT)
                if w.state != "down":
                    codes[name] = w.proc.stop(15)
                    w.state = "down"
            time.sleep(0.5)
            if self.stack.broker is not None:
                codes["broker"] = self.stack.broker.stop(10)
        return codes

    def close(self):
        try:
            self.stop_sampler()
            self.stack.close()
        finally:
            self.guardian.dismiss()

    # sampling --------------------------------------------------------------

    def pid(self, role):
        with self.lock:
            proc = getattr(self.stack, role)
            return proc.proc.pid if proc is not None else None

    def sample(self, role):
        """One sample of role's process: dict with t, role, pid, fds,
        rss_kib, since (its start) and settled_s (see settled_s()), or
        None."""
        with self.lock:
            proc = getattr(self.stack, role)
            if proc is None:
                return None
            since = self.broker_since if role == "broker" else self.gateway_since
            settled = self.settled_s()
            pid = proc.proc.pid
        usage = proc_usage(pid)
        if usage is None:
            return None
        return {"t": time.monotonic(), "role": role, "pid": pid, "fds": usage[0],
                "rss_kib": usage[1], "since": since, "settled_s": settled}

    def start_sampler(self, period_s=1.0):
        def run():
            while not self._sampling.wait(period_s):
                for role in ("broker", "gateway"):
                    s = self.sample(role)
                    if s is not None:
                        self.samples.append(s)
        self._sampler = threading.Thread(target=run, name="sampler", daemon=True)
        self._sampler.start()

    def stop_sampler(self):
        self._sampling.set()
        if self._sampler is not None:
            self._sampler.join(5)

    # logs ------------------------------------------------------------------

    def write_logs(self, directory):
        """Writes every program's whole stderr, retired ones included,
        into directory (one file per start)."""
        os.makedirs(directory, exist_ok=True)
        counts = {}
        for proc in self.retired + self.stack.processes:
            counts[proc.name] = counts.get(proc.name, 0) + 1
            path = os.path.join(directory, f"{proc.name}.{counts[proc.name]}.log")
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(list(proc.lines)) + "\n")

    def log_tails(self, lines=40):
        out = []
        for proc in self.stack.processes:
            tail = list(proc.lines)[-lines:]
            out.append(f"--- {proc.name} (pid {proc.proc.pid}) ---\n" + "\n".join(tail))
        return "\n".join(out)
