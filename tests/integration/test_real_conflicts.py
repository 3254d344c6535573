"""Conflicts decided by who started last (SPEC 6, issue 11).

What a node finds when it first watches a path (its first start, or a
reload that adds the entry) is a baseline: it runs no action and never
beats a real change made on another node. An edit found by a start-up scan
dates from when the file was changed, not from the scan, so the order in
which daemons start or reload never decides a conflict. An edit made after
receiving the other node's version is sequential, never a conflict."""

import fcntl
import os
import shlex
import signal
import time
import unittest

from harness import ClusterTestCase, find_peer, read_text, sha256_hex
from lossutil import (ACTION, action_runs, log_lines, path_state, resolve_and_wait,
                      settle_actions, status_hash, wait_all_in_sync, wait_rc_state,
                      wait_status_content)

P = "/etc/app.conf"
F = "/etc/added.conf"


def runs(c, node, path):
    """(path, origin, hash seen) of every action run of path on node."""
    return [(p, o, h) for p, o, _e, h in action_runs(c, node, path)]


class RealConflictsTest(ClusterTestCase):

    # ---- helpers

    def wait_converged(self, c, path, what):
        """Wait until both nodes hold the same bytes of path and both statuses
        record that content (the exchange after the nodes met is over);
        the common content."""
        def same():
            a, b = c.read("a", path), c.read("b", path)
            if a is None or a != b:
                return None
            h = sha256_hex(a)
            return a if status_hash(c, "a", path) == h and status_hash(c, "b", path) == h else None
        return c.wait_until(same, timeout=15, what=lambda: (
            f"{what}: both nodes to hold and record the same {path} "
            f"(a has {c.read('a', path)!r}, b has {c.read('b', path)!r}; "
            f"a {path_state(c, 'a', path)[:2]}, b {path_state(c, 'b', path)[:2]})"))

    def conflict_generations(self, c, node, path):
        return [g for g in c.generations(node, path) if g.get("conflict")]

    def assert_no_conflict(self, c, node, path):
        state, pending, _ = path_state(c, node, path)
        self.assertEqual((state, pending), ("in sync", []), f"state of {path} on {node}")
        self.assertEqual(self.conflict_generations(c, node, path), [],
                         f"a conflict generation of {path} in {node}'s history")
        self.assertEqual(log_lines(c, node, f"conflict on {path}"), [],
                         f"a conflict on {path} logged by {node}")

    def hup(self, c, node):
        """SIGHUP node and wait for its next 'SIGHUP: reloaded' line."""
        before = read_text(c.node(node).log).count("SIGHUP: reloaded")
        os.kill(c.pid(node), signal.SIGHUP)
        c.wait_until(lambda: read_text(c.node(node).log).count("SIGHUP: reloaded") > before,
                     what=f"{node} to log 'SIGHUP: reloaded'")

    # ---- 1

    def test_offline_edit_found_at_start_is_dated_by_the_edit_not_the_scan(self):
        c = self.started_cluster(sync=[{"path": P}], generations=10)
        c.write("a", P, b"base\n")
        c.wait_content("b", P, b"base\n")
        wait_all_in_sync(c)

        early, late = b"offline edit on b, made first\n", b"live edit on a, made later\n"
        c.stop("b")
        c.write("b", P, early)
        early_ctime = c.stat("b", P).st_ctime_ns
        # a's edit is made clearly later than b's (the issue had 3 s; the
        # file clock is coarse, a few ms)
        c.wait_until(lambda: time.time_ns() > early_ctime + int(0.2e9),
                     what="the clock to pass b's offline edit by 0.2 s")
        c.write("a", P, late)
        wait_status_content(c, "a", P, late)
        self.assertGreater(c.stat("a", P).st_ctime_ns, early_ctime,
                           "precondition: a's live edit is later than b's offline edit")

        c.start("b")  # b's start-up scan finds its edit: later than a's by the scan
        c.wait_connected(timeout=15)
        got = self.wait_converged(c, P, "after b's start")
        self.assertEqual(got, late,
                         "the offline edit that b's start-up scan found (made first) beat a's "
                         "later live edit: it was dated from the scan, not from the edit")
        for n in ("a", "b"):
            wait_rc_state(c, n, P, 1, "conflict")
        want = sha256_hex(early)
        for n in ("a", "b"):
            c.wait_until(lambda n=n: any(g.get("hash", "").lower() == want
                                         for g in self.conflict_generations(c, n, P)),
                         timeout=5,
                         what=lambda n=n: f"{n}'s history of {P} to keep b's offline edit as a "
                                          f"conflict generation (history: {c.generations(n, P)})")

        resolve_and_wait(c, "a", P)
        for n in ("a", "b"):
            self.assertEqual(c.read(n, P), late, f"content of {P} on {n} after resolve")

    # ---- 2

    def test_first_start_with_a_stale_copy_never_beats_a_real_edit(self):
        c = self.cluster(sync=[{"path": P, "actions": [ACTION]}])
        old, edit = b"127.0.0.1 localhost (old copy)\n", b"127.0.0.1 localhost\n10.0.0.2 db\n"
        c.write("a", P, old)
        c.write("b", P, old)
        c.start("a")  # alone: its first scan is a baseline
        wait_status_content(c, "a", P, old)
        c.write("a", P, edit)  # a real change
        wait_status_content(c, "a", P, edit)
        c.wait_until(lambda: runs(c, "a", P), what="a's action for its edit to run")

        c.start("b")  # first start, with the old copy: a baseline
        c.wait_connected(timeout=15)
        got = self.wait_converged(c, P, "after b's first start")
        self.assertEqual(got, edit, "b's stale first-scan copy replaced a's real edit "
                                    "(on a's live disk too)")
        wait_all_in_sync(c)
        for n in ("a", "b"):
            self.assert_no_conflict(c, n, P)

        # a's edit runs the action once on a and once on b; b's baseline none
        c.wait_until(lambda: runs(c, "b", P), what="b's action for a's edit to run")
        settle_actions(c, ["a", "b"])
        want = [(P, "a", sha256_hex(edit))]
        for n in ("a", "b"):
            self.assertEqual(runs(c, n, P), want,
                             f"action runs of {P} on {n} (path, origin, hash seen)")

    # ---- 3

    def test_edit_after_receiving_the_peers_edit_is_sequential(self):
        c = self.cluster(sync=[{"path": P}])
        # The links come up only when the test lets them (as an SSH login
        # takes a while): a's edit is made after both first scans and before
        # the nodes have exchanged them. flock(1) waits, without polling, on
        # a lock this test holds.
        gate = os.path.join(c.tmp, "links.lock")
        gate_fd = os.open(gate, os.O_CREAT | os.O_RDWR, 0o600)
        self.addCleanup(os.close, gate_fd)
        fcntl.flock(gate_fd, fcntl.LOCK_EX)
        c.peer_transport = lambda node, peer: {
            "exec": f"exec flock -s {shlex.quote(gate)} {c.exec_command(peer)}"}
        same = b"equal on both before the first start\n"
        for n in ("a", "b"):
            c.write_config(n)
            c.write(n, P, same)
        c.start_all()  # both first scans are done once they answer
        for n in ("a", "b"):
            wait_status_content(c, n, P, same)
        from_a, from_b = b"edit on a right after start\n", b"edit on b after it had a's\n"
        c.write("a", P, from_a)
        wait_status_content(c, "a", P, from_a)
        peer_b = find_peer(c.status_or_fail("a"), "b")
        self.assertIsNotNone(peer_b, "a's status lists no peer b")
        self.assertFalse(peer_b.get("connected", False),
                         "precondition: the nodes met before a's edit")
        fcntl.flock(gate_fd, fcntl.LOCK_UN)
        c.wait_connected(timeout=15)

        c.wait_content("b", P, from_a, timeout=15)
        wait_status_content(c, "b", P, from_a)
        c.write("b", P, from_b)  # sequential: b had a's edit
        c.wait_content("a", P, from_b, timeout=15)
        wait_status_content(c, "a", P, from_b)
        wait_all_in_sync(c)
        for n in ("a", "b"):
            self.assert_no_conflict(c, n, P)
            self.assertEqual(c.read(n, P), from_b, f"content of {P} on {n}")

    # ---- 4

    def test_entry_added_by_reload_is_a_baseline(self):
        c = self.cluster(sync=[{"path": P}])
        same, edit = b"F, equal on both, not synced yet\n", b"F, edited on a after its reload\n"
        c.write("a", F, same)
        c.write("b", F, same)
        c.start_all()
        c.wait_connected()
        c.write("a", P, b"the pair replicates\n")
        c.wait_content("b", P, b"the pair replicates\n")

        c.sync.append({"path": F, "actions": [ACTION]})
        c.write_config("a")
        self.hup(c, "a")
        # a sends F; b refuses it (not in its config yet)
        c.wait_until(lambda: "b" in ((c.path_status("a", F) or {}).get("refused_by") or []),
                     what=lambda: f"a's status to show {F} refused by b "
                                  f"(status: {c.path_status('a', F)})")
        c.write("a", F, edit)  # a real change, after a's reload
        wait_status_content(c, "a", F, edit)
        c.wait_until(lambda: (F, "a", sha256_hex(edit)) in runs(c, "a", F),
                     what=lambda: f"a's action for its edit of {F} to run (runs: {runs(c, 'a', F)})")

        c.write_config("b")
        self.hup(c, "b")
        got = self.wait_converged(c, F, "after b's reload")
        self.assertEqual(got, edit, "the node reloaded second overwrote a's newer edit")
        for n in ("a", "b"):
            # bounded: 'refused by' must not outlive the disagreement
            wait_rc_state(c, n, F, 0, "in sync", timeout=10)
            self.assertEqual((c.path_status(n, F) or {}).get("refused_by") or [], [],
                             f"{F} still refused on {n}")
            self.assert_no_conflict(c, n, F)

        c.wait_until(lambda: runs(c, "b", F), what="b's action for a's edit to run")
        settle_actions(c, ["a", "b"])
        want = [(F, "a", sha256_hex(edit))]
        for n in ("a", "b"):
            self.assertEqual(runs(c, n, F), want,
                             f"action runs of {F} on {n} (path, origin, hash seen); adding the "
                             "entry must run none")


if __name__ == "__main__":
    unittest.main(verbosity=2)
