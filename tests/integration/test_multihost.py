"""Aura across hosts, as README "Multi-host" describes it: the broker, the
gateway and two workers each in a network namespace of their own, joined
by a bridge in another namespace, and a client in a fifth. The broker binds
tcp://<its address>:7701-7704 and lets in only what the documentation says
to open (7701 and 7704 from the gateway, 7702-7704 from the workers); the
others connect to it by address. A job runs to completion and its events
stream to the client; with several jobs both workers get some.

Every address lives inside the test's namespaces (10.203.0.0/24, no route
out, nothing in the host's own namespace), so no packet leaves them. The
namespaces and every process in them are removed at the end, even on
failure; namespaces left by a killed run are removed by the next one.
Needs root and `ip` (iproute2); iptables for the port check."""

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN_DIR, JOB_ID, Process, parse_sse  # noqa: E402

IP = shutil.which("ip")
IPTABLES = shutil.which("iptables")
CURL = shutil.which("curl")
PREFIX = "aura-mh-"
SUBNET = "10.203.0"
HOSTS = {  # namespace suffix → address
    "broker": f"{SUBNET}.1",
    "gateway": f"{SUBNET}.2",
    "worker1": f"{SUBNET}.11",
    "worker2": f"{SUBNET}.12",
    "client": f"{SUBNET}.100",
}


def run(*argv, check=True, timeout=20):
    return subprocess.run(argv, capture_output=True, text=True, check=check,
                          timeout=timeout)


def remove_namespace(name):
    """Kills what runs in the namespace, then deletes it (its veth ends, and
    so their peers on the bridge, go with it)."""
    pids = run(IP, "netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline:
        pids = run(IP, "netns", "pids", name, check=False).stdout.split()
        time.sleep(0.05)
    run(IP, "netns", "delete", name, check=False)


def remove_stale_namespaces():
    """Namespaces of an earlier run whose process no longer exists."""
    for line in run(IP, "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(rf"^{PREFIX}(\d+)-", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            remove_namespace(name)


def skip_reason():
    if os.geteuid() != 0:
        return "needs root to create network namespaces (CI runs as root)"
    if not IP:
        return "needs ip from iproute2 (deploy/install-deps.sh installs it)"
    if not CURL:
        return "needs curl (deploy/install-deps.sh installs it)"
    return None


@unittest.skipIf(skip_reason(), skip_reason())
class MultiHostTest(unittest.TestCase):

    def setUp(self):
        remove_stale_namespaces()
        self.tag = f"{PREFIX}{os.getpid()}-"
        self.namespaces = []
        self.processes = []
        self.dir = tempfile.mkdtemp(prefix="aura-multihost-")
        # cleanups run in reverse: processes first, then the namespaces
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.addCleanup(self.remove_namespaces)
        self.addCleanup(self.stop_processes)
        self.make_network()

    # network ---------------------------------------------------------------

    def ns(self, host):
        return self.tag + host

    def add_namespace(self, host):
        name = self.ns(host)
        run(IP, "netns", "add", name)
        self.namespaces.append(name)
        run(IP, "-n", name, "link", "set", "lo", "up")
        return name

    def make_network(self):
        switch = self.add_namespace("switch")
        run(IP, "-n", switch, "link", "add", "br0", "type", "bridge")
        run(IP, "-n", switch, "link", "set", "br0", "up")
        for host, address in HOSTS.items():
            name = self.add_namespace(host)
            # both ends are made inside the namespaces: nothing appears in
            # the host's own
            port = f"p-{host}"
            run(IP, "-n", name, "link", "add", "eth0", "type", "veth",
                "peer", "name", port, "netns", switch)
            run(IP, "-n", switch, "link", "set", port, "master", "br0", "up")
            run(IP, "-n", name, "addr", "add", f"{address}/24", "dev", "eth0")
            run(IP, "-n", name, "link", "set", "eth0", "up")

    def remove_namespaces(self):
        for name in reversed(self.namespaces):
            remove_namespace(name)
        left = run(IP, "netns", "list", check=False).stdout
        assert self.tag not in left, f"namespaces left behind:\n{left}"

    def firewall_broker(self):
        """The broker's host lets in only the documented ports."""
        ns = self.ns("broker")
        gw, w1, w2 = HOSTS["gateway"], HOSTS["worker1"], HOSTS["worker2"]
        rules = [
            ["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
            ["-A", "INPUT", "-p", "tcp", "-s", gw, "-m", "multiport",
             "--dports", "7701,7704", "-j", "ACCEPT"],
            ["-A", "INPUT", "-p", "tcp", "-s", f"{w1},{w2}", "-m", "multiport",
             "--dports", "7702:7704", "-j", "ACCEPT"],
            ["-A", "INPUT", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
        ]
        for rule in rules:
            run(IP, "netns", "exec", ns, IPTABLES, *rule)

    # processes ---------------------------------------------------------------

    def start(self, host, program, **settings):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
        env.update({
            "AURA_PIPELINE": "synthetic",
            "AURA_SYNTHETIC_STEP_MS": "150",
            "AURA_HEARTBEAT_MS": "200",
            "AURA_LEASE_MS": "2000",
            "AURA_ARTIFACT_DIR": f"{self.dir}/shared-artifacts",
            "AURA_LOG_LEVEL": "debug",
        })
        env.update({k: str(v) for k, v in settings.items()})
        proc = Process(host, [IP, "netns", "exec", self.ns(host),
                              os.path.join(BIN_DIR, program)], env)
        self.processes.append(proc)
        return proc

    def stop_processes(self):
        for proc in self.processes:
            proc.kill()

    def logs(self):
        return "\n".join(f"--- {p.name} ---\n{p.log()}" for p in self.processes)

    def in_ns(self, host, *argv, timeout=20, env=None):
        return subprocess.run([IP, "netns", "exec", self.ns(host), *argv],
                              capture_output=True, timeout=timeout, env=env)

    def curl(self, *args, timeout=20):
        """curl in the client's namespace; returns (status, body bytes)."""
        out = self.in_ns("client", CURL, "-sS", "--max-time", str(timeout),
                         "-w", "\n%{http_code}", *args, timeout=timeout + 5)
        body, _, status = out.stdout.rpartition(b"\n")
        return int(status or b"0"), body

    # the test ------------------------------------------------------------------

    def test_broker_gateway_and_workers_on_separate_hosts(self):
        broker_ip, gateway_ip = HOSTS["broker"], HOSTS["gateway"]
        endpoints = {
            "AURA_BROKER_FRONTEND": f"tcp://{broker_ip}:7701",
            "AURA_BROKER_JOBS": f"tcp://{broker_ip}:7702",
            "AURA_BROKER_EVENTS": f"tcp://{broker_ip}:7703",
            "AURA_BROKER_PUBLISH": f"tcp://{broker_ip}:7704",
        }
        if IPTABLES:
            self.firewall_broker()
        broker = self.start("broker", "aura-broker", AURA_DATA_DIR=f"{self.dir}/data",
                            **endpoints)
        broker.wait_for_line(r"\bready\b")
        gateway = self.start("gateway", "aura-gateway", AURA_HTTP_ADDR="0.0.0.0:8080",
                             AURA_RATE_LIMIT=0, **endpoints)
        gateway.wait_for_line(r"listening on http://0\.0\.0\.0:8080")
        workers = [self.start(f"worker{n}", "aura-worker", AURA_WORKER_ID=f"w{n}",
                              **endpoints) for n in (1, 2)]
        for worker in workers:
            worker.wait_for_line(r"\bready\b")
            broker.wait_for_line(rf"worker {worker.name.replace('worker', 'w')} joined")

        base = f"http://{gateway_ip}:8080"
        deadline = time.monotonic() + 15
        while self.curl(f"{base}/readyz", timeout=2)[0] != 200:
            self.assertLess(time.monotonic(), deadline, "gateway never ready\n" + self.logs())
            time.sleep(0.1)

        if IPTABLES:
            # the firewall bites: the gateway has no business on 7702
            probe = self.in_ns("gateway", sys.executable, "-c",
                               "import socket; socket.create_connection("
                               f"('{broker_ip}', 7702), 3)")
            self.assertIn(b"ConnectionRefusedError", probe.stderr)

        # every program's --healthcheck passes on its own host
        checks = [("broker", "aura-broker", {}),
                  ("gateway", "aura-gateway", {"AURA_HTTP_ADDR": "0.0.0.0:8080"}),
                  ("worker1", "aura-worker", {"AURA_WORKER_ID": "w1"}),
                  ("worker2", "aura-worker", {})]
        for host, program, settings in checks:
            env = {**os.environ, **endpoints, **settings}
            result = self.in_ns(host, os.path.join(BIN_DIR, program), "--healthcheck",
                                env=env)
            self.assertEqual(result.returncode, 0, result.stderr)
        # a worker's liveness socket belongs to its host alone
        env = {**os.environ, **endpoints, "AURA_WORKER_ID": "w1"}
        result = self.in_ns("worker2", os.path.join(BIN_DIR, "aura-worker"),
                            "--healthcheck", env=env)
        self.assertEqual(result.returncode, 1)

        # one job, its events streamed to the client
        body = json.dumps({"brief": {"topic": "Tides, from another host"}})
        status, answer = self.curl("-X", "POST", "-H", "Content-Type: application/json",
                                   "--data", body, f"{base}/api/jobs")
        self.assertEqual(status, 202, answer)
        job = json.loads(answer)["jobId"]
        self.assertRegex(job, JOB_ID)
        status, stream = self.curl("-N", "-H", "Accept: text/event-stream",
                                   "-H", "Last-Event-ID: 0",
                                   f"{base}/api/jobs/{job}/events", timeout=30)
        self.assertEqual(status, 200, self.logs())
        events = [e for e in parse_sse(io.BytesIO(stream)) if "event" in e]
        kinds = [e["event"] for e in events]
        self.assertEqual(kinds[-1], "job-completed", kinds)
        self.assertIn("step-progress", kinds)
        self.assertEqual([int(e["id"]) for e in events], list(range(1, len(events) + 1)))

        # several jobs: both workers take some
        jobs = []
        for n in range(6):
            body = json.dumps({"brief": {"topic": f"Job {n}"}})
            status, answer = self.curl("-X", "POST", "-H", "Content-Type: application/json",
                                       "--data", body, f"{base}/api/jobs")
            self.assertEqual(status, 202, answer)
            jobs.append(json.loads(answer)["jobId"])
        deadline = time.monotonic() + 60
        pending = set(jobs)
        while pending:
            self.assertLess(time.monotonic(), deadline, f"jobs {pending} never finished\n"
                            + self.logs())
            for job in list(pending):
                status, answer = self.curl(f"{base}/api/jobs/{job}", timeout=5)
                if status == 200 and json.loads(answer)["status"] == "Done":
                    pending.discard(job)
            time.sleep(0.2)
        for worker in workers:
            taken = [j for j in jobs
                     if any(f"job={j}" in line and "accepted attempt" in line
                            for line in worker.lines)]
            self.assertTrue(taken, f"{worker.name} got none of the jobs\n" + self.logs())


if __name__ == "__main__":
    unittest.main(verbosity=2)
