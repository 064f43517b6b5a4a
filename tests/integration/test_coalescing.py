"""Progress coalescing: a job that reports progress far more often than ten
times a second reaches its stream as at most ten step-progress events a
second, with every status and terminal event, contiguous ids, and the
final report of each step."""

import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Stack  # noqa: E402

STEPS = ["plan", "tts", "visuals", "compose", "render"]
RANGES = {"plan": (0, 15), "tts": (15, 35), "visuals": (35, 65),
          "compose": (65, 85), "render": (85, 100)}
STEP_MS = 1000
REPORTS = 200            # one report every 5 ms
PER_SECOND = 10          # the promise: at most 10 step-progress a second
WINDOW_US = 1_000_000
# over a one-second window: ten, one more because a window can hold both
# ends of ten intervals, and one step boundary, where a held report is sent
# at once so that the step's Done does not overtake it
WINDOW_MAX = PER_SECOND + 2
FINISHED = re.compile(r"attempt 1: (job-completed|job-failed) "
                      r"\(progress: (\d+) reported, (\d+) coalesced\)")


def real_events(events):
    return [e for e in events if "event" in e]


class SseReader:
    """Reads an event stream one event at a time, so a test can stop in
    the middle of a job."""

    def __init__(self, stack, job, last_event_id):
        self.conn = stack.connection(timeout=30)
        self.conn.request("GET", f"/api/jobs/{job}/events",
                          headers={"Accept": "text/event-stream",
                                   "Last-Event-ID": str(last_event_id)})
        self.resp = self.conn.getresponse()

    def next_event(self):
        """Returns the next event with an id, or None at the stream's end."""
        current = {}
        while True:
            raw = self.resp.readline()
            if not raw:
                return None
            line = raw.decode("utf-8").rstrip("\r\n")
            if line == "":
                if "id" in current and "event" in current:
                    current["data"] = json.loads(current["data"])
                    return current
                current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                current[field] = value[1:] if value.startswith(" ") else value

    def close(self):
        self.conn.close()


class CoalescingTest(unittest.TestCase):

    def start(self, **settings):
        self.stack = Stack(AURA_SYNTHETIC_STEP_MS=STEP_MS,
                           AURA_SYNTHETIC_REPORTS=REPORTS, **settings)
        self.addCleanup(self.stack.close)
        self.stack.start_all()

    def assert_contiguous(self, real):
        self.assertEqual([int(e["id"]) for e in real],
                         list(range(1, len(real) + 1)), "ids must run 1..n")
        for e in real:
            self.assertEqual(e["data"]["seq"], int(e["id"]))

    def assert_progress_rate(self, progress):
        # measured on ts, when the worker made each report, so that a
        # stream delivered in bursts does not blur what the worker sent
        stamps = [e["data"]["ts"] for e in progress]
        self.assertEqual(stamps, sorted(stamps), "progress out of order")
        busiest = 0
        for i, start in enumerate(stamps):
            inside = sum(1 for t in stamps[i:] if t < start + WINDOW_US)
            busiest = max(busiest, inside)
        self.assertLessEqual(busiest, WINDOW_MAX,
                             f"{busiest} step-progress events within 1 s")
        return busiest

    def assert_percent_never_decreases(self, real):
        last = 0.0
        for e in real:
            if "percent" in e["data"]:
                self.assertGreaterEqual(e["data"]["percent"], last, e)
                last = e["data"]["percent"]

    def test_fast_progress_is_coalesced_and_nothing_else_is_lost(self):
        self.start()
        job = self.stack.submit()
        status, _, events, _ = self.stack.events(job, last_event_id=0)
        self.assertEqual(status, 200)
        real = real_events(events)
        self.assert_contiguous(real)

        statuses = [e["data"]["status"] for e in real
                    if e["event"] == "job-status"]
        self.assertEqual(statuses, ["Queued", "Running", "Done"])
        steps = [(e["data"]["step"], e["data"]["status"]) for e in real
                 if e["event"] == "step-status"]
        self.assertEqual(steps, [(s, st) for s in STEPS
                                 for st in ("Running", "Done")])
        self.assertEqual(real[-1]["event"], "job-completed")
        self.assert_percent_never_decreases(real)

        # each step's last report arrives, before the step's Done
        current = None
        last_progress = {}
        for e in real:
            data = e["data"]
            if e["event"] == "step-status" and data["status"] == "Running":
                current = data["step"]
            elif e["event"] == "step-status" and data["status"] == "Done":
                last = last_progress.get(data["step"])
                self.assertIsNotNone(last, f"no progress in {data['step']}")
                self.assertEqual(last["stepPercent"], 100, last)
                self.assertAlmostEqual(last["percent"],
                                       RANGES[data["step"]][1], places=6)
                self.assertTrue(last["message"].endswith(
                    f"({REPORTS}/{REPORTS})"), last)
            elif e["event"] == "step-progress":
                self.assertEqual(data["step"], current, e)
                last_progress[data["step"]] = data

        progress = [e for e in real if e["event"] == "step-progress"]
        busiest = self.assert_progress_rate(progress)
        # about ten a second for five seconds, far from the 1000 reports
        seconds = len(STEPS) * STEP_MS / 1000
        self.assertGreaterEqual(len(progress), 4 * seconds)
        self.assertLessEqual(len(progress), WINDOW_MAX * seconds)

        # the worker counted every report: each either reached the stream
        # or was replaced by a newer one
        m = self.stack.workers[0].wait_for_line(FINISHED.pattern)
        reported, coalesced = int(m.group(2)), int(m.group(3))
        self.assertEqual(reported, len(STEPS) * REPORTS)
        self.assertEqual(reported - coalesced, len(progress))
        print(f"\n  {reported} progress reports -> {len(progress)} "
              f"step-progress events ({coalesced} coalesced), "
              f"{len(real)} events in all, at most {busiest} "
              f"step-progress in any 1 s", file=sys.stderr)

    def test_reconnect_with_last_event_id_replays_exactly_the_rest(self):
        self.start()
        job = self.stack.submit()
        first = SseReader(self.stack, job, 0)
        self.addCleanup(first.close)
        seen = []
        # leave in the middle of the job: during visuals
        while True:
            e = first.next_event()
            self.assertIsNotNone(e, "stream ended before the job's middle")
            seen.append(e)
            if (e["event"] == "step-status" and e["data"]["step"] == "visuals"
                    and e["data"]["status"] == "Running"):
                break
        first.close()
        self.assertNotIn("job-completed", [e["event"] for e in seen])

        time.sleep(0.3)  # events go on while no client listens
        status, _, events, _ = self.stack.events(
            job, last_event_id=seen[-1]["id"])
        self.assertEqual(status, 200)
        rest = real_events(events)
        self.assertEqual(int(rest[0]["id"]), int(seen[-1]["id"]) + 1)
        self.assertEqual(rest[-1]["event"], "job-completed")
        whole = seen + rest
        self.assert_contiguous(whole)
        self.assert_percent_never_decreases(whole)
        self.assert_progress_rate(
            [e for e in whole if e["event"] == "step-progress"])

        # and a replay of the whole job gives the same events
        _, _, events, _ = self.stack.events(job, last_event_id=0)
        again = real_events(events)
        self.assertEqual([(e["id"], e["event"], e["data"]) for e in again],
                         [(e["id"], e["event"], e["data"]) for e in whole])

    def test_report_held_when_a_step_fails_comes_before_the_error(self):
        # tts fails after report 100 of 200, 5 ms after the one before, so
        # that report is almost always held when the error comes: it must
        # still lead the error
        self.start(AURA_SYNTHETIC_FAIL_STEP="tts")
        job = self.stack.submit()
        _, _, events, _ = self.stack.events(job, last_event_id=0)
        real = real_events(events)
        self.assert_contiguous(real)
        self.assert_percent_never_decreases(real)
        kinds = [e["event"] for e in real]
        self.assertEqual(kinds[-1], "job-failed")
        error_at = kinds.index("error")
        before = real[error_at - 1]
        self.assertEqual(before["event"], "step-progress")
        self.assertEqual(before["data"]["step"], "tts")
        self.assertEqual(before["data"]["stepPercent"], 50, before)
        self.assertEqual(kinds[error_at + 1:], ["step-status", "job-status",
                                                "job-failed"])
        self.assertEqual(real[error_at + 1]["data"]["status"], "Failed")
        m = self.stack.workers[0].wait_for_line(FINISHED.pattern)
        reported, coalesced = int(m.group(2)), int(m.group(3))
        self.assertEqual(reported, REPORTS + REPORTS // 2)
        self.assertEqual(reported - coalesced, kinds.count("step-progress"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
