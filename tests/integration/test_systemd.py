"""The systemd units in deploy/systemd pass `systemd-analyze verify` without
a single warning, keep their hardening, and agree with what the programs
and the install rules expect.

verify needs every ExecStart binary to exist, so the units are copied to a
temporary directory with /usr/local/bin/ replaced by the build's bin/.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
UNIT_DIR = os.path.join(ROOT, "deploy", "systemd")
BIN_DIR = os.path.abspath(os.environ.get("AURA_BIN_DIR", os.path.join(ROOT, "build", "bin")))
UNITS = ["aura-broker.service", "aura-gateway.service", "aura-worker@.service"]
ANALYZE = shutil.which("systemd-analyze")


def unit_settings(name):
    """Returns {key: [values]} of the [Service] and [Unit] sections."""
    settings = {}
    with open(os.path.join(UNIT_DIR, name), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";", "[")):
                continue
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


@unittest.skipUnless(ANALYZE, "systemd-analyze is missing (deploy/install-deps.sh installs systemd)")
class SystemdUnits(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="aura-units-")
        for name in UNITS:
            with open(os.path.join(UNIT_DIR, name), encoding="utf-8") as f:
                text = f.read()
            with open(os.path.join(cls.dir, name), "w", encoding="utf-8") as f:
                f.write(text.replace("/usr/local/bin/", BIN_DIR + "/"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_analyze(self, *args):
        return subprocess.run(
            [ANALYZE, *args], cwd=self.dir, capture_output=True, text=True, timeout=60,
            env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""})

    def test_verify_is_silent(self):
        for name in UNITS:
            with open(os.path.join(self.dir, name), encoding="utf-8") as f:
                exe = re.search(r"(?m)^ExecStart=(\S+)", f.read()).group(1)
            self.assertTrue(os.access(exe, os.X_OK), f"{name}: {exe} is not built")
        paths = [os.path.join(self.dir, name) for name in UNITS]
        result = self.run_analyze("verify", "--man=no", *paths)
        output = (result.stdout + result.stderr).strip()
        self.assertEqual(result.returncode, 0, output)
        self.assertEqual(output, "", "systemd-analyze verify warned")

    def test_verify_catches_a_broken_unit(self):
        """The check above can fail: a typo and a missing binary are reported."""
        broken = os.path.join(self.dir, "aura-broken.service")
        with open(os.path.join(self.dir, "aura-broker.service"), encoding="utf-8") as f:
            text = f.read()
        text = text.replace("NoNewPrivileges=yes", "NoNewPrivileges=yes\nProtectSytem=strict")
        text = re.sub(r"ExecStart=\S+", "ExecStart=/nonexistent/aura-broker", text)
        with open(broken, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            result = self.run_analyze("verify", "--man=no", broken)
            output = result.stdout + result.stderr
            self.assertIn("ProtectSytem", output)
            self.assertIn("/nonexistent/aura-broker", output)
        finally:
            os.unlink(broken)

    def test_exposure_is_low(self):
        """`systemd-analyze security` rates every unit "OK" or better."""
        for name in UNITS:
            result = self.run_analyze("security", "--offline=true", "--no-pager",
                                      os.path.join(self.dir, name))
            m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
            self.assertIsNotNone(m, result.stdout + result.stderr)
            self.assertLessEqual(float(m.group(1)), 3.0, f"{name}:\n{result.stdout}")

    def test_hardening_and_restart_policy(self):
        for name in UNITS:
            s = unit_settings(name)
            for key, value in [("User", "aura"), ("ProtectSystem", "strict"),
                               ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                               ("NoNewPrivileges", "yes"), ("Restart", "on-failure"),
                               ("KillSignal", "SIGTERM")]:
                self.assertEqual(s.get(key), [value], f"{name}: {key}")
            self.assertIn("-/etc/aura/aura.env", s.get("EnvironmentFile", []), name)
            self.assertNotIn("DynamicUser", s, name)
            exe = s["ExecStart"][0].split()[0]
            self.assertTrue(exe.startswith("/usr/local/bin/aura-"), f"{name}: {exe}")

    def test_ordering_after_the_broker(self):
        for name in ["aura-gateway.service", "aura-worker@.service"]:
            s = unit_settings(name)
            self.assertIn("aura-broker.service", " ".join(s["After"]), name)
            self.assertIn("aura-broker.service", " ".join(s["Wants"]), name)

    def test_worker_instances_and_drain_time(self):
        s = unit_settings("aura-worker@.service")
        self.assertIn("--worker-id=%H-%i", s["ExecStart"][0])
        timeout_s = int(s["TimeoutStopSec"][0])
        drain_s = 30  # AURA_DRAIN_S's default, as aura.env shows it
        self.assertGreater(timeout_s, drain_s)
        with open(os.path.join(UNIT_DIR, "aura.env"), encoding="utf-8") as f:
            self.assertIn(f"#AURA_DRAIN_S={drain_s}\n", f.read())

    def test_state_and_shared_artifacts(self):
        broker = unit_settings("aura-broker.service")
        worker = unit_settings("aura-worker@.service")
        gateway = unit_settings("aura-gateway.service")
        self.assertEqual(broker["StateDirectory"], ["aura"])
        self.assertIn("AURA_DATA_DIR=/var/lib/aura/data", broker["Environment"])
        self.assertEqual(worker["StateDirectory"], ["aura"])
        for s in (worker, gateway):
            self.assertIn("AURA_ARTIFACT_DIR=/var/lib/aura/artifacts", s["Environment"])
        with open(os.path.join(UNIT_DIR, "aura.conf"), encoding="utf-8") as f:
            users = [line.split() for line in f if line.startswith("u ")]
        self.assertEqual([u[:2] for u in users], [["u", "aura"]])

    def test_env_file_lists_every_setting(self):
        """aura.env names each setting that a program's --help lists."""
        with open(os.path.join(UNIT_DIR, "aura.env"), encoding="utf-8") as f:
            env_file = f.read()
        for program in ["aura-broker", "aura-gateway", "aura-worker", "aura-up"]:
            out = subprocess.run([os.path.join(BIN_DIR, program), "--help"],
                                 capture_output=True, text=True, timeout=10).stdout
            for var in re.findall(r"\b(AURA_[A-Z_]+)", out):
                self.assertRegex(env_file, rf"(?m)^#{var}=", f"{var} ({program})")


if __name__ == "__main__":
    unittest.main(verbosity=2, argv=[sys.argv[0]])
