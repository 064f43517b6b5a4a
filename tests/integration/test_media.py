"""The media pipeline on the real binaries: the Quick Demo becomes a real,
decodable MP4 with captions; a cancel stops a render; a worker killed in
visuals costs only the unfinished steps."""

import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Stack  # noqa: E402

PROBE = os.path.join(os.environ.get("AURA_TEST_TOOLS", os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tests")), "mp4_probe")


def probe(path):
    out = subprocess.run([PROBE, path], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"mp4_probe failed: {out.stdout} {out.stderr}"
    return json.loads(out.stdout)


class MediaTest(unittest.TestCase):

    def stack(self, **settings):
        stack = Stack(AURA_PIPELINE="media", **settings)
        self.addCleanup(stack.close)
        return stack

    def test_quick_demo_makes_a_real_video(self):
        stack = self.stack()
        stack.start_all()
        status, _, body = stack.request("POST", "/api/quick/demo")
        self.assertEqual(status, 202, body)
        job = json.loads(body)["jobId"]
        status, _, events, _ = stack.events(job, last_event_id=0, timeout=120)
        events = [e for e in events if "event" in e]
        self.assertEqual(events[-1]["event"], "job-completed", events[-3:])
        done = events[-1]["data"]

        directory = os.path.join(stack.dir, "artifacts", job)
        listed = {a["name"]: a for a in done["artifacts"]}
        for name in ("video.mp4", "video.srt", "video.vtt", "thumbnail.png"):
            self.assertIn(name, listed)
            self.assertEqual(listed[name]["sizeBytes"],
                             os.path.getsize(os.path.join(directory, name)))
        self.assertEqual(listed["video.mp4"]["type"], "video/mp4")
        self.assertEqual(listed["video.vtt"]["type"], "text/vtt")

        info = probe(os.path.join(directory, "video.mp4"))
        video = [s for s in info["streams"] if s["type"] == "video"]
        audio = [s for s in info["streams"] if s["type"] == "audio"]
        self.assertEqual(len(video), 1, info)
        self.assertEqual(len(audio), 1, info)
        self.assertEqual(video[0]["codec"], "h264")
        self.assertEqual((video[0]["width"], video[0]["height"]), (1920, 1080))
        self.assertAlmostEqual(video[0]["fps"], 30, delta=0.01)
        self.assertEqual(audio[0]["codec"], "aac")
        self.assertEqual(audio[0]["sampleRate"], 48000)
        self.assertTrue(info["faststart"])
        self.assertTrue(10 <= info["duration"] <= 15.5, info)
        self.assertAlmostEqual(done["output"]["durationSeconds"], info["duration"],
                               delta=0.2)
        self.assertAlmostEqual(info["videoFrames"], info["duration"] * 30, delta=3)

        with open(os.path.join(directory, "video.vtt"), encoding="utf-8") as f:
            vtt = f.read()
        self.assertTrue(vtt.startswith("WEBVTT"))
        self.assertIn("-->", vtt)
        self.assertFalse([n for n in os.listdir(directory) if n.endswith(".tmp")])

    def test_cancel_during_render(self):
        stack = self.stack()
        stack.start_all()
        spec = {"brief": {"topic": "The water cycle"},
                "planSpec": {"targetDuration": 120, "density": "Sparse"},
                "renderSpec": {"res": "1080p", "qualityLevel": 95}}
        status, _, body = stack.request("POST", "/api/jobs", spec)
        self.assertEqual(status, 202, body)
        job = json.loads(body)["jobId"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            snap = stack.job(job)
            if snap["step"] == "render" and snap["status"] == "Running":
                break
            time.sleep(0.05)
        self.assertEqual(snap["step"], "render", snap)
        time.sleep(0.5)
        began = time.monotonic()
        self.assertEqual(stack.request("POST", f"/api/jobs/{job}/cancel")[0], 202)
        snap = stack.wait_job(job, "Canceled", timeout=10)
        self.assertLess(time.monotonic() - began, 1.5)
        directory = os.path.join(stack.dir, "artifacts", job)
        time.sleep(0.2)
        left = os.listdir(directory)
        self.assertNotIn("video.mp4", left)
        self.assertFalse([n for n in left if n.endswith(".tmp")], left)

    def test_retry_redoes_done_steps_whose_files_are_gone(self):
        # plan and tts done on a worker that wrote no files (the synthetic
        # pipeline), then visuals failed: the retry on a media worker must
        # make plan.json and the voice again rather than trust the record
        stack = self.stack()
        stack.start_broker()
        stack.start_gateway()
        failing = stack.start_worker(AURA_PIPELINE="synthetic", AURA_SYNTHETIC_STEP_MS=50,
                                     AURA_SYNTHETIC_FAIL_STEP="visuals")
        stack.wait_ready()
        spec = {"brief": {"topic": "Tides"}, "planSpec": {"targetDuration": 5},
                "renderSpec": {"res": "720p", "qualityLevel": 20}}
        status, _, body = stack.request("POST", "/api/jobs", spec)
        self.assertEqual(status, 202, body)
        job = json.loads(body)["jobId"]
        stack.wait_job(job, "Failed")
        self.assertEqual(failing.stop(), 0)
        stack.workers.clear()
        stack.start_worker()
        self.assertEqual(stack.request("POST", f"/api/jobs/{job}/retry")[0], 202)
        snap = stack.wait_job(job, "Done", timeout=60)
        steps = {s["name"]: s["status"] for s in snap["steps"]}
        self.assertEqual(steps, {name: "Done" for name in steps}, snap)
        directory = os.path.join(stack.dir, "artifacts", job)
        self.assertTrue(os.path.exists(os.path.join(directory, "plan.json")))
        self.assertTrue(os.path.exists(os.path.join(directory, "video.mp4")))

    def test_worker_killed_in_visuals_resumes_after_tts(self):
        stack = self.stack()
        stack.start_broker()
        stack.start_gateway()
        worker = stack.start_worker()
        stack.wait_ready()
        spec = {"brief": {"topic": "How vaccines train the immune system"},
                "planSpec": {"targetDuration": 160, "density": "Dense"},
                "renderSpec": {"res": "1080p", "qualityLevel": 20}}
        status, _, body = stack.request("POST", "/api/jobs", spec)
        job = json.loads(body)["jobId"]
        conn = stack.connection(timeout=60)
        conn.request("GET", f"/api/jobs/{job}/events", headers={"Last-Event-ID": "0"})
        resp = conn.getresponse()
        while True:
            line = resp.readline().decode()
            self.assertTrue(line, "stream ended before visuals")
            if line.startswith("data:") and '"step":"visuals"' in line \
                    and '"status":"Running"' in line:
                break
        worker.kill9()
        conn.close()
        stack.start_worker()
        # attempt 2 skips what attempt 1 finished; stop it once that is seen.
        # The re-queued snapshot already names visuals as its step (where the
        # retry will resume), so wait for the worker to start visuals itself.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            snap = stack.job(job)
            steps = {s["name"]: s["status"] for s in snap["steps"]}
            if snap["attempt"] == 2 and snap["status"] == "Running" \
                    and steps["visuals"] != "Pending":
                break
            time.sleep(0.05)
        self.assertEqual(snap["attempt"], 2, snap)
        self.assertEqual(steps["plan"], "Skipped", snap)
        self.assertEqual(steps["tts"], "Skipped", snap)
        self.assertEqual(stack.request("POST", f"/api/jobs/{job}/cancel")[0], 202)
        stack.wait_job(job, "Canceled")
        _, _, events, _ = stack.events(job, last_event_id=0)
        skipped = [e["data"]["step"] for e in events if e.get("event") == "step-status"
                   and e["data"]["status"] == "Skipped"]
        self.assertEqual(skipped, ["plan", "tts"])
        lost = [e for e in events if e.get("event") == "warning"
                and e["data"]["code"] == "WorkerLost"]
        self.assertEqual(len(lost), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
