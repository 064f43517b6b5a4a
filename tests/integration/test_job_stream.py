"""One job from HTTP through broker and worker back to an SSE stream."""

import json
import re
import resource
import signal
import sys
import time
import unittest

sys.path.insert(0, __import__("os").path.dirname(__file__))
from harness import JOB_ID, Stack, parse_sse  # noqa: E402

STEPS = ["plan", "tts", "visuals", "compose", "render"]
RANGES = {"plan": (0, 15), "tts": (15, 35), "visuals": (35, 65),
          "compose": (65, 85), "render": (85, 100)}


class JobStreamTest(unittest.TestCase):

    def setUp(self):
        self.stack = Stack()
        # a test may replace self.stack: close whichever is there at the end
        self.addCleanup(lambda: self.stack.close())
        self.stack.start_all()

    def test_job_runs_end_to_end_and_stream_replays_from_the_start(self):
        status, headers, body = self.stack.request(
            "POST", "/api/jobs", {"brief": {"topic": "How bees dance",
                                            "audience": "children"}},
            headers={"X-Correlation-ID": "test-123"})
        self.assertEqual(status, 202, body)
        reply = json.loads(body)
        job = reply["jobId"]
        self.assertRegex(job, JOB_ID.pattern)
        self.assertEqual(reply["status"], "Queued")
        self.assertEqual(reply["correlationId"], "test-123")
        self.assertEqual(headers["X-Correlation-ID"], "test-123")
        self.assertEqual(headers["Location"], f"/api/jobs/{job}")
        self.assertEqual(reply["links"]["events"], f"/api/jobs/{job}/events")

        # Last-Event-ID: 0 asks for everything from seq 1
        status, headers, events, _ = self.stack.events(job, last_event_id=0)
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/event-stream"))
        self.assertEqual(events[0].get("retry"), "1000")
        real = [e for e in events if "event" in e]
        self.assertEqual([int(e["id"]) for e in real],
                         list(range(1, len(real) + 1)), "ids must run 1..n")
        for e in real:
            self.assertEqual(e["data"]["jobId"], job)
            self.assertEqual(e["data"]["seq"], int(e["id"]))
            self.assertIsInstance(e["data"]["ts"], int)

        started = [e["data"]["step"] for e in real if e["event"] == "step-status"
                   and e["data"]["status"] == "Running"]
        done = [e["data"]["step"] for e in real if e["event"] == "step-status"
                and e["data"]["status"] == "Done"]
        self.assertEqual(started, STEPS)
        self.assertEqual(done, STEPS)

        last_percent = 0.0
        current_step = None
        for e in real:
            data = e["data"]
            if e["event"] == "step-status" and data["status"] == "Running":
                current_step = data["step"]
            if "percent" in data:
                self.assertGreaterEqual(data["percent"], last_percent, e)
                last_percent = data["percent"]
            if e["event"] == "step-progress":
                self.assertEqual(data["step"], current_step)
                lo, hi = RANGES[data["step"]]
                self.assertTrue(lo <= data["percent"] <= hi, e)
                self.assertTrue(0 <= data["stepPercent"] <= 100, e)
                self.assertTrue(data["message"], e)
        self.assertEqual(last_percent, 100)

        statuses = [e["data"]["status"] for e in real if e["event"] == "job-status"]
        self.assertEqual(statuses, ["Queued", "Running", "Done"])
        self.assertEqual(real[-1]["event"], "job-completed")
        self.assertEqual(real[-1]["data"]["status"], "Succeeded")

        # the snapshot agrees
        status, _, body = self.stack.request("GET", f"/api/jobs/{job}")
        self.assertEqual(status, 200, body)
        snap = json.loads(body)
        self.assertEqual(snap["status"], "Done")
        self.assertEqual(snap["percent"], 100)
        self.assertEqual([s["status"] for s in snap["steps"]], ["Done"] * 5)
        self.assertEqual(snap["lastEventId"], len(real))

        # nothing left to replay: 204 tells EventSource to stop
        status, _, _, _ = self.stack.events(job, last_event_id=len(real))
        self.assertEqual(status, 204)
        # a replay from the middle gives exactly the rest
        status, _, events, _ = self.stack.events(job, last_event_id=len(real) - 3)
        self.assertEqual([int(e["id"]) for e in events if "event" in e],
                         [len(real) - 2, len(real) - 1, len(real)])

    def test_last_event_id_as_a_query_parameter(self):
        # a client that makes a new EventSource cannot set the header
        job = self.stack.submit()
        self.stack.wait_job(job, ["Done"])
        _, _, full, _ = self.stack.events(job, last_event_id=0)
        ids = [int(e["id"]) for e in full if "event" in e]
        conn = self.stack.connection()
        conn.request("GET", f"/api/jobs/{job}/events?lastEventId=3")
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        rest = [int(e["id"]) for e in parse_sse(resp) if "event" in e]
        conn.close()
        self.assertEqual(rest, ids[3:])
        # the header wins over the parameter
        conn = self.stack.connection()
        conn.request("GET", f"/api/jobs/{job}/events?lastEventId=1",
                     headers={"Last-Event-ID": str(ids[-1])})
        self.assertEqual(conn.getresponse().status, 204)
        conn.close()

    def test_new_subscriber_gets_a_snapshot_then_live_events(self):
        job = self.stack.submit()
        status, _, events, _ = self.stack.events(job)
        self.assertEqual(status, 200)
        real = [e for e in events if "event" in e]
        self.assertEqual(real[0]["event"], "job-status")
        ids = [int(e["id"]) for e in real]
        # the snapshot carries the latest seq; the rest follow without gaps
        self.assertEqual(ids, list(range(ids[0], ids[0] + len(ids))))
        self.assertEqual(real[-1]["event"], "job-completed")

        # a finished job: its final status, then the stream ends
        status, _, events, _ = self.stack.events(job)
        real = [e for e in events if "event" in e]
        self.assertEqual(status, 200)
        self.assertEqual(len(real), 1)
        self.assertEqual(real[0]["data"]["status"], "Done")

    def test_failed_step_ends_the_stream_with_job_failed(self):
        self.stack.workers[0].stop()
        self.stack.workers.clear()
        self.stack.start_worker(AURA_SYNTHETIC_FAIL_STEP="visuals")
        job = self.stack.submit()
        _, _, events, _ = self.stack.events(job, last_event_id=0)
        real = [e for e in events if "event" in e]
        self.assertEqual(real[-1]["event"], "job-failed")
        self.assertEqual(real[-1]["data"]["step"], "visuals")
        self.assertEqual(real[-1]["data"]["error"]["code"], "SyntheticFailure")
        kinds = [e["event"] for e in real]
        self.assertIn("error", kinds)
        status, _, body = self.stack.request("GET", f"/api/jobs/{job}")
        snap = json.loads(body)
        self.assertEqual(snap["status"], "Failed")
        self.assertEqual(snap["error"]["code"], "SyntheticFailure")

    def test_keepalive_comment_on_an_idle_stream(self):
        # no worker: the job waits in the queue and its stream stays idle
        self.stack.close()
        self.stack = Stack(AURA_KEEPALIVE_S=1)
        self.stack.start_broker()
        self.stack.start_gateway()
        self.stack.wait_ready()
        job = self.stack.submit()
        conn = self.stack.connection(timeout=5)
        conn.request("GET", f"/api/jobs/{job}/events")
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        began = time.monotonic()
        comment = None
        while time.monotonic() - began < 4:
            line = resp.readline().decode()
            if line.startswith(": keepalive "):
                comment = line
                break
        conn.close()
        self.assertIsNotNone(comment, "no keepalive within 4 s")
        self.assertRegex(comment, r"^: keepalive \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

    def test_gateway_has_room_for_its_streams_from_the_start(self):
        # Linux grows a process's descriptor table as descriptors are
        # opened, and with threads running each growth stalled the
        # accept() that crossed 256, 512 ... for 15-20 ms: the gateway
        # sizes the table for its open-files limit before threads start.
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 65536 if soft == resource.RLIM_INFINITY else min(soft, 65536)
        with open(f"/proc/{self.stack.gateway.proc.pid}/status") as f:
            fd_size = int(re.search(r"^FDSize:\s+(\d+)", f.read(), re.M)[1])
        self.assertGreaterEqual(fd_size, wanted)

    def test_sigterm_stops_every_process_cleanly(self):
        job = self.stack.submit()
        self.stack.events(job, last_event_id=0)
        for proc in [self.stack.gateway, self.stack.workers[0], self.stack.broker]:
            began = time.monotonic()
            code = proc.stop(timeout=5)
            self.assertEqual(code, 0, f"{proc.name} exit {code}:\n{proc.log()}")
            self.assertLess(time.monotonic() - began, 5)

    def test_worker_stopping_mid_job_hands_it_back(self):
        self.stack.workers[0].stop()
        self.stack.workers.clear()
        slow = self.stack.start_worker(AURA_SYNTHETIC_STEP_MS=2000)
        job = self.stack.submit()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            snap = json.loads(self.stack.request("GET", f"/api/jobs/{job}")[2])
            if snap["status"] == "Running":
                break
            time.sleep(0.05)
        self.assertEqual(snap["status"], "Running")
        began = time.monotonic()
        self.assertEqual(slow.stop(timeout=5), 0, slow.log())
        self.assertLess(time.monotonic() - began, 5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            snap = json.loads(self.stack.request("GET", f"/api/jobs/{job}")[2])
            if snap["status"] == "Queued":
                break
            time.sleep(0.05)
        self.assertEqual(snap["status"], "Queued")
        self.assertEqual(snap["attempt"], 2)
        # a new worker finishes it
        self.stack.start_worker()
        _, _, events, _ = self.stack.events(job, last_event_id=0)
        real = [e for e in events if "event" in e]
        self.assertEqual(real[-1]["event"], "job-completed")
        warnings = [e["data"]["code"] for e in real if e["event"] == "warning"]
        self.assertIn("WorkerShutdown", warnings)
        self.assertEqual([int(e["id"]) for e in real], list(range(1, len(real) + 1)))


if __name__ == "__main__":
    unittest.main(verbosity=2)
