"""Nothing lost across a peer outage (SPEC 5, issue "nothing lost"): while b
is down (SIGTERM or SIGKILL), three changes on a wait; when b is back the
catch-up brings the newest version only, and b's actions run once for it
(not once per missed change)."""

import signal
import unittest

from harness import ClusterTestCase, sha256_hex
from lossutil import (ACTION, action_runs, path_state, settle_actions, wait_all_in_sync,
                      wait_pending_to, wait_status_content)

P = "/etc/app.conf"
OTHER = "/etc/other.conf"


class OutageTest(ClusterTestCase):

    def _outage(self, how):
        c = self.started_cluster(sync=[{"path": P, "actions": [ACTION]},
                                       {"path": OTHER, "actions": [ACTION]}])
        c.write("a", P, b"v0\n")
        c.wait_content("b", P, b"v0\n")
        settle_actions(c, ["a", "b"])
        self.assertEqual(action_runs(c, "b", P), [(P, "a", "created", sha256_hex(b"v0\n"))])

        if how == "kill":
            c.kill("b")
        else:
            rc = c.stop("b", sig=signal.SIGTERM)
            self.assertEqual(rc, 0, "exit code of b after SIGTERM")

        versions = [b"v1 while b is down\n", b"v2 rename\n", b"v3 newest, in place\n"]
        c.write("a", P, versions[0])
        wait_status_content(c, "a", P, versions[0])
        c.rename_write("a", P, versions[1])
        wait_status_content(c, "a", P, versions[1])
        c.write("a", P, versions[2])
        wait_status_content(c, "a", P, versions[2])
        wait_pending_to(c, "a", P, "b")
        self.assertEqual(c.counter("a", P, "a"), 4, "one version per change on a (v0..v3)")
        rc, _ = c.status("a")
        self.assertEqual(rc, 1, "`syncr status` on a exits 1 while a change is pending to b")
        # a change on another path while b is down, too
        c.write("a", OTHER, b"other\n")
        wait_status_content(c, "a", OTHER, b"other\n")

        c.start("b")
        c.wait_content("b", P, versions[2], timeout=15)
        c.wait_content("b", OTHER, b"other\n", timeout=15)
        c.wait_connected(timeout=15)
        wait_all_in_sync(c)
        self.assertEqual(c.read("a", P), versions[2])
        self.assertEqual(c.counter("b", P, "a"), 4, "b holds a's newest version vector")
        settle_actions(c, ["a", "b"])

        runs_b = action_runs(c, "b", P)
        self.assertEqual(runs_b, [(P, "a", "created", sha256_hex(b"v0\n")),
                                  (P, "a", "modified", sha256_hex(versions[2]))],
                         "b's actions for P: once for v0, then exactly once for the newest "
                         "version after the outage (not once per missed change)")
        self.assertEqual([r[3] for r in action_runs(c, "b", OTHER)], [sha256_hex(b"other\n")],
                         "b's action for the other path ran once")
        self.assertEqual(action_runs(c, "a", P)[-1][3], sha256_hex(versions[2]),
                         "a's last run saw the newest version")
        for n in ("a", "b"):
            state, pending, _ = path_state(c, n, P)
            self.assertEqual((state, pending), ("in sync", []), f"state of {P} on {n}")

    def test_peer_down_sigterm(self):
        self._outage("term")

    def test_peer_down_sigkill(self):
        self._outage("kill")


if __name__ == "__main__":
    unittest.main(verbosity=2)
