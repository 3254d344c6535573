"""A node that comes back is caught up at once, not after the other side's
backoff.

A dead channel is redialled with exponential backoff: 0.2 s doubling to
30 s (docs/architecture.md). A node that was down for a minute would then
wait up to 30 s for its peer's next dial before the changes it missed
arrive. Instead, when the node comes back its own channel reaches the peer
first, and the peer redials it at once.

Here b stays down while a fails to reach it six times (a's dial command
counts its attempts), so a's next dial by backoff is 6.4 s away. b then
starts; a file written on a meanwhile must arrive on b well before that:
a's changes only travel on the channel a dials.

Two nodes a and b joined by the exec transport."""

import os
import shlex
import time
import unittest

from harness import ClusterTestCase

P = "/etc/app.conf"
DIALS_BEFORE = 6  # failures: 0.2+0.4+0.8+1.6+3.2 s of backoff, the next wait is 6.4 s
WITHIN_S = 4.0    # well under 6.4 s; a redial at once takes milliseconds


class ReconnectTest(ClusterTestCase):

    def test_peer_that_reaches_us_is_redialled_at_once(self):
        c = self.cluster(sync=[{"path": P}])
        dials = os.path.join(c.tmp, "a-dials")

        def transport(node, peer):
            command = c.exec_command(peer)
            if node == "a":
                command = f"echo dial >> {shlex.quote(dials)}; exec {command}"
            return {"exec": command}

        c.peer_transport = transport
        c.write_config("a")

        def dial_count():
            if not os.path.exists(dials):
                return 0
            with open(dials) as f:
                return len(f.read().split())

        c.start("a")
        c.wait_until(lambda: dial_count() >= DIALS_BEFORE, timeout=20,
                     what=f"a to try to reach b {DIALS_BEFORE} times")
        content = b"written on a while b was down\n"
        c.write("a", P, content)
        c.wait_until(lambda: c.path_status("a", P), what=f"a to record {P}")

        started = time.monotonic()
        c.start("b")
        c.wait_content("b", P, content, timeout=WITHIN_S)
        took = time.monotonic() - started
        self.assertLess(took, WITHIN_S, f"b caught up only after {took:.2f}s")
        self.assertGreater(dial_count(), DIALS_BEFORE, "a never dialled b again")


if __name__ == "__main__":
    unittest.main(verbosity=2)
