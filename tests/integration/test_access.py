"""Who may call the gateway and how much: bearer and signed event tokens,
CORS, rate and stream limits, slow clients, the stream of all jobs, the web
UI files, a clean stop with streams open, and the correlation id in every
process's log."""

import http.client
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN_DIR, Process, Stack  # noqa: E402

API_TOKEN = "s3cret-api-token-0123456789"
METRICS_TOKEN = "m3trics-token-abcdefghij"
BEARER = {"Authorization": f"Bearer {API_TOKEN}"}
OTHER_JOB = "01JD5ZQ6X8M9N0P1Q2R3S4T5V6"
ORIGINS = "https://app.example, http://localhost:5173"


def problem(test, response, expected_status):
    """Checks an application/problem+json answer; returns it parsed."""
    status, headers, body = response
    test.assertEqual(status, expected_status, body)
    test.assertEqual(headers["Content-Type"], "application/problem+json", body)
    doc = json.loads(body)
    test.assertEqual(doc["status"], expected_status)
    for key in ("type", "title", "detail", "correlationId"):
        test.assertIn(key, doc)
    return doc


def retry_after(test, headers):
    value = headers.get("Retry-After")
    test.assertIsNotNone(value, "no Retry-After")
    test.assertRegex(value, r"^\d+$")
    test.assertGreaterEqual(int(value), 1)
    return int(value)


def poll(condition, timeout, interval=0.05):
    """Calls condition until it returns something true or time runs out;
    returns its last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


class EventStream:
    """An open SSE response read one event (or comment) at a time."""

    def __init__(self, stack, path, headers=None, timeout=10.0):
        self.conn = stack.connection(timeout)
        hdrs = {"Accept": "text/event-stream"}
        hdrs.update(headers or {})
        self.conn.request("GET", path, headers=hdrs)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = self.resp.headers
        self.ended = False

    def body(self):
        return self.resp.read()

    def next(self):
        """The next event as a dict (id, event, data parsed, retry), or
        {"comment": text}; None at the end of the stream."""
        current = {}
        while True:
            try:
                raw = self.resp.readline()
            except (ConnectionError, http.client.IncompleteRead):
                raw = b""
            if not raw:
                self.ended = True
                return None
            line = raw.decode("utf-8").rstrip("\r\n")
            if line == "":
                if current:
                    if "data" in current:
                        current["data"] = json.loads(current["data"])
                    return current
                continue
            if line.startswith(":"):
                return {"comment": line[1:].strip()}
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data" and "data" in current:
                current["data"] += "\n" + value
            else:
                current[field] = value

    def close(self):
        self.conn.close()


def open_stream(test, stack, path, headers=None, timeout=10.0):
    stream = EventStream(stack, path, headers, timeout)
    test.addCleanup(stream.close)
    return stream


def token_of(link):
    m = re.search(r"[?&]token=([^&]+)", link)
    return m.group(1) if m else None


# ------------------------------------------------------------------ auth

class AuthTest(unittest.TestCase):

    def start(self, **settings):
        stack = Stack(AURA_API_TOKEN=API_TOKEN, **settings)
        self.addCleanup(stack.close)
        stack.start_all()
        return stack

    def submit(self, stack):
        status, _, body = stack.request("POST", "/api/jobs",
                                        {"brief": {"topic": "Tides"}}, BEARER)
        self.assertEqual(status, 202, body)
        return json.loads(body)

    def test_api_needs_the_bearer_token(self):
        stack = self.start()
        status, headers, body = stack.request("GET", "/api/jobs")
        doc = problem(self, (status, headers, body), 401)
        self.assertTrue(headers.get("WWW-Authenticate", "").startswith("Bearer"), headers)
        self.assertIn("Authorization", doc["detail"])
        problem(self, stack.request("POST", "/api/jobs", {"brief": {"topic": "x"}}), 401)

        for wrong in (f"Bearer {API_TOKEN}x", f"Bearer {API_TOKEN[:-1]}", "Bearer ",
                      f"Basic {API_TOKEN}", API_TOKEN, f"Bearer{API_TOKEN}"):
            status, headers, body = stack.request(
                "GET", "/api/jobs", headers={"Authorization": wrong})
            problem(self, (status, headers, body), 401)
            self.assertTrue(headers.get("WWW-Authenticate", "").startswith("Bearer"))
        # nothing was submitted by the refused POST
        status, _, body = stack.request("GET", "/api/jobs", headers=BEARER)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["items"], [])

        accepted = self.submit(stack)
        job = accepted["jobId"]
        status, _, body = stack.request("GET", f"/api/jobs/{job}", headers=BEARER)
        self.assertEqual(status, 200, body)
        for value in (f"bearer {API_TOKEN}", f"BEARER {API_TOKEN}", f"BeArEr {API_TOKEN}",
                      f"Bearer   {API_TOKEN}"):
            status, _, body = stack.request(
                "GET", "/api/jobs", headers={"Authorization": value})
            self.assertEqual(status, 200, f"{value.split()[0]}: {body!r}")
        problem(self, stack.request("GET", f"/api/jobs/{job}"), 401)

        for path in ("/healthz", "/readyz"):
            status, _, body = stack.request("GET", path)
            self.assertEqual(status, 200, f"{path}: {body!r}")

    def test_signed_events_links(self):
        stack = self.start()
        first = self.submit(stack)
        second = self.submit(stack)
        link = first["links"]["events"]
        self.assertTrue(link.startswith(f"/api/jobs/{first['jobId']}/events?token="), link)
        token = token_of(link)
        self.assertRegex(token, r"^\d+\.[A-Za-z0-9_-]{43}$")

        # a browser's EventSource: no header, only the link
        stream = open_stream(self, stack, link)
        self.assertEqual(stream.status, 200)
        self.assertTrue(stream.headers["Content-Type"].startswith("text/event-stream"))
        self.assertEqual(stream.next().get("retry"), "1000")
        stream.close()

        # the snapshot of a job carries a fresh link too
        status, _, body = stack.request("GET", f"/api/jobs/{first['jobId']}", headers=BEARER)
        self.assertEqual(status, 200, body)
        self.assertIsNotNone(token_of(json.loads(body)["links"]["events"]))

        # that token opens no other stream
        for path in (f"/api/jobs/{second['jobId']}/events?token={token}",
                     f"/api/jobs/{OTHER_JOB}/events?token={token}",
                     f"/api/events?token={token}"):
            status, headers, body = stack.request("GET", path)
            problem(self, (status, headers, body), 401)
            self.assertIn("invalid_token", headers.get("WWW-Authenticate", ""))

        # and it is good for the stream alone, not for the rest of the API
        job = first["jobId"]
        for method, path in (("GET", f"/api/jobs/{job}"), ("GET", "/api/jobs"),
                             ("POST", f"/api/jobs/{job}/cancel"),
                             ("GET", f"/api/jobs/{job}/artifacts/video.mp4")):
            problem(self, stack.request(method, f"{path}?token={token}"), 401)

        # nor does a tampered one
        expiry, _, signature = token.partition(".")
        flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
        tampered = [f"{expiry}.{flipped}",
                    f"{int(expiry) + 86400}.{signature}",
                    f"{expiry}.{signature[:-1]}",
                    f"{expiry}.{signature}x",
                    "", "garbage"]
        for bad in tampered:
            problem(self, stack.request(
                "GET", f"/api/jobs/{first['jobId']}/events?token={bad}"), 401)

        # the page of jobs links the stream of all jobs with its own token
        status, _, body = stack.request("GET", "/api/jobs", headers=BEARER)
        self.assertEqual(status, 200, body)
        page = json.loads(body)
        all_link = page["links"]["events"]
        self.assertTrue(all_link.startswith("/api/events?token="), all_link)
        for item in page["items"]:
            self.assertIsNotNone(token_of(item["links"]["events"]), item)
        stream = open_stream(self, stack, all_link)
        self.assertEqual(stream.status, 200, stream.body() if stream.status != 200 else "")
        self.assertTrue(stream.headers["Content-Type"].startswith("text/event-stream"))
        self.assertEqual(stream.next().get("retry"), "1000")
        stream.close()
        # ... and no job's stream
        problem(self, stack.request(
            "GET", f"/api/jobs/{first['jobId']}/events?token={token_of(all_link)}"), 401)
        problem(self, stack.request("GET", "/api/events"), 401)

        # no token ever reaches a log line
        stack.request("GET", "/healthz")
        secrets = [API_TOKEN, token, token_of(all_link), signature]
        for proc in stack.processes:
            for line in list(proc.lines):
                for secret in secrets:
                    self.assertNotIn(secret, line, f"{proc.name} logged a token")

    def test_expired_events_link_is_refused(self):
        stack = self.start(AURA_EVENT_TOKEN_TTL_S=10)
        accepted = self.submit(stack)
        link = accepted["links"]["events"]
        expiry = int(token_of(link).partition(".")[0])
        self.assertTrue(time.time() + 5 <= expiry <= time.time() + 11, expiry)
        stream = open_stream(self, stack, link)
        self.assertEqual(stream.status, 200)
        stream.close()

        while time.time() < expiry + 0.3:
            time.sleep(min(0.5, max(0.05, expiry + 0.3 - time.time())))
        doc = problem(self, stack.request("GET", link), 401)
        self.assertIn("expired", doc["detail"])
        # a fresh link works again
        status, _, body = stack.request("GET", f"/api/jobs/{accepted['jobId']}",
                                        headers=BEARER)
        self.assertEqual(status, 200, body)
        fresh = json.loads(body)["links"]["events"]
        self.assertGreater(int(token_of(fresh).partition(".")[0]), expiry)
        stream = open_stream(self, stack, fresh)
        self.assertEqual(stream.status, 200)
        for proc in stack.processes:
            for line in list(proc.lines):
                self.assertNotIn(token_of(link), line, f"{proc.name} logged a token")

    def test_metrics_follows_its_own_token(self):
        with Stack(AURA_API_TOKEN=API_TOKEN, AURA_METRICS_TOKEN=METRICS_TOKEN) as stack:
            stack.start_gateway()
            status, headers, body = stack.request("GET", "/metrics")
            problem(self, (status, headers, body), 401)
            self.assertTrue(headers.get("WWW-Authenticate", "").startswith("Bearer"))
            problem(self, stack.request("GET", "/metrics", headers=BEARER), 401)
            status, headers, body = stack.request(
                "GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
            self.assertEqual(status, 200, body)
            self.assertTrue(headers["Content-Type"].startswith("text/plain"))
            self.assertIn(b"# TYPE", body)

        with Stack(AURA_API_TOKEN=API_TOKEN) as stack:
            stack.start_gateway()
            status, _, body = stack.request("GET", "/metrics")
            self.assertEqual(status, 200, body)
            self.assertIn(b"# TYPE", body)


# ------------------------------------------------------------------ CORS

class CorsTest(unittest.TestCase):

    def start(self, **settings):
        stack = Stack(AURA_CORS_ORIGINS=ORIGINS, **settings)
        self.addCleanup(stack.close)
        stack.start_all()
        return stack

    def preflight(self, stack, origin, path="/api/jobs", method="POST"):
        return stack.request("OPTIONS", path, headers={
            "Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type"})

    def test_preflight_and_answers_for_listed_origins(self):
        stack = self.start(AURA_API_TOKEN=API_TOKEN)
        for origin in ("https://app.example", "http://localhost:5173"):
            # no bearer token: a browser never sends one with a preflight
            status, headers, body = self.preflight(stack, origin)
            self.assertEqual(status, 204, body)
            self.assertEqual(headers.get("Access-Control-Allow-Origin"), origin)
            methods = [m.strip() for m in
                       headers.get("Access-Control-Allow-Methods", "").split(",")]
            self.assertIn("POST", methods)
            self.assertIn("GET", methods)
            allowed = [h.strip().lower() for h in
                       headers.get("Access-Control-Allow-Headers", "").split(",")]
            self.assertIn("authorization", allowed)
            self.assertIn("content-type", allowed)
            self.assertRegex(headers.get("Access-Control-Max-Age", ""), r"^[1-9]\d*$")
            self.assertIn("Origin", headers.get("Vary", ""))
        status, headers, _ = self.preflight(stack, "https://app.example",
                                            path="/api/events", method="GET")
        self.assertEqual(status, 204)
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), "https://app.example")

        # the answers themselves, even a 401, are readable by that origin
        for hdrs, expected in (({"Origin": "https://app.example", **BEARER}, 200),
                               ({"Origin": "https://app.example"}, 401)):
            status, headers, body = stack.request("GET", "/api/jobs", headers=hdrs)
            self.assertEqual(status, expected, body)
            self.assertEqual(headers.get("Access-Control-Allow-Origin"), "https://app.example")
            self.assertIn("Origin", headers.get("Vary", ""))
            self.assertIn("X-Correlation-ID", headers.get("Access-Control-Expose-Headers", ""))
        # an EventSource from that origin can read its stream
        stream = open_stream(self, stack, "/api/events",
                             {"Origin": "https://app.example", **BEARER})
        self.assertEqual(stream.status, 200)
        self.assertEqual(stream.headers.get("Access-Control-Allow-Origin"),
                         "https://app.example")
        stream.close()
        status, headers, body = stack.request(
            "POST", "/api/jobs", {"brief": {"topic": "x"}},
            {"Origin": "http://localhost:5173", **BEARER})
        self.assertEqual(status, 202, body)
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), "http://localhost:5173")
        self.assertIn("Location",
                      [h.strip() for h in
                       headers.get("Access-Control-Expose-Headers", "").split(",")])

    def test_other_origins_get_nothing(self):
        stack = self.start()
        for origin in ("https://evil.example", "https://app.example.evil.example",
                       "http://app.example", "https://app.example:8443", "null"):
            status, headers, body = self.preflight(stack, origin)
            problem(self, (status, headers, body), 403)
            self.assertNotIn("Access-Control-Allow-Origin", headers, origin)
            self.assertNotIn("Access-Control-Allow-Methods", headers, origin)
            status, headers, body = stack.request("GET", "/api/jobs",
                                                  headers={"Origin": origin})
            self.assertEqual(status, 200, body)
            self.assertNotIn("Access-Control-Allow-Origin", headers, origin)
            self.assertIn("Origin", headers.get("Vary", ""))
        # same-origin requests send no Origin and need no CORS header
        status, headers, _ = stack.request("GET", "/api/jobs")
        self.assertEqual(status, 200)
        self.assertNotIn("Access-Control-Allow-Origin", headers)

    def test_bad_origin_list_stops_the_gateway(self):
        with Stack() as stack:
            for bad in ("https://a.example/path", "https://a.example/", "a.example",
                        "https://a.example, *"):
                env = dict(stack.env, AURA_CORS_ORIGINS=bad)
                proc = Process("gateway", [os.path.join(BIN_DIR, "aura-gateway")], env)
                stack.processes.append(proc)
                try:
                    code = proc.proc.wait(10)
                except Exception:
                    code = None
                proc._reader.join(5)
                self.assertEqual(code, 2, f"{bad!r}: exit {code}\n{proc.log()}")
                lines = [line for line in proc.lines if line.strip()]
                self.assertEqual(len(lines), 1, f"{bad!r}: {lines}")
                self.assertRegex(lines[0], r"(?i)cors|origin", bad)
                self.assertNotIn("listening", lines[0])


# ---------------------------------------------------------------- limits

class LimitsTest(unittest.TestCase):

    def test_rate_limit_charges_posts_not_gets(self):
        with Stack(AURA_RATE_LIMIT=2, AURA_RATE_BURST=3) as stack:
            stack.start_all()
            for _ in range(10):
                status, _, body = stack.request("GET", "/api/jobs")
                self.assertEqual(status, 200, body)
            began = time.monotonic()
            accepted = 0
            refused = None
            for _ in range(12):
                status, headers, body = stack.request("POST", "/api/jobs",
                                                      {"brief": {"topic": "x"}})
                if status != 202:
                    refused = (status, headers, body)
                    break
                accepted += 1
            elapsed = time.monotonic() - began
            self.assertIsNotNone(refused, "no POST was refused")
            doc = problem(self, refused, 429)
            wait_s = retry_after(self, refused[1])
            self.assertLessEqual(wait_s, 2)
            self.assertTrue(doc["detail"])
            # the burst, plus at most what refilled meanwhile
            self.assertGreaterEqual(accepted, 3)
            self.assertLessEqual(accepted, 3 + int(2 * elapsed), f"{elapsed:.2f}s")
            # GETs are not charged: the bucket is empty, yet they pass
            for _ in range(5):
                status, _, body = stack.request("GET", "/api/jobs")
                self.assertEqual(status, 200, body)
            # Retry-After is honest
            time.sleep(wait_s)
            status, _, body = stack.request("POST", "/api/jobs", {"brief": {"topic": "x"}})
            self.assertEqual(status, 202, body)

    def test_streams_per_address(self):
        with Stack(AURA_MAX_STREAMS_PER_IP=2, AURA_KEEPALIVE_S=1) as stack:
            stack.start_broker()
            stack.start_gateway()
            stack.wait_ready()
            streams = [open_stream(self, stack, "/api/events") for _ in range(2)]
            for stream in streams:
                self.assertEqual(stream.status, 200)
                self.assertEqual(stream.next().get("retry"), "1000")
            status, headers, body = stack.request("GET", "/api/events")
            doc = problem(self, (status, headers, body), 429)
            retry_after(self, headers)
            self.assertIn("stream", doc["detail"])
            status, headers, body = stack.request("GET", f"/api/jobs/{OTHER_JOB}/events")
            problem(self, (status, headers, body), 429)
            # other requests still pass
            self.assertEqual(stack.request("GET", "/api/jobs")[0], 200)

            streams[0].close()

            def reopen():
                stream = EventStream(stack, "/api/events")
                if stream.status == 200:
                    self.addCleanup(stream.close)
                    return stream
                stream.body()
                stream.close()
                return None

            stream = poll(reopen, timeout=10, interval=0.2)
            self.assertIsNotNone(stream, "a closed stream was never counted as closed")
            self.assertEqual(stream.next().get("retry"), "1000")

    def test_streams_overall(self):
        with Stack(AURA_MAX_STREAMS=2) as stack:
            stack.start_broker()
            stack.start_gateway()
            stack.wait_ready()
            streams = [open_stream(self, stack, "/api/events") for _ in range(2)]
            for stream in streams:
                self.assertEqual(stream.status, 200)
                self.assertEqual(stream.next().get("retry"), "1000")
            for path in ("/api/events", f"/api/jobs/{OTHER_JOB}/events"):
                status, headers, body = stack.request("GET", path)
                problem(self, (status, headers, body), 503)
                retry_after(self, headers)
            self.assertEqual(stack.request("GET", "/healthz")[0], 200)

    def test_body_over_64_kib(self):
        with Stack() as stack:
            stack.start_all()
            body = json.dumps({"brief": {"topic": "x" * (65 * 1024)}})
            problem(self, stack.request("POST", "/api/jobs", body), 413)
            # the connection and the gateway are fine afterwards
            status, _, body = stack.request("POST", "/api/jobs", {"brief": {"topic": "x"}})
            self.assertEqual(status, 202, body)


# ------------------------------------------------------------ slow loris

class SlowClientTest(unittest.TestCase):

    def test_half_sent_request_is_dropped_but_streams_live_on(self):
        with Stack(AURA_REQUEST_TIMEOUT_S=1, AURA_KEEPALIVE_S=1) as stack:
            stack.start_broker()
            stack.start_gateway()
            stack.wait_ready()
            stream = open_stream(self, stack, "/api/events")
            self.assertEqual(stream.status, 200)

            outcome = {}

            def loris():
                sock = socket.create_connection(("127.0.0.1", stack.port), timeout=10)
                try:
                    sock.sendall(b"GET /api/jobs HTTP/1.1\r\nHost: x\r\n")
                    sent = time.monotonic()
                    while True:
                        try:
                            data = sock.recv(4096)
                        except ConnectionResetError:
                            data = b""
                        except socket.timeout:
                            outcome["error"] = "still open after 10 s"
                            return
                        if not data:
                            outcome["closed_after"] = time.monotonic() - sent
                            return
                        outcome.setdefault("data", b"")
                        outcome["data"] += data
                finally:
                    sock.close()

            thread = threading.Thread(target=loris, daemon=True)
            thread.start()

            began = time.monotonic()
            keepalives = 0
            while time.monotonic() - began < 4:
                event = stream.next()
                self.assertIsNotNone(event, "the stream ended")
                if event.get("comment", "").startswith("keepalive"):
                    keepalives += 1
            self.assertGreaterEqual(keepalives, 2)

            thread.join(12)
            self.assertNotIn("error", outcome, outcome)
            self.assertIn("closed_after", outcome, outcome)
            self.assertLess(outcome["closed_after"], 5.0)
            self.assertNotIn(b"200 OK", outcome.get("data", b""))
            # the stream is still there
            event = stream.next()
            self.assertIsNotNone(event)
            self.assertEqual(stack.request("GET", "/healthz")[0], 200)


# ------------------------------------------------------ stream of all jobs

class AllJobsStreamTest(unittest.TestCase):

    def test_stream_of_all_jobs(self):
        with Stack(AURA_KEEPALIVE_S=1) as stack:
            stack.start_all()
            stream = open_stream(self, stack, "/api/events", timeout=15)
            self.assertEqual(stream.status, 200)
            self.assertTrue(stream.headers["Content-Type"].startswith("text/event-stream"))
            self.assertEqual(stream.next(), {"retry": "1000"})

            jobs = [stack.submit(), stack.submit({"topic": "Second"})]
            seen = {job: [] for job in jobs}
            completed = set()
            deadline = time.monotonic() + 30
            while completed != set(jobs) and time.monotonic() < deadline:
                event = stream.next()
                self.assertIsNotNone(event, f"the stream ended; seen {seen}")
                if "comment" in event:
                    continue
                self.assertNotIn("id", event, event)
                self.assertIn("event", event, event)
                job = event["data"]["jobId"]
                self.assertIn(job, seen, event)
                seen[job].append(event["event"])
                if event["event"] == "job-completed":
                    completed.add(job)
            self.assertEqual(completed, set(jobs), seen)
            for job in jobs:
                self.assertIn("step-progress", seen[job])
                self.assertEqual(seen[job][-1], "job-completed")

            # still open once both are done: keepalives keep coming
            began = time.monotonic()
            event = stream.next()
            self.assertIsNotNone(event, "the stream ended after the jobs completed")
            self.assertTrue(event.get("comment", "").startswith("keepalive"), event)
            self.assertLess(time.monotonic() - began, 5)
            # and it carries the next job as well
            third = stack.submit()
            while True:
                event = stream.next()
                self.assertIsNotNone(event)
                if "data" in event and event["data"]["jobId"] == third:
                    break


# ---------------------------------------------------------------- web UI

INDEX = b"<!doctype html><title>Aura</title><p>studio</p>\n"
APP_JS = b"console.log('aura');\n"
SECRET = b"TOP-SECRET-do-not-serve-7f3a\n"


class WebTest(unittest.TestCase):

    def test_web_files(self):
        with Stack() as stack:
            web = os.path.join(stack.dir, "web")
            os.makedirs(os.path.join(web, "assets"))
            for name, data in (("index.html", INDEX), ("assets/app.js", APP_JS),
                               (".hidden", SECRET), ("assets/.env", SECRET)):
                with open(os.path.join(web, name), "wb") as f:
                    f.write(data)
            with open(os.path.join(stack.dir, "secret"), "wb") as f:
                f.write(SECRET)
            stack.start_gateway(AURA_WEB_DIR=web)

            status, headers, body = stack.request("GET", "/")
            self.assertEqual(status, 200, body)
            self.assertTrue(headers["Content-Type"].startswith("text/html"), headers)
            self.assertEqual(body, INDEX)
            etag = headers.get("ETag")
            self.assertTrue(etag, "no ETag")
            status, headers, body = stack.request("GET", "/index.html")
            self.assertEqual((status, body), (200, INDEX))
            self.assertEqual(headers.get("ETag"), etag)

            status, headers, body = stack.request("GET", "/assets/app.js")
            self.assertEqual(status, 200, body)
            self.assertTrue(headers["Content-Type"].startswith("text/javascript"), headers)
            self.assertEqual(body, APP_JS)

            status, headers, body = stack.request("GET", "/", headers={"If-None-Match": etag})
            self.assertEqual(status, 304, body)
            self.assertEqual(body, b"")
            status, _, body = stack.request("GET", "/", headers={"If-None-Match": '"other"'})
            self.assertEqual((status, body), (200, INDEX))
            status, headers, body = stack.request("HEAD", "/")
            self.assertEqual((status, body), (200, b""))
            self.assertEqual(headers.get("Content-Length"), str(len(INDEX)))

            # a new release of a file gets a new ETag
            _, headers, _ = stack.request("GET", "/assets/app.js")
            old_etag = headers["ETag"]
            with open(os.path.join(web, "assets", "app.js.new"), "wb") as f:
                f.write(APP_JS + b"// v2\n")
            os.replace(os.path.join(web, "assets", "app.js.new"),
                       os.path.join(web, "assets", "app.js"))
            status, headers, body = stack.request("GET", "/assets/app.js",
                                                  headers={"If-None-Match": old_etag})
            self.assertEqual((status, body), (200, APP_JS + b"// v2\n"))
            self.assertNotEqual(headers["ETag"], old_etag)

            problem(self, stack.request("GET", "/nope.js"), 404)
            for path in ("/../secret", "/%2e%2e/secret", "/assets/../../secret",
                         "/assets/%2e%2e/%2e%2e/secret", "/..%2fsecret", "/.hidden",
                         "/assets/.env", "/%2ehidden", "//etc/passwd", "/secret",
                         "/assets/", "/index.html/", "/./index.html"):
                status, headers, body = stack.request("GET", path)
                self.assertEqual(status, 404, f"{path}: {body!r}")
                self.assertNotIn(SECRET.strip(), body, path)
                self.assertNotIn(b"root:", body, path)
            # even before the routing: raw bytes on the socket
            for raw_path in (b"/../secret", b"/assets/../../secret"):
                with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as sock:
                    sock.sendall(b"GET " + raw_path + b" HTTP/1.1\r\nHost: x\r\n"
                                 b"Connection: close\r\n\r\n")
                    answer = b""
                    while True:
                        chunk = sock.recv(65536)
                        if not chunk:
                            break
                        answer += chunk
                self.assertNotIn(SECRET.strip(), answer, raw_path)
                self.assertFalse(answer.startswith(b"HTTP/1.1 200"), answer[:200])

            status, headers, body = stack.request("POST", "/", body="x")
            problem(self, (status, headers, body), 405)
            self.assertIn("GET", headers.get("Allow", ""))

            for path in ("/api/whatever", "/api", "/api/"):
                status, headers, body = stack.request("GET", path)
                problem(self, (status, headers, body), 404)
                self.assertNotIn(INDEX, body, path)

    def test_missing_web_dir(self):
        with Stack() as stack:
            stack.start_gateway(AURA_WEB_DIR=os.path.join(stack.dir, "no-such-dir"))
            for path in ("/", "/index.html", "/assets/app.js"):
                problem(self, stack.request("GET", path), 404)
            self.assertEqual(stack.request("GET", "/healthz")[0], 200)


# -------------------------------------------------------------- shutdown

class ShutdownTest(unittest.TestCase):

    def test_sigterm_ends_open_streams_with_a_farewell(self):
        with Stack(AURA_SYNTHETIC_STEP_MS=5000) as stack:
            stack.start_all()
            job = stack.submit()
            stream = open_stream(self, stack, f"/api/jobs/{job}/events", timeout=10)
            self.assertEqual(stream.status, 200)
            self.assertEqual(stream.next().get("retry"), "1000")
            first = stream.next()
            self.assertEqual(first.get("event"), "job-status", first)
            # a second stream, of all jobs
            everything = open_stream(self, stack, "/api/events", timeout=10)
            self.assertEqual(everything.status, 200)
            self.assertEqual(everything.next().get("retry"), "1000")

            began = time.monotonic()
            stack.gateway.signal(signal.SIGTERM)
            for s in (stream, everything):
                comments = []
                while True:
                    event = s.next()
                    if event is None:
                        break
                    if "comment" in event:
                        comments.append(event["comment"])
                    self.assertLess(time.monotonic() - began, 5, "no end of stream")
                self.assertTrue(s.ended)
                self.assertTrue(any("shutting down" in c for c in comments), comments)
                self.assertNotIn("keepalive", comments[-1])
            try:
                code = stack.gateway.proc.wait(max(0.1, 5 - (time.monotonic() - began)))
            except Exception:
                code = None
            self.assertEqual(code, 0, stack.gateway.log())
            self.assertLess(time.monotonic() - began, 5)
            stack.gateway.wait_for_line(r"\bstopped\b", timeout=2)


# -------------------------------------------------------- correlation id

class CorrelationTest(unittest.TestCase):

    def test_correlation_id_reaches_broker_and_worker_logs(self):
        with Stack() as stack:
            stack.start_all()
            status, headers, body = stack.request(
                "POST", "/api/jobs", {"brief": {"topic": "Correlated"}},
                {"X-Correlation-ID": "corr-xyz-1"})
            self.assertEqual(status, 202, body)
            self.assertEqual(headers["X-Correlation-ID"], "corr-xyz-1")
            job = json.loads(body)["jobId"]
            self.assertEqual(json.loads(body)["correlationId"], "corr-xyz-1")
            stack.wait_job(job, "Done")
            worker = stack.workers[0]
            worker.wait_for_line(rf"job-completed.*\b{job}\b|\b{job}\b.*job-completed")
            stack.broker.wait_for_line(rf"Done.*\b{job}\b|\b{job}\b.*Done")
            for proc in (stack.broker, worker):
                about = [line for line in list(proc.lines) if job in line]
                self.assertTrue(about, f"{proc.name} never logged {job}")
                for line in about:
                    self.assertIn("corr-xyz-1", line, f"{proc.name}: {line}")
            # another request's id stays with its own job
            other = stack.submit(headers={"X-Correlation-ID": "corr-other-2"})
            stack.wait_job(other, "Done")
            stack.broker.wait_for_line(rf"Done.*\b{other}\b|\b{other}\b.*Done")
            for proc in (stack.broker, worker):
                for line in list(proc.lines):
                    if other in line:
                        self.assertIn("corr-other-2", line)
                        self.assertNotIn("corr-xyz-1", line)


if __name__ == "__main__":
    unittest.main(verbosity=2)
