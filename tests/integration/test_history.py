"""Backups, history and restore (SPEC behaviour 7)."""

import os
import unittest

import harness
from harness import ClusterTestCase, as_int, norm_hash, sha256_hex

P = "/etc/app.conf"


class HistoryTest(ClusterTestCase):

    def _edits(self, c, contents):
        for data in contents:
            c.write("a", P, data)
            c.wait_content("b", P, data)

    def _wait_history(self, c, node, expected):
        """Wait until node's history of P is exactly `expected` (newest first)."""
        want = [sha256_hex(d) for d in expected]
        c.wait_until(lambda: c.history_hashes(node, P) == want,
                     what=lambda: f"history of {P} on {node} to be {[d for d in expected]} "
                          f"(hashes {want}); got {self._describe(c, node)}")

    @staticmethod
    def _describe(c, node):
        try:
            return c.generations(node, P)
        except AssertionError as e:
            return str(e)

    def test_history_and_restore(self):
        c = self.started_cluster(sync=[{"path": P}])
        contents = [b"first version\n", b"second version, longer\n", b"third\n"]
        self._edits(c, contents)
        newest_first = list(reversed(contents))
        for n in ("a", "b"):
            self._wait_history(c, n, newest_first)
            gens = c.generations(n, P)
            self.assertEqual([as_int(g.get("generation")) for g in gens], [1, 2, 3],
                             f"generation numbers on {n}")
            self.assertEqual([as_int(g.get("size")) for g in gens], [len(d) for d in newest_first],
                             f"sizes on {n}")
            for g in gens:
                self.assertEqual(g.get("origin"), "a", f"origin of {g} on {n}")
                self.assertFalse(g.get("conflict", False), f"conflict flag of {g} on {n}")
            times = [as_int(g.get("time_ns")) for g in gens]
            self.assertEqual(times, sorted(times, reverse=True), f"newest first by time on {n}")
            self.assertGreater(times[-1], 0, f"time_ns set on {n}")

        # restore generation 3 (the first version) on b: in place before the
        # command returns, then it replicates to a like any edit
        r = c.restore("b", P, 3)
        self.assertEqual(r.returncode, 0, f"restore failed: {r.stdout!r} {r.stderr!r}")
        self.assertEqual(c.read("b", P), contents[0],
                         "restore returned before generation 3 was in place on b")
        c.wait_content("a", P, contents[0])
        # the restore is a new version: generation 1 on both nodes, origin b
        expected = [contents[0], contents[2], contents[1], contents[0]]
        for n in ("a", "b"):
            self._wait_history(c, n, expected)
            self.assertEqual(c.generations(n, P)[0].get("origin"), "b", f"origin of the restore on {n}")
        c.wait_until(lambda: c.stat("a", P).st_mtime_ns == c.stat("b", P).st_mtime_ns,
                     what="mtime equal after the restore replicated")
        c.wait_in_sync()

        # a generation that does not exist: an error, and nothing changes
        r = c.restore("b", P, 99)
        self.assertNotEqual(r.returncode, 0, "restore --generation 99 of 4 succeeded")
        self.assertTrue((r.stderr + r.stdout).strip(), "restore of a missing generation said nothing")
        self.assertEqual(c.read("b", P), contents[0])

    def test_a_deleted_file_is_deleted_in_status_and_history(self):
        """Issue 11: status listed deleted paths as "in sync", and history
        called a deleted file's last content "current"."""
        d, f = "/srv/d", "/srv/d/x.conf"
        c = self.started_cluster(sync=[{"path": d}])
        os.makedirs(c.disk("a", d), exist_ok=True)
        c.write("a", f, b"last words\n")
        c.wait_content("b", f, b"last words\n")
        c.remove("a", f)
        c.wait_until(lambda: c.stat("b", f) is None, what=f"{f} deleted on b")

        def state(n):
            rc, st = c.status(n)
            row = harness.find_path(st or {}, f) or {}
            return rc, row.get("state")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: state(n) == (0, "deleted"),
                         what=lambda n=n: f"{f} shown as deleted, exit 0, on {n} (got {state(n)})")
            gens = c.generations(n, f)
            self.assertEqual(len(gens), 1, gens)
            self.assertFalse(gens[0].get("current", False), f"{n}: deleted content called current")
            r = c.cli(n, "history", f)
            self.assertEqual(r.returncode, 0, r.stderr)
            out = r.stdout.decode()
            self.assertIn(f"{f} was deleted at ", out)
            self.assertIn("last content (deleted)", out)
            self.assertNotIn("current", out.replace("last content", ""))

        # The remedy the history names works: the content comes back everywhere.
        r = c.restore("b", f, 1)
        self.assertEqual(r.returncode, 0, f"restore failed: {r.stdout!r} {r.stderr!r}")
        c.wait_content("a", f, b"last words\n")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: state(n) == (0, "in sync"),
                         what=lambda n=n: f"{f} in sync again on {n} (got {state(n)})")
            gens = c.generations(n, f)
            self.assertTrue(gens[0].get("current", False), f"{n}: restored content not current")

    def test_generations_limit(self):
        c = self.started_cluster(sync=[{"path": P}], generations=3)
        contents = [f"edit number {i}\n".encode() for i in range(1, 6)]
        self._edits(c, contents)
        for n in ("a", "b"):
            self._wait_history(c, n, [contents[4], contents[3], contents[2]])
            self.assertEqual([as_int(g.get("generation")) for g in c.generations(n, P)], [1, 2, 3])
        # a dropped generation cannot be restored; a kept one can
        r = c.restore("a", P, 4)
        self.assertNotEqual(r.returncode, 0, "restore of a dropped generation 4 succeeded")
        self.assertEqual(c.read("a", P), contents[4])
        r = c.restore("a", P, 3)
        self.assertEqual(r.returncode, 0, f"restore 3 failed: {r.stderr!r}")
        self.assertEqual(c.read("a", P), contents[2])
        c.wait_content("b", P, contents[2])
        for n in ("a", "b"):
            self._wait_history(c, n, [contents[2], contents[4], contents[3]])
            self.assertTrue(all(norm_hash(g.get("hash")) for g in c.generations(n, P)))

    def test_content_before_first_change_restorable(self):
        # SPEC 7: the content before any change is restorable on every node,
        # also for a file that both nodes had before syncr started
        c = self.cluster(sync=[{"path": P}])
        for n in ("a", "b"):
            with open(c.disk(n, P), "wb") as f:
                f.write(b"installed by the package\n")
        c.start_all()
        c.wait_connected()
        c.write("a", P, b"edited by the admin\n")
        c.wait_content("b", P, b"edited by the admin\n")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: c.history_hashes(n, P)[:2] ==
                         [sha256_hex(b"edited by the admin\n"), sha256_hex(b"installed by the package\n")],
                         what=lambda: f"history on {n} to hold the edit and the content before it: "
                                      f"{self._describe(c, n)}")
        r = c.restore("b", P, 2)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(c.read("b", P), b"installed by the package\n")
        c.wait_content("a", P, b"installed by the package\n")

    def test_history_of_unsynced_path_is_an_error(self):
        c = self.started_cluster(sync=[{"path": P}])
        r = c.cli("a", "history", "/etc/not-synced.conf", "--json")
        self.assertNotEqual(r.returncode, 0, f"history of an unsynced path succeeded: {r.stdout!r}")
        self.assertIn("/etc/not-synced.conf", (r.stdout + r.stderr).decode(), "the error names the path")
        r = c.restore("a", "/etc/not-synced.conf", 1)
        self.assertNotEqual(r.returncode, 0, "restore of an unsynced path succeeded")
        self.assertFalse(os.path.exists(c.disk("a", "/etc/not-synced.conf")))

    def test_beside_is_per_entry_and_what_it_leaves_out_is_said(self):
        """Issue 11: beside = true left out names like libfoo.so.6 without a
        trace, and (set node-wide by import-legacy) reached entries added
        later. Now it is per entry, `syncr check` warns when it is on for a
        directory, and each name it leaves out is logged once."""
        lib, www = "/srv/lib", "/srv/www"
        c = self.cluster(sync=[{"path": P, "beside": True}, {"path": lib, "beside": True},
                               {"path": www}])
        for n in ("a", "b"):
            for d in (lib, www):
                os.makedirs(c.disk(n, d), exist_ok=True)
        r = c.cli("a", "check")
        self.assertEqual(r.returncode, 0, r.stderr)
        err = r.stderr.decode()
        self.assertIn(f"[[sync]] {lib} is a directory with beside = true", err)
        self.assertIn("libfoo.so.6", err)
        self.assertNotIn(f"[[sync]] {www} ", err)
        self.assertNotIn(f"[[sync]] {P} ", err)  # a file entry: beside is what it means
        c.start_all()
        c.wait_connected()
        c.write("a", lib + "/libfoo.so.6", b"ELF?\n")
        c.write("a", www + "/app.so.6", b"also ELF\n")
        c.wait_content("b", www + "/app.so.6", b"also ELF\n")  # not beside there: synced
        c.wait_until(lambda: any(f"not synced: {lib}/libfoo.so.6 is named like a backup" in line
                                 for line in open(c.node("a").log, errors="replace")),
                     what="a's log to say why libfoo.so.6 is not synced")
        self.assertIsNone(c.stat("b", lib + "/libfoo.so.6"))
        c.write("a", P, b"x\n")  # the file entry still keeps FILE.1 beside it
        c.wait_content("b", P, b"x\n")
        c.wait_until(lambda: os.path.exists(c.disk("a", P) + ".1"), what=f"{P}.1 beside it")
        self.assertFalse(os.path.exists(c.disk("a", www + "/app.so.6") + ".1"),
                         "an entry without beside got a backup beside its file")

    def test_beside(self):
        # [backup] beside = true: FILE.1 ... FILE.N next to the file, as the
        # legacy script kept them (generation 1 = current content)
        c = self.started_cluster(sync=[{"path": P}], generations=3, backup_extra="beside = true")
        contents = [f"beside edit {i}\n".encode() for i in range(1, 5)]
        self._edits(c, contents)
        want = {f"app.conf.{i}": contents[-i] for i in (1, 2, 3)}
        for n in ("a", "b"):
            d = c.disk(n, "/etc")
            c.wait_until(lambda d=d: sorted(os.listdir(d)) == ["app.conf"] + sorted(want) and
                         all(harness.read_bytes(os.path.join(d, k)) == v for k, v in want.items()),
                         what=lambda: f"FILE.1..FILE.3 beside the file on {n}: "
                                      f"{ {k: harness.read_bytes(os.path.join(d, k)) for k in os.listdir(d)} }")
            self._wait_history(c, n, [contents[3], contents[2], contents[1]])
        # the backup files are not synced paths: no versions for them
        for n in ("a", "b"):
            paths = [p.get("path") for p in c.status_or_fail(n).get("paths", [])]
            self.assertEqual(paths, [P], f"status paths on {n}")
        r = c.restore("b", P, 3)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(c.read("b", P), contents[1])
        c.wait_content("a", P, contents[1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
