"""aura-up, the single-machine supervisor: it starts the broker, then the
gateway and the workers; restarts a worker killed in the middle of a job,
whose job then completes on a new lease; stops everything in order on
SIGTERM and exits 0; and backs off from a program that keeps crashing.
The --healthcheck of each program is checked against the running stack and
after it stopped."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN_DIR, Process, Stack  # noqa: E402

UP = os.path.join(BIN_DIR, "aura-up")
STARTED = re.compile(r"aura-up: started (\S+) \(pid (\d+)\)")


def log_time(line):
    """The time of one of aura-up's own text log lines, in seconds."""
    stamp = line.split(" ", 1)[0]
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


class Supervisor:
    """aura-up over a Stack's environment (ipc:// endpoints in a temporary
    directory, synthetic pipeline, any free HTTP port)."""

    def __init__(self, test, workers, **settings):
        self.stack = Stack(**settings)
        test.addCleanup(self.close)
        self.up = Process("aura-up", [UP, f"--workers={workers}", f"--bin-dir={BIN_DIR}"],
                          self.stack.env)
        self.stack.processes.append(self.up)

    def lines(self):
        with self.up._cond:
            return list(self.up.lines)

    def wait_for(self, predicate, what, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate(self.lines())
            if result:
                return result
            time.sleep(0.05)
        raise AssertionError(f"aura-up: never {what}; exit={self.up.proc.poll()}; log:\n"
                             + "\n".join(self.lines()[-80:]))

    def wait_line(self, pattern, timeout=20.0):
        regex = re.compile(pattern)
        return self.wait_for(
            lambda lines: next((m for m in map(regex.search, lines) if m), None),
            f"printed {pattern!r}", timeout)

    def started(self):
        """[(name, pid)] of every start, in order."""
        return [(m.group(1), int(m.group(2)))
                for m in map(STARTED.search, self.lines()) if m]

    def pid_of(self, name):
        return [pid for n, pid in self.started() if n == name][-1]

    def wait_running(self, workers):
        m = self.wait_line(r"aura-up: Aura is running at http://127\.0\.0\.1:(\d+)")
        self.stack.port = int(m.group(1))
        for n in range(1, workers + 1):
            self.wait_line(rf"^worker-{n}\s*\| .*\bready: worker=")
        self.stack.wait_ready()

    def stop(self, timeout):
        """SIGTERM to aura-up alone; returns its exit status once its last
        line has been read."""
        self.up.proc.send_signal(signal.SIGTERM)
        status = self.up.proc.wait(timeout)
        self.up._reader.join(5)
        return status

    def healthcheck(self, program, **settings):
        env = dict(self.stack.env)
        env.update({k: str(v) for k, v in settings.items()})
        result = subprocess.run([os.path.join(BIN_DIR, program), "--healthcheck"],
                                env=env, capture_output=True, text=True, timeout=10)
        return result.returncode, result.stdout, result.stderr

    def close(self):
        # aura-up's programs run in their own process groups and would stop
        # on their own once it dies; kill them too, as a crash would
        self.up.kill()
        for _, pid in self.started():
            try:
                if os.path.realpath(f"/proc/{pid}/exe").startswith(os.path.realpath(BIN_DIR)):
                    os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.stack.close()


class SupervisorTest(unittest.TestCase):

    def test_restart_after_a_crash_and_ordered_stop(self):
        sup = Supervisor(self, 2, AURA_LEASE_MS=1000, AURA_SYNTHETIC_STEP_MS=400,
                         AURA_LOG_LEVEL="info")
        sup.wait_running(2)
        first = sup.started()
        self.assertEqual([name for name, _ in first],
                         ["broker", "gateway", "worker-1", "worker-2"])
        # the broker was ready before anything else started
        lines = sup.lines()
        ready = next(i for i, line in enumerate(lines) if "broker is ready" in line)
        gateway_start = next(i for i, line in enumerate(lines) if "started gateway" in line)
        self.assertLess(ready, gateway_start)

        # each worker has its own id, <hostname>-<n>
        host = socket.gethostname()
        ids = {n: sup.wait_line(rf"^worker-{n}\s*\| .*ready: worker=(\S+)").group(1)
               for n in (1, 2)}
        for n, worker_id in ids.items():
            self.assertEqual(worker_id, f"{host}-{n}" if len(host) < 48 else f"worker-{n}")

        # liveness checks pass against the running programs
        port = sup.stack.port
        rc, out, err = sup.healthcheck("aura-broker")
        self.assertEqual((rc, err), (0, ""), out)
        self.assertIn("healthy", out)
        rc, out, err = sup.healthcheck("aura-gateway", AURA_HTTP_ADDR=f"127.0.0.1:{port}")
        self.assertEqual((rc, err), (0, ""), out)
        rc, out, err = sup.healthcheck("aura-worker", AURA_WORKER_ID=ids[2])
        self.assertEqual((rc, err), (0, ""), out)
        rc, out, err = sup.healthcheck("aura-worker")
        self.assertEqual(rc, 0, err)
        self.assertIn("2 workers", out)

        # kill -9 the worker that runs the job
        job = sup.stack.submit()
        m = sup.wait_line(rf"^(worker-\d)\s*\| .*accepted attempt 1 .*job={job}")
        victim = m.group(1)
        victim_pid = sup.pid_of(victim)
        sup.stack.wait_job(job, "Running")
        os.kill(victim_pid, signal.SIGKILL)
        sup.wait_line(rf"aura-up: {victim} was killed by signal 9 .*restarting in 0\.5 s")
        sup.wait_for(lambda lines: sup.pid_of(victim) != victim_pid,
                     f"restarted {victim}", timeout=10)
        self.assertNotEqual(sup.pid_of(victim), victim_pid)

        # the broker takes the job back after the lease and it completes
        snap = sup.stack.wait_job(job, "Done", timeout=40)
        self.assertGreaterEqual(snap["attempt"], 2)
        status, _, events, _ = sup.stack.events(job, last_event_id=0)
        self.assertEqual(status, 200)
        kinds = [e.get("event") for e in events if "event" in e]
        self.assertEqual(kinds[-1], "job-completed")
        self.assertIn("warning", kinds)

        # SIGTERM: gateway, then the workers, then the broker; exit 0
        pids = [pid for _, pid in sup.started()]
        self.assertEqual(sup.stop(60), 0, "\n".join(sup.lines()[-40:]))
        lines = sup.lines()
        stopped = [re.search(r"aura-up: (\S+) stopped: exited with status 0", line)
                   for line in lines]
        order = [m.group(1) for m in stopped if m]
        self.assertEqual(order[0], "gateway", order)
        self.assertEqual(sorted(order[1:3]), ["worker-1", "worker-2"], order)
        self.assertEqual(order[3:], ["broker"], order)
        self.assertIn("stopped: every program exited cleanly", lines[-1])
        # each program logged its own stop before aura-up saw it exit
        for name, word in [("gateway", "stopped"), ("broker", "stopping:")]:
            own = next(i for i, line in enumerate(lines)
                       if re.match(rf"^{name}\s*\| .*\b{word}", line))
            seen = next(i for i, line in enumerate(lines)
                        if f"aura-up: {name} stopped" in line)
            self.assertLess(own, seen)
        for pid in pids:
            with self.assertRaises(ProcessLookupError, msg=f"pid {pid} still runs"):
                os.kill(pid, 0)

        # and now every check fails, with one line saying why
        for program, settings in [("aura-broker", {}),
                                  ("aura-gateway", {"AURA_HTTP_ADDR": f"127.0.0.1:{port}"}),
                                  ("aura-worker", {"AURA_WORKER_ID": ids[1]}),
                                  ("aura-worker", {})]:
            rc, out, err = sup.healthcheck(program, **settings)
            self.assertEqual(rc, 1, f"{program}: {out}{err}")
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertTrue(err.startswith(f"{program}: unhealthy: "), err)

    def test_crash_loop_backs_off(self):
        # an invalid setting only the worker reads: it exits 2 at once
        sup = Supervisor(self, 1, AURA_WORKER_SLOTS=0, AURA_LOG_LEVEL="info")
        restart = re.compile(r"aura-up: worker-1 exited with status 2 after [\d.]+ s; "
                             r"restarting in ([\d.]+) s")
        # four exits: the fourth waits 4 s for its restart
        sup.wait_for(lambda lines: sum(1 for line in lines if restart.search(line)) >= 4,
                     "restarted worker-1 four times", timeout=30)
        lines = sup.lines()
        delays = [float(m.group(1)) for m in map(restart.search, lines) if m]
        self.assertEqual(delays[:3], [0.5, 1.0, 2.0])
        # the restarts really are spaced that way: exit → next start
        exits = [log_time(line) for line in lines if restart.search(line)]
        starts = [log_time(line) for line in lines if "aura-up: started worker-1" in line]
        gaps = [start - exit for exit, start in zip(exits, starts[1:])]
        self.assertGreaterEqual(len(gaps), 3)
        self.assertGreaterEqual(gaps[0], 0.45)
        for shorter, longer in zip(gaps, gaps[1:3]):
            self.assertGreater(longer, shorter * 1.6, gaps)
        # the reason reaches the log with the program's name
        sup.wait_line(r"^worker-1\s*\| aura-worker: invalid AURA_WORKER_SLOTS")

        # a stop while a program waits for its restart is not clean
        self.assertEqual(sup.stop(30), 1)
        self.assertTrue(any("worker-1 is not running (it crashed)" in line
                            for line in sup.lines()), "\n".join(sup.lines()))

    def test_help_and_bad_options(self):
        out = subprocess.run([UP, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0)
        for word in ["--workers=N", "--bin-dir=DIR", "--drain-s=S", "AURA_DRAIN_S",
                     "AURA_WORKER_ID=<hostname>-<n>"]:
            self.assertIn(word, out.stdout)
        for argv in [["--workers=many"], ["--bin-dir=/nonexistent"], ["--drain-s=0"]]:
            result = subprocess.run([UP, *argv], capture_output=True, text=True, timeout=10)
            self.assertEqual(result.returncode, 2, argv)
            self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
            self.assertTrue(result.stderr.startswith("aura-up: "), result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
