"""`syncr wait PATH [--timeout S]` (SPEC 12): exits 0 once every node holds
PATH's current version (a save made just before it included) and its
actions succeeded there; exits 1 naming the node otherwise.

- test_wait_returns_after_every_nodes_actions_ran: a's action takes 0.1 s
  and b's 1 s; a save on a is followed at once by `syncr wait` on a (the
  watcher has not settled yet). When wait exits 0, b already holds the new
  content and both nodes' actions have finished for it: checked right
  then, without any wait of the test's own.
- test_wait_names_the_node_whose_actions_failed: b's action fails; wait on
  a exits 1 long before its timeout and names b and the command.
- test_wait_names_a_stopped_peer_at_its_timeout: b is stopped; wait on a
  exits 1 after --timeout 2, saying b has not applied it and is not
  connected. Started again, b catches up and the same wait exits 0.
- test_a_run_cut_short_by_a_stop_runs_again_and_is_waited_for: b is
  stopped while its run for a new version is going; its next start runs
  the actions again, and wait on a returns 0 only after that run.
- test_wait_on_a_directory_counts_every_path_below_it: new files and a
  deletion below a directory entry are all on b when wait returns.
- test_wait_refuses_a_path_not_synced: exit 2, naming the path.
"""

import os
import time
import unittest

from harness import ClusterTestCase, TIMEOUT_SCALE

P = "/etc/app.conf"
# b's runs are slower than a's: a wait that returned when a's own run ended,
# or before b's report came, would find b's run not finished.
ACTION = ('sleep "$(test "$SYNCR_NODE" = b && echo 1 || echo 0.1)"; '
          'echo "$SYNCR_EVENT" >> @TMP@/@NODE@-ran.log')


class WaitTest(ClusterTestCase):

    def wait(self, c, node, *args, timeout=60):
        r = c.cli(node, "wait", P, *args, timeout=timeout + 30)
        return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")

    def test_wait_returns_after_every_nodes_actions_ran(self):
        c = self.started_cluster(sync=[{"path": P, "actions": [ACTION]}])
        c.write("a", P, b"first\n")
        rc, out, err = self.wait(c, "a")
        self.assertEqual(rc, 0, out + err)
        for n in ("a", "b"):  # right when wait returned: nothing waited for here
            self.assertEqual(c.read(n, P), b"first\n", f"{P} on {n} when wait returned")
            self.assertEqual(c.lines(n, "ran.log"), ["created"], f"{n}'s actions when wait returned")
        self.assertIn("b: holds it; actions succeeded", out)
        self.assertIn("is on every node and its actions succeeded", out)

        # A save just before: still settling in a's watcher when wait starts.
        c.write("a", P, b"second\n")
        rc, out, err = self.wait(c, "a")
        self.assertEqual(rc, 0, out + err)
        for n in ("a", "b"):
            self.assertEqual(c.read(n, P), b"second\n", f"{P} on {n} when wait returned")
            self.assertEqual(c.lines(n, "ran.log"), ["created", "modified"],
                             f"{n}'s actions when wait returned")

        # Nothing changed since: done at once, and from b as well.
        for n in ("a", "b"):
            start = time.monotonic()
            rc, out, err = self.wait(c, n)
            self.assertEqual(rc, 0, out + err)
            self.assertLess(time.monotonic() - start, 10 * TIMEOUT_SCALE)

    def test_wait_names_the_node_whose_actions_failed(self):
        c = self.started_cluster(sync=[{"path": P, "actions": [
            "test ! -e @TMP@/@NODE@-broken", ACTION]}])
        with open(c.file("b", "broken"), "w"):
            pass
        c.write("a", P, b"x\n")
        start = time.monotonic()
        rc, out, err = self.wait(c, "a", "--timeout", "60")
        self.assertEqual(rc, 1, out + err)
        self.assertLess(time.monotonic() - start, 30 * TIMEOUT_SCALE,
                        "a failure ends the wait; it does not run out its timeout")
        self.assertRegex(out, r"b: actions for /etc/app\.conf failed on b: `test ! -e \S+-broken` "
                              r"exited 1")
        self.assertIn("a: holds it; actions succeeded", out)
        self.assertIn("failed on a node", err)

        os.unlink(c.file("b", "broken"))
        c.write("a", P, b"y\n")
        rc, out, err = self.wait(c, "a")
        self.assertEqual(rc, 0, out + err)

    def test_wait_names_a_stopped_peer_at_its_timeout(self):
        c = self.started_cluster(sync=[{"path": P, "actions": [ACTION]}])
        c.stop("b")
        c.write("a", P, b"while b is down\n")
        start = time.monotonic()
        rc, out, err = self.wait(c, "a", "--timeout", "2", timeout=2)
        self.assertEqual(rc, 1, out + err)
        self.assertGreaterEqual(time.monotonic() - start, 2.0)
        self.assertRegex(out, r"b: has not applied /etc/app\.conf yet: not connected")
        self.assertIn("after 2 s", err)

        c.start("b")
        rc, out, err = self.wait(c, "a")
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(c.read("b", P), b"while b is down\n")
        self.assertEqual(c.lines("b", "ran.log"), ["created"])

    def test_a_run_cut_short_by_a_stop_runs_again_and_is_waited_for(self):
        # b holds the new version, but is stopped while its (slow) run is
        # going: its next start runs the actions again, and wait on a counts
        # b done only after that run.
        slow_b = ('sleep "$(test "$SYNCR_NODE" = b && echo 5 || echo 0.1)"; '
                  'echo "$SYNCR_EVENT" >> @TMP@/@NODE@-ran.log')
        c = self.started_cluster(sync=[{"path": P, "actions": [slow_b]}])
        c.write("a", P, b"cut short\n")
        c.wait_content("b", P, b"cut short\n")
        self.assertEqual(c.lines("b", "ran.log"), [], "b's run takes 5 s: not finished yet")
        c.stop("b")  # kills the running command
        self.assertEqual(c.lines("b", "ran.log"), [])
        c.start("b")
        rc, out, err = self.wait(c, "a")
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(c.lines("b", "ran.log"), ["modified"], "b's run, resumed at its start")
        with open(c.node("b").log, "rb") as f:
            self.assertIn(b"were cut short when syncr last stopped", f.read())

    def test_wait_on_a_directory_counts_every_path_below_it(self):
        d = "/srv/site"
        c = self.started_cluster(sync=[{"path": d, "actions": [ACTION]}], dirs=(d,))
        for i in range(5):
            c.write("a", f"{d}/f{i}", b"x\n")
        os.unlink(c.disk("a", f"{d}/f0"))  # a deletion is a version too
        r = c.cli("a", "wait", d, timeout=90)
        self.assertEqual(r.returncode, 0, r)
        for i in range(1, 5):
            self.assertEqual(c.read("b", f"{d}/f{i}"), b"x\n", f"f{i} on b when wait returned")
        self.assertIsNone(c.read("b", f"{d}/f0"), "f0's deletion on b when wait returned")
        self.assertTrue(c.lines("b", "ran.log"), "b's actions when wait returned")

    def test_wait_refuses_a_path_not_synced(self):
        c = self.started_cluster(sync=[{"path": P}])
        r = c.cli("a", "wait", "/etc/other.conf")
        self.assertEqual(r.returncode, 2, r)
        self.assertIn(b"/etc/other.conf is not synced", r.stderr)


if __name__ == "__main__":
    unittest.main()
