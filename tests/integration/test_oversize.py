"""An update larger than the receiver accepts is refused for that path alone.

b has `[limits] max_file_bytes = 100000`, a keeps the default (64 MiB). a
writes big.bin of 3 MiB (more than b's limit plus the 1 MiB of frame
headroom, so a frame that carries it is larger than b's channel accepts),
then small.txt. This proves that
- small.txt, written after big.bin, reaches b within 10 s: one oversize file
  does not block or drop the channel for the others;
- big.bin never appears on b;
- a's `status --json` lists big.bin with `refused_by` containing "b" and
  says why ("max_file_bytes" appears in that path's entry), and `status` on
  a exits 1 (not everything is on every peer);
- a later edit of small.txt still arrives (the channel is neither closed nor
  stuck behind the refused file).

Two nodes a and b joined by the exec transport."""

import json
import os
import unittest

from harness import ClusterTestCase, find_path
from lossutil import wait_all_in_sync

D = "/etc/app"
BIG = D + "/big.bin"
SMALL = D + "/small.txt"
B_LIMIT = 100000


class OversizeTest(ClusterTestCase):

    def test_oversize_file_is_refused_alone(self):
        c = self.started_cluster(sync=[{"path": D}], dirs=(D,),
                                 extra_toml={"b": f"[limits]\nmax_file_bytes = {B_LIMIT}\n"})
        wait_all_in_sync(c)

        big = os.urandom(3 << 20)
        c.write("a", BIG, big)
        c.write("a", SMALL, b"small one\n")
        c.wait_content("b", SMALL, b"small one\n", timeout=10)
        self.assertIsNone(c.read("b", BIG), "b wrote a file larger than its max_file_bytes")

        state = {}

        def refused():
            rc, st = c.status("a")
            entry = find_path(st, BIG) or {}
            state.update(rc=rc, entry=entry)
            return "b" in (entry.get("refused_by") or []) and "max_file_bytes" in json.dumps(entry)
        c.wait_until(refused, timeout=10,
                     what=lambda: f"a's status to list {BIG} refused_by b, mentioning "
                                  f"max_file_bytes (exit {state.get('rc')}, entry "
                                  f"{json.dumps(state.get('entry'))[:600]})")
        self.assertEqual(c.status("a")[0], 1,
                         "`syncr status` on a must exit 1 while b lacks big.bin")

        c.write("a", SMALL, b"small one, edited after the refusal\n")
        c.wait_content("b", SMALL, b"small one, edited after the refusal\n", timeout=10)
        self.assertIsNone(c.read("b", BIG), "b wrote a file larger than its max_file_bytes")


if __name__ == "__main__":
    unittest.main(verbosity=2)
