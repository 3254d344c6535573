"""Restarts and crashes (SPEC 5, issue "nothing lost"): what a peer has not
acknowledged survives a SIGTERM or SIGKILL of the sender; edits made while
the daemon was stopped are found at start; a start never overwrites a newer
local file with an older remote one and never deletes anything because a node
came up empty; kill -9 of the receiver in the middle of a 1,000-file transfer
leaves no temp file and the nodes converge."""

import os
import random
import shutil
import signal
import time
import unittest

from harness import ClusterTestCase
from lossutil import (ACTION, action_runs, settle_actions, snapshot, temp_leftovers,
                      wait_all_in_sync, wait_pending_to, wait_status_content, wait_trees_equal,
                      write_files)

P = "/etc/app.conf"
TREE = "/srv/data"


class SenderRestartTest(ClusterTestCase):

    def _sender_restart(self, how):
        c = self.started_cluster(sync=[{"path": P}])
        c.write("a", P, b"v0\n")
        c.wait_content("b", P, b"v0\n")
        c.stop("b")
        c.write("a", P, b"v1 pending to b\n")
        wait_status_content(c, "a", P, b"v1 pending to b\n")
        if how == "kill":
            c.kill("a")  # kill -9 right after the version was made
        else:
            wait_pending_to(c, "a", P, "b")
            self.assertEqual(c.stop("a", sig=signal.SIGTERM), 0, "a's exit code after SIGTERM")
        c.start("a")
        c.start("b")
        c.wait_content("b", P, b"v1 pending to b\n", timeout=15)
        wait_all_in_sync(c)
        self.assertEqual(c.read("a", P), b"v1 pending to b\n")
        self.assertEqual(c.counter("b", P, "a"), c.counter("a", P, "a"))

    def test_sender_sigterm_with_pending_change(self):
        self._sender_restart("term")

    def test_sender_sigkill_with_pending_change(self):
        self._sender_restart("kill")


class StartupScanTest(ClusterTestCase):

    def test_edit_while_daemon_stopped_replicates(self):
        c = self.started_cluster(sync=[{"path": P, "actions": [ACTION]}])
        c.write("a", P, b"v0\n")
        c.wait_content("b", P, b"v0\n")
        before = c.counter("a", P, "a")
        c.stop("a")
        c.rename_write("a", P, b"v1 edited while a's daemon was stopped\n")
        c.start("a")
        # b still holds the older v0: the start must never put it back on a
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            self.assertEqual(c.read("a", P), b"v1 edited while a's daemon was stopped\n",
                             "the newer local file on a was overwritten at start")
            time.sleep(0.01)
        c.wait_content("b", P, b"v1 edited while a's daemon was stopped\n", timeout=15)
        wait_all_in_sync(c)
        self.assertEqual(c.read("a", P), b"v1 edited while a's daemon was stopped\n")
        self.assertEqual(c.counter("a", P, "a"), before + 1, "the start-up scan made one version")
        settle_actions(c, ["a", "b"])
        self.assertEqual(len(action_runs(c, "b", P)), 2, f"b's runs: {action_runs(c, 'b', P)}")

    def test_missing_file_at_start_is_restored_not_deleted(self):
        c = self.started_cluster(sync=[{"path": P}])
        c.write("a", P, b"keep me\n")
        c.wait_content("b", P, b"keep me\n")
        c.stop("a")
        c.remove("a", P)
        c.start("a")
        c.wait_content("a", P, b"keep me\n", timeout=15)
        wait_all_in_sync(c)
        self.assertEqual(c.read("b", P), b"keep me\n", "b's file was deleted")

    def test_node_coming_up_empty_deletes_nothing(self):
        c = self.started_cluster(sync=[{"path": P}, {"path": TREE}])
        c.write("a", P, b"config\n")
        write_files(c.disk("a", TREE), [(f"f{i}", f"file {i}\n".encode()) for i in range(20)])
        c.wait_content("b", P, b"config\n")
        want = wait_trees_equal(c, TREE, ["a", "b"], timeout=15)
        self.assertEqual(len(want), 20)
        # b loses everything: synced files and its state
        c.stop("b")
        shutil.rmtree(c.disk("b", TREE))
        os.unlink(c.disk("b", P))
        shutil.rmtree(c.node("b").state)
        os.makedirs(c.node("b").state)
        c.start("b")
        c.wait_content("b", P, b"config\n", timeout=15)
        wait_trees_equal(c, TREE, ["a", "b"], timeout=15, expect=want)
        wait_all_in_sync(c)
        self.assertEqual(c.read("a", P), b"config\n")
        self.assertEqual(snapshot(c.disk("a", TREE)), want, "a's tree lost files")


class KillDuringTransferTest(ClusterTestCase):

    ROUNDS = 3
    FILES = 1000

    def test_kill9_receiver_during_1000_file_transfer(self):
        rnd = random.Random(int(os.environ.get("SYNCR_TEST_SEED", "0")) or None)
        c = self.cluster(sync=[{"path": TREE}])
        os.makedirs(c.disk("a", TREE))
        c.start_all()
        c.wait_connected()
        src, dst = c.disk("a", TREE), c.disk("b", TREE)
        notes = []
        for r in range(self.ROUNDS):
            sub = os.path.join(src, f"round{r}")
            os.makedirs(sub)
            target = rnd.randint(1, self.FILES - 1)
            t0 = time.monotonic()
            for i in range(self.FILES):
                size = rnd.choice((10, 200, 3000, 20000))
                with open(os.path.join(sub, f"f{i:04d}"), "wb") as f:
                    f.write(rnd.randbytes(size))
            # kill -9 b once it holds `target` files of this round (a random
            # moment of the transfer), or at the latest after 10 s
            d = os.path.join(dst, f"round{r}")

            def count():
                try:
                    return len(os.listdir(d))
                except FileNotFoundError:
                    return 0
            deadline = time.monotonic() + 10
            while count() < target and time.monotonic() < deadline:
                time.sleep(0.001)
            got = count()
            c.kill("b")
            notes.append(f"round {r}: killed b at {got} names (target {target}) "
                         f"{time.monotonic() - t0:.2f}s after the writes began")
            c.start("b")
        notes_text = "\n".join(notes)
        wait_trees_equal(c, TREE, ["a", "b"], timeout=30, ignore_temps=True, note=notes_text)
        wait_all_in_sync(c)
        final = snapshot(src, ignore_temps=True)
        self.assertEqual(sum(1 for v in final.values() if isinstance(v, bytes)),
                         self.ROUNDS * self.FILES, notes_text)
        left = temp_leftovers(c.node("a").root, c.node("b").root)
        if left:
            self.fail(f"{len(left)} temp files left behind after kill -9 "
                      f"(first: {left[:5]}):\n{notes_text}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
