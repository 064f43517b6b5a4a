"""Warnings on the media pipeline, end to end on the real binaries: a job
whose voice espeak-ng lacks and whose title cannot fit the slide at its
design size still becomes a playable video, and its event stream says what
was changed (VoiceNotFound from tts, TextShrunk from visuals); a plain job
gets no warnings."""

import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Stack  # noqa: E402

PROBE = os.path.join(os.environ.get("AURA_TEST_TOOLS", os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tests")), "mp4_probe")

# 720p, square: the short side is 720 pixels, and a square slide is the
# narrowest for a heading. A title of 200 "W"s (the widest letter; the
# planner keeps 80 characters of it) with long bullets overflows it.
WIDE_TOPIC = "W" * 200
LONG_AUDIENCE = "neurophysiology researchers and electroencephalography technicians"
LONG_GOAL = "understand instrumentation characterization and standardization"


def probe(path):
    out = subprocess.run([PROBE, path], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"mp4_probe failed: {out.stdout} {out.stderr}"
    return json.loads(out.stdout)


class MediaWarningsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(AURA_PIPELINE="media")
        cls.stack.start_all()

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def run_job(self, brief, voice_name=None):
        """Submits a 5-second 720p job and reads its whole event stream.
        Returns (job id, events with an event type)."""
        spec = {"brief": brief,
                "planSpec": {"targetDuration": 5, "density": "Balanced"},
                "renderSpec": {"res": "720p", "qualityLevel": 20}}
        if voice_name:
            spec["voiceSpec"] = {"voiceName": voice_name}
        status, _, body = self.stack.request("POST", "/api/jobs", spec)
        self.assertEqual(status, 202, body)
        job = json.loads(body)["jobId"]
        status, _, events, _ = self.stack.events(job, last_event_id=0, timeout=120)
        self.assertEqual(status, 200)
        return job, [e for e in events if "event" in e]

    def assert_playable(self, job, events, width, height):
        """The job completed with a decodable H.264/AAC MP4 of the size
        asked for, and no error on the way."""
        self.assertEqual(events[-1]["event"], "job-completed",
                         [e["event"] for e in events][-5:])
        done = events[-1]["data"]
        self.assertEqual(done["status"], "Succeeded")
        self.assertFalse([e for e in events if e["event"] in ("error", "job-failed")])
        directory = os.path.join(self.stack.dir, "artifacts", job)
        info = probe(os.path.join(directory, "video.mp4"))
        video = [s for s in info["streams"] if s["type"] == "video"]
        audio = [s for s in info["streams"] if s["type"] == "audio"]
        self.assertEqual(len(video), 1, info)
        self.assertEqual(len(audio), 1, info)
        self.assertEqual(video[0]["codec"], "h264")
        self.assertEqual((video[0]["width"], video[0]["height"]), (width, height))
        self.assertEqual(audio[0]["codec"], "aac")
        self.assertGreater(info["videoFrames"], 0)
        self.assertTrue(2 <= info["duration"] <= 15, info)
        self.assertAlmostEqual(done["output"]["durationSeconds"], info["duration"],
                               delta=0.2)
        self.assertEqual(self.stack.job(job)["status"], "Done")

    def test_unknown_voice_and_oversized_title_warn_and_complete(self):
        job, events = self.run_job(
            {"topic": WIDE_TOPIC, "audience": LONG_AUDIENCE, "goal": LONG_GOAL,
             "aspect": "Square1x1"},
            voice_name="klingon-xx")
        self.assert_playable(job, events, 720, 720)

        warnings = [e for e in events if e["event"] == "warning"]
        by_code = {}
        for warning in warnings:
            data = warning["data"]
            self.assertEqual(data["jobId"], job)
            self.assertTrue(data["message"], data)
            by_code.setdefault(data["code"], []).append(data["message"])
        self.assertIn("VoiceNotFound", by_code, warnings)
        self.assertIn("TextShrunk", by_code, warnings)

        # the fallback names the voice asked for and the one used instead
        voice = by_code["VoiceNotFound"]
        self.assertEqual(len(voice), 1, voice)
        self.assertIn('"klingon-xx"', voice[0])
        self.assertRegex(voice[0], r'using "[^"]+" instead')

        # the title slide (scene 1) was shrunk, and by how much is said
        shrunk = by_code["TextShrunk"]
        scenes = []
        for message in shrunk:
            m = re.search(r"scene (\d+): heading and bullets shrunk to (\d+) %", message)
            self.assertTrue(m, message)
            self.assertLess(int(m.group(2)), 100, message)
            self.assertGreater(int(m.group(2)), 0, message)
            scenes.append(int(m.group(1)))
        self.assertIn(1, scenes, shrunk)

        # each warning is reported while its step runs, before the end
        order = [e["event"] if e["event"] != "step-status"
                 else f'{e["data"]["step"]}:{e["data"]["status"]}' for e in events]
        voice_at = next(i for i, e in enumerate(events) if e["event"] == "warning"
                        and e["data"]["code"] == "VoiceNotFound")
        shrunk_at = next(i for i, e in enumerate(events) if e["event"] == "warning"
                         and e["data"]["code"] == "TextShrunk")
        self.assertLess(order.index("tts:Running"), voice_at, order)
        self.assertLess(voice_at, order.index("tts:Done"), order)
        self.assertLess(order.index("visuals:Running"), shrunk_at, order)
        self.assertLess(shrunk_at, order.index("visuals:Done"), order)
        seqs = [int(e["data"]["seq"]) for e in events if "seq" in e.get("data", {})]
        self.assertEqual(seqs, sorted(seqs))

    def test_plain_job_has_no_warnings(self):
        job, events = self.run_job({"topic": "How bees dance", "audience": "children"})
        self.assert_playable(job, events, 1280, 720)
        self.assertEqual([e["data"] for e in events if e["event"] == "warning"], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
