"""GET /metrics after a job followed over SSE: Prometheus text that parses
line by line and counts the requests, the stream and its events."""

import re
import sys
import time
import unittest

sys.path.insert(0, __import__("os").path.dirname(__file__))
from harness import Stack  # noqa: E402

PREFIX = "aura_gateway_"
SAMPLE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(?:\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)\})?'
    r' (?P<value>[-+]?(?:[0-9.]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """Returns {family: type} and a list of (name, {labels}, value); fails
    on any line that is neither a HELP/TYPE comment nor a sample."""
    types, samples = {}, []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError(f"not a sample line: {line!r}")
        labels = dict(LABEL.findall(m.group("labels") or ""))
        samples.append((m.group("name"), labels, float(m.group("value"))))
    return types, samples


def value(samples, name, **labels):
    found = [v for n, l, v in samples
             if n == name and all(l.get(k) == w for k, w in labels.items())]
    return sum(found) if found else None


class MetricsTest(unittest.TestCase):

    def setUp(self):
        self.stack = Stack()
        self.addCleanup(lambda: self.stack.close())
        self.stack.start_all()

    def test_counts_requests_streams_and_events(self):
        job = self.stack.submit()
        status, _, events, _ = self.stack.events(job, last_event_id=0)
        self.assertEqual(status, 200)
        self.assertTrue(any(e.get("event") == "job-completed" for e in events),
                        events[-3:])

        status, headers, body = self.stack.request("GET", "/metrics")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["Content-Type"],
                         "text/plain; version=0.0.4; charset=utf-8")
        self.assertTrue(headers["X-Correlation-ID"])
        types, samples = parse(body.decode("utf-8"))

        for name, _, _ in samples:
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            self.assertTrue(name in types or family in types,
                            f"{name} has no # TYPE line")
            self.assertTrue(name.startswith(PREFIX), name)

        self.assertGreater(value(samples, PREFIX + "http_requests_total",
                                 route="/api/jobs", method="POST", code="202") or 0, 0)
        self.assertGreater(value(samples, PREFIX + "http_requests_total",
                                 route="/readyz", code="200") or 0, 0)
        self.assertGreater(value(samples, PREFIX + "http_requests_total",
                                 route="/api/jobs/{id}/events", code="200") or 0, 0)
        self.assertGreater(value(samples, PREFIX + "sse_streams_opened_total"), 0)
        self.assertGreaterEqual(value(samples, PREFIX + "sse_events_sent_total"),
                                len([e for e in events if "event" in e]))
        self.assertGreater(value(samples, PREFIX + "broker_events_received_total"), 0)
        self.assertGreater(value(samples, PREFIX + "jobs_cached"), 0)
        self.assertGreater(value(samples, PREFIX + "sse_bytes_sent_total"), 0)
        self.assertEqual(value(samples, PREFIX + "sse_reconnects_total"), 1)
        self.assertEqual(value(samples, PREFIX + "broker_up"), 1)
        self.assertEqual(value(samples, PREFIX + "jobs", status="Done"), 1)
        self.assertEqual(value(samples, PREFIX + "jobs", status="Queued"), 0)
        self.assertEqual(value(samples, PREFIX + "requests_rejected_total",
                               reason="rate_limited"), 0)

        for family in ("http_request_duration_seconds", "sse_event_lag_seconds",
                       "sse_send_lag_seconds"):
            self.assertEqual(types[PREFIX + family], "histogram")
            buckets = [(l["le"], v) for n, l, v in samples
                       if n == PREFIX + family + "_bucket"]
            self.assertEqual(buckets[-1][0], "+Inf")
            counts = [v for _, v in buckets]
            self.assertEqual(counts, sorted(counts), f"{family} is not cumulative")
            self.assertEqual(counts[-1], value(samples, PREFIX + family + "_count"))
            self.assertGreater(counts[-1], 0, family)

        # the stream has ended: its connection is no longer counted as open
        # (it closes once the client has read it; give it a few scrapes)
        for _ in range(50):
            _, _, body = self.stack.request("GET", "/metrics")
            _, samples = parse(body.decode("utf-8"))
            if value(samples, PREFIX + "sse_streams_open") == 0:
                break
            time.sleep(0.05)
        self.assertEqual(value(samples, PREFIX + "sse_streams_open"), 0)

    def test_without_the_broker_metrics_still_answer(self):
        self.stack.broker.kill9()
        status, _, body = self.stack.request("GET", "/metrics", timeout=15)
        self.assertEqual(status, 200, body)
        _, samples = parse(body.decode("utf-8"))
        self.assertEqual(value(samples, PREFIX + "broker_up"), 0)
        self.assertIsNone(value(samples, PREFIX + "jobs", status="Done"))


if __name__ == "__main__":
    unittest.main()
