"""Operator commands against real daemons: status and its exit code while a
peer is down and after it caught up, diff against a kept generation and
against a peer's copy (fetched over the channel), log, and --log-level."""

import unittest

from harness import ClusterTestCase

P = "/etc/app.conf"


def out(r):
    return r.stdout.decode() if isinstance(r.stdout, bytes) else r.stdout


def err(r):
    return r.stderr.decode() if isinstance(r.stderr, bytes) else r.stderr


class OperatorTest(ClusterTestCase):

    def test_status_exit_code_follows_the_peer(self):
        c = self.started_cluster(sync=[{"path": P}])
        c.write("a", P, b"one\n")
        c.wait_content("b", P, b"one\n")
        c.wait_until(lambda: c.status("a")[0] == 0, what="a in sync (exit 0)")
        c.stop("b")
        c.write("a", P, b"two\n")
        c.wait_until(lambda: c.status("a")[0] == 1, what="a not in sync while b is down (exit 1)")
        rc, st = c.status("a")
        path = [p for p in st["paths"] if p["path"] == P][0]
        self.assertEqual(path["state"], "pending")
        self.assertEqual(path["pending_to"], ["b"])
        peer = st["peers"][0]
        self.assertFalse(peer.get("connected", False))
        human = c.cli("a", "status")
        self.assertEqual(human.returncode, 1)
        self.assertIn("pending to b", out(human))
        self.assertIn("disconnected", out(human))
        c.start("b")
        c.wait_content("b", P, b"two\n")
        c.wait_until(lambda: c.status("a")[0] == 0, what="a in sync again after b caught up")

    def test_diff_against_generation_and_peer(self):
        c = self.started_cluster(sync=[{"path": P}])
        c.write("a", P, b"port=8080\nname=x\n")
        c.wait_content("b", P, b"port=8080\nname=x\n")
        c.write("a", P, b"port=8081\nname=x\n")
        c.wait_content("b", P, b"port=8081\nname=x\n")

        same = c.cli("a", "diff", P, "--generation", "1")
        self.assertEqual(same.returncode, 0, same.stderr)
        self.assertEqual(out(same), "")
        older = c.cli("a", "diff", P, "--generation", "2")
        self.assertEqual(older.returncode, 1, older.stderr)
        self.assertIn("-port=8080", out(older))
        self.assertIn("+port=8081", out(older))
        self.assertEqual(c.cli("a", "diff", P, "--peer", "b").returncode, 0)
        bad = c.cli("a", "diff", P, "--peer", "nobody")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("no peer named 'nobody'", err(bad))

    def test_diff_peer_shows_a_difference(self):
        # a excludes local.conf in the shared directory, b does not: the two
        # copies differ for good, and a can still compare with b's copy.
        d = "/etc/app"
        c = self.cluster(sync=[{"path": d}])
        for n, exclude in (("a", '["local.conf"]'), ("b", "[]")):
            c.sync = [{"path": d, "exclude": ["local.conf"] if n == "a" else []}]
            c.write_config(n)
        import os
        for n in ("a", "b"):
            os.makedirs(c.disk(n, d), exist_ok=True)
            with open(c.disk(n, d + "/local.conf"), "wb") as f:
                f.write(f"owner={n}\n".encode())
        for n in ("a", "b"):
            c.start(n)
        c.wait_connected()
        r = c.cli("a", "diff", d + "/local.conf", "--peer", "b")
        self.assertEqual(r.returncode, 1, err(r) + out(r))
        self.assertIn("-owner=b", out(r))
        self.assertIn("+owner=a", out(r))
        self.assertIn("on b", out(r))
        c.stop("b")
        down = c.cli("a", "diff", d + "/local.conf", "--peer", "b")
        self.assertEqual(down.returncode, 2)
        self.assertIn("not connected", err(down))

    def test_log_lists_events(self):
        c = self.started_cluster(sync=[{"path": P, "actions": ["echo reloaded"]}])
        c.write("a", P, b"x\n")
        c.wait_content("b", P, b"x\n")
        c.wait_until(lambda: "action finished" in out(c.cli("b", "log", "-n", "50")),
                     what="b's log to list the action run")
        text = out(c.cli("b", "log", P, "-n", "50"))
        self.assertIn("applied created " + P + " from a", text)
        self.assertIn("output: reloaded", text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
