"""A peer that stops answering without closing its channel is noticed, shown,
and caught up once it answers again.

b's daemon is frozen with SIGSTOP (its `syncr connect` bridges keep running,
so a's channel stays open and nothing ever reaches EOF): only a silence
detector on a's side can tell that b is gone. This proves that
- within 20 s a's `status --json` shows peer b `connected: false` with a
  `last_error` that says "not answering" (a does not claim a dead peer is up);
- a file written on a while b is frozen reaches b, byte for byte, within 20 s
  of SIGCONT, a shows b connected again, and `status` exits 0 on both nodes.

Two nodes a and b joined by the exec transport."""

import os
import unittest

from harness import ClusterTestCase, find_peer
from lossutil import wait_all_in_sync

D = "/etc/app"
BEFORE = D + "/before.conf"
DURING = D + "/during.conf"
DETECT_S = 20.0  # scaled by the harness


def peer_b_on_a(c):
    """b's entry in a's status (a is never frozen: its status answers)."""
    return find_peer(c.status("a")[1], "b") or {}


class SilentPeerTest(ClusterTestCase):

    def test_frozen_peer_is_shown_not_answering_then_caught_up(self):
        c = self.started_cluster(sync=[{"path": D}], dirs=(D,))
        c.write("a", BEFORE, b"both have this\n")
        c.wait_content("b", BEFORE, b"both have this\n")
        wait_all_in_sync(c)

        c.freeze("b")
        self.addCleanup(c.thaw, "b")

        def silent():
            p = peer_b_on_a(c)
            return not p.get("connected", False) and "not answering" in p.get("last_error", "")
        c.wait_until(silent, timeout=DETECT_S,
                     what=lambda: f"a's status to show b connected: false, last_error "
                                  f"'...not answering...' (b is: {peer_b_on_a(c)})")

        data = b"written on a while b was frozen\n" + os.urandom(64)
        c.write("a", DURING, data)
        c.wait_until(lambda: c.path_status("a", DURING), what=f"a to record {DURING}")
        self.assertIsNone(c.read("b", DURING), "b wrote a file while it was frozen")

        c.thaw("b")
        c.wait_until(lambda: peer_b_on_a(c).get("connected", False), timeout=DETECT_S,
                     what=lambda: f"a's status to show b connected again (b is: {peer_b_on_a(c)})")
        c.wait_content("b", DURING, data, timeout=DETECT_S)
        wait_all_in_sync(c, timeout=DETECT_S)


if __name__ == "__main__":
    unittest.main(verbosity=2)
