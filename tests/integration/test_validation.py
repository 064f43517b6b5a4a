"""Every field of a job request is checked at the door: a bad one gets a
400 problem+json naming it (all of them at once), a complete valid request
is accepted."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Stack  # noqa: E402

FULL_REQUEST = {
    "brief": {"topic": "How tides work", "audience": "Sailors",
              "goal": "Read a tide table", "tone": "Calm",
              "language": "en-GB", "aspect": "Vertical9x16"},
    "planSpec": {"targetDuration": "00:00:20", "pacing": "Fast",
                 "density": "Sparse", "style": "documentary"},
    "voiceSpec": {"voiceName": "en-gb", "rate": 1.1, "pitch": 1.0,
                  "pause": "Short"},
    "renderSpec": {"res": {"width": 720, "height": 1280}, "container": "mp4",
                   "videoBitrateK": 4000, "audioBitrateK": 128, "fps": 30,
                   "codec": "H264", "qualityLevel": 40},
}


def with_change(section, key, value):
    body = json.loads(json.dumps(FULL_REQUEST))
    body[section][key] = value
    return body


class ValidationTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack()
        try:
            cls.stack.start_all()
        except BaseException:
            cls.stack.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def refused(self, body):
        status, headers, data = self.stack.request("POST", "/api/jobs", body)
        self.assertEqual(status, 400, data)
        self.assertEqual(headers["Content-Type"], "application/problem+json")
        problem = json.loads(data)
        self.assertEqual(problem["status"], 400)
        for error in problem["errors"]:
            self.assertTrue(error["message"])
        return [e["field"] for e in problem["errors"]]

    def test_full_valid_request_is_accepted(self):
        status, _, data = self.stack.request("POST", "/api/jobs", FULL_REQUEST)
        self.assertEqual(status, 202, data)
        self.assertTrue(json.loads(data)["jobId"])

    def test_bad_field_is_named(self):
        cases = [
            (with_change("brief", "language", "English"), "brief.language"),
            (with_change("brief", "aspect", "4:3"), "brief.aspect"),
            (with_change("planSpec", "targetDuration", 3600),
             "planSpec.targetDuration"),
            (with_change("planSpec", "pacing", "Slow"), "planSpec.pacing"),
            (with_change("voiceSpec", "rate", "fast"), "voiceSpec.rate"),
            (with_change("voiceSpec", "pause", 9), "voiceSpec.pause"),
            (with_change("renderSpec", "res", {"width": 1281, "height": 720}),
             "renderSpec.res.width"),
            (with_change("renderSpec", "fps", 29.97), "renderSpec.fps"),
            (with_change("renderSpec", "codec", "VP9"), "renderSpec.codec"),
            (with_change("renderSpec", "bitrate", 5000), "renderSpec.bitrate"),
            ({**FULL_REQUEST, "priority": "high"}, "priority"),
        ]
        for body, field in cases:
            with self.subTest(field=field):
                self.assertEqual(self.refused(body), [field])

    def test_every_bad_field_is_named_at_once(self):
        body = with_change("planSpec", "density", "Thick")
        body["voiceSpec"]["pitch"] = 3
        body["renderSpec"]["qualityLevel"] = 101
        fields = self.refused(body)
        self.assertEqual(sorted(fields), ["planSpec.density", "renderSpec.qualityLevel",
                                          "voiceSpec.pitch"])


if __name__ == "__main__":
    unittest.main()
