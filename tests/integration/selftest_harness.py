"""Self-test of harness.py that needs no syncr binary (not run by CTest:
the file name does not match test_*.py). Run: python3 selftest_harness.py"""

import os
import signal
import subprocess
import time
import tomllib
import unittest

import harness

if not harness.SYNCR_BIN:
    harness.SYNCR_BIN = "/bin/true"


class HarnessSelfTest(unittest.TestCase):

    def test_config_is_valid_toml(self):
        c = harness.Cluster(names=("a", "b", "c"), sync=[
            {"path": "/etc/app.conf", "timeout": 5, "stop_on_error": True,
             "actions": ['echo "$SYNCR_PATH $SYNCR_EVENT" >> @TMP@/@NODE@-actions.log', "exit 3"]},
            {"path": "/etc/nginx", "exclude": ["*.swp"]}],
            node_extra={"b": "settle_ms = 20"}, extra_toml="# @NODE@ tail\n", generations=3)
        try:
            for n in ("a", "b", "c"):
                cfg = tomllib.loads(harness.read_text(c.node(n).config))
                self.assertEqual(cfg["node"]["name"], n)
                self.assertEqual(cfg["node"]["root"], f"{c.tmp}/{n}/root")
                self.assertLess(len(cfg["node"]["socket"]), 100)
                self.assertEqual(sorted(p["name"] for p in cfg["peer"]), sorted({"a", "b", "c"} - {n}))
                for p in cfg["peer"]:
                    self.assertEqual(p["exec"], f"{harness.SYNCR_BIN} connect --socket {c.tmp}/{p['name']}/s.sock")
                self.assertEqual(cfg["backup"]["generations"], 3)
                s = cfg["sync"][0]
                self.assertEqual(s["actions"][0], f'echo "$SYNCR_PATH $SYNCR_EVENT" >> {c.tmp}/{n}-actions.log')
                self.assertEqual((s["timeout"], s["stop_on_error"]), (5, True))
                self.assertEqual(cfg["sync"][1], {"path": "/etc/nginx", "exclude": ["*.swp"]})
                self.assertEqual(cfg["node"].get("settle_ms"), 20 if n == "b" else None)
                self.assertTrue(os.path.isdir(f"{c.tmp}/{n}/root/etc"))
                self.assertTrue(os.path.isdir(f"{c.tmp}/{n}/state"))
        finally:
            c.cleanup(success=True)
        self.assertFalse(os.path.exists(c.tmp))

    def test_wait_until(self):
        t0 = time.monotonic()
        self.assertEqual(harness.wait_until(lambda: time.monotonic() - t0 > 0.05 and 7, timeout=1), 7)
        state = {"n": 0}
        with self.assertRaises(AssertionError) as cm:
            harness.wait_until(lambda: state.update(n=state["n"] + 1) or 1 / 0, timeout=0.2,
                               what=lambda: f"never (tried {state['n']})", diagnostics=lambda: "DIAG")
        msg = str(cm.exception)
        self.assertIn("never (tried", msg)
        self.assertIn("ZeroDivisionError", msg)
        self.assertIn("DIAG", msg)
        self.assertGreater(state["n"], 5)  # it polls

    def test_file_helpers(self):
        c = harness.Cluster(sync=[{"path": "/etc/app.conf"}])
        try:
            c.write("a", "/etc/app.conf", b"one\n")
            ino = c.stat("a", "/etc/app.conf").st_ino
            c.write("a", "/etc/app.conf", b"two!\n")
            self.assertEqual(c.read("a", "/etc/app.conf"), b"two!\n")
            self.assertEqual(c.stat("a", "/etc/app.conf").st_ino, ino)
            c.write("a", "/etc/app.conf", b"3333\n", truncate=False)
            self.assertEqual(c.read("a", "/etc/app.conf"), b"3333\n")
            c.write("a", "/etc/app.conf", b"22\n", truncate=False)
            self.assertEqual(c.read("a", "/etc/app.conf"), b"22\n")
            c.rename_write("a", "/etc/app.conf", b"renamed\n", mode=0o640, mtime_ns=1_600_000_000_000_000_123)
            st = c.stat("a", "/etc/app.conf")
            self.assertNotEqual(st.st_ino, ino)
            self.assertEqual((st.st_mode & 0o7777, st.st_mtime_ns), (0o640, 1_600_000_000_000_000_123))
            self.assertEqual(os.listdir(c.tmp + "/a/root/etc"), ["app.conf"])
            c.sed("a", "/etc/app.conf", "s/renamed/sed/")
            self.assertEqual(c.read("a", "/etc/app.conf"), b"sed\n")
            self.assertIsNone(c.read("b", "/etc/app.conf"))
        finally:
            c.cleanup(success=True)

    def test_status_accessors(self):
        st = {"node": "a", "peers": [{"name": "b", "connected": True, "pending": "0"}],
              "paths": [{"path": "/etc/app.conf", "version": {"vv": {"entries": [{"node": "a", "counter": "2"}]},
                                                               "hash": "AAEC"}}]}
        self.assertTrue(harness.find_peer(st, "b")["connected"])
        self.assertIsNone(harness.find_peer(st, "c"))
        ps = harness.find_path(st, "/etc/app.conf")
        self.assertEqual(harness.vv_counter(ps["version"], "a"), 2)
        self.assertEqual(harness.vv_counter(ps, "a"), 2)
        self.assertEqual(harness.vv_counter(ps["version"], "b"), 0)
        self.assertEqual(harness.vv_counter({}, "a"), 0)
        h = harness.sha256_hex(b"x")
        import base64
        self.assertEqual(harness.norm_hash(base64.b64encode(bytes.fromhex(h)).decode()), h)
        self.assertEqual(harness.norm_hash(h.upper()), h)

    def test_kill_tree(self):
        p = harness.popen(["/bin/sh", "-c", "sleep 300 & sleep 300 & wait"])
        harness.wait_until(lambda: len(harness.pids_in_session(p.pid)) >= 3, timeout=5)
        kids = harness.pids_in_session(p.pid)
        harness.kill_tree(p)
        harness.wait_until(lambda: not any(harness.pid_alive(k) for k in kids), timeout=5)
        self.assertEqual(p.returncode, -signal.SIGKILL)

    @unittest.skipIf(harness.ssh_unavailable_reason(), "no sshd")
    def test_sshd(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="syncr-ssh-", dir="/tmp")
        s = harness.SshServer(d + "/ssh")
        s.add_client("one", "echo one-ok")
        s.add_client("two", "echo two-ok $SSH_ORIGINAL_COMMAND")
        s.start()
        try:
            r = s.ssh("one")
            self.assertEqual((r.returncode, r.stdout.strip()), (0, b"one-ok"), r.stderr)
            r = s.ssh("two", "syncr", "connect")
            self.assertEqual((r.returncode, r.stdout.strip()), (0, b"two-ok syncr connect"), r.stderr)
            # ssh options before the host, as the daemon will pass them
            r = subprocess.run(["ssh", "-T", "-o", "BatchMode=yes", "-F", s.ssh_config, "one", "syncr", "connect"],
                               capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
            self.assertEqual(r.stdout.strip(), b"one-ok", r.stderr)
        finally:
            s.stop()
            import shutil
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main(verbosity=2)
