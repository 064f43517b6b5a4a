"""Bad input gets a clear answer and loses nothing: problem+json naming the
field for HTTP clients, count-and-drop for garbage on the broker's sockets,
503 within 2 s when the broker is away."""

import json
import os
import re
import sys
import time
import unittest

import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import Stack  # noqa: E402

UNKNOWN_JOB = "01JD5ZQ6X8M9N0P1Q2R3S4T5V6"


class BadInputTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack()
        cls.stack.start_all()

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def problem(self, status, headers, body, expected_status):
        self.assertEqual(status, expected_status, body)
        self.assertEqual(headers["Content-Type"], "application/problem+json")
        self.assertTrue(headers.get("X-Correlation-ID"))
        problem = json.loads(body)
        self.assertEqual(problem["status"], expected_status)
        for key in ("type", "title", "detail", "correlationId"):
            self.assertIn(key, problem)
        self.assertEqual(problem["correlationId"], headers["X-Correlation-ID"])
        return problem

    def test_invalid_json_says_where_it_broke(self):
        r = self.stack.request("POST", "/api/jobs", '{"brief": {"topic": "x",}}')
        problem = self.problem(*r, 400)
        self.assertRegex(problem["detail"], r"line 1.*column \d+")

    def test_missing_topic_names_the_field(self):
        for body in ({"brief": {"audience": "kids"}}, {"brief": {"topic": ""}},
                     {"brief": {"topic": 42}}, {"planSpec": {}}):
            problem = self.problem(*self.stack.request("POST", "/api/jobs", body), 400)
            fields = [e["field"] for e in problem["errors"]]
            expected = ["brief.topic"] if "brief" in body else ["brief", "brief.topic"]
            self.assertTrue(set(fields) & set(expected), problem)

    def test_body_that_is_not_an_object(self):
        for body in ("[]", "42", "", "null"):
            self.problem(*self.stack.request("POST", "/api/jobs", body), 400)

    def test_body_over_64_kib_is_refused(self):
        body = json.dumps({"brief": {"topic": "x" * (65 * 1024)}})
        self.problem(*self.stack.request("POST", "/api/jobs", body), 413)

    def test_unknown_and_malformed_job_ids(self):
        self.problem(*self.stack.request("GET", f"/api/jobs/{UNKNOWN_JOB}"), 404)
        self.problem(*self.stack.request(
            "GET", f"/api/jobs/{UNKNOWN_JOB}/events"), 404)
        for bad in ("nope", UNKNOWN_JOB.lower(), UNKNOWN_JOB + "0",
                    "01JD5ZQ6X8M9N0P1Q2R3S4T5VU", "%2e%2e%2fetc"):
            self.problem(*self.stack.request("GET", f"/api/jobs/{bad}"), 400)
            self.problem(*self.stack.request("GET", f"/api/jobs/{bad}/events"), 400)

    def test_bad_last_event_id(self):
        job = self.stack.submit()
        for bad in ("-1", "abc", "1x"):
            status, headers, _, body = self.stack.events(job, last_event_id=bad)
            self.problem(status, headers, body, 400)
        status, headers, body = self.stack.request(
            "GET", f"/api/jobs/{job}/events?lastEventId=abc")
        self.problem(status, headers, body, 400)
        self.assertIn("lastEventId", json.loads(body)["detail"])

    def test_unknown_route_and_method(self):
        self.problem(*self.stack.request("GET", "/api/nothing"), 404)
        status, headers, body = self.stack.request("DELETE", "/api/jobs")
        self.problem(status, headers, body, 405)
        self.assertIn("POST", headers["Allow"])

    def test_correlation_id_is_made_when_missing_or_unusable(self):
        status, headers, _ = self.stack.request("GET", "/healthz")
        self.assertEqual(status, 200)
        made = headers["X-Correlation-ID"]
        self.assertTrue(made)
        _, headers, _ = self.stack.request(
            "GET", "/healthz", headers={"X-Correlation-ID": "bad id\twith tab"})
        self.assertNotEqual(headers["X-Correlation-ID"], "bad id\twith tab")

    def test_garbage_on_broker_sockets_is_counted_and_dropped(self):
        ctx = zmq.Context.instance()
        dealer = ctx.socket(zmq.DEALER)
        dealer.connect(self.stack.endpoint("frontend"))
        push = ctx.socket(zmq.PUSH)
        push.connect(self.stack.endpoint("events"))
        garbage = [
            b"",
            b"not msgpack at all",
            b"\x93\x01\x02\x03",                 # an array, not a map
            b"\x81\xa1t\xa4ping",                # no "v"
            b"\xdd\xff\xff\xff\xff",             # array of 4 billion
            b"\xdf\x7f\xff\xff\xff",             # map of 2 billion
            b"\x83\xa1v\x01\xa1t\xa5event\xa3job\xa1x",
            os.urandom(300),
        ]
        for body in garbage:
            dealer.send(body)
            push.send(body)
        dealer.send_multipart([b"two", b"frames"])
        push.send_multipart([b"two", b"frames"])
        # a well-formed event for a job that does not exist
        push.send(b"\x87\xa1v\x01\xa1t\xa5event\xa2ts\x01\xa3job\xba"
                  + UNKNOWN_JOB.encode() + b"\xa7attempt\x01\xa4kind\xadjob-cancelled"
                  + b"\xa4step\xa4plan")
        # the undecodable requests get no answer
        self.assertEqual(dealer.poll(300), 0)
        dealer.close(0)
        push.close(0)

        self.assertTrue(self.stack.broker.alive())
        self.stack.broker.wait_for_line(r"(?i)malformed|dropped")
        # and the system still works
        job = self.stack.submit()
        _, _, events, _ = self.stack.events(job, last_event_id=0)
        self.assertEqual(events[-1]["event"], "job-completed")


class BrokerDownTest(unittest.TestCase):

    def test_broker_down_answers_503_within_two_seconds(self):
        with Stack() as stack:
            stack.start_all()
            self.assertEqual(stack.broker.stop(), 0)
            for method, path, body in (("POST", "/api/jobs", {"brief": {"topic": "x"}}),
                                       ("POST", "/api/quick/demo", None),
                                       ("GET", f"/api/jobs/{UNKNOWN_JOB}", None),
                                       ("GET", f"/api/jobs/{UNKNOWN_JOB}/events", None),
                                       ("GET", "/readyz", None)):
                began = time.monotonic()
                status, headers, data = stack.request(method, path, body)
                elapsed = time.monotonic() - began
                self.assertEqual(status, 503, f"{method} {path}: {data!r}")
                self.assertLess(elapsed, 2.0, f"{method} {path} took {elapsed:.2f}s")
                self.assertEqual(headers["Content-Type"], "application/problem+json")
            self.assertEqual(stack.request("GET", "/healthz")[0], 200)

            # the broker comes back: so does the gateway
            stack.start_broker()
            stack.wait_ready()
            self.assertEqual(stack.request("POST", "/api/quick/demo")[0], 202)

    def test_broker_that_never_answers_times_out(self):
        with Stack(AURA_BROKER_TIMEOUT_MS=500) as stack:
            # something bound on the frontend that reads and never replies
            ctx = zmq.Context.instance()
            mute = ctx.socket(zmq.ROUTER)
            mute.bind(stack.endpoint("frontend"))
            stack.start_gateway()
            time.sleep(0.2)
            began = time.monotonic()
            status, _, body = stack.request("POST", "/api/jobs", {"brief": {"topic": "x"}})
            elapsed = time.monotonic() - began
            mute.close(0)
            self.assertEqual(status, 503, body)
            self.assertLess(elapsed, 2.0)
            self.assertGreaterEqual(elapsed, 0.4)
            problem = json.loads(body)
            self.assertTrue(re.search(r"(?i)broker", problem["detail"]), problem)


if __name__ == "__main__":
    unittest.main(verbosity=2)
