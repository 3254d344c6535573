"""Actions (SPEC behaviours 3 and 8): run once on each node, in order, after
the file is in place, with SYNCR_* in the environment, failing commands do not
stop the others unless stop_on_error, and a timeout kills a command."""

import os
import re
import time
import unittest

import harness
from harness import ClusterTestCase, pid_alive

P = "/etc/app.conf"
MARK = "/etc/marker.conf"
ORDER = ["echo 1 >> @TMP@/@NODE@-order.log",
         "echo 2 >> @TMP@/@NODE@-order.log",
         "echo 3 >> @TMP@/@NODE@-order.log"]
ENV = ('printf "%s|%s|%s|%s\\n" "$SYNCR_PATH" "$SYNCR_FILE" "$SYNCR_ORIGIN" "$SYNCR_EVENT"'
       ' >> @TMP@/@NODE@-env.log')
CONTENT = 'cat "$SYNCR_FILE" >> @TMP@/@NODE@-content.log'
MARK_ACTION = "echo marker >> @TMP@/@NODE@-marker.log"


class ActionsTest(ClusterTestCase):

    def test_once_in_order_with_environment(self):
        c = self.started_cluster(sync=[{"path": P, "actions": ORDER + [CONTENT, ENV]},
                                       {"path": MARK, "actions": [MARK_ACTION]}])
        # 1: created on a
        c.write("a", P, b"v1\n")
        c.wait_content("b", P, b"v1\n")
        # ENV is the last command: once its line is there, the run is complete
        for n in ("a", "b"):
            c.wait_until(lambda n=n: c.lines(n, "env.log") == [f"{P}|{c.disk(n, P)}|a|created"],
                         what=lambda: f"env of the first run on {n} (got {c.lines(n, 'env.log')})")
            self.assertEqual(c.lines(n, "order.log"), ["1", "2", "3"], f"order on {n}")
            # the action saw the new file in place
            self.assertEqual(c.read_file_text(n, "content.log"), "v1\n", f"content seen on {n}")
        # 2: modified on a
        c.write("a", P, b"v2\n")
        c.wait_content("b", P, b"v2\n")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: len(c.lines(n, "env.log")) >= 2,
                         what=lambda: f"second run on {n} (env log: {c.lines(n, 'env.log')})")
            self.assertEqual(c.lines(n, "env.log")[1], f"{P}|{c.disk(n, P)}|a|modified")
        # 3: modified on b: origin b on both
        c.write("b", P, b"v3 from b\n")
        c.wait_content("a", P, b"v3 from b\n")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: len(c.lines(n, "env.log")) >= 3,
                         what=lambda: f"third run on {n} (env log: {c.lines(n, 'env.log')})")
            self.assertEqual(c.lines(n, "env.log")[2], f"{P}|{c.disk(n, P)}|b|modified")
        # 4: mode only, on b
        os.chmod(c.disk("b", P), 0o600)
        c.wait_until(lambda: c.stat("a", P).st_mode & 0o7777 == 0o600, what="mode 0600 on a")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: len(c.lines(n, "env.log")) >= 4,
                         what=lambda: f"run after the chmod on {n} (env log: {c.lines(n, 'env.log')})")
            self.assertEqual(c.lines(n, "env.log")[3], f"{P}|{c.disk(n, P)}|b|metadata")
        # 5: deleted on a
        c.remove("a", P)
        c.wait_content("b", P, None)
        for n in ("a", "b"):
            c.wait_until(lambda n=n: len(c.lines(n, "env.log")) >= 5,
                         what=lambda: f"run after the deletion on {n} (env log: {c.lines(n, 'env.log')})")
            self.assertEqual(c.lines(n, "env.log")[4], f"{P}|{c.disk(n, P)}|a|deleted")
        # a later change on another path, both ways: any echo/loop run of P
        # would have happened by then
        c.write("a", MARK, b"m1\n")
        c.wait_content("b", MARK, b"m1\n")
        c.write("b", MARK, b"m2\n")
        c.wait_content("a", MARK, b"m2\n")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: c.lines(n, "marker.log") == ["marker", "marker"],
                         what=lambda: f"two marker runs on {n} (got {c.lines(n, 'marker.log')})")
        for n in ("a", "b"):
            self.assertEqual(c.lines(n, "order.log"), ["1", "2", "3"] * 5,
                             f"each command exactly once per change, in order, on {n}")
            self.assertEqual(len(c.lines(n, "env.log")), 5, f"runs on {n}: {c.lines(n, 'env.log')}")
            self.assertEqual(c.read_file_text(n, "content.log"), "v1\nv2\nv3 from b\nv3 from b\n",
                             f"the content each action saw on {n}")

    def test_runs_never_overlap_and_coalesce(self):
        # SPEC 8: actions of one path never overlap; changes that arrive while
        # they run trigger one more run, for the newest version.
        c = self.started_cluster(sync=[{"path": P, "actions": [
            "echo start >> @TMP@/@NODE@-runs.log; touch @TMP@/@NODE@-running",
            "while [ ! -e @TMP@/@NODE@-go ]; do sleep 0.01; done; rm -f @TMP@/@NODE@-go",
            'echo "end $(cat "$SYNCR_FILE")" >> @TMP@/@NODE@-runs.log']}])
        c.write("a", P, b"v1")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: c.lines(n, "runs.log") == ["start"],
                         what=lambda: f"first run to start on {n}: {c.lines(n, 'runs.log')}")
        # three more changes while the first run is blocked
        for v in (b"v2", b"v3", b"v4"):
            c.write("a", P, v)
            c.wait_content("b", P, v)
        for n in ("a", "b"):
            self.assertEqual(c.lines(n, "runs.log"), ["start"], f"a run overlapped the first on {n}")
            open(c.file(n, "go"), "w").close()
        for n in ("a", "b"):
            c.wait_until(lambda n=n: c.lines(n, "runs.log")[:3] == ["start", "end v4", "start"] or
                         c.lines(n, "runs.log")[:2] == ["start", "end v4"] and
                         len(c.lines(n, "runs.log")) >= 3,
                         what=lambda: f"the first run to end and one more to start on {n}: "
                                      f"{c.lines(n, 'runs.log')}")
            open(c.file(n, "go"), "w").close()
        for n in ("a", "b"):
            c.wait_until(lambda n=n: c.lines(n, "runs.log") == ["start", "end v4", "start", "end v4"],
                         what=lambda: f"exactly one more run for the newest version on {n}: "
                                      f"{c.lines(n, 'runs.log')}")
        # nothing else is queued: a new change runs once more
        c.write("a", P, b"v5")
        for n in ("a", "b"):
            open(c.file(n, "go"), "w").close()
            c.wait_until(lambda n=n: c.lines(n, "runs.log")[4:] == ["start", "end v5"],
                         what=lambda: f"a run for v5 on {n}: {c.lines(n, 'runs.log')}")

    def test_failing_command_does_not_stop_the_next(self):
        c = self.started_cluster(sync=[{"path": P, "actions": [
            "echo 1 >> @TMP@/@NODE@-order.log", "exit 3", "echo 3 >> @TMP@/@NODE@-order.log"]}])
        c.write("a", P, b"x\n")
        c.wait_content("b", P, b"x\n")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: c.lines(n, "order.log") == ["1", "3"],
                         what=lambda: f"commands 1 and 3 to run on {n} (got {c.lines(n, 'order.log')})")
        # the failure is logged (daemon log names the exit status)
        for n in ("a", "b"):
            c.wait_until(lambda n=n: self._logged_failure(c, n),
                         what=lambda: f"{n}'s daemon log to report the command that exited 3")

    @staticmethod
    def _logged_failure(c, n):
        with open(c.node(n).log, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        for line in text.splitlines():
            if "exit 3" in line or re.search(r"(exit|status|code|fail)\w*\W{0,3}\D{0,20}\b3\b", line, re.I):
                return True
        return False

    def test_stop_on_error(self):
        c = self.started_cluster(sync=[{"path": P, "stop_on_error": True, "actions": [
            "echo 1 >> @TMP@/@NODE@-order.log", "exit 3", "echo 3 >> @TMP@/@NODE@-order.log"]}])
        c.write("a", P, b"x\n")
        c.wait_content("b", P, b"x\n")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: c.lines(n, "order.log")[:1] == ["1"],
                         what=lambda: f"first command on {n}")
        # A second change: runs of one path never overlap, so its "1" comes
        # after the first run ended, with or without a "3".
        c.write("a", P, b"y\n")
        c.wait_content("b", P, b"y\n")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: c.lines(n, "order.log").count("1") >= 2,
                         what=lambda: f"second run on {n} (got {c.lines(n, 'order.log')})")
            self.assertEqual(c.lines(n, "order.log")[:2], ["1", "1"],
                             f"with stop_on_error the command after the failing one ran on {n}")
        # status shows the failure as the last action result
        for n in ("a", "b"):
            c.wait_until(lambda n=n: self._last_action(c, n).get("running", False) is False and
                         int(self._last_action(c, n).get("exit_code", 0)) == 3,
                         what=lambda: f"status on {n} to show last_action exit_code 3 "
                              f"(got {self._last_action(c, n)})")
        self.assertEqual(c.lines("a", "order.log"), ["1", "1"])
        self.assertEqual(c.lines("b", "order.log"), ["1", "1"])

    def test_a_failed_command_anywhere_keeps_status_from_in_sync_on_every_node(self):
        """SPEC 10, issue 11: a failed command followed by one that succeeds
        used to be invisible (status showed only the last result). Any
        failure in the list, on any node, is a problem on every node until a
        later run there succeeds, even after that node restarts."""
        c = self.started_cluster(sync=[{"path": P, "actions": [
            "test ! -e @TMP@/@NODE@-broken", "echo ok >> @TMP@/@NODE@-order.log"]}])
        broken = c.file("b", "broken")
        with open(broken, "w"):
            pass
        c.write("a", P, b"x\n")
        for n in ("a", "b"):  # positive barrier: each run has finished
            c.wait_until(lambda n=n: c.lines(n, "order.log") == ["ok"],
                         what=lambda: f"the run on {n} (order.log: {c.lines(n, 'order.log')})")
        failed = re.compile(r"actions for /etc/app\.conf failed on b: `test ! -e \S+-broken` exited 1")

        def shown(n):
            rc, st = c.status(n)
            return rc == 1 and any(failed.search(p) for p in (st or {}).get("problems", []))
        for n in ("a", "b"):
            c.wait_until(lambda n=n: shown(n),
                         what=lambda: f"{n}'s status to name b's failed command "
                                      f"(got {c.status(n)})")
            self.assertEqual(int(self._last_action(c, n).get("exit_code", 0)), 0,
                             f"{n}: the last command succeeded; the failure is before it")
        # A restart of b does not forget it: its last run is kept in its store
        # and sent to a again (it used to be kept in memory only).
        c.stop("b")
        restarted_ns = time.time_ns()
        c.start("b")
        c.wait_connected()
        # a's link to b dialled again since (a new Welcome): what a shows now
        # is what the restarted b told it, not what a kept in memory.
        c.wait_until(lambda: harness.as_int((harness.find_peer(c.status_or_fail("a"), "b") or {})
                                            .get("since_ns")) > restarted_ns,
                     what="a's link to b to be up again after b's restart")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: shown(n),
                         what=lambda: f"{n}'s status to still name b's failed command after "
                                      f"b restarted (got {c.status(n)})")
        os.unlink(broken)
        c.write("a", P, b"y\n")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: c.lines(n, "order.log") == ["ok", "ok"],
                         what=lambda: f"the second run on {n}")
        c.wait_in_sync()  # both exit 0: the later run succeeded everywhere

    @staticmethod
    def _last_action(c, n):
        return (c.path_status(n, P) or {}).get("last_action") or {}

    def test_timeout_kills_command(self):
        c = self.started_cluster(sync=[{"path": P, "timeout": 1, "actions": [
            "echo $$ > @TMP@/@NODE@-sleep.pid; exec sleep 30",
            "echo after >> @TMP@/@NODE@-order.log"]}])
        t0 = time.monotonic()
        c.write("a", P, b"x\n")
        c.wait_content("b", P, b"x\n")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: c.lines(n, "order.log") == ["after"], timeout=10,
                         what=lambda: f"the command after the timed-out one to run on {n}")
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.9, "the sleeping command was stopped before its timeout")
        self.assertLess(elapsed, 8.0, "the sleeping command was not killed after its 1 s timeout")
        for n in ("a", "b"):
            pid = int(c.read_file_text(n, "sleep.pid").strip())
            c.wait_until(lambda pid=pid: not pid_alive(pid), timeout=5,
                         what=lambda: f"the timed-out `sleep 30` (pid {pid}) on {n} to be gone")
        # the daemons are still working
        c.write("a", P, b"after timeout\n")
        c.wait_content("b", P, b"after timeout\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
