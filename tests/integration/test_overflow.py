"""inotify queue overflow (issue "nothing lost"): a flood of changes past the
kernel's event queue makes the daemon rescan, and no change is lost.

Root only: the queue limit (/proc/sys/fs/inotify/max_queued_events) is
lowered to 64 before the daemons start (the limit is taken when an inotify
instance is created) and restored right after they started, and again in the
cleanup, even on failure. Skipped loudly when not root; under CI=true a
non-root run fails instead.
"""

import os
import signal
import unittest

from harness import ClusterTestCase
from lossutil import (log_lines, require_root, snapshot, sysctl_read, sysctl_write,
                      wait_all_in_sync, wait_trees_equal)

QUEUE = "/proc/sys/fs/inotify/max_queued_events"
TREE = "/srv/flood"
P = "/etc/app.conf"
FILES = 2000
EDITS = 300


def _continue(pid):
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


class OverflowTest(ClusterTestCase):

    def setUp(self):
        require_root(self, f"lowering {QUEUE}")
        self.old_limit = sysctl_read(QUEUE)
        self.addCleanup(self._restore)

    def _restore(self):
        if sysctl_read(QUEUE) != self.old_limit:
            sysctl_write(QUEUE, self.old_limit)

    def test_flood_past_the_queue_loses_nothing(self):
        c = self.cluster(sync=[{"path": TREE}, {"path": P}])
        for n in ("a", "b"):
            os.makedirs(c.disk(n, TREE), exist_ok=True)
        c.write("a", P, b"seed\n")
        sysctl_write(QUEUE, "64")
        try:
            c.start_all()
        finally:
            self._restore()  # only the daemons' instances need the small queue
        c.wait_connected()
        c.wait_content("b", P, b"seed\n")

        src = c.disk("a", TREE)
        fp = c.disk("a", P)
        # a is stopped while the flood happens, as a daemon stalled on a
        # slow disk would be: its 64-event queue overflows for certain, not
        # only when the flood outruns it (a fast daemon drains the queue as
        # fast as Python writes). It is continued before anything is checked.
        a_pid = c.pid("a")
        os.kill(a_pid, signal.SIGSTOP)
        self.addCleanup(_continue, a_pid)
        for i in range(FILES):
            with open(os.path.join(src, f"f{i:05d}"), "wb") as f:
                f.write(f"file {i}\n".encode() * (1 + i % 7))
            if i % (FILES // EDITS) == 0:
                with open(fp, "wb") as f:
                    f.write(f"edit {i}\n".encode())
        final = b"final edit of app.conf\n"
        with open(fp, "wb") as f:
            f.write(final)
        # a few files changed again and one removed, inside the flood's wake
        with open(os.path.join(src, "f00007"), "wb") as f:
            f.write(b"rewritten\n")
        os.unlink(os.path.join(src, "f00008"))
        _continue(a_pid)

        want = snapshot(src)
        self.assertEqual(len(want), FILES - 1)
        c.wait_content("b", P, final, timeout=30)
        wait_trees_equal(c, TREE, ["a", "b"], timeout=40, expect=want)
        wait_all_in_sync(c, timeout=15)
        self.assertEqual(c.read("b", P), final)
        c.wait_until(lambda: log_lines(c, "a", "overflow"), timeout=5,
                     what="a's daemon log to mention the inotify queue overflow (did the queue "
                          f"limit {QUEUE}=64 apply to the daemon?)")


if __name__ == "__main__":
    unittest.main(verbosity=2)
