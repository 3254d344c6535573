"""SIGHUP re-reads the config without dropping state or channels: a sync
entry added to both configs replicates at once, the existing entry keeps
replicating over the same channels, an invalid new config is refused and the
running one kept, and a removed entry is no longer synced."""

import os
import signal
import unittest

from harness import ClusterTestCase, read_text

P = "/etc/app.conf"
NEW = "/etc/added.conf"


class ReloadTest(ClusterTestCase):

    def hup(self, c, node, count):
        """Send SIGHUP and wait for the daemon's count-th reload line."""
        os.kill(c.pid(node), signal.SIGHUP)
        c.wait_until(lambda: read_text(c.node(node).log).count("SIGHUP: ") >= count,
                     what=f"{node} to log its reload #{count}")

    def test_added_entry_replicates_without_dropping_channels(self):
        c = self.started_cluster(sync=[{"path": P}])
        c.write("a", P, b"one\n")
        c.wait_content("b", P, b"one\n")
        lost_before = {n: read_text(c.node(n).log).count("lost connection") for n in ("a", "b")}

        c.sync.append({"path": NEW})
        for n in ("a", "b"):
            c.write_config(n)
            self.hup(c, n, 1)
        for n in ("a", "b"):
            c.wait_until(lambda n=n: "SIGHUP: reloaded" in read_text(c.node(n).log),
                         what=f"{n} reloaded")
        c.write("a", NEW, b"added\n")
        c.wait_content("b", NEW, b"added\n")
        c.write("b", P, b"two\n")
        c.wait_content("a", P, b"two\n")
        for n in ("a", "b"):
            self.assertEqual(read_text(c.node(n).log).count("lost connection"), lost_before[n],
                             f"{n} dropped a channel on reload")
        c.wait_in_sync()

    def test_invalid_config_keeps_the_running_one(self):
        c = self.started_cluster(sync=[{"path": P}])
        with open(c.node("a").config, "a") as f:
            f.write("\n[[sync]]\npathh = \"/etc/typo\"\n")
        os.kill(c.pid("a"), signal.SIGHUP)
        c.wait_until(lambda: "keeping the running config" in read_text(c.node("a").log),
                     what="a to refuse the invalid config")
        self.assertIn("unknown key 'pathh'", read_text(c.node("a").log))
        c.write("a", P, b"still syncing\n")
        c.wait_content("b", P, b"still syncing\n")

    def test_removed_entry_is_no_longer_synced(self):
        c = self.started_cluster(sync=[{"path": P}, {"path": NEW}])
        c.write("a", NEW, b"before\n")
        c.wait_content("b", NEW, b"before\n")
        c.sync = [{"path": P}]
        c.write_config("b")
        self.hup(c, "b", 1)
        c.wait_until(lambda: "no longer syncing " + NEW in read_text(c.node("b").log),
                     what="b to drop the entry")
        c.write("a", NEW, b"after\n")
        c.write("a", P, b"marker\n")
        c.wait_content("b", P, b"marker\n")
        self.assertEqual(c.read("b", NEW), b"before\n", "b wrote a path its config no longer syncs")


if __name__ == "__main__":
    unittest.main(verbosity=2)
