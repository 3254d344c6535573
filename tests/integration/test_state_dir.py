"""The state_dir (issue 11): a corrupt state database stops the daemon with a
message that names the file and the fix, and the fix works."""

import os
import shutil
import unittest

from harness import ClusterTestCase, read_text

P = "/etc/app.conf"


class CorruptDatabaseTest(ClusterTestCase):

    def assert_refuses_corrupt_db(self, c, node):
        db = os.path.join(c.node(node).state, "state.db")
        before = len(read_text(c.node(node).log)) if os.path.exists(c.node(node).log) else 0
        proc = c.start(node, wait=False)
        c.node(node).expect_running = False
        rc = proc.wait(timeout=20)
        said = read_text(c.node(node).log)[before:]
        self.assertEqual(rc, 1, f"the daemon exited {rc} on a corrupt state.db:\n{said}")
        self.assertIn(db, said, "the message does not name the database file")
        self.assertIn("corrupt", said)
        self.assertIn("move it away", said, f"the message names no remedy:\n{said}")
        self.assertIn("backup generations kept in it are lost", said)
        return db

    def test_garbage_database(self):
        c = self.cluster(sync=[{"path": P}])
        with open(os.path.join(c.node("a").state, "state.db"), "wb") as f:
            f.write(os.urandom(8192))
        self.assert_refuses_corrupt_db(c, "a")

    def test_damaged_database_and_the_remedy(self):
        c = self.started_cluster(sync=[{"path": P}])
        c.write("a", P, b"one\n")
        c.wait_content("b", P, b"one\n")
        c.stop("b")
        db = os.path.join(c.node("b").state, "state.db")
        with open(db, "r+b") as f:  # keep the header, break the schema page
            f.seek(100)
            f.write(b"\xff" * 3900)
        self.assert_refuses_corrupt_db(c, "b")
        # The remedy the message gives: move it away and restart.
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                shutil.move(db + suffix, db + suffix + ".corrupt")
        c.start("b")
        c.wait_connected()
        c.write("a", P, b"two\n")
        c.wait_content("b", P, b"two\n")
        c.wait_in_sync()


if __name__ == "__main__":
    unittest.main(verbosity=2)
