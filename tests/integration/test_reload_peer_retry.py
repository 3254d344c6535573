"""A SIGHUP that removes or changes a peer while a retry for that peer is
pending does not crash the daemon.

b cannot apply a's new version of a file (b's copy is immutable, chattr +i:
the rename over it fails with EPERM), so b answers "could not apply" and a
retries it 1 s after that first failure (then backing off). a's config is then rewritten, without peer b or with
b's exec command changed, and a gets SIGHUP. The retry timer armed before the
reload fires after it: if it still points at the removed link, that is a
use-after-free (an ASan abort; a crash or worse without ASan). This proves
that a's daemon is alive and answers `status` after more than two retry
periods past the reload, in both variants.

Needs root (chattr +i): fails, never skips, when not root (CI is root).
Two nodes a and b joined by the exec transport."""

import os
import signal
import subprocess
import time
import unittest

from harness import TIMEOUT_SCALE, ClusterTestCase, read_text
from lossutil import run, wait_pending_to, wait_status_content

P = "/etc/app.conf"
RETRY_S = 1.0  # the daemon's first retry wait for a failed apply (it then backs off)


class ReloadPeerRetryTest(ClusterTestCase):

    def _retrying(self):
        """A started cluster where a keeps retrying P to b (a retry is armed)."""
        self.assertEqual(os.geteuid(), 0, "needs root: chattr +i on b's file")
        c = self.started_cluster(sync=[{"path": P}])
        c.write("a", P, b"old\n")
        c.wait_content("b", P, b"old\n")
        wait_status_content(c, "b", P, b"old\n")
        target = c.disk("b", P)
        run(["chattr", "+i", target])
        self.addCleanup(subprocess.run, ["chattr", "-i", target], capture_output=True)
        c.write("a", P, b"new, b cannot put it in place\n")
        wait_pending_to(c, "a", P, "b")
        c.wait_until(lambda: "could not apply" in read_text(c.node("a").log), timeout=10,
                     what="a's log to say that b could not apply " + P)
        return c

    def _reload_and_survive(self, c):
        """SIGHUP a, wait for its reload line, then watch it for more than two
        retry periods: it must stay alive and answer `status`."""
        os.kill(c.pid("a"), signal.SIGHUP)
        c.wait_until(lambda: "SIGHUP: reloaded" in read_text(c.node("a").log),
                     what="a to log its reload")
        deadline = time.monotonic() + 2.5 * RETRY_S * TIMEOUT_SCALE
        while time.monotonic() < deadline:
            c.check_alive()  # fails at once, with the logs, if a died
            time.sleep(0.05)
        rc, st = c.status("a")
        self.assertIn(rc, (0, 1), f"`syncr status` on a exited {rc} after the reload")
        self.assertIsInstance(st, dict, "`syncr status --json` on a printed no JSON")
        return st

    def test_peer_removed_while_retry_pending(self):
        c = self._retrying()
        c.write_config("a", drop_peers=("b",))
        self._reload_and_survive(c)

    def test_peer_exec_changed_while_retry_pending(self):
        c = self._retrying()
        c.peer_transport = lambda node, peer: {"exec": "exec " + c.exec_command(peer)}
        c.write_config("a")
        self._reload_and_survive(c)


if __name__ == "__main__":
    unittest.main(verbosity=2)
