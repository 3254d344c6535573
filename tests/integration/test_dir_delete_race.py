"""A directory deleted on one node is deleted on its peer, even when the
deletion arrives together with a file created in it a moment before (issue
"a directory deleted on the origin survives on a receiver, and status exits 0
on both").

Two nodes a and b, one directory entry /etc/app; the directory D below it
exists on both. a's daemon is frozen (SIGSTOP; its `syncr connect` bridges
keep running, so b's channel to a stays open and what b sends waits in the
socket). On b, D/f is created and recorded, then `rm -r D` is recorded (D and
D/f as tombstones). When a thaws it reads D/f's creation and D's deletion in
one batch (b sends D's tombstone before D/f's, which was queued behind the
creation still in flight), and D/f's tombstone after it.

Checked, once a's status records both tombstones and `status` exits 0 on both
nodes: D exists on neither node (the positive barrier is a's record of the
deletion; the check is a wait, so a daemon that removes D a moment later
passes), and `status` still exits 0 on both.

Deterministic: the freeze makes a read the whole sequence at once, whatever
the timing of b's sends.
"""

import os
import shutil
import unittest

from harness import ClusterTestCase, vv_of
from lossutil import not_in_sync, wait_all_in_sync
import treeutil as tu

ENTRY = "/etc/app"
D = ENTRY + "/d"
DF = D + "/f"
GONE_S = 5.0  # scaled: after a recorded the deletion, D must be gone by then


def recorded(c, node, path):
    """(kind, vv) of path in node's status."""
    ps = tu.status_paths(c, node).get(path)
    return tu.kind_of(ps), vv_of(ps)


class DirectoryDeleteRaceTest(ClusterTestCase):

    def test_directory_deleted_right_after_a_new_file_in_it(self):
        c = self.started_cluster(sync=[{"path": ENTRY}], dirs=(ENTRY,))
        os.mkdir(c.disk("a", D))
        c.wait_until(lambda: os.path.isdir(c.disk("b", D)), what=f"{D} to reach b")
        wait_all_in_sync(c)

        c.freeze("a")
        self.addCleanup(c.thaw, "a")
        tu.write_file(c.disk("b", DF), b"created just before its directory went\n")
        c.wait_until(lambda: recorded(c, "b", DF)[0] == "KIND_FILE",
                     what=lambda: f"b to record {DF}:\n" + tu.status_summary(c, "b", ENTRY))
        shutil.rmtree(c.disk("b", D))
        c.wait_until(lambda: (recorded(c, "b", D)[0] == recorded(c, "b", DF)[0]
                              == "KIND_DELETED"),
                     what=lambda: f"b to record {D} and {DF} as deleted:\n"
                                  + tu.status_summary(c, "b", ENTRY))
        want = {p: recorded(c, "b", p) for p in (D, DF)}
        c.thaw("a")

        c.wait_until(lambda: all(recorded(c, "a", p) == want[p] for p in want), timeout=15,
                     what=lambda: f"a to record b's tombstones {want}:\n"
                                  + tu.status_summary(c, "a", ENTRY))
        wait_all_in_sync(c)
        c.wait_until(lambda: not any(os.path.lexists(c.disk(n, D)) for n in c.names),
                     timeout=GONE_S,
                     what=lambda: f"{D} to be gone on both nodes; a has "
                                  f"{tu.describe(c.disk('a', D))} holding "
                                  f"{tu.snapshot(c.disk('a', D))}, b has "
                                  f"{tu.describe(c.disk('b', D))}; status on a:\n"
                                  + tu.status_summary(c, "a", ENTRY)
                                  + f"\n{not_in_sync(c, 'a')}\n{not_in_sync(c, 'b')}")
        wait_all_in_sync(c, timeout=5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
