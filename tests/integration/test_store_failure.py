"""A store commit that fails on the receiver leaves nothing acknowledged and
is shown until it is resolved (a failed commit is sticky and visible).

b's state_dir is a tmpfs of 8 MiB mounted before b starts. Once the nodes are
in sync it is filled to the last byte; a then writes a file of 300 KiB, whose
backup object (over the 256 KiB kept inline in state.db) needs new space in
state_dir. This proves that
- within 15 s b's `status --json` has `in_sync: false` and a `problems` entry
  naming the state database / state_dir and the error (no space), and
  `syncr status` on b exits non-zero;
- a's status keeps the path `pending_to` b: b did not acknowledge a version
  it could not commit;
- after the filler is removed and b restarted, everything converges: the
  file on b equals a's and `status` exits 0 on both.

Needs root (mount -t tmpfs): fails, never skips, when not root (CI is root).
Two nodes a and b joined by the exec transport."""

import os
import re
import time
import unittest

from harness import TIMEOUT_SCALE, ClusterTestCase
from lossutil import path_state, run, umount_all, wait_all_in_sync, wait_pending_to
from test_write_failure import fill_to_enospc

P = "/etc/app.conf"
NO_SPACE = re.compile(r"no space", re.I)
STATE = re.compile(r"state[ _.-]?(dir|db|database|store)|state\.db", re.I)


class StoreFailureTest(ClusterTestCase):

    def test_full_state_dir_is_shown_and_not_acknowledged(self):
        self.assertEqual(os.geteuid(), 0, "needs root: mount -t tmpfs over b's state_dir")
        c = self.cluster(sync=[{"path": P}])
        state_dir = c.node("b").state
        self.addCleanup(umount_all, state_dir)
        self.addCleanup(c.kill_all)  # cleanups run last-in first-out: daemons die first
        run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", state_dir])
        c.start_all()
        c.wait_connected()
        c.write("a", P, b"small, both have it\n")
        c.wait_content("b", P, b"small, both have it\n")
        wait_all_in_sync(c)

        filler = os.path.join(state_dir, "filler.bin")
        fill_to_enospc(filler)
        big = os.urandom(300 << 10)
        c.write("a", P, big)

        seen = {}

        def failure_shown():
            rc, st = c.status("b")
            seen.update(rc=rc, st=st)
            problems = (st or {}).get("problems") or []
            return (rc != 0 and st is not None and not st.get("in_sync", False)
                    and any((state_dir in p or STATE.search(p)) and NO_SPACE.search(p)
                            for p in problems))
        c.wait_until(failure_shown, timeout=15,
                     what=lambda: f"b's status to exit non-zero, in_sync false, and a problem "
                                  f"naming the state store and 'no space' (exit {seen.get('rc')}, "
                                  f"in_sync {(seen.get('st') or {}).get('in_sync')}, problems "
                                  f"{(seen.get('st') or {}).get('problems')})")
        wait_pending_to(c, "a", P, "b")
        hold = time.monotonic() + 1.0 * TIMEOUT_SCALE  # an ack would have come by now
        while time.monotonic() < hold:
            self.assertIn("b", path_state(c, "a", P)[1],
                          "a was told that b applied a version b could not commit")
            time.sleep(0.1)

        os.unlink(filler)
        c.stop("b")
        c.start("b")
        c.wait_content("b", P, big, timeout=15)
        wait_all_in_sync(c)


if __name__ == "__main__":
    unittest.main(verbosity=2)
