"""The state_dir (issue 11). Local secrecy: whatever the umask and however
state_dir was made, every file under it ends up 0600 and every directory
0700, and the daemon says when it fixed a mode (docs/security.md). A corrupt
state database stops the daemon with a message that names the file and the
fix, and the fix works."""

import os
import shutil
import stat
import subprocess
import unittest

from harness import ClusterTestCase, read_text

P = "/etc/app.conf"


def loose_modes(top):
    """Paths under top (top included) that group or others can access."""
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [""] + dirnames + filenames:
            path = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(path)
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
                found.append(f"{path} {stat.filemode(st.st_mode)}")
    return found


class LocalSecrecyTest(ClusterTestCase):

    def setUp(self):
        old = os.umask(0o022)  # the daemons inherit it
        self.addCleanup(os.umask, old)

    def test_open_state_dir_and_umask_022_end_private(self):
        c = self.cluster(sync=[{"path": P}])
        for n in c.names:
            os.chmod(c.node(n).state, 0o755)
        # Left by an earlier run under a looser regime: fixed at start.
        os.makedirs(os.path.join(c.node("a").state, "objects", "ab"), mode=0o755)
        with open(os.path.join(c.node("a").state, "objects", "ab", "old"), "wb") as f:
            f.write(b"secret")
        os.chmod(os.path.join(c.node("a").state, "objects", "ab", "old"), 0o644)
        c.start_all()
        c.wait_connected()
        secret = b"password=hunter2\n"
        c.write("a", P, secret)
        os.chmod(c.disk("a", P), 0o600)
        c.wait_content("b", P, secret)
        big = os.urandom(600 * 1024)  # too large for state.db: an object file
        c.write("b", P, big)
        c.wait_content("a", P, big)
        c.wait_in_sync()
        for n in c.names:
            state = c.node(n).state
            self.assertTrue(os.path.exists(os.path.join(state, "state.db-wal")), os.listdir(state))
            self.assertTrue(os.path.isdir(os.path.join(state, "objects")), os.listdir(state))
            self.assertEqual(loose_modes(state), [], f"{n}: readable by group or others")
            log = read_text(c.node(n).log)
            self.assertIn(f"state_dir {state} was mode 0755", log)
            self.assertIn("made it 0700", log)
        self.assertIn("made 3 entries under state_dir", read_text(c.node("a").log))

    def test_state_dir_that_cannot_be_fixed_stops_the_daemon(self):
        """The daemon runs as nobody; its state_dir is root's, 0755."""
        if os.geteuid() != 0:
            self.skipTest("LOUD SKIP: needs root to run the daemon as another user")
        c = self.cluster(sync=[{"path": P}])
        os.chmod(c.tmp, 0o755)
        os.chmod(c.node("a").dir, 0o755)
        os.chmod(c.node("a").state, 0o755)
        os.chmod(c.node("a").config, 0o644)
        r = subprocess.run([c.bin, "daemon", "-c", c.node("a").config], user="nobody",
                           capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
        said = r.stderr.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 1, said)
        state = c.node("a").state
        self.assertIn(f"state_dir {state} is mode 0755", said)
        self.assertIn(f"chmod 700 {state}", said)
        self.assertEqual(os.stat(state).st_mode & 0o777, 0o755)
        self.assertEqual(os.listdir(state), [], "the daemon created files in an open state_dir")


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
