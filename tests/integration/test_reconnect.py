"""Event streams across dropped connections, gateway restarts and slow
readers: a client that reconnects with Last-Event-ID sees every event of
its job exactly once, whichever of the gateway's ring or the broker's
journal the missing ones come from."""

import calendar
import collections
import json
import os
import re
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Stack  # noqa: E402

KEEPALIVE = re.compile(r"^keepalive (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$")


class RawStream:
    """One HTTP request for an event stream over a plain socket, so that a
    test decides the receive buffer size and when bytes leave the kernel.
    Frames are handed out only once complete (ended by a blank line)."""

    def __init__(self, port, path, last_event_id=None, rcvbuf=None,
                 timeout=30.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
                 "Accept: text/event-stream", "Cache-Control: no-cache"]
        if last_event_id is not None:
            lines.append(f"Last-Event-ID: {last_event_id}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.raw = b""       # bytes off the socket not yet decoded
        self.body = b""      # decoded body not yet split into frames
        self.frames = collections.deque()  # complete frames not yet parsed
        self.closed = False  # the peer closed (or reset) the connection
        self.finished = False  # the body ended as HTTP says it should
        self.chunked = False
        self.length = None
        self.status, self.headers = self._read_head(timeout)

    def close(self):
        self.sock.close()

    def receive(self, timeout):
        """Takes what the socket holds (waiting up to timeout) into the
        undecoded bytes and returns it; b"" once the peer has closed."""
        self.sock.settimeout(max(timeout, 0.01))
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
        self.raw += data
        return data

    def _read_head(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.raw:
            if self.closed:
                raise AssertionError(f"connection closed before the head: {self.raw!r}")
            self.receive(deadline - time.monotonic())
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if "content-length" in headers:
            self.length = int(headers["content-length"])
        if status in (204, 304) or self.length == 0:
            self.finished = True
        self._decode()
        return status, headers

    def _decode(self):
        if not self.chunked:
            self.body += self.raw
            if self.length is not None:
                self.length -= len(self.raw)
                if self.length <= 0:
                    self.finished = True
            self.raw = b""
            return
        while not self.finished:
            line_end = self.raw.find(b"\r\n")
            if line_end < 0:
                return
            size = int(self.raw[:line_end].split(b";")[0], 16)
            if size == 0:
                self.finished = True
                return
            start = line_end + 2
            if len(self.raw) < start + size + 2:
                return
            self.body += self.raw[start:start + size]
            self.raw = self.raw[start + size + 2:]

    def next_frame(self, timeout=20.0):
        """The next complete frame as a dict (id, event, data, retry or
        comment), or None once the stream has ended. Raises
        AssertionError when nothing comes within timeout."""
        deadline = time.monotonic() + timeout
        while not self.frames:
            if b"\n\n" in self.body:
                *complete, self.body = self.body.split(b"\n\n")
                self.frames.extend(complete)
                break
            if self.finished or self.closed:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no frame within {timeout} s")
            try:
                self.receive(left)
            except socket.timeout:
                raise AssertionError(f"no frame within {timeout} s") from None
            self._decode()
        return parse_frame(self.frames.popleft())

    def read_until(self, stop, timeout=30.0):
        """Frames up to and including the first for which stop(frame) is
        true, or up to the end of the stream."""
        deadline = time.monotonic() + timeout
        frames = []
        while True:
            frame = self.next_frame(max(deadline - time.monotonic(), 0.01))
            if frame is None:
                return frames
            frames.append(frame)
            if stop(frame):
                return frames

    def read_all(self, timeout=30.0):
        """Every frame up to the end of the stream."""
        return self.read_until(lambda f: False, timeout)

    @property
    def cut(self):
        """True when the connection ended without the body's proper end."""
        return self.closed and not self.finished


def parse_frame(frame):
    out = {}
    for line in frame.decode("utf-8").split("\n"):
        if line.startswith(":"):
            out["comment"] = line[1:].strip()
            continue
        name, _, value = line.partition(":")
        out[name] = value[1:] if value.startswith(" ") else value
    if "data" in out:
        out["data"] = json.loads(out["data"])
    return out


def events_of(frames):
    return [f for f in frames if "event" in f]


def ids_of(frames):
    return [int(f["id"]) for f in events_of(frames)]


def last_id(frames):
    ids = ids_of(frames)
    return ids[-1] if ids else None


def metric(stack, name):
    """The value of an unlabelled metric of the gateway, 0 when absent."""
    status, _, body = stack.request("GET", "/metrics")
    assert status == 200, f"/metrics answered {status}"
    m = re.search(rf"(?m)^{re.escape(name)} (\S+)$", body.decode())
    return float(m.group(1)) if m else 0.0


def submit_many(stack, count, threads=4):
    """Submits count jobs from several connections at once; their ids."""
    out = [[] for _ in range(threads)]
    errors = []

    def run(slot, n):
        try:
            for _ in range(n):
                out[slot].append(stack.submit())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i, count // threads + (i < count % threads)))
               for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if errors:
        raise errors[0]
    return [job for part in out for job in part]


class Drain:
    """Reads a stream in the background as fast as it comes, keeping only
    a count of the bytes."""

    def __init__(self, stream):
        self.stream = stream
        self.bytes = 0
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            while not self._stop.is_set() and not self.stream.closed:
                try:
                    self.bytes += len(self.stream.receive(0.2))
                    self.stream.raw = b""
                except socket.timeout:
                    pass
        except OSError as exc:
            self.error = exc

    def stop(self):
        self._stop.set()
        self._thread.join(5)


class ReconnectTest(unittest.TestCase):

    def make_stack(self, worker=True, gateway=None, **settings):
        stack = Stack(**settings)
        self.addCleanup(stack.close)
        stack.start_broker()
        stack.start_gateway(**(gateway or {}))
        if worker:
            stack.start_worker()
        stack.wait_ready()
        return stack

    def open(self, stack, job, last_event_id=None, rcvbuf=None, path=None):
        stream = RawStream(stack.port, path or f"/api/jobs/{job}/events",
                           last_event_id, rcvbuf)
        self.addCleanup(stream.close)
        return stream

    def full_replay(self, stack, job):
        """The whole stream of a finished job, from its first event."""
        stream = self.open(stack, job, last_event_id=0)
        self.assertEqual(stream.status, 200)
        frames = stream.read_all()
        self.assertTrue(stream.finished, "a finished job's replay must end properly")
        events = events_of(frames)
        self.assertEqual(ids_of(events), list(range(1, len(events) + 1)),
                         "a full replay runs 1..n")
        self.assertEqual(events[-1]["event"], "job-completed")
        return events

    def wait_for_event(self, stack, job, predicate, timeout=20.0):
        """Follows the job's stream from its start until predicate(event)
        holds; returns that event."""
        stream = self.open(stack, job, last_event_id=0)
        frames = stream.read_until(lambda f: "event" in f and predicate(f), timeout)
        stream.close()
        self.assertTrue(frames and predicate(frames[-1]),
                        f"the stream ended first: {events_of(frames)[-3:]}")
        return frames[-1]

    def assert_union_is_whole(self, first, second, full):
        """first and second are what two connections got; together they
        must be the whole stream once, and the same events as full."""
        union = events_of(first) + events_of(second)
        self.assertEqual([int(e["id"]) for e in union],
                         list(range(1, len(full) + 1)),
                         "the two connections together must carry 1..n once")
        self.assertEqual(union[-1]["event"], "job-completed")
        for got, want in zip(union, full):
            self.assertEqual(got, want, f"event #{want['id']} differs from the replay")

    # ------------------------------------------------------------- tests

    def test_reconnect_with_last_event_id_mid_job_resumes_exactly(self):
        stack = self.make_stack(AURA_SYNTHETIC_STEP_MS=500, AURA_SYNTHETIC_REPORTS=5)
        job = stack.submit()
        first = self.open(stack, job, last_event_id=0)
        self.assertEqual(first.status, 200)
        frames = first.read_until(
            lambda f: f.get("event") == "step-progress" and f["data"]["step"] == "tts")
        first.close()
        k = last_id(frames)
        self.assertEqual(frames[-1].get("event"), "step-progress",
                         f"the job ended before it reached tts: {events_of(frames)[-3:]}")
        self.assertEqual(ids_of(frames), list(range(1, k + 1)))
        self.assertEqual(frames[0].get("retry"), "1000")

        second = self.open(stack, job, last_event_id=k)
        self.assertEqual(second.status, 200)
        rest = second.read_all()
        self.assertEqual(rest[0].get("retry"), "1000")
        self.assertTrue(second.finished, "the stream must end after job-completed")
        self.assertEqual(int(events_of(rest)[0]["id"]), k + 1,
                         "a reconnect resumes after Last-Event-ID, without a snapshot")

        full = self.full_replay(stack, job)
        self.assertGreater(len(full), k + 1, "k must be mid-job")
        self.assert_union_is_whole(frames, rest, full)

    def test_replay_older_than_the_ring_comes_from_the_journal(self):
        # The ring holds 1024 events per job and is not configurable; a
        # job sends at most ~10 progress events a second, so a restarted
        # gateway (whose ring is empty) stands for one that has dropped
        # the events: every replay must come from the broker's journal.
        stack = self.make_stack(AURA_SYNTHETIC_STEP_MS=60, AURA_SYNTHETIC_REPORTS=3)
        job = stack.submit()
        stack.wait_job(job, "Done")
        before = self.full_replay(stack, job)
        n = len(before)
        self.assertGreater(n, 12)

        stack.gateway.kill9()
        stack.start_gateway()
        stack.wait_ready()

        for k in (0, 1, n // 2, n - 1):
            with self.subTest(last_event_id=k):
                stream = self.open(stack, job, last_event_id=k)
                self.assertEqual(stream.status, 200)
                frames = stream.read_all()
                self.assertTrue(stream.finished, "the replay must end properly")
                self.assertEqual(frames[0].get("retry"), "1000")
                got = events_of(frames)
                self.assertEqual(ids_of(got), list(range(k + 1, n + 1)))
                self.assertEqual(got, before[k:])
        stream = self.open(stack, job, last_event_id=n)
        self.assertEqual(stream.status, 204)
        self.assertEqual(stream.body + stream.raw, b"")

    def test_gateway_killed_mid_job_client_resumes_on_the_new_one(self):
        stack = self.make_stack(AURA_SYNTHETIC_STEP_MS=1000, AURA_SYNTHETIC_REPORTS=5)
        job = stack.submit()
        first = self.open(stack, job, last_event_id=0)
        frames = first.read_until(
            lambda f: f.get("event") == "step-progress" and f["data"]["step"] == "plan")
        self.assertEqual(frames[-1].get("event"), "step-progress")

        stack.gateway.kill9()
        # what the kernel still held arrives; then the connection ends
        frames += first.read_all(timeout=10)
        self.assertFalse(first.finished, "a killed gateway cannot end the body")
        self.assertNotIn("job-completed", [e["event"] for e in events_of(frames)])
        k = last_id(frames)
        self.assertEqual(ids_of(frames), list(range(1, k + 1)))

        stack.start_gateway()
        stack.wait_ready()
        # reconnect at once: the new gateway has never heard of the job
        early = self.open(stack, job, last_event_id=k)
        self.assertEqual(early.status, 200)
        # read on until events the new gateway received live arrive
        latest = stack.job(job)["lastEventId"]
        early_frames = early.read_until(lambda f: "id" in f and int(f["id"]) > latest + 1)
        # a second client reconnects once the new gateway carries live
        # events: the start of its ring is past k + 1
        late = self.open(stack, job, last_event_id=k)
        self.assertEqual(late.status, 200)
        late_frames = late.read_all()
        early_frames += early.read_all()
        self.assertTrue(early.finished and late.finished)

        full = self.full_replay(stack, job)
        self.assertGreater(len(full), k + 1)
        self.assert_union_is_whole(frames, early_frames, full)
        self.assert_union_is_whole(frames, late_frames, full)

    def test_finished_job_204_rest_or_snapshot(self):
        stack = self.make_stack(AURA_SYNTHETIC_STEP_MS=50)
        job = stack.submit()
        stack.wait_job(job, "Done")
        full = self.full_replay(stack, job)
        n = len(full)

        stream = self.open(stack, job, last_event_id=n)
        self.assertEqual(stream.status, 204)
        self.assertEqual(stream.body + stream.raw, b"", "204 has no body")

        stream = self.open(stack, job, last_event_id=n - 4)
        self.assertEqual(stream.status, 200)
        frames = stream.read_all()
        self.assertTrue(stream.finished, "the stream must end after its last event")
        self.assertEqual(frames[0].get("retry"), "1000")
        self.assertEqual(ids_of(frames), [n - 3, n - 2, n - 1, n])
        self.assertEqual(events_of(frames), full[-4:])

        stream = self.open(stack, job)
        self.assertEqual(stream.status, 200)
        frames = stream.read_all()
        self.assertTrue(stream.finished, "the snapshot of a finished job ends the stream")
        self.assertEqual(frames[0].get("retry"), "1000")
        events = events_of(frames)
        self.assertEqual(len(events), 1, events)
        self.assertEqual(events[0]["event"], "job-status")
        self.assertEqual(int(events[0]["id"]), n)
        self.assertEqual(events[0]["data"]["status"], "Done")
        self.assertEqual(events[0]["data"]["percent"], 100)
        self.assertEqual(events[0]["data"]["jobId"], job)

        # an id beyond the last is nothing left too
        stream = self.open(stack, job, last_event_id=n + 10)
        self.assertEqual(stream.status, 204)

    def assert_keepalives(self, stream):
        began = time.monotonic()
        comments = []
        others = []
        while time.monotonic() - began < 3.5:
            try:
                frame = stream.next_frame(timeout=max(began + 3.5 - time.monotonic(), 0.01))
            except AssertionError:
                break
            if frame is None:
                self.fail("the stream ended while idle")
            if "comment" in frame:
                comments.append((time.monotonic(), time.time(), frame["comment"]))
            else:
                others.append(frame)
        self.assertGreaterEqual(len(comments), 2,
                                f"keepalives within 3.5 s: {comments}; other frames {others}")
        self.assertLessEqual(len(comments), 5, f"keepalives flood: {comments}")
        for _, wall, text in comments:
            m = KEEPALIVE.match(text)
            self.assertIsNotNone(m, f"not `keepalive <RFC 3339>`: {text!r}")
            stamp = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
            self.assertLess(abs(stamp - wall), 5, f"keepalive time is off: {text!r}")
        gaps = [b[0] - a[0] for a, b in zip(comments, comments[1:])]
        for gap in gaps:
            self.assertGreater(gap, 0.5, f"keepalives too close: {gaps}")

    def test_keepalive_every_second_on_a_queued_job(self):
        stack = self.make_stack(worker=False, AURA_KEEPALIVE_S=1)
        job = stack.submit()
        stream = self.open(stack, job)
        self.assertEqual(stream.status, 200)
        frames = stream.read_until(lambda f: "event" in f, timeout=10)
        self.assertEqual(frames[-1]["event"], "job-status")
        self.assertEqual(frames[-1]["data"]["status"], "Queued")
        self.assert_keepalives(stream)

    def test_keepalive_every_second_during_a_long_step(self):
        stack = self.make_stack(AURA_KEEPALIVE_S=1, AURA_SYNTHETIC_STEP_MS=30000,
                                AURA_SYNTHETIC_REPORTS=1)
        job = stack.submit()
        stream = self.open(stack, job, last_event_id=0)
        self.assertEqual(stream.status, 200)
        frames = stream.read_until(
            lambda f: f.get("event") == "step-status" and f["data"]["status"] == "Running",
            timeout=15)
        self.assertEqual(frames[-1]["data"]["step"], "plan")
        self.assert_keepalives(stream)

    def test_slow_reader_is_cut_and_loses_nothing(self):
        # The kernel takes well over a megabyte for a client that does not
        # read before the gateway's own queue grows at all, and one job
        # sends at most ~10 progress events a second, so a single job's
        # stream never passes the backlog cap: the stream of every job
        # (GET /api/events) with hundreds of short jobs does. The cap is
        # well above the bursts of those jobs, so that the cut comes from
        # the reader that stops reading. Steps of 2 ms spread each job's
        # events over time, so that the 16 jobs running at once interleave
        # on the stream and the cut finds some of them half sent (a worker
        # forwards a 0 ms job's events in one burst).
        stack = self.make_stack(worker=False, gateway={"AURA_SSE_MAX_BACKLOG": 65536},
                                AURA_SYNTHETIC_STEP_MS=2, AURA_SYNTHETIC_REPORTS=3,
                                AURA_WORKER_SLOTS=8, AURA_LOG_LEVEL="info")
        stack.start_worker()
        stack.start_worker()
        cut_before = metric(stack, "aura_gateway_sse_streams_cut_total")
        slow = self.open(stack, None, rcvbuf=1024, path="/api/events")
        self.assertEqual(slow.status, 200)

        def cut_logged():
            return any("stream of all jobs cut" in line for line in list(stack.gateway.lines))

        jobs = []
        deadline = time.monotonic() + 45
        while not cut_logged():
            self.assertLess(time.monotonic(), deadline,
                            f"no stream was cut after {len(jobs)} jobs")
            self.assertLess(len(jobs), 4000, "no stream was cut")
            jobs += submit_many(stack, 50)
        for job in jobs[-20:]:
            stack.wait_job(job, "Done", timeout=60)

        frames = slow.read_all(timeout=60)
        self.assertTrue(slow.cut, f"the slow stream was not cut: {len(frames)} frames")
        self.assertNotIn("id", {key for f in frames for key in f},
                         "the stream of every job carries no ids")
        self.assertGreater(metric(stack, "aura_gateway_sse_streams_cut_total"), cut_before)

        # what the slow client got is, for every job, the start of that
        # job's stream without a gap: it resumes each job from there
        seen = {}
        for e in events_of(frames):
            seen.setdefault(e["data"]["jobId"], []).append(e)
        self.assertTrue(seen, "the slow stream got nothing before its cut")
        for job, events in seen.items():
            seqs = [e["data"]["seq"] for e in events]
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)), f"job {job}")
        partial = [job for job, events in seen.items()
                   if events[-1]["event"] not in ("job-completed", "job-failed")]
        self.assertTrue(partial, "the cut came between two jobs' events")
        for job in partial[-3:]:
            stack.wait_job(job, "Done", timeout=60)
            full = self.full_replay(stack, job)
            got = seen[job]
            for mine, want in zip(got, full):
                self.assertEqual((mine["event"], mine["data"]), (want["event"], want["data"]))
            again = self.open(stack, job, last_event_id=len(got))
            self.assertEqual(again.status, 200)
            rest = again.read_all()
            self.assertTrue(again.finished)
            self.assertEqual(events_of(rest), full[len(got):])

        # and the stream of every job can be opened again
        again = self.open(stack, None, path="/api/events")
        self.assertEqual(again.status, 200)

    def test_replay_larger_than_the_backlog_cap_is_delivered(self):
        # a reconnect far behind asks for more than the cap in one go; the
        # replay is what it needs to catch up, not a sign of a slow reader
        stack = self.make_stack(gateway={"AURA_SSE_MAX_BACKLOG": 4096},
                                AURA_SYNTHETIC_STEP_MS=450, AURA_SYNTHETIC_REPORTS=3)
        job = stack.submit()
        n = stack.wait_job(job, "Done")["lastEventId"]
        # events take about 200 bytes each
        self.assertGreaterEqual(n, 25, "the replay must hold more than 4096 bytes")
        sizes = []
        for _ in range(3):
            stream = self.open(stack, job, last_event_id=0)
            self.assertEqual(stream.status, 200)
            frames = stream.read_all()
            sizes.append(len(events_of(frames)))
            if stream.finished:
                break
        got = events_of(frames)
        self.assertTrue(stream.finished and got and got[-1]["event"] == "job-completed",
                        f"a replay of more than 4096 bytes was cut at every attempt: "
                        f"events received per attempt {sizes}")
        self.assertEqual(ids_of(got), list(range(1, n + 1)))

    def test_reader_that_keeps_up_is_not_cut_by_a_burst(self):
        # fifty jobs submitted at once: a dashboard reading as fast as the
        # loopback allows is not a slow client, even when the burst passes
        # its backlog cap before the gateway's writer runs (it is cut only
        # once it takes nothing for a second, or at 4 times the cap)
        stack = self.make_stack(worker=False, gateway={"AURA_SSE_MAX_BACKLOG": 65536},
                                AURA_SYNTHETIC_STEP_MS=0, AURA_WORKER_SLOTS=8,
                                AURA_LOG_LEVEL="info")
        stack.start_worker()
        cut_before = metric(stack, "aura_gateway_sse_streams_cut_total")
        stream = self.open(stack, None, path="/api/events")
        self.assertEqual(stream.status, 200)
        reader = Drain(stream)
        jobs = submit_many(stack, 50)
        for job in jobs:
            stack.wait_job(job, "Done", timeout=60)
        reader.stop()
        cuts = [line for line in list(stack.gateway.lines) if " cut" in line]
        self.assertFalse(stream.closed,
                         f"a reader that keeps up was cut after {reader.bytes} bytes: {cuts}")
        self.assertEqual(metric(stack, "aura_gateway_sse_streams_cut_total"), cut_before)

    def test_new_subscriber_gets_retry_then_snapshot_then_newer_events(self):
        stack = self.make_stack(AURA_SYNTHETIC_STEP_MS=400, AURA_SYNTHETIC_REPORTS=4)
        job = stack.submit()
        self.wait_for_event(
            stack, job,
            lambda f: f.get("event") == "step-progress" and f["data"]["step"] == "tts")
        before = stack.job(job)["lastEventId"]
        stream = self.open(stack, job)
        self.assertEqual(stream.status, 200)
        first = stream.next_frame()
        self.assertEqual(first, {"retry": "1000"}, "the first frame is retry: 1000")
        snapshot = stream.next_frame()
        after = stack.job(job)["lastEventId"]
        self.assertEqual(snapshot.get("event"), "job-status", snapshot)
        snap_id = int(snapshot["id"])
        self.assertTrue(before <= snap_id <= after,
                        f"snapshot #{snap_id} is not the latest seq ({before}..{after})")
        self.assertEqual(snapshot["data"]["seq"], snap_id)
        self.assertEqual(snapshot["data"]["status"], "Running")
        rest = stream.read_all()
        self.assertTrue(stream.finished)
        self.assertEqual(ids_of(rest), list(range(snap_id + 1, snap_id + 1 + len(ids_of(rest)))))
        full = self.full_replay(stack, job)
        self.assertEqual(events_of(rest), full[snap_id:],
                         "after the snapshot come exactly the newer events")
        # the snapshot shows where the job stood at its seq
        percents = [e["data"]["percent"] for e in full[:snap_id] if "percent" in e["data"]]
        self.assertEqual(snapshot["data"]["percent"], percents[-1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
