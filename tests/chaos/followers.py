"""Event-stream clients for the chaos run. A client is a thread that
follows several jobs at once, one connection per job, the way a browser
tab with a few EventSources does, and resumes every stream that ends
early with Last-Event-ID after a backoff. It records every event id it
receives, with a fingerprint of the event, so the run can prove that each
client saw each of its jobs' events exactly once, in order, and the same
events as the journal."""

import json
import queue
import random
import selectors
import socket
import threading
import time

TERMINAL = {"job-completed": "Done", "job-failed": "Failed",
            "job-cancelled": "Canceled"}

BACKOFF_MIN_S = 0.1
BACKOFF_MAX_S = 2.0


def fingerprint(event, data_text):
    """What identifies an event's content: its type and its data, as
    parsed JSON (so that key order does not matter)."""
    return hash((event, json.dumps(json.loads(data_text), sort_keys=True)))


class HttpStream:
    """Incremental parser of one HTTP/1.1 response carrying an event
    stream: the head, then a chunked (or sized) body cut into SSE frames
    at blank lines."""

    def __init__(self):
        self.raw = b""
        self.body = b""
        self.status = None
        self.chunked = False
        self.length = None
        self.finished = False   # the body ended as HTTP says it should

    def feed(self, data):
        """Takes bytes off the socket; returns the complete frames they
        finish, each a dict of its fields (comments under "comment")."""
        self.raw += data
        if self.status is None:
            head, sep, rest = self.raw.partition(b"\r\n\r\n")
            if not sep:
                return []
            lines = head.decode("latin-1").split("\r\n")
            self.status = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
            if "content-length" in headers:
                self.length = int(headers["content-length"])
            if self.status in (204, 304) or self.length == 0:
                self.finished = True
            self.raw = rest
        self._decode()
        frames = []
        while b"\n\n" in self.body:
            frame, _, self.body = self.body.partition(b"\n\n")
            frames.append(parse_frame(frame))
        return frames

    def _decode(self):
        if self.finished:
            self.raw = b""
            return
        if not self.chunked:
            self.body += self.raw
            if self.length is not None:
                self.length -= len(self.raw)
                self.finished = self.length <= 0
            self.raw = b""
            return
        while True:
            end = self.raw.find(b"\r\n")
            if end < 0:
                return
            size = int(self.raw[:end].split(b";")[0], 16)
            if size == 0:
                self.finished = True
                self.raw = b""
                return
            start = end + 2
            if len(self.raw) < start + size + 2:
                return
            self.body += self.raw[start:start + size]
            self.raw = self.raw[start + size + 2:]


def parse_frame(frame):
    out = {}
    for line in frame.decode("utf-8").split("\n"):
        if line.startswith(":"):
            out["comment"] = line[1:].strip()
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data" and "data" in out:
            out["data"] += "\n" + value
        else:
            out[name] = value
    return out


class Follow:
    """One client's record of one job."""

    def __init__(self, job):
        self.job = job
        self.ids = []            # every event id received, in order
        self.prints = []         # fingerprint of each, same order
        self.terminal = None     # the terminal event's type, once received
        self.anomalies = []      # anything a correct server never sends
        self.done = False
        self.connects = 0
        self.drops = 0           # streams that ended before the job did
        self.refused = 0         # connects that failed, answers not 200/204
        self.statuses = {}       # those answers by status
        self.voluntary = 0       # streams this client closed on purpose
        self.stalls = 0          # open streams silent for too long
        self.sock = None
        self.http = None
        self.got_event = False   # the current connection delivered an event
        self.retry_at = 0.0
        self.backoff_s = BACKOFF_MIN_S
        self.last_bytes = 0.0

    @property
    def last_id(self):
        return self.ids[-1] if self.ids else 0


class Client(threading.Thread):
    """Follows the jobs handed to follow() until each has sent its
    terminal event (or answered 204), then ends once finish() was called
    and nothing is left; abort() ends it at once."""

    def __init__(self, index, port, seed, drop_rate, stall_s, on_terminal=None):
        super().__init__(name=f"client-{index}", daemon=True)
        self.index = index
        self.port = port
        self.rng = random.Random(f"{seed}/client/{index}")
        self.drop_rate = drop_rate
        self.stall_s = stall_s
        self.on_terminal = on_terminal
        self.follows = {}
        self.incoming = queue.SimpleQueue()
        self.selector = selectors.DefaultSelector()
        self._finish = threading.Event()
        self._abort = threading.Event()
        self.error = None

    def follow(self, job):
        self.incoming.put(job)

    def finish(self):
        self._finish.set()

    def abort(self):
        self._abort.set()

    def run(self):
        try:
            self._loop()
        except Exception as exc:  # noqa: BLE001 - reported by the run
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            for f in self.follows.values():
                self._close(f)
            self.selector.close()

    def _loop(self):
        while not self._abort.is_set():
            while True:
                try:
                    job = self.incoming.get_nowait()
                except queue.Empty:
                    break
                if job not in self.follows:
                    self.follows[job] = Follow(job)
            now = time.monotonic()
            pending = [f for f in self.follows.values() if not f.done]
            if not pending and self._finish.is_set() and self.incoming.empty():
                return
            for f in pending:
                if f.sock is None and f.retry_at <= now:
                    self._connect(f)
            if self.selector.get_map():
                ready = self.selector.select(timeout=0.1)
            else:
                ready = []
                time.sleep(0.05)
            for key, _ in ready:
                self._read(key.data)
            now = time.monotonic()
            for f in pending:
                if f.sock is not None and now - f.last_bytes > self.stall_s:
                    f.stalls += 1
                    f.anomalies.append(
                        f"stream silent for {self.stall_s:.0f} s after id {f.last_id}")
                    self._close(f)
                    self._backoff(f)

    def _connect(self, f):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(2.0)
        request = (f"GET /api/jobs/{f.job}/events HTTP/1.1\r\n"
                   f"Host: 127.0.0.1:{self.port}\r\n"
                   "Accept: text/event-stream\r\n"
                   f"Last-Event-ID: {f.last_id}\r\n\r\n").encode()
        try:
            sock.connect(("127.0.0.1", self.port))
            sock.sendall(request)
        except OSError:
            sock.close()
            f.refused += 1
            self._backoff(f)
            return
        sock.setblocking(False)
        f.sock = sock
        f.http = HttpStream()
        f.got_event = False
        f.connects += 1
        f.last_bytes = time.monotonic()
        self.selector.register(sock, selectors.EVENT_READ, f)

    def _close(self, f):
        if f.sock is None:
            return
        try:
            self.selector.unregister(f.sock)
        except (KeyError, ValueError):
            pass
        f.sock.close()
        f.sock = None
        f.http = None

    def _backoff(self, f):
        f.retry_at = time.monotonic() + f.backoff_s * (0.8 + 0.4 * self.rng.random())
        f.backoff_s = min(f.backoff_s * 2, BACKOFF_MAX_S)

    def _read(self, f):
        if f.sock is None:
            return
        try:
            data = f.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            # closed before the body's end: a killed gateway, a reset
            f.drops += 1
            self._close(f)
            self._backoff(f)
            return
        f.last_bytes = time.monotonic()
        frames = f.http.feed(data)
        status = f.http.status
        if status is None:
            return
        if status == 204:
            if f.terminal is None:
                f.anomalies.append(f"204 at id {f.last_id} before any terminal event")
            f.done = True
            self._close(f)
            return
        if status != 200:
            f.refused += 1
            f.statuses[status] = f.statuses.get(status, 0) + 1
            if status not in (429, 502, 503):
                f.anomalies.append(f"answer {status} at id {f.last_id}")
            self._close(f)
            self._backoff(f)
            return
        for frame in frames:
            if "id" not in frame or "event" not in frame:
                continue
            self._event(f, frame)
            if f.sock is None:
                return  # dropped on purpose: what follows is not read
        if f.http.finished:
            # the server ended the stream: after the terminal event, or
            # (a gateway shutting down) with a request to reconnect
            self._close(f)
            if f.terminal is not None:
                f.done = True
            else:
                f.drops += 1
                self._backoff(f)

    def _event(self, f, frame):
        seq = int(frame["id"])
        if seq != f.last_id + 1:
            f.anomalies.append(f"id {seq} after id {f.last_id}")
        data = json.loads(frame.get("data", "null"))
        if not isinstance(data, dict) or data.get("seq") != seq or data.get("jobId") != f.job:
            f.anomalies.append(f"id {seq}: data names job {data.get('jobId')} seq "
                               f"{data.get('seq')}" if isinstance(data, dict)
                               else f"id {seq}: data is not an object")
        if f.terminal is not None:
            f.anomalies.append(f"id {seq} ({frame['event']}) after the terminal event")
        f.ids.append(seq)
        f.prints.append(fingerprint(frame["event"], frame.get("data", "null")))
        if not f.got_event:
            f.got_event = True
            f.backoff_s = BACKOFF_MIN_S
        if frame["event"] in TERMINAL:
            f.terminal = frame["event"]
            if self.on_terminal:
                self.on_terminal(f.job)
        elif self.rng.random() < self.drop_rate:
            f.voluntary += 1
            self._close(f)
            f.retry_at = time.monotonic()
