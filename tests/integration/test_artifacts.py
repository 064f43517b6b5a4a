"""GET /api/jobs/{id}/artifacts/{name} on the real binaries: a job's
output files come back with their type, ETag and byte ranges; nothing
outside the job directory, and nothing still being written, is served."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Stack  # noqa: E402

BODY = bytes(range(256)) * 40  # 10,240 bytes, every byte value


class ArtifactsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack()
        try:
            cls.stack.start_all()
            cls.job = cls.stack.submit()
            cls.stack.wait_job(cls.job, ("Done", "Succeeded"))
        except BaseException:
            cls.stack.close()
            raise
        cls.dir = os.path.join(cls.stack.dir, "artifacts", cls.job)
        os.makedirs(cls.dir, exist_ok=True)
        cls.write("video.mp4", BODY)
        cls.write("video.vtt", b"WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n")
        cls.write("plan.json", b'{"scenes": []}')
        cls.write("empty.bin", b"")
        cls.write("video.srt.tmp", b"half written")
        os.symlink("/etc/passwd", os.path.join(cls.dir, "passwd.json"))
        outside = os.path.join(cls.stack.dir, "secret.txt")
        with open(outside, "wb") as f:
            f.write(b"outside the job directory")
        os.symlink(outside, os.path.join(cls.dir, "secret.txt"))
        os.mkdir(os.path.join(cls.dir, "subdir"))

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    @classmethod
    def write(cls, name, data):
        with open(os.path.join(cls.dir, name), "wb") as f:
            f.write(data)

    def get(self, name, headers=None, method="GET", job=None):
        return self.stack.request(method, f"/api/jobs/{job or self.job}/artifacts/{name}",
                                  headers=headers)

    def assertProblem(self, status, headers, body, expected):
        self.assertEqual(status, expected, body)
        self.assertEqual(headers["Content-Type"], "application/problem+json")
        self.assertTrue(headers["X-Correlation-ID"])
        problem = json.loads(body)
        self.assertEqual(problem["status"], expected)
        return problem

    def test_whole_file_with_type_and_validators(self):
        status, headers, body = self.get("video.mp4")
        self.assertEqual(status, 200, body)
        self.assertEqual(body, BODY)
        self.assertEqual(headers["Content-Type"], "video/mp4")
        self.assertEqual(int(headers["Content-Length"]), len(BODY))
        self.assertEqual(headers["Accept-Ranges"], "bytes")
        self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
        self.assertIn("no-cache", headers["Cache-Control"])
        self.assertRegex(headers["ETag"], r'^"[^"]+"$')
        self.assertRegex(headers["Last-Modified"], r"^\w{3}, \d\d \w{3} \d{4} .* GMT$")
        self.assertTrue(headers["X-Correlation-ID"])

        status, headers, body = self.get("video.vtt")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/vtt; charset=utf-8")
        self.assertTrue(body.startswith(b"WEBVTT"))
        status, headers, body = self.get("plan.json")
        self.assertEqual((status, headers["Content-Type"]), (200, "application/json"))
        self.assertEqual(json.loads(body), {"scenes": []})
        status, headers, body = self.get("empty.bin")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(headers["Content-Type"], "application/octet-stream")

    def test_head_has_headers_only(self):
        status, headers, body = self.get("video.mp4", method="HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        self.assertEqual(int(headers["Content-Length"]), len(BODY))
        self.assertEqual(headers["Content-Type"], "video/mp4")

    def test_ranges(self):
        status, headers, body = self.get("video.mp4", {"Range": "bytes=100-199"})
        self.assertEqual(status, 206, body)
        self.assertEqual(body, BODY[100:200])
        self.assertEqual(headers["Content-Range"], f"bytes 100-199/{len(BODY)}")
        self.assertEqual(headers["Content-Type"], "video/mp4")

        status, headers, body = self.get("video.mp4", {"Range": "bytes=10000-"})
        self.assertEqual((status, body), (206, BODY[10000:]))
        status, headers, body = self.get("video.mp4", {"Range": "bytes=-50"})
        self.assertEqual((status, body), (206, BODY[-50:]))
        self.assertEqual(headers["Content-Range"],
                         f"bytes {len(BODY) - 50}-{len(BODY) - 1}/{len(BODY)}")

        status, headers, body = self.get("video.mp4", {"Range": f"bytes={len(BODY)}-"})
        self.assertEqual(status, 416, body)
        self.assertEqual(headers["Content-Range"], f"bytes */{len(BODY)}")
        self.assertNotIn(BODY[:64], body)

        for ignored in ("bytes=0-1,5-9", "bytes=abc", "lines=1-2"):
            status, _, body = self.get("video.mp4", {"Range": ignored})
            self.assertEqual((status, body), (200, BODY), ignored)

    def test_if_none_match(self):
        _, headers, _ = self.get("video.mp4")
        etag = headers["ETag"]
        for value in (etag, f'"nope", {etag}', "*"):
            status, headers304, body = self.get("video.mp4", {"If-None-Match": value})
            self.assertEqual(status, 304, value)
            self.assertEqual(body, b"")
            self.assertEqual(headers304["ETag"], etag)
        status, _, body = self.get("video.mp4", {"If-None-Match": '"other"'})
        self.assertEqual((status, body), (200, BODY))

    def test_etag_changes_when_the_file_is_replaced(self):
        self.write("timeline.json", b"[1]")
        _, headers, _ = self.get("timeline.json")
        first = headers["ETag"]
        tmp = os.path.join(self.dir, "timeline.json.tmp")
        with open(tmp, "wb") as f:
            f.write(b"[1, 2]")
        os.rename(tmp, os.path.join(self.dir, "timeline.json"))
        status, headers, body = self.get("timeline.json", {"If-None-Match": first})
        self.assertEqual((status, body), (200, b"[1, 2]"))
        self.assertNotEqual(headers["ETag"], first)

    def test_missing_files_are_404(self):
        for name in ("thumbnail.png", "subdir"):
            status, headers, body = self.get(name)
            self.assertProblem(status, headers, body, 404)
        status, headers, body = self.get("video.mp4", job="01ARZ3NDEKTSV4RRFFQ69G5FAV")
        self.assertProblem(status, headers, body, 404)

    def test_bad_names_are_400(self):
        for name in ("..", "%2e%2e", "%2e%2e%2fetc%2fpasswd", ".hidden", "video.srt.tmp",
                     "a..b", "x" * 129, "a%20b"):
            status, headers, body = self.get(name)
            problem = self.assertProblem(status, headers, body, 400)
            self.assertIn("name", [e["field"] for e in problem.get("errors", [])], name)
        status, headers, body = self.stack.request(
            "GET", "/api/jobs/not-a-job/artifacts/video.mp4")
        self.assertProblem(status, headers, body, 400)

    def test_symlinks_are_not_followed(self):
        for name in ("passwd.json", "secret.txt"):
            status, _, body = self.get(name)
            self.assertIn(status, (403, 404), body)
            self.assertNotIn(b"root:", body)
            self.assertNotIn(b"outside the job directory", body)

    def test_other_methods_are_405(self):
        status, headers, body = self.get("video.mp4", method="POST")
        self.assertProblem(status, headers, body, 405)
        self.assertEqual(headers["Allow"], "GET, HEAD")


if __name__ == "__main__":
    unittest.main()
