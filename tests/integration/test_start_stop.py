"""Issue 12: a SIGTERM that reaches the daemon while it is still starting
(opening its state database, adopting apply intents) must not kill it half
started: the signal waits for the event loop, which then stops cleanly
(exit 0, "stopping" in the log), as `systemctl stop` right after `start`
expects. The soak found a daemon killed by SIGTERM (exit -15) during start-up.

The start is held inside the state database's open: the test holds an
exclusive lock on state.db, so the daemon waits in its busy timeout.
"""

import os
import signal
import sqlite3
import unittest

from harness import ClusterTestCase, read_text

P = "/etc/app.conf"


def blocked_signals(pid):
    """The SigBlk mask of pid, as a set of signal numbers."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("SigBlk:"):
                mask = int(line.split()[1], 16)
                return {n for n in range(1, 65) if mask & (1 << (n - 1))}
    return set()


class StartStopTest(ClusterTestCase):

    def test_sigterm_while_opening_the_store_exits_cleanly(self):
        c = self.cluster(sync=[{"path": P}])
        c.start("a")  # makes state.db
        self.assertEqual(c.stop("a"), 0)
        db = os.path.join(c.node("a").state, "state.db")
        lock = sqlite3.connect(db, timeout=5)
        self.addCleanup(lock.close)
        lock.execute("PRAGMA locking_mode=EXCLUSIVE")
        lock.execute("BEGIN EXCLUSIVE")
        proc = c.start("a", wait=False)
        # Positive barrier: the daemon has blocked the signals its loop will
        # read; it cannot have opened the store (we hold it).
        c.wait_until(lambda: proc.poll() is not None or signal.SIGTERM in blocked_signals(proc.pid),
                     timeout=5, what="daemon a to block SIGTERM while it starts")
        self.assertIsNone(proc.poll(), "daemon a exited before the test could signal it")
        self.assertNotIn("ready:", read_text(c.node("a").log).split("starting a")[-1])
        proc.send_signal(signal.SIGTERM)
        lock.rollback()
        lock.close()  # the daemon's open goes on, then its loop reads the SIGTERM
        rc = proc.wait(timeout=15)
        log = read_text(c.node("a").log).split("starting a")[-1]
        self.assertEqual(rc, 0, f"exit {rc} after a SIGTERM during start-up; log:\n{log}")
        self.assertIn("stopping", log)
        c.node("a").expect_running = False


if __name__ == "__main__":
    unittest.main(verbosity=2)
