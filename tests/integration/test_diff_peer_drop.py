"""`syncr diff PATH --peer b` fails cleanly when b dies while a waits for its
copy: a request waiting on a peer is aborted when that peer goes away.

b's daemon is frozen (SIGSTOP) so that a forwards the fetch and b cannot
answer it; then b's daemon is killed (SIGKILL, its whole session). This proves
that
- the diff command, still waiting 1 s after it started (a's daemon answers
  `status` meanwhile, so a is not simply slow), exits non-zero within 10 s
  of b's death, and its stderr names the peer "b";
- a's daemon stays alive and `syncr status` on a still answers.

Two nodes a and b joined by the exec transport."""

import os
import re
import subprocess
import time
import unittest

from harness import TIMEOUT_SCALE, ClusterTestCase, daemon_env, kill_tree, popen, read_text
from lossutil import wait_all_in_sync

P = "/etc/app.conf"
STILL_WAITING_S = 1.0
FAIL_WITHIN_S = 10.0  # scaled by the harness


class DiffPeerDropTest(ClusterTestCase):

    def test_diff_fails_when_the_peer_dies_mid_request(self):
        c = self.started_cluster(sync=[{"path": P}])
        c.write("a", P, b"port=8080\n")
        c.wait_content("b", P, b"port=8080\n")
        wait_all_in_sync(c)

        c.freeze("b")
        self.addCleanup(c.thaw, "b")
        out, err = os.path.join(c.tmp, "diff.out"), os.path.join(c.tmp, "diff.err")
        with open(out, "wb") as fo, open(err, "wb") as fe:
            diff = popen([c.bin, "diff", P, "--peer", "b", "-c", c.node("a").config],
                         stdout=fo, stderr=fe, env=daemon_env())
        self.addCleanup(kill_tree, diff)

        # Not answered yet: a answers in milliseconds unless it waits on b.
        deadline = time.monotonic() + STILL_WAITING_S * TIMEOUT_SCALE
        while time.monotonic() < deadline:
            self.assertIsNone(diff.poll(), f"diff answered while b was frozen: exit "
                                           f"{diff.returncode}, stderr {read_text(err)!r}")
            time.sleep(0.05)
        self.assertIn(c.status("a")[0], (0, 1), "a's status does not answer")
        self.assertIsNone(diff.poll(), f"diff answered while b was frozen: {read_text(err)!r}")

        c.kill("b")
        killed = time.monotonic()
        try:
            c.wait_until(lambda: diff.poll() is not None, timeout=FAIL_WITHIN_S,
                         what="`syncr diff --peer b` on a to exit after b's daemon was killed")
        finally:
            took = time.monotonic() - killed
        self.assertNotEqual(diff.returncode, 0,
                            f"diff exited 0 after {took:.1f}s without b: {read_text(out)!r}")
        stderr = read_text(err)
        self.assertRegex(stderr, r"(?<![\w/.-])b(?![\w/.-])",
                         f"diff's stderr must name the peer b (exit {diff.returncode})")

        self.assertIsNone(c.node("a").proc.poll(), "a's daemon died")
        rc, st = c.status("a")
        self.assertIn(rc, (0, 1), f"`syncr status` on a exited {rc}")
        self.assertIsInstance(st, dict, "`syncr status --json` on a printed no JSON")


if __name__ == "__main__":
    unittest.main(verbosity=2)
