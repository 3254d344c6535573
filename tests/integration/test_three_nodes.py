"""Three nodes, full mesh (issue "nothing lost"): a change on any node
reaches both others; a node that missed changes catches up, from whichever
peer is up; actions run exactly once per change on every node."""

import collections
import unittest

from harness import ClusterTestCase, sha256_hex
from lossutil import (ACTION, action_runs, settle_actions, wait_all_in_sync,
                      wait_status_content)

P = "/etc/app.conf"
X = "/etc/x.conf"
Y = "/etc/y.conf"
NODES = ("a", "b", "c")


class ThreeNodesTest(ClusterTestCase):

    def _cluster(self):
        return self.started_cluster(names=NODES, sync=[{"path": p, "actions": [ACTION]}
                                                       for p in (P, X, Y)])

    def _assert_once_per_change(self, c, expected):
        """expected: list of (path, origin, content) changes; every node ran
        the actions once for each of them and for nothing else."""
        settle_actions(c, list(NODES))
        want = collections.Counter((p, o, sha256_hex(d)) for p, o, d in expected)
        for n in NODES:
            got = collections.Counter((p, o, h) for p, o, _e, h in action_runs(c, n))
            self.assertEqual(got, want, f"action runs on {n} (path, origin, hash seen): "
                                        f"{action_runs(c, n)}")

    def test_change_on_any_node_reaches_both_others(self):
        c = self._cluster()
        expected = []
        for origin in NODES:
            data = f"written on {origin}\n".encode()
            c.write(origin, P, data)
            for n in NODES:
                c.wait_content(n, P, data)
                wait_status_content(c, n, P, data)
            expected.append((P, origin, data))
            settle_actions(c, list(NODES), quiet_s=0.2)
        wait_all_in_sync(c)
        for n in NODES:
            self.assertEqual(c.counter(n, P, "a"), 1)
            self.assertEqual(c.counter(n, P, "b"), 1)
            self.assertEqual(c.counter(n, P, "c"), 1)
        self._assert_once_per_change(c, expected)

    def test_stopped_node_catches_up_everything(self):
        c = self._cluster()
        c.write("a", P, b"p0\n")
        for n in NODES:
            c.wait_content(n, P, b"p0\n")
        settle_actions(c, list(NODES), quiet_s=0.2)
        c.stop("c")
        c.write("a", X, b"x from a while c is down\n")
        c.write("b", Y, b"y from b while c is down\n")
        c.write("a", P, b"p1 from a\n")
        wait_status_content(c, "a", P, b"p1 from a\n")
        c.wait_content("b", P, b"p1 from a\n")
        wait_status_content(c, "b", P, b"p1 from a\n")
        settle_actions(c, ["a", "b"], quiet_s=0.2)  # the runs for p1 saw p1
        c.write("b", P, b"p2 from b, newest\n")  # P changed twice while c was down
        for n in ("a", "b"):
            c.wait_content(n, X, b"x from a while c is down\n")
            c.wait_content(n, Y, b"y from b while c is down\n")
            c.wait_content(n, P, b"p2 from b, newest\n")
        c.start("c")
        c.wait_content("c", X, b"x from a while c is down\n", timeout=15)
        c.wait_content("c", Y, b"y from b while c is down\n", timeout=15)
        c.wait_content("c", P, b"p2 from b, newest\n", timeout=15)
        c.wait_connected(timeout=15)
        wait_all_in_sync(c)
        settle_actions(c, list(NODES))
        for n in ("a", "b"):
            got = collections.Counter((p, o, h) for p, o, _e, h in action_runs(c, n))
            want = collections.Counter([(P, "a", sha256_hex(b"p0\n")),
                                        (X, "a", sha256_hex(b"x from a while c is down\n")),
                                        (Y, "b", sha256_hex(b"y from b while c is down\n")),
                                        (P, "a", sha256_hex(b"p1 from a\n")),
                                        (P, "b", sha256_hex(b"p2 from b, newest\n"))])
            self.assertEqual(got, want, f"action runs on {n}: {action_runs(c, n)}")
        # c: once per path it missed, for the newest version
        got = collections.Counter((p, o, h) for p, o, _e, h in action_runs(c, "c"))
        want = collections.Counter([(P, "a", sha256_hex(b"p0\n")),
                                    (X, "a", sha256_hex(b"x from a while c is down\n")),
                                    (Y, "b", sha256_hex(b"y from b while c is down\n")),
                                    (P, "b", sha256_hex(b"p2 from b, newest\n"))])
        self.assertEqual(got, want, f"action runs on c: {action_runs(c, 'c')}")

    def test_catch_up_from_whichever_peer_is_up(self):
        # c misses a change made on a; a goes down before c comes back: c gets
        # a's change from b.
        c = self._cluster()
        c.stop("c")
        c.write("a", X, b"x from a, then a goes down\n")
        c.wait_content("b", X, b"x from a, then a goes down\n")
        wait_status_content(c, "b", X, b"x from a, then a goes down\n")
        settle_actions(c, ["a", "b"], quiet_s=0.2)
        c.stop("a")
        c.start("c")
        c.wait_content("c", X, b"x from a, then a goes down\n", timeout=15)
        wait_status_content(c, "c", X, b"x from a, then a goes down\n")
        self.assertEqual(c.counter("c", X, "a"), 1)
        # a change on c while a is down reaches a when it is back
        c.write("c", Y, b"y from c while a is down\n")
        c.wait_content("b", Y, b"y from c while a is down\n")
        c.start("a")
        c.wait_content("a", Y, b"y from c while a is down\n", timeout=15)
        c.wait_connected(timeout=15)
        wait_all_in_sync(c)
        settle_actions(c, list(NODES))
        for n in NODES:
            got = collections.Counter((p, o, h) for p, o, _e, h in action_runs(c, n))
            want = collections.Counter([(X, "a", sha256_hex(b"x from a, then a goes down\n")),
                                        (Y, "c", sha256_hex(b"y from c while a is down\n"))])
            self.assertEqual(got, want, f"action runs on {n}: {action_runs(c, n)}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
