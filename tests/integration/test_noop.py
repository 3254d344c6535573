"""Only real changes make versions (SPEC behaviour 2).

A close without change, a rewrite of the same bytes, a same-content
rename-into-place, a touch and a chmod to the same mode must make no new
version (vv counter unchanged in status), no transfer, no backup generation and
no action run. Every check follows a positive control (a real change that does
make a version and run the actions), and the no-op is followed by another real
change we wait for, so no sleep is needed: when that later change has arrived,
anything the no-op caused would have arrived before it.
"""

import os
import unittest

from harness import ClusterTestCase

P = "/etc/app.conf"
MARK = "/etc/marker.conf"
ACTION = 'echo "$SYNCR_PATH $SYNCR_EVENT $SYNCR_ORIGIN" >> @TMP@/@NODE@-actions.log'
SYNC = [{"path": P, "actions": [ACTION]}, {"path": MARK, "actions": [ACTION]}]


def count(lines, path):
    return sum(1 for line in lines if line.split(" ")[0] == path)


class NoopTest(ClusterTestCase):

    def _setup(self):
        c = self.started_cluster(sync=SYNC)
        # positive control: a real change makes a version and one action per node
        c.write("a", P, b"port=8080\n")
        c.wait_content("b", P, b"port=8080\n")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: count(c.action_lines(n), P) == 1,
                         what=lambda: f"one action run for {P} on {n} (log: {c.action_lines(n)})")
        c.wait_until(lambda: c.counter("a", P, "a") >= 1 and c.counter("b", P, "a") >= 1,
                     what="a version of P in status on both nodes")
        return c

    def _marker(self, c, origin, n):
        """A real change on another path, from origin; wait for it everywhere."""
        other = "b" if origin == "a" else "a"
        data = f"marker {n}\n".encode()
        c.write(origin, MARK, data)
        c.wait_content(other, MARK, data)
        for node in ("a", "b"):
            c.wait_until(lambda node=node: count(c.action_lines(node), MARK) == n,
                         what=lambda: f"{n} action runs for {MARK} on {node} (log: {c.action_lines(node)})")

    def _assert_no_new_version(self, c, before_a, before_b, hist_a, what):
        self.assertEqual(c.counter("a", P, "a"), before_a, f"{what}: vv[a] on a changed")
        self.assertEqual(c.counter("b", P, "a"), before_b, f"{what}: vv[a] on b changed")
        self.assertEqual(c.counter("a", P, "b"), 0, f"{what}: a version by b appeared on a")
        for n in ("a", "b"):
            self.assertEqual(count(c.action_lines(n), P), 1,
                             f"{what}: an action ran on {n}: {c.action_lines(n)}")
        self.assertEqual(len(c.generations("a", P)), hist_a, f"{what}: a backup generation was made")
        self.assertEqual(c.read("b", P), b"port=8080\n")

    def _noop_cases(self, c, node):
        path = c.disk(node, P)
        st = os.stat(path)
        # 1. open for writing and close without writing (IN_CLOSE_WRITE)
        with open(path, "r+b"):
            pass
        # 2. rewrite the same bytes in place (nano saving an unchanged file)
        with open(path, "r+b") as f:
            f.truncate(0)
            f.write(b"port=8080\n")
        # 3. save the same bytes with rename-into-place (new inode, same content)
        c.rename_write(node, P, b"port=8080\n")
        # 4. touch: the mtime alone is not a change
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
        # 5. chmod to the mode it already has (IN_ATTRIB)
        os.chmod(path, st.st_mode & 0o7777)

    def test_noop_on_origin(self):
        c = self._setup()
        before_a, before_b = c.counter("a", P, "a"), c.counter("b", P, "a")
        hist_a = len(c.generations("a", P))
        self._noop_cases(c, "a")
        self._marker(c, "a", 1)
        self._assert_no_new_version(c, before_a, before_b, hist_a, "no-op writes on a")
        # A real change afterwards: exactly one more version, one more action,
        # and the mtime travels with it.
        c.write("a", P, b"port=8081\n")
        c.wait_content("b", P, b"port=8081\n")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: count(c.action_lines(n), P) == 2,
                         what=lambda: f"second action run for {P} on {n}")
        self._marker(c, "b", 2)
        self.assertEqual(c.counter("a", P, "a"), before_a + 1)
        self.assertEqual(c.counter("b", P, "a"), before_b + 1)
        for n in ("a", "b"):
            self.assertEqual(count(c.action_lines(n), P), 2, f"actions on {n}: {c.action_lines(n)}")
        c.wait_until(lambda: c.stat("b", P).st_mtime_ns == c.stat("a", P).st_mtime_ns,
                     what="b's mtime to equal a's after the real change")

    def test_noop_on_receiver(self):
        # the same no-ops on the node that received the file
        c = self._setup()
        before_a, before_b = c.counter("a", P, "a"), c.counter("b", P, "a")
        hist_a = len(c.generations("a", P))
        self._noop_cases(c, "b")
        self._marker(c, "b", 1)
        self._assert_no_new_version(c, before_a, before_b, hist_a, "no-op writes on b")
        self.assertEqual(c.counter("b", P, "b"), 0, "a version by b appeared on b")
        self.assertEqual(len(c.generations("b", P)), hist_a, "no-op on b made a backup on b")

    def test_restart_makes_no_version(self):
        # a daemon restart finds disk == store: no version, no action
        c = self._setup()
        before_a, before_b = c.counter("a", P, "a"), c.counter("b", P, "a")
        hist_a = len(c.generations("a", P))
        self.assertEqual(c.stop("a"), 0)
        self.assertEqual(c.stop("b"), 0)
        c.start_all()
        c.wait_connected()
        self._marker(c, "a", 1)
        self._assert_no_new_version(c, before_a, before_b, hist_a, "restart of both daemons")

    def test_equal_files_at_first_meet(self):
        # SPEC 6: files that are equal when the nodes first meet make no
        # version and no action
        c = self.cluster(sync=SYNC)
        for n in ("a", "b"):
            with open(c.disk(n, P), "wb") as f:
                f.write(b"same on both\n")
            os.chmod(c.disk(n, P), 0o644)
        c.start_all()
        c.wait_connected()
        self._marker(c, "a", 1)
        c.wait_in_sync()
        for n in ("a", "b"):
            self.assertEqual(c.read(n, P), b"same on both\n")
            self.assertEqual(count(c.action_lines(n), P), 0,
                             f"an action ran on {n} for a file equal on both nodes: {c.action_lines(n)}")
        # and a later edit replicates normally
        c.write("b", P, b"edited on b\n")
        c.wait_content("a", P, b"edited on b\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
