"""A broker that stops for longer than a lease (SIGSTOP, a swapped-out
process, a disk that hangs a commit) and then goes on has not heard the
heartbeats its workers sent meanwhile: they wait in its sockets. It must
not take their jobs from them: no job may run twice because of a pause."""

import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Stack  # noqa: E402

LEASE_MS = 1500
STEP_MS = 500          # five steps: a job runs 2.5 s
PAUSE_S = 2 * LEASE_MS / 1000 + 0.3
WORKERS = 2
SLOTS = 2
JOBS = 6               # more than the slots, so dispatches follow a pause


class PausedBrokerTest(unittest.TestCase):

    def stack(self, **settings):
        stack = Stack(**settings)
        self.addCleanup(stack.close)
        return stack

    def evidence(self, stack):
        """The lines that tell why a job ran again, from every process."""
        words = ("re-queued", "lost", "taken back", "did not run",
                 "declined", "cancel", "handed back", "claims", "no longer")
        return "\n".join(f"{p.name}: {line}" for p in stack.processes
                         for line in p.lines
                         if any(word in line for word in words))

    def pause_broker(self, stack):
        stack.broker.signal(signal.SIGSTOP)
        time.sleep(PAUSE_S)
        stack.broker.signal(signal.SIGCONT)

    def wait_running(self, stack, jobs, count, timeout=20.0):
        """Waits until at least count of jobs are Running; returns them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running = [job for job in jobs
                       if stack.job(job)["status"] == "Running"]
            if len(running) >= count:
                return running
            time.sleep(0.05)
        raise AssertionError(f"never {count} jobs running\n" + stack.logs())

    def test_paused_broker_runs_no_job_twice(self):
        stack = self.stack(AURA_LEASE_MS=LEASE_MS, AURA_HEARTBEAT_MS=250,
                           AURA_SYNTHETIC_STEP_MS=STEP_MS,
                           AURA_WORKER_SLOTS=SLOTS)
        stack.start_broker()
        stack.start_gateway()
        for _ in range(WORKERS):
            stack.start_worker()
        stack.wait_ready()
        jobs = [stack.submit({"topic": f"Paused {i}"}) for i in range(JOBS)]

        # First pause: every slot busy; the jobs end while the broker is
        # stopped, so their results, the heartbeats and the credits for
        # the queued jobs all wait in its socket together.
        self.wait_running(stack, jobs, WORKERS * SLOTS)
        self.pause_broker(stack)
        # Second pause: the jobs dispatched after the first one run.
        self.wait_running(stack, jobs[WORKERS * SLOTS:], 1)
        self.pause_broker(stack)

        for job in jobs:
            snap = stack.wait_job(job, ("Done", "Failed", "Canceled"),
                                  timeout=30)
            self.assertEqual(snap["status"], "Done",
                             f"{job}\n" + self.evidence(stack))
            self.assertEqual(snap["attempt"], 1,
                             f"{job} ran again after the pause\n"
                             + self.evidence(stack))

        for job in jobs:
            status, _, events, body = stack.events(job, last_event_id=0)
            self.assertEqual(status, 200, body)
            events = [e for e in events if "event" in e]
            self.assertEqual([int(e["id"]) for e in events],
                             list(range(1, len(events) + 1)),
                             f"{job}: ids must run 1..n")
            attempts = {e["data"]["attempt"] for e in events
                        if "attempt" in e["data"]}
            self.assertEqual(attempts, {1}, self.evidence(stack))
            statuses = [e["data"]["status"] for e in events
                        if e["event"] == "job-status"]
            self.assertEqual(statuses, ["Queued", "Running", "Done"],
                             f"{job}: {statuses}")
            self.assertFalse([e for e in events if e["event"] == "warning"],
                             f"{job}: {events}")
            ends = [e["event"] for e in events
                    if e["event"] in ("job-completed", "job-failed",
                                      "job-cancelled")]
            self.assertEqual(ends, ["job-completed"], f"{job}: {ends}")

        # The pauses were noticed (else this test proves nothing), and
        # nothing was taken from a worker.
        stalls = [line for line in stack.broker.lines
                  if "did not run for" in line]
        self.assertGreaterEqual(len(stalls), 2, stack.broker.log())
        taken = [line for line in stack.broker.lines
                 if "lost its lease" in line or "queued again" in line]
        self.assertFalse(taken, self.evidence(stack))
        for worker in stack.workers:
            cancels = [line for line in worker.lines
                       if "cancel requested" in line]
            self.assertFalse(cancels, f"{worker.name}:\n" + "\n".join(cancels))

    def test_long_pause_loses_no_final_event(self):
        # A pause long enough to fill the worker's queue to the broker
        # (64 jobs, each sending 10 step-progress a second): the jobs end
        # meanwhile, and their final events must wait for the broker
        # instead of being dropped, or the heartbeats that follow, which
        # no longer name the jobs, would have them run again.
        slots = 64
        stack = self.stack(AURA_LEASE_MS=LEASE_MS, AURA_HEARTBEAT_MS=250,
                           AURA_SYNTHETIC_STEP_MS=1000,
                           AURA_SYNTHETIC_REPORTS=100,
                           AURA_WORKER_SLOTS=slots)
        stack.start_broker()
        stack.start_gateway()
        worker = stack.start_worker()
        stack.wait_ready()
        jobs = [stack.submit({"topic": f"Long pause {i}"})
                for i in range(slots)]
        self.wait_running(stack, jobs, slots)
        stack.broker.signal(signal.SIGSTOP)
        try:
            worker.wait_for_line(r"broker events queue full", timeout=10)
            # the jobs end while the queue is full
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and sum(
                    "job-completed" in line for line in worker.lines) < slots:
                time.sleep(0.1)
        finally:
            stack.broker.signal(signal.SIGCONT)
        for job in jobs:
            snap = stack.wait_job(job, ("Done", "Failed", "Canceled"),
                                  timeout=30)
            self.assertEqual((snap["status"], snap["attempt"]), ("Done", 1),
                             f"{job}\n" + self.evidence(stack))
        taken = [line for line in stack.broker.lines
                 if "lost its lease" in line or "queued again" in line]
        self.assertFalse(taken, self.evidence(stack))


if __name__ == "__main__":
    unittest.main(verbosity=2)
