"""`aura`, the command-line client, against real stacks: following a job
to each of its ends (and the exit status that says which), JSON lines with
contiguous ids, the readable and JSON forms of get and list, the demo, a
follow that outlives a gateway killed under it, downloads of a real video
(whole and resumed), bearer tokens, and a gateway that is not there."""

import fcntl
import http.server
import json
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN_DIR, JOB_ID, Stack  # noqa: E402

AURA = os.path.join(BIN_DIR, "aura")
STEPS = ("plan", "tts", "visuals", "compose", "render")
API_TOKEN = "cli-test-token-0123456789abcdef"
UNKNOWN_JOB = "01JD5ZQ6X8M9N0P1Q2R3S4T5V6"
ANSI = re.compile(r"\x1b\[")


def aura_env(stack=None, **extra):
    """The environment of an aura run: none of the stack's AURA_* settings
    and no proxy, the gateway's URL, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AURA_") and "proxy" not in k.lower()}
    if stack is not None:
        env["AURA_URL"] = f"http://127.0.0.1:{stack.port}"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(stack, *args, timeout=60, **env):
    """Runs aura to its end; returns the CompletedProcess (text)."""
    return subprocess.run([AURA, *args], env=aura_env(stack, **env),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


class Follower:
    """An aura run in the background (its own process group), its stdout
    collected line by line."""

    def __init__(self, stack, *args, **env):
        self.proc = subprocess.Popen(
            [AURA, *args], env=aura_env(stack, **env), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        self.lines = []
        self.stderr = ""
        self._cond = threading.Condition()
        self._out = threading.Thread(target=self._read_out, daemon=True)
        self._err = threading.Thread(target=self._read_err, daemon=True)
        self._out.start()
        self._err.start()

    def _read_out(self):
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _read_err(self):
        self.stderr = self.proc.stderr.read()

    def wait_for(self, predicate, timeout=20.0):
        """Waits until predicate(lines) is true; fails the test otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._out.is_alive()):
                    raise AssertionError(f"aura never got there; exit={self.proc.poll()}\n"
                                         + "\n".join(self.lines) + "\n" + self.stderr)
                self._cond.wait(min(left, 0.2))

    def wait(self, timeout=60.0):
        """The exit status; the output is complete afterwards."""
        code = self.proc.wait(timeout)
        self._out.join(5)
        self._err.join(5)
        return code

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(5)
        self._out.join(5)
        self._err.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class ScriptedGateway:
    """A stand-in gateway on loopback for one job: GET of the job answers
    the next of `jobs` (the last one once they run out); each GET of its
    events plays the next of `streams`: bytes sent as an event stream
    before the connection is closed, or a bare status code."""

    def __init__(self, job, jobs, streams):
        self.job = job
        self.last_event_ids = []  # the Last-Event-ID of each events request
        jobs, streams = list(jobs), list(streams)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == f"/api/jobs/{job}":
                    body = json.dumps(jobs.pop(0) if len(jobs) > 1 else jobs[0]).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                assert self.path == f"/api/jobs/{job}/events", self.path
                outer.last_event_ids.append(self.headers.get("Last-Event-ID"))
                step = streams.pop(0)
                if isinstance(step, int):
                    self.send_response(step)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(step)
                self.wfile.flush()
                self.close_connection = True

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def event_bytes(job, seq, kind, end=b"\n", **data):
    """One SSE frame of job, with line ends end."""
    body = json.dumps({"jobId": job, **data, "seq": seq, "ts": seq})
    return end.join([f"id: {seq}".encode(), f"event: {kind}".encode(),
                     b"data: " + body.encode(), b"", b""])


class CliTest(unittest.TestCase):

    def stack(self, worker=None, gateway=None, **settings):
        stack = Stack(**settings)
        self.addCleanup(stack.close)
        stack.start_broker()
        stack.start_gateway(**(gateway or {}))
        stack.start_worker(**(worker or {}))
        stack.wait_ready()
        return stack

    def follower(self, stack, *args, **env):
        follower = Follower(stack, *args, **env)
        self.addCleanup(follower.kill)
        return follower

    def submit(self, stack, *args, **env):
        out = run(stack, "submit", "--topic", "Why the sky is blue", "--json", *args, **env)
        self.assertEqual(out.returncode, 0, out.stderr)
        job = json.loads(out.stdout)["jobId"]
        self.assertRegex(job, JOB_ID)
        return job

    def assert_ids_contiguous(self, events):
        ids = [e["id"] for e in events]
        self.assertEqual(ids, list(range(1, len(ids) + 1)), ids)
        for e in events:
            self.assertEqual(e["data"]["seq"], e["id"])
            self.assertIsInstance(e["event"], str)

    # ------------------------------------------------------------ follow

    def test_submit_follow_prints_each_step_and_exits_0(self):
        stack = self.stack()
        out = run(stack, "submit", "--topic", "x", "--follow")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        lines = out.stdout.splitlines()
        self.assertRegex(lines[0], r"^job [0-9A-Z]{26} submitted \(Queued\)$")
        self.assertIsNone(ANSI.search(out.stdout), "no escapes when stdout is a pipe")
        for step in STEPS:
            self.assertIn(f"step {step}: Running", lines)
            self.assertTrue(any(re.match(rf"^step {step}: Done in \d+\.\d s$", line)
                                for line in lines), f"{step} never done:\n{out.stdout}")
        self.assertIn("status: Running", lines)
        self.assertEqual(lines[-1], "completed")
        # steps are reported in pipeline order
        starts = [lines.index(f"step {step}: Running") for step in STEPS]
        self.assertEqual(starts, sorted(starts))

    def test_failed_job_exits_1_and_retry_runs_it_again(self):
        stack = self.stack(worker={"AURA_SYNTHETIC_FAIL_STEP": "tts"})
        out = run(stack, "submit", "--topic", "x", "--follow")
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("step plan: Done", out.stdout)
        self.assertRegex(out.stdout.splitlines()[-1], r"^failed in step tts: ")
        job = out.stdout.split()[1]

        # run again, the job fails in tts again; the follow shows the first
        # attempt's end but goes on to the second's
        again = run(stack, "retry", job, "--follow")
        self.assertEqual(again.returncode, 1, again.stdout + again.stderr)
        lines = again.stdout.splitlines()
        self.assertEqual(lines[0], f"job {job} queued again (attempt 2)")
        failures = [n for n, line in enumerate(lines) if line.startswith("failed in step tts")]
        self.assertEqual(len(failures), 2, again.stdout)
        self.assertIn("status: Queued (position 1, again)", lines[failures[0]:])
        self.assertEqual(failures[1], len(lines) - 1)
        events = json_lines(run(stack, "follow", job, "--json").stdout)
        self.assert_ids_contiguous(events)
        self.assertEqual([e["event"] for e in events].count("job-failed"), 2)
        # and a finished job cannot be cancelled: the gateway's 409
        cancel = run(stack, "cancel", job)
        self.assertEqual(cancel.returncode, 2)
        self.assertRegex(cancel.stderr, r"^aura: .*cannot be cancelled")

    def test_cancel_from_another_aura_ends_the_follow_with_3(self):
        stack = self.stack(AURA_SYNTHETIC_STEP_MS=1000)
        job = self.submit(stack)
        follower = self.follower(stack, "follow", job)
        follower.wait_for(lambda lines: "step plan: Running" in lines)
        cancel = run(stack, "cancel", job)
        self.assertEqual(cancel.returncode, 0, cancel.stderr)
        self.assertIn(f"job {job}: cancel requested", cancel.stdout)
        self.assertEqual(follower.wait(20), 3, follower.stderr)
        self.assertRegex(follower.lines[-1], r"^cancelled in step (plan|tts)$")

    def test_follow_json_lines_have_ids_1_to_n(self):
        stack = self.stack()
        job = self.submit(stack)
        out = run(stack, "follow", job, "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        events = json_lines(out.stdout)
        self.assert_ids_contiguous(events)
        self.assertEqual(events[0]["event"], "job-status")
        self.assertEqual(events[-1]["event"], "job-completed")
        self.assertEqual(events[-1]["data"]["jobId"], job)
        kinds = {e["event"] for e in events}
        self.assertTrue({"step-status", "step-progress"} <= kinds, kinds)
        self.assertEqual(stack.job(job)["lastEventId"], len(events))

        # a finished job replays the same lines; submit --follow --json
        # prints only the events
        self.assertEqual(json_lines(run(stack, "follow", job, "--json").stdout), events)
        out = run(stack, "submit", "--topic", "y", "--follow", "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assert_ids_contiguous(json_lines(out.stdout))

    def test_follow_survives_a_gateway_restart(self):
        stack = self.stack(AURA_SYNTHETIC_STEP_MS=800)
        job = self.submit(stack)
        follower = self.follower(stack, "follow", job, "--json")
        follower.wait_for(lambda lines: len(lines) >= 4)
        port = stack.port
        stack.gateway.kill9()
        time.sleep(0.3)  # the follower finds the gateway gone and waits
        stack.start_gateway(AURA_HTTP_ADDR=f"127.0.0.1:{port}")
        self.assertEqual(stack.port, port)
        self.assertEqual(follower.wait(60), 0, follower.stderr)
        self.assertIn("reconnecting in", follower.stderr)
        events = [json.loads(line) for line in follower.lines]
        self.assert_ids_contiguous(events)
        self.assertEqual(events[-1]["event"], "job-completed")
        self.assertEqual(stack.job(job)["lastEventId"], len(events))

    def test_follow_gives_up_when_the_gateway_stays_away(self):
        stack = self.stack(AURA_SYNTHETIC_STEP_MS=1000)
        job = self.submit(stack)
        follower = self.follower(stack, "follow", job)
        follower.wait_for(lambda lines: any(line.startswith("step plan") for line in lines))
        started = time.monotonic()
        stack.gateway.kill9()
        self.assertEqual(follower.wait(60), 4, follower.stderr)
        waited = time.monotonic() - started
        # 1 + 2 + 4 + 8 + 16 s of waits, then the fifth attempt fails too
        self.assertGreaterEqual(waited, 30, follower.stderr)
        self.assertEqual(follower.stderr.count("reconnecting in"), 5, follower.stderr)
        for n, wait in enumerate((1, 2, 4, 8, 16), start=1):
            self.assertIn(f"reconnecting in {wait} s (attempt {n} of 5)", follower.stderr)
        self.assertIn("gave up after 5 attempts", follower.stderr)

    def test_follow_parses_resumes_and_stops_on_204(self):
        job = "01JD5ZQ6X8M9N0P1Q2R3S4T5V6"
        first = (b"retry: 200\r\n\r\n"
                 + event_bytes(job, 1, "job-status", b"\r\n", status="Running",
                               phase="plan", percent=0, attempt=1)
                 + b": keepalive 2025-01-01T00:00:00Z\n\n"
                 # data over two lines, joined with a line feed
                 + b"id: 2\nevent: step-status\ndata: {\"jobId\": \"" + job.encode()
                 + b"\", \"step\": \"plan\",\ndata: \"status\": \"Running\", \"seq\": 2}\n\n"
                 # cut off before its blank line: never shown
                 + b"id: 3\revent: step-status\rdata: {\"seq\": 3}\r")
        second = event_bytes(job, 3, "step-status", b"\r", step="plan", status="Done",
                             attempt=1)
        gateway = ScriptedGateway(
            job, jobs=[{"jobId": job, "status": "Running", "lastEventId": 2},
                       {"jobId": job, "status": "Done", "lastEventId": 3}],
            streams=[first, second, 204])
        self.addCleanup(gateway.close)
        started = time.monotonic()
        out = run(None, "--url", f"http://127.0.0.1:{gateway.port}", "follow", job,
                  "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        # the stream's retry: 200 sets the wait, bytes read reset the count
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual(out.stderr.count("reconnecting in 0.2 s (attempt 1 of 5)"), 2,
                         out.stderr)
        self.assertEqual(gateway.last_event_ids, ["0", "2", "3"])
        events = json_lines(out.stdout)
        self.assertEqual([e["id"] for e in events], [1, 2, 3])
        self.assertEqual(events[1]["data"], {"jobId": job, "step": "plan",
                                             "status": "Running", "seq": 2})
        self.assertEqual(events[2]["data"]["status"], "Done")

    def test_terminal_progress_line(self):
        stack = self.stack()
        job = self.submit(stack)
        stack.wait_job(job, "Done")
        for no_color in ("", "1"):
            master, slave = pty.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))
            env = aura_env(stack, TERM="xterm")
            if no_color:
                env["NO_COLOR"] = no_color
            proc = subprocess.Popen([AURA, "follow", job], env=env, stdin=subprocess.DEVNULL,
                                    stdout=slave, stderr=subprocess.PIPE,
                                    start_new_session=True)
            os.close(slave)
            screen = b""
            while True:
                ready, _, _ = select.select([master], [], [], 20)
                self.assertTrue(ready, "aura went silent")
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the terminal's last writer is gone
                    break
                if not chunk:
                    break
                screen += chunk
            os.close(master)
            self.assertEqual(proc.wait(10), 0, proc.stderr.read())
            proc.stderr.close()
            text = screen.decode()
            self.assertIn("\x1b[K", text)
            plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
            self.assertRegex(plain, r"\rrender +\[=+\] 100%  Encoding video")
            self.assertIn("\x1b[32m" in text, [not no_color])
            if no_color:
                self.assertNotRegex(text, r"\x1b\[[0-9;]*m")
            for piece in re.split(r"[\r\n]", text):
                visible = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", piece)
                self.assertLessEqual(len(visible), 59, repr(visible))
            # what stays on the screen: each line as its last redraw left it
            lasting = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line).rstrip("\r")
                       .split("\r")[-1].strip() for line in text.split("\n")]
            for step in STEPS:
                self.assertTrue(any(re.match(rf"{step}\s+Done\s+in ", line)
                                    for line in lasting), lasting)
            self.assertEqual(lasting[-2], "completed")

    # ------------------------------------------------------ get and list

    def test_get_and_list(self):
        stack = self.stack()
        first = self.submit(stack)
        second = self.submit(stack)
        stack.wait_job(second, "Done")

        out = run(stack, "list", "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        page = json.loads(out.stdout)
        self.assertEqual([item["jobId"] for item in page["items"]][:2], [second, first])

        out = run(stack, "list", "--limit", "1", "--json")
        page = json.loads(out.stdout)
        self.assertEqual(len(page["items"]), 1)
        self.assertEqual(page["nextCursor"], second)
        out = run(stack, "list", "--cursor", page["nextCursor"], "--status", "Done")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(first, out.stdout)
        self.assertNotIn(second, out.stdout)
        self.assertRegex(out.stdout, rf"(?m)^{first}\s+Done\s+100%")

        out = run(stack, "get", first)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, rf"(?m)^Job\s+{first}$")
        self.assertRegex(out.stdout, r"(?m)^Status\s+Done, complete 100%, attempt 1$")
        self.assertIn("plan Done, tts Done, visuals Done, compose Done, render Done",
                      out.stdout)
        out = run(stack, "get", first, "--json")
        self.assertEqual(json.loads(out.stdout)["jobId"], first)

        # what the gateway refuses comes back with its reasons, status 2
        out = run(stack, "list", "--status", "Bogus", "--limit", "0")
        self.assertEqual(out.returncode, 2)
        self.assertIn("\n  status: must be one of", out.stderr)
        self.assertIn("\n  limit: ", out.stderr)
        out = run(stack, "submit", "--topic", "x", "--duration", "2")
        self.assertEqual(out.returncode, 2)
        self.assertRegex(out.stderr, r"(?m)^aura: planSpec\.targetDuration: ")
        self.assertRegex(out.stderr, r"(?m)^  planSpec\.targetDuration: ")

    def test_get_of_an_unknown_job(self):
        stack = self.stack()
        out = run(stack, "get", UNKNOWN_JOB)
        self.assertEqual(out.returncode, 2)
        self.assertEqual(out.stdout, "")
        self.assertEqual(out.stderr.strip(), f"aura: no job {UNKNOWN_JOB}")
        out = run(stack, "follow", UNKNOWN_JOB)
        self.assertEqual(out.returncode, 2)
        self.assertIn(f"no job {UNKNOWN_JOB}", out.stderr)
        out = run(stack, "get", "not-a-job")
        self.assertEqual(out.returncode, 2)
        self.assertIn("'not-a-job' is not a job id", out.stderr)

    def test_demo(self):
        stack = self.stack()
        out = run(stack, "demo")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertRegex(out.stdout, r"^job [0-9A-Z]{26} submitted")
        self.assertIn("step render: Done", out.stdout)
        self.assertEqual(out.stdout.splitlines()[-1], "completed")
        job = out.stdout.split()[1]
        self.assertEqual(stack.job(job)["title"], "Welcome to Aura Video Studio")

        out = run(stack, "demo", "--no-follow", "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(json.loads(out.stdout)["jobId"], JOB_ID)

    # ---------------------------------------------------------- download

    def test_download_a_video_whole_and_resumed(self):
        stack = Stack(AURA_PIPELINE="media")
        self.addCleanup(stack.close)
        stack.start_all()
        job = self.submit(stack, "--duration", "5", "--res", "720p")
        out = run(stack, "follow", job, timeout=240)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        snap = stack.job(job)
        listed = {a["name"]: a for a in snap["artifacts"]}
        self.assertIn("video.mp4", listed)

        # into ./<ID>/ by default
        work = tempfile.mkdtemp(dir=stack.dir)
        out = subprocess.run([AURA, "download", job], cwd=work, env=aura_env(stack),
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        target = os.path.join(work, job)
        self.assertEqual(sorted(os.listdir(target)), sorted(listed))
        for name, artifact in listed.items():
            self.assertEqual(os.path.getsize(os.path.join(target, name)),
                             artifact["sizeBytes"], name)
        status, _, video = stack.request("GET", f"/api/jobs/{job}/artifacts/video.mp4")
        self.assertEqual(status, 200)
        self.assertEqual(len(video), listed["video.mp4"]["sizeBytes"])
        with open(os.path.join(target, "video.mp4"), "rb") as f:
            self.assertEqual(f.read(), video)

        # again: nothing to fetch
        out = run(stack, "download", job, target)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.count("already complete"), len(listed), out.stdout)

        # half a video left by an interrupted run is resumed with a Range
        resumed = os.path.join(stack.dir, "resumed", "deeper")
        os.makedirs(resumed)
        half = len(video) // 2
        with open(os.path.join(resumed, "video.mp4.part"), "wb") as f:
            f.write(video[:half])
        out = run(stack, "download", job, resumed, "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        results = {r["name"]: r for r in json_lines(out.stdout)}
        self.assertEqual(results["video.mp4"]["result"], "resumed")
        self.assertEqual(results["video.mp4"]["sizeBytes"], len(video))
        with open(os.path.join(resumed, "video.mp4"), "rb") as f:
            self.assertEqual(f.read(), video)
        self.assertFalse([n for n in os.listdir(resumed) if n.endswith(".part")])
        stack.gateway.wait_for_line(
            rf"GET /api/jobs/{job}/artifacts/video\.mp4 206 ")

    def test_download_of_a_job_without_files(self):
        stack = self.stack(AURA_SYNTHETIC_STEP_MS=1000)
        job = self.submit(stack)
        out = run(stack, "download", job, os.path.join(stack.dir, "nothing"))
        self.assertEqual(out.returncode, 2)
        self.assertIn("has no files yet", out.stderr)
        self.assertFalse(os.path.exists(os.path.join(stack.dir, "nothing")))

    # ------------------------------------------------- access and errors

    def test_bearer_token(self):
        stack = self.stack(gateway={"AURA_API_TOKEN": API_TOKEN})
        out = run(stack, "list")
        self.assertEqual(out.returncode, 2)
        self.assertIn("aura: authentication failed (401)", out.stderr)
        self.assertIn("AURA_API_TOKEN", out.stderr)

        out = run(stack, "submit", "--topic", "x", "--follow", AURA_API_TOKEN=API_TOKEN)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(out.stdout.splitlines()[-1], "completed")
        self.assertNotIn(API_TOKEN, out.stdout + out.stderr)
        job = out.stdout.split()[1]
        out = run(stack, "--token", API_TOKEN, "follow", job, "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assert_ids_contiguous(json_lines(out.stdout))

        wrong = "wrong-token-abcdefghijklmnop"
        for args in (("get", job), ("follow", job), ("submit", "--topic", "x")):
            out = run(stack, *args, AURA_API_TOKEN=wrong)
            self.assertEqual(out.returncode, 2, args)
            self.assertIn("(401)", out.stderr)
            self.assertIn("refused the API token", out.stderr)
            self.assertNotIn(wrong, out.stdout + out.stderr)

    def test_unreachable_gateway_exits_4(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        for args in (("list",), ("get", UNKNOWN_JOB), ("follow", UNKNOWN_JOB),
                     ("submit", "--topic", "x", "--follow")):
            started = time.monotonic()
            out = run(None, "--url", url, *args, AURA_API_TOKEN=API_TOKEN)
            self.assertEqual(out.returncode, 4, (args, out.stderr))
            self.assertIn(f"aura: cannot reach {url}", out.stderr)
            self.assertNotIn(API_TOKEN, out.stderr)
            self.assertLess(time.monotonic() - started, 5, args)

    def test_usage_help_and_version(self):
        out = run(None, "--help")
        self.assertEqual(out.returncode, 0)
        self.assertIn("Exit status:", out.stdout)
        for command in ("demo", "submit", "follow", "get", "list", "cancel", "retry",
                        "download"):
            self.assertIn(f"  {command} ", out.stdout)
            sub = run(None, command, "--help")
            self.assertEqual(sub.returncode, 0)
            self.assertTrue(sub.stdout.startswith(f"Usage: aura {command}"), sub.stdout)
        self.assertIn("--duration", run(None, "help", "submit").stdout)
        out = run(None, "--version")
        self.assertEqual(out.returncode, 0)
        self.assertRegex(out.stdout, r"^aura \d+\.\d+\.\d+\n$")
        for args in ((), ("bogus",), ("list", "--bogus"), ("submit",), ("get",)):
            out = run(None, *args)
            self.assertEqual(out.returncode, 2, args)
            self.assertTrue(out.stderr, args)


if __name__ == "__main__":
    unittest.main()
