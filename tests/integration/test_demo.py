"""`syncr demo`: the embedded two-node cluster runs, shows a file replicate,
exits 0 within 30 s and cleans up after itself."""

import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import harness


class DemoTest(unittest.TestCase):

    def test_demo(self):
        bin_ = harness.require_bin()
        tmpdir = tempfile.mkdtemp(prefix="syncr-demo-", dir="/tmp")
        env = harness.daemon_env()
        env["TMPDIR"] = tmpdir  # where a well-behaved demo puts its temporary folder
        tmp_before = {os.path.join("/tmp", x) for x in os.listdir("/tmp")}
        t0 = time.monotonic()
        proc = harness.popen([bin_, "demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env, cwd=tmpdir)
        ok = False
        try:
            try:
                out, err = proc.communicate(timeout=30 * harness.TIMEOUT_SCALE)
            except subprocess.TimeoutExpired:
                harness.kill_tree(proc)
                out, err = proc.communicate()
                self.fail(f"`syncr demo` did not finish within 30 s; output so far:\n"
                          f"{out.decode(errors='replace')}\n{err.decode(errors='replace')}")
            elapsed = time.monotonic() - t0
            text = out.decode("utf-8", "replace") + err.decode("utf-8", "replace")
            self.assertEqual(proc.returncode, 0, f"`syncr demo` exited {proc.returncode}:\n{text}")
            self.assertLess(elapsed, 30 * harness.TIMEOUT_SCALE)
            # it names the file it edits and says that it replicated
            self.assertRegex(text, r"(/[\w.@+-]+)+", f"no file path in the demo output:\n{text}")
            self.assertRegex(text, re.compile(r"replicat|synced|arrived|copied|received", re.I),
                             f"the demo output does not mention replication:\n{text}")
            lines_with_path = [ln for ln in text.splitlines() if re.search(r"/[\w.@+-]+\w", ln)]
            self.assertGreaterEqual(len(lines_with_path), 2,
                                    f"the replicated file is not mentioned:\n{text}")
            # it cleans up: no process left in its session, nothing left in TMPDIR
            harness.wait_until(lambda: not harness.pids_in_session(proc.pid), timeout=5,
                               what=lambda: f"processes left by the demo to exit: "
                                            f"{harness.pids_in_session(proc.pid)}")
            self.assertEqual(os.listdir(tmpdir), [], f"the demo left files in $TMPDIR={tmpdir}")
            # the temporary folder it names in its output (new under /tmp) is gone
            for top in sorted(set(re.findall(r"(/tmp/[^/\s:;,'\"]+)", text))):
                top = top.rstrip(".")
                if top not in tmp_before and top != tmpdir:
                    self.assertFalse(os.path.exists(top), f"the demo left {top} behind")
            ok = True
        finally:
            harness.kill_tree(proc)
            if ok:
                shutil.rmtree(tmpdir, ignore_errors=True)
            else:
                print(f"[test_demo] keeping {tmpdir}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
