"""A receiver that cannot write (issue "nothing lost"): disk full, or a write
that fails. The old file stays intact, no temp file is left, the version
stays pending on the sender (nothing is acknowledged that is not on disk),
and once the failure is lifted the version arrives without any further edit.

Root only: the tests mount a full tmpfs over b's synced directory, or set the
immutable attribute (chattr +i) on b's file. Skipped loudly when not root;
under CI=true a non-root run fails instead.
"""

import errno
import os
import re
import subprocess
import sys
import time
import unittest

from harness import ClusterTestCase, sha256_hex
from lossutil import (log_lines, path_state, require_root, run, status_hash, temp_leftovers,
                      umount_all, wait_all_in_sync, wait_pending_to, wait_status_content)

DIRP = "/etc/app"
P = DIRP + "/app.conf"
FLAT = "/etc/flat.conf"


def fill_to_enospc(path):
    """Write path until the filesystem is full (ENOSPC), to the last byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for chunk in (65536, 4096, 1):
            while True:
                try:
                    if os.write(fd, b"\0" * chunk) < chunk:
                        break
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)


class WriteFailureTest(ClusterTestCase):

    def setUp(self):
        require_root(self, "mount -t tmpfs and chattr +i on the receiver's files")

    def _assert_failure_held(self, c, path, old, new, hold_s=1.5):
        """While the failure lasts: b keeps the old bytes, no temp file is
        left behind in b's directory, a's status keeps path pending to b, b's status does
        not claim the new version."""
        d = os.path.dirname(c.disk("b", path))
        # b tried (and failed) at least once: its log names the path
        def failure_logged():
            return [ln for n in ("a", "b") for ln in log_lines(c, n, path)
                    if re.search(r"fail|cannot|could not|error|no space|not permitted", ln, re.I)]
        c.wait_until(failure_logged, timeout=10,
                     what=f"a daemon log line saying that b could not write {path}")
        deadline = time.monotonic() + hold_s
        # a retries (1 s, 2 s, 4 s ...) and b stages a temp file each time: one may be
        # seen at any instant, but none may stay behind.
        seen_temps: set[str] = set()
        while True:
            self.assertEqual(c.read("b", path), old, f"b's old {path} was damaged")
            seen_temps.update(temp_leftovers(d))
            state, pending, _ = path_state(c, "a", path)
            self.assertIn("b", pending, f"a's status must keep {path} pending to b "
                                        f"(state {state!r}, pending_to {pending})")
            self.assertNotEqual(status_hash(c, "b", path), sha256_hex(new),
                                f"b's status claims the version it could not write")
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        rc, _ = c.status("a")
        self.assertEqual(rc, 1, "`syncr status` on a exits 1 while b lacks a version")
        c.wait_until(lambda: not any(os.path.exists(t) for t in seen_temps), timeout=5,
                     what=f"the temp files b staged in {d} to be removed: {sorted(seen_temps)}")

    def test_disk_full_on_receiver(self):
        c = self.cluster(sync=[{"path": P}])
        mnt = c.disk("b", DIRP)
        self.addCleanup(umount_all, mnt)
        self.addCleanup(c.kill_all)  # cleanups run last-in first-out: daemons die first
        run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt])
        c.start_all()
        c.wait_connected()
        old = b"old content, must survive\n"
        c.write("a", P, old)
        c.wait_content("b", P, old)
        wait_status_content(c, "b", P, old)
        # fill b's tmpfs to the last byte
        filler = os.path.join(mnt, "filler.bin")
        fill_to_enospc(filler)
        new = b"new content " * 5000  # 60 kB: cannot fit
        c.write("a", P, new)
        wait_status_content(c, "a", P, new)
        wait_pending_to(c, "a", P, "b")
        self._assert_failure_held(c, P, old, new)
        # lift the failure: free the space; no further edit
        os.unlink(filler)
        c.wait_content("b", P, new, timeout=15)
        wait_all_in_sync(c)
        self.assertEqual(temp_leftovers(mnt), [])

    def test_failing_rename_on_receiver(self):
        # chattr +i on b's file: the temp file can be written, the rename over
        # the immutable file fails (EPERM).
        c = self.started_cluster(sync=[{"path": FLAT}])
        old = b"old flat content\n"
        c.write("a", FLAT, old)
        c.wait_content("b", FLAT, old)
        wait_status_content(c, "b", FLAT, old)
        target = c.disk("b", FLAT)
        r = subprocess.run(["chattr", "+i", target], capture_output=True)
        if r.returncode != 0:
            msg = f"chattr +i not supported on {target}: {r.stderr.decode().strip()}"
            sys.stderr.write(f"\n!!!!! SKIPPED: {msg} !!!!!\n")
            self.skipTest(msg)
        self.addCleanup(subprocess.run, ["chattr", "-i", target], capture_output=True)
        new = b"new flat content that b cannot put in place\n"
        c.write("a", FLAT, new)
        wait_status_content(c, "a", FLAT, new)
        wait_pending_to(c, "a", FLAT, "b")
        self._assert_failure_held(c, FLAT, old, new)
        run(["chattr", "-i", target])
        c.wait_content("b", FLAT, new, timeout=15)
        wait_all_in_sync(c)
        self.assertEqual(temp_leftovers(os.path.dirname(target)), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
