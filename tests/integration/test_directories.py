"""Directory entries (issue "directories", SPEC behaviours 1, 2, 8, 9, 11): a
[[sync]] path that is a directory syncs everything below it — new files and
subdirectories (also ones created before their watch existed), deletions as
tombstones, renames and moves, empty directories, symlinks as links, excludes,
metadata (mode, owner, mtime ns, xattrs, POSIX ACLs) — and its actions run
once per burst with SYNCR_CHANGED.

Every check looks at the other node's disk (and, where it says so, at its
`syncr status --json` / `syncr history --json`). Two nodes a and b joined by
the exec transport (harness.Cluster).

The ACL test needs setfacl/getfacl (Debian package `acl`): without them it is
skipped loudly, or fails when CI=true. The owner test needs root: skipped
loudly otherwise (fails when CI=true too)."""

import hashlib
import os
import re
import shutil
import sys
import time
import unittest

from harness import ClusterTestCase, TIMEOUT_SCALE, loud_skip, read_text, sha256_hex
import treeutil as tu

ENTRY = "/etc/nginx"

# One record per action run: the entry, then SYNCR_CHANGED verbatim.
ACTION = ('printf "RUN %s|%s\\n%sEND\\n" "$SYNCR_PATH" "$SYNCR_EVENT" "$SYNCR_CHANGED"'
          ' >> @TMP@/@NODE@-dir-actions.log')
RUN_RE = re.compile(r"RUN ([^\n|]*)\|([^\n]*)\n(.*?)END\n", re.S)


class DirTestBase(ClusterTestCase):

    def dir_cluster(self, exclude=None, actions=None, make_on=("a", "b"), start=True):
        entry = {"path": ENTRY}
        if exclude is not None:
            entry["exclude"] = exclude
        if actions is not None:
            entry["actions"] = actions
        c = self.cluster(sync=[entry])
        for n in make_on:
            os.makedirs(c.disk(n, ENTRY), exist_ok=True)
        if start:
            c.start_all()
            c.wait_connected()
        return c

    @staticmethod
    def p(rel: str) -> str:
        """The synced path of rel below the entry."""
        return f"{ENTRY}/{rel}"

    def wait_absent(self, c, node, rel):
        c.wait_until(lambda: not os.path.lexists(c.disk(node, self.p(rel))),
                     what=lambda: f"{self.p(rel)} to be gone on {node} "
                                  f"(it is {tu.describe(c.disk(node, self.p(rel)))})")

    def wait_marker(self, c, src="a", dst="b", name="zz-marker.conf"):
        """Write a marker file on src and wait for it on dst: a later change
        that has gone through."""
        data = f"marker {time.monotonic_ns()}\n".encode()
        tu.write_file(c.disk(src, self.p(name)), data)
        c.wait_content(dst, self.p(name), data)


class NewFilesTest(DirTestBase):

    def test_deep_subdirectory_and_mkdir_race(self):
        c = self.dir_cluster()
        a = c.disk("a", ENTRY)
        # mkdir -p a/b/c, then a file in it
        os.makedirs(os.path.join(a, "a/b/c"))
        with open(os.path.join(a, "a/b/c/deep.conf"), "wb") as f:
            f.write(b"deep\n")
        c.wait_content("b", self.p("a/b/c/deep.conf"), b"deep\n")
        for d in ("a", "a/b", "a/b/c"):
            self.assertTrue(os.path.isdir(c.disk("b", self.p(d))), f"{d} is a directory on b")

        # the race: files written right after mkdir, before any watch on the
        # new directory can exist; nested directories too
        expected = {}
        for i in range(5):
            d = os.path.join(a, f"race{i}")
            os.mkdir(d)
            for j in range(20):
                data = f"race {i} {j}\n".encode()
                with open(os.path.join(d, f"f{j}.conf"), "wb") as f:
                    f.write(data)
                expected[f"race{i}/f{j}.conf"] = data
            os.makedirs(os.path.join(d, "x/y"))
            with open(os.path.join(d, "x/y/z.conf"), "wb") as f:
                f.write(b"z\n")
            expected[f"race{i}/x/y/z.conf"] = b"z\n"
        tu.wait_tree_equal(c, "a", "b", ENTRY)
        for rel, data in expected.items():
            self.assertEqual(c.read("b", self.p(rel)), data, rel)
        c.wait_in_sync()

    def test_existing_tree_reaches_empty_peer(self):
        # a has a tree before it starts, b's root is empty: the initial sync
        # brings everything, the entry directory included
        c = self.dir_cluster(make_on=("a",), start=False)
        a = c.disk("a", ENTRY)
        for i in range(10):
            for j in range(20):
                tu.write_file(os.path.join(a, f"d{i}", f"f{j}.conf"), os.urandom(512))
        os.makedirs(os.path.join(a, "empty/deeper"))
        os.symlink("d0/f0.conf", os.path.join(a, "link"))
        c.start("b")
        c.start("a")
        c.wait_connected()
        tu.wait_tree_equal(c, "a", "b", ENTRY, timeout=20)
        c.wait_in_sync(timeout=20)

    def test_thousand_files_in_one_burst(self):
        c = self.dir_cluster()
        a = c.disk("a", ENTRY)
        t0 = time.monotonic()
        for i in range(10):
            os.mkdir(os.path.join(a, f"burst{i:02d}"))
            for j in range(100):
                with open(os.path.join(a, f"burst{i:02d}", f"file{j:03d}.conf"), "wb") as f:
                    f.write(f"burst file {i}/{j}\n".encode() * 8)
        b_top = c.disk("b", ENTRY)
        want = {f"burst{i:02d}/file{j:03d}.conf": f"burst file {i}/{j}\n".encode() * 8
                for i in range(10) for j in range(100)}
        state = {}

        def all_there():
            # every content (a sample would do; all of them are cheap to read)
            state["missing"] = [rel for rel, data in want.items()
                                if c.read("b", self.p(rel)) != data]
            return not state["missing"]

        c.wait_until(all_there, timeout=30,
                     what=lambda: f"1000 files with their content on b; {len(state['missing'])} "
                                  f"missing or different, e.g. {state['missing'][:5]}")
        elapsed = time.monotonic() - t0
        sys.stderr.write(f"\n[test_directories] 1000 files on b after {elapsed:.2f}s\n")
        tu.wait_tree_equal(c, "a", "b", ENTRY)
        self.assertEqual(tu.count_files(b_top), 1000, "files on b")
        c.wait_in_sync(timeout=20)


class DeletionTest(DirTestBase):

    def test_deleted_file_is_tombstone_with_backup(self):
        c = self.dir_cluster()
        f = self.p("conf.d/site.conf")
        os.makedirs(c.disk("a", self.p("conf.d")))
        c.write("a", f, b"first\n")
        c.wait_content("b", f, b"first\n")
        last = b"last content before the deletion\n"
        c.write("a", f, last)
        c.wait_content("b", f, last)
        c.remove("a", f)
        c.wait_content("b", f, None)
        self.assertTrue(os.path.isdir(c.disk("b", self.p("conf.d"))), "the directory stays on b")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: tu.kind_of(tu.status_paths(c, n).get(f)) == "KIND_DELETED",
                         what=lambda n=n: f"{f} to be a tombstone (KIND_DELETED) in status on {n}:\n"
                              + tu.status_summary(c, n, ENTRY))
            c.wait_until(lambda n=n: sha256_hex(last) in c.history_hashes(n, f),
                         what=lambda n=n: f"the last content of {f} kept as a generation on {n}; "
                              f"history: {c.generations(n, f)}")
        c.wait_in_sync()

    def test_deleted_subdirectory_with_files(self):
        c = self.dir_cluster()
        a = c.disk("a", ENTRY)
        for rel in ("old/x.conf", "old/y.conf", "old/sub/z.conf", "old/sub/deeper/w.conf"):
            tu.write_file(os.path.join(a, rel), rel.encode())
        os.makedirs(os.path.join(a, "old/empty"))
        tu.write_file(os.path.join(a, "keep.conf"), b"keep\n")
        tu.wait_tree_equal(c, "a", "b", ENTRY)
        shutil.rmtree(os.path.join(a, "old"))
        self.wait_absent(c, "b", "old")
        self.assertEqual(c.read("b", self.p("keep.conf")), b"keep\n")
        tu.wait_tree_equal(c, "a", "b", ENTRY)
        c.wait_in_sync()

    def test_stale_peer_cannot_resurrect(self):
        # b is down while the file is deleted on a; when b is back, the
        # tombstone wins over b's old copy, and the file does not come back to a
        c = self.dir_cluster()
        f = self.p("stale.conf")
        c.write("a", f, b"old\n")
        c.wait_content("b", f, b"old\n")
        c.wait_in_sync()
        c.stop("b")
        c.remove("a", f)
        time.sleep(0.3)  # a records the deletion while b is down
        c.start("b")
        c.wait_connected()
        c.wait_content("b", f, None)
        self.wait_marker(c, src="b", dst="a")
        c.wait_in_sync()
        for n in ("a", "b"):
            self.assertFalse(os.path.lexists(c.disk(n, f)), f"{f} came back on {n}")

    def test_deleted_directory_keeps_excluded_files_on_peer(self):
        # SPEC 11: a directory that still holds excluded files on the peer stays
        c = self.dir_cluster()
        a = c.disk("a", ENTRY)
        tu.write_file(os.path.join(a, "sub/f.conf"), b"f\n")
        c.wait_content("b", self.p("sub/f.conf"), b"f\n")
        tu.write_file(c.disk("b", self.p("sub/keep.swp")), b"swap on b\n")  # excluded
        shutil.rmtree(os.path.join(a, "sub"))
        self.wait_absent(c, "b", "sub/f.conf")
        self.wait_marker(c)
        self.assertEqual(c.read("b", self.p("sub/keep.swp")), b"swap on b\n",
                         "the excluded file on b was removed")
        self.assertTrue(os.path.isdir(c.disk("b", self.p("sub"))))


class RenameTest(DirTestBase):

    def test_rename_and_move_file(self):
        c = self.dir_cluster()
        a = c.disk("a", ENTRY)
        tu.write_file(os.path.join(a, "conf.d/one.conf"), b"one\n")
        os.makedirs(os.path.join(a, "other"))
        c.wait_content("b", self.p("conf.d/one.conf"), b"one\n")
        os.rename(os.path.join(a, "conf.d/one.conf"), os.path.join(a, "conf.d/two.conf"))
        c.wait_content("b", self.p("conf.d/two.conf"), b"one\n")
        self.wait_absent(c, "b", "conf.d/one.conf")
        # a move to another directory of the tree
        os.rename(os.path.join(a, "conf.d/two.conf"), os.path.join(a, "other/two.conf"))
        c.wait_content("b", self.p("other/two.conf"), b"one\n")
        self.wait_absent(c, "b", "conf.d/two.conf")
        tu.wait_tree_equal(c, "a", "b", ENTRY)
        c.wait_in_sync()

    def test_rename_directory_with_content(self):
        c = self.dir_cluster()
        a = c.disk("a", ENTRY)
        content = {"site/a.conf": b"a\n", "site/b.conf": b"b\n", "site/sub/c.conf": b"c\n",
                   "site/sub/deep/d.conf": b"d\n"}
        for rel, data in content.items():
            tu.write_file(os.path.join(a, rel), data)
        os.symlink("a.conf", os.path.join(a, "site/link"))
        tu.wait_tree_equal(c, "a", "b", ENTRY)
        os.rename(os.path.join(a, "site"), os.path.join(a, "site-renamed"))
        for rel, data in content.items():
            c.wait_content("b", self.p(rel.replace("site/", "site-renamed/", 1)), data)
        self.wait_absent(c, "b", "site")
        self.assertEqual(os.readlink(c.disk("b", self.p("site-renamed/link"))), "a.conf")
        tu.wait_tree_equal(c, "a", "b", ENTRY)
        # and moved below another directory
        os.makedirs(os.path.join(a, "archive"))
        os.rename(os.path.join(a, "site-renamed"), os.path.join(a, "archive/site"))
        c.wait_content("b", self.p("archive/site/sub/deep/d.conf"), b"d\n")
        self.wait_absent(c, "b", "site-renamed")
        tu.wait_tree_equal(c, "a", "b", ENTRY)
        c.wait_in_sync()


class EmptyDirTest(DirTestBase):

    def test_empty_directories(self):
        c = self.dir_cluster()
        a = c.disk("a", ENTRY)
        os.mkdir(os.path.join(a, "empty"))
        os.makedirs(os.path.join(a, "e1/e2/e3"))
        for rel in ("empty", "e1/e2/e3"):
            c.wait_until(lambda rel=rel: os.path.isdir(c.disk("b", self.p(rel))),
                         what=f"empty directory {rel} on b")
        self.assertEqual(os.listdir(c.disk("b", self.p("empty"))), [])
        self.assertEqual(os.listdir(c.disk("b", self.p("e1/e2/e3"))), [])
        os.rmdir(os.path.join(a, "empty"))
        self.wait_absent(c, "b", "empty")
        tu.wait_tree_equal(c, "a", "b", ENTRY)
        c.wait_in_sync()


class SymlinkTest(DirTestBase):

    def test_symlinks_replicate_as_links(self):
        c = self.dir_cluster()
        a = c.disk("a", ENTRY)
        outside = os.path.join(c.tmp, "outside")
        os.makedirs(outside)
        secret = os.path.join(outside, "secret.txt")
        with open(secret, "wb") as f:
            f.write(b"outside the tree\n")
        secret_before = (os.stat(secret), tu.describe(secret))
        passwd_before = tu.describe("/etc/passwd"), os.stat("/etc/passwd").st_mtime_ns

        tu.write_file(os.path.join(a, "real.conf"), b"real\n")
        links = {"rel-link": "real.conf",
                 "dangling": "does/not/exist",
                 "passwd-link": "/etc/passwd",
                 "secret-link": secret,
                 "outdir": outside}
        for name, target in links.items():
            os.symlink(target, os.path.join(a, name))
        for name, target in links.items():
            full_b = c.disk("b", self.p(name))
            c.wait_until(lambda full_b=full_b, target=target:
                         os.path.islink(full_b) and os.readlink(full_b) == target,
                         what=lambda full_b=full_b, target=target:
                         f"{full_b} to be a symlink to {target} (it is {tu.describe(full_b)})")
        # a file written through the outside directory link on a is not in the tree
        with open(os.path.join(outside, "later.txt"), "wb") as f:
            f.write(b"later\n")
        self.wait_marker(c)
        c.wait_in_sync()
        # nothing was followed: the targets are untouched, nothing was created
        # for them under b's root, and no path through a link is synced
        self.assertFalse(os.path.lexists(c.disk("b", "/etc/passwd")),
                         "b created root + /etc/passwd (followed the link)")
        self.assertEqual(sorted(os.listdir(c.disk("b", "/etc"))), ["nginx"])
        self.assertEqual((tu.describe("/etc/passwd"), os.stat("/etc/passwd").st_mtime_ns),
                         passwd_before, "/etc/passwd was written")
        st = os.stat(secret)
        self.assertEqual((st.st_ino, st.st_mtime_ns, tu.describe(secret)),
                         (secret_before[0].st_ino, secret_before[0].st_mtime_ns, secret_before[1]),
                         "the outside link target was written")
        self.assertEqual(sorted(os.listdir(outside)), ["later.txt", "secret.txt"])
        for n in ("a", "b"):
            paths = tu.status_paths(c, n)
            through = [p for p in paths if p.startswith(self.p("outdir/"))]
            self.assertEqual(through, [], f"paths through the outdir link in {n}'s status")
            for name in links:
                self.assertEqual(tu.kind_of(paths.get(self.p(name))), "KIND_SYMLINK",
                                 f"{name} in {n}'s status: {paths.get(self.p(name))}")
        # retarget a link (atomic replace, as ln -sfn does)
        tmp = os.path.join(a, ".rel-link.new")
        os.symlink("other.conf", tmp)
        os.rename(tmp, os.path.join(a, "rel-link"))
        c.wait_until(lambda: os.readlink(c.disk("b", self.p("rel-link"))) == "other.conf",
                     what="the retargeted link on b")
        # and a deleted link
        os.unlink(os.path.join(a, "dangling"))
        self.wait_absent(c, "b", "dangling")
        tu.wait_tree_equal(c, "a", "b", ENTRY)

    def test_fifo_is_skipped(self):
        c = self.dir_cluster()
        os.mkfifo(c.disk("a", self.p("fifo")))
        self.wait_marker(c)
        c.wait_in_sync()
        self.assertFalse(os.path.lexists(c.disk("b", self.p("fifo"))), "a fifo was replicated")


class ExcludeTest(DirTestBase):

    EXCLUDED = ["swap.swp", "swap.swx", "nginx.conf~", ".#nginx.conf", "4913",
                "y.tmp", "sub/z.tmp", "cache/data", "sub/.#x"]

    def test_default_and_configured_excludes(self):
        c = self.dir_cluster(exclude=["*.tmp", "cache/*"])
        a = c.disk("a", ENTRY)
        tu.write_file(os.path.join(a, "edit.conf"), b"port=80\n")
        c.wait_content("b", self.p("edit.conf"), b"port=80\n")
        for rel in self.EXCLUDED:
            tu.write_file(os.path.join(a, rel), b"excluded\n")
        # not excluded: cache/* is anchored at the entry and does not cross '/'
        tu.write_file(os.path.join(a, "sub/cache/kept"), b"kept\n")
        tu.write_file(os.path.join(a, "cache-not/x"), b"x\n")
        # files that appear and vanish at once (like sed -i's temp file)
        for i in range(20):
            t = os.path.join(a, f"transient{i}.conf")
            with open(t, "wb") as f:
                f.write(b"gone\n")
            os.unlink(t)
        c.sed("a", self.p("edit.conf"), "s/80/8080/")
        c.wait_content("b", self.p("edit.conf"), b"port=8080\n")
        c.wait_content("b", self.p("sub/cache/kept"), b"kept\n")
        c.wait_content("b", self.p("cache-not/x"), b"x\n")
        self.wait_marker(c)
        c.wait_in_sync()
        for rel in self.EXCLUDED:
            self.assertFalse(os.path.lexists(c.disk("b", self.p(rel))), f"excluded {rel} is on b")
        b_names = tu.snapshot(c.disk("b", ENTRY)).keys()
        self.assertEqual([n for n in b_names if "transient" in n or "/sed" in "/" + n], [],
                         "temp files on b")
        for n in ("a", "b"):
            paths = tu.status_paths(c, n)
            bad = [p for p in paths
                   if p[len(ENTRY) + 1:] in self.EXCLUDED or "transient" in p
                   or os.path.basename(p).startswith("sed")]
            self.assertEqual(bad, [], f"excluded or transient paths in {n}'s status "
                                      f"(a version was made for them)")

    def test_excluded_path_is_not_accepted(self):
        # b excludes *.local, a does not: a sends it, b refuses it
        c = self.dir_cluster(start=False)
        sync = c.sync
        c.sync = [{"path": ENTRY, "exclude": ["*.local"]}]
        c.write_config("b")
        c.sync = sync
        c.start_all()
        c.wait_connected()
        tu.write_file(c.disk("a", self.p("x.local")), b"only for a\n")
        tu.write_file(c.disk("a", self.p("sub/y.local")), b"only for a\n")
        self.wait_marker(c)
        self.wait_marker(c, name="sub/zz-marker.conf")
        time.sleep(0.3)
        self.assertFalse(os.path.lexists(c.disk("b", self.p("x.local"))), "b accepted x.local")
        self.assertFalse(os.path.lexists(c.disk("b", self.p("sub/y.local"))), "b accepted sub/y.local")
        self.assertNotIn(self.p("x.local"), tu.status_paths(c, "b"))
        # SPEC 9: refused and logged, and b lives on
        c.wait_until(lambda: f"refused path {self.p('x.local')}" in read_text(c.node("b").log),
                     what=f"b's log to say it refused {self.p('x.local')}")


class MetadataTest(DirTestBase):

    def test_mode_mtime_and_chmod_only(self):
        c = self.dir_cluster()
        f = self.p("conf.d/app.conf")
        os.makedirs(c.disk("a", self.p("conf.d")))
        mt = 1_700_000_000_123_456_789
        c.rename_write("a", f, b"content\n", mode=0o640, mtime_ns=mt)
        c.wait_content("b", f, b"content\n")
        c.wait_until(lambda: c.stat("b", f).st_mode & 0o7777 == 0o640,
                     what=lambda: f"mode 0640 on b (it is {oct(c.stat('b', f).st_mode & 0o7777)})")
        c.wait_until(lambda: c.stat("b", f).st_mtime_ns == mt,
                     what=lambda: f"mtime {mt} on b (it is {c.stat('b', f).st_mtime_ns})")
        # a content change carries its new mtime
        mt2 = 1_700_000_100_987_654_321
        c.rename_write("a", f, b"content 2\n", mtime_ns=mt2)
        c.wait_content("b", f, b"content 2\n")
        c.wait_until(lambda: c.stat("b", f).st_mtime_ns == mt2,
                     what=lambda: f"mtime {mt2} on b (it is {c.stat('b', f).st_mtime_ns})")
        c.wait_in_sync()
        before = c.counter("b", f, "a")
        # chmod only: a version of its own
        os.chmod(c.disk("a", f), 0o600)
        c.wait_until(lambda: c.stat("b", f).st_mode & 0o7777 == 0o600,
                     what=lambda: f"chmod-only 0600 on b (it is {oct(c.stat('b', f).st_mode & 0o7777)})")
        self.assertEqual(c.read("b", f), b"content 2\n")
        c.wait_until(lambda: c.counter("b", f, "a") == before + 1,
                     what=lambda: f"vv[a] of {f} on b to be {before + 1} after the chmod "
                                  f"(it is {c.counter('b', f, 'a')})")
        self.assertEqual(c.stat("b", f).st_mtime_ns, mt2, "mtime on b after the chmod")

    def test_directory_mode_and_mtime(self):
        c = self.dir_cluster()
        d = c.disk("a", self.p("private"))
        os.mkdir(d)
        os.chmod(d, 0o750)
        with open(os.path.join(d, "f.conf"), "wb") as fh:
            fh.write(b"f\n")
        c.wait_content("b", self.p("private/f.conf"), b"f\n")
        c.wait_until(lambda: c.stat("b", self.p("private")).st_mode & 0o7777 == 0o750,
                     what=lambda: "directory mode 0750 on b (it is "
                                  f"{oct(c.stat('b', self.p('private')).st_mode & 0o7777)})")
        # chmod-only of a directory, with its mtime set before: both arrive
        mt = 1_700_000_200_111_222_333
        os.utime(d, ns=(mt, mt))
        os.chmod(d, 0o710)
        c.wait_until(lambda: c.stat("b", self.p("private")).st_mode & 0o7777 == 0o710,
                     what=lambda: "directory chmod 0710 on b (it is "
                                  f"{oct(c.stat('b', self.p('private')).st_mode & 0o7777)})")
        c.wait_until(lambda: c.stat("b", self.p("private")).st_mtime_ns == mt,
                     what=lambda: f"directory mtime {mt} on b (it is "
                                  f"{c.stat('b', self.p('private')).st_mtime_ns}; "
                                  f"on a {c.stat('a', self.p('private')).st_mtime_ns})")

    def test_owner(self):
        if os.geteuid() != 0:
            loud_skip(self, "chown needs root")
        c = self.dir_cluster()
        f = self.p("owned.conf")
        c.write("a", f, b"owned\n")
        os.makedirs(c.disk("a", self.p("owned-dir")))
        c.wait_content("b", f, b"owned\n")
        c.wait_until(lambda: os.path.isdir(c.disk("b", self.p("owned-dir"))), what="owned-dir on b")
        # chown only (content unchanged), file and directory
        os.chown(c.disk("a", f), 1234, 1234)
        os.chown(c.disk("a", self.p("owned-dir")), 1234, 1235)
        for rel, want in ((f, (1234, 1234)), (self.p("owned-dir"), (1234, 1235))):
            c.wait_until(lambda rel=rel, want=want: (c.stat("b", rel).st_uid, c.stat("b", rel).st_gid) == want,
                         what=lambda rel=rel, want=want: f"owner {want} of {rel} on b (it is "
                              f"{(c.stat('b', rel).st_uid, c.stat('b', rel).st_gid)})")
        # a new file with another owner, content and owner together
        g = self.p("new-owned.conf")
        tu.write_file(c.disk("a", g), b"new\n")
        os.chown(c.disk("a", g), 1234, 1234)
        c.wait_content("b", g, b"new\n")
        c.wait_until(lambda: (c.stat("b", g).st_uid, c.stat("b", g).st_gid) == (1234, 1234),
                     what=lambda: f"owner of {g} on b (it is "
                                  f"{(c.stat('b', g).st_uid, c.stat('b', g).st_gid)})")

    def test_user_xattrs(self):
        c = self.dir_cluster(start=False)
        reason = tu.xattrs_supported(c.disk("a", ENTRY))
        if reason:
            loud_skip(self, reason)
        c.start_all()
        c.wait_connected()
        f = self.p("attr.conf")
        full_a, full_b = c.disk("a", f), c.disk("b", f)
        # a new file with an xattr set right after it was written
        tu.write_file(full_a, b"attr\n")
        os.setxattr(full_a, "user.syncr-test", b"v")
        c.wait_content("b", f, b"attr\n")
        c.wait_until(lambda: tu.user_xattrs(full_b) == {"user.syncr-test": b"v"},
                     what=lambda: f"user.syncr-test on b (xattrs there: {tu.user_xattrs(full_b)})")
        # xattr-only changes of a synced file: add, change, remove
        os.setxattr(full_a, "user.second", b"2")
        c.wait_until(lambda: tu.user_xattrs(full_b) == tu.user_xattrs(full_a),
                     what=lambda: f"added xattr on b ({tu.user_xattrs(full_b)} vs "
                                  f"{tu.user_xattrs(full_a)} on a)")
        os.setxattr(full_a, "user.syncr-test", b"changed value")
        c.wait_until(lambda: tu.user_xattrs(full_b) == tu.user_xattrs(full_a),
                     what=lambda: f"changed xattr on b ({tu.user_xattrs(full_b)})")
        os.removexattr(full_a, "user.second")
        c.wait_until(lambda: tu.user_xattrs(full_b) == {"user.syncr-test": b"changed value"},
                     what=lambda: f"removed xattr on b ({tu.user_xattrs(full_b)})")
        self.assertEqual(c.read("b", f), b"attr\n")
        # on a directory
        d = c.disk("a", self.p("attr-dir"))
        os.mkdir(d)
        os.setxattr(d, "user.dir", b"d")
        c.wait_until(lambda: os.path.isdir(c.disk("b", self.p("attr-dir"))) and
                     tu.user_xattrs(c.disk("b", self.p("attr-dir"))) == {"user.dir": b"d"},
                     what=lambda: "user.dir on attr-dir on b")

    def test_posix_acls(self):
        missing = tu.acl_tools_missing()
        if missing:
            loud_skip(self, missing)
        c = self.dir_cluster()
        f = self.p("acl.conf")
        full_a, full_b = c.disk("a", f), c.disk("b", f)
        c.write("a", f, b"acl\n")
        c.wait_content("b", f, b"acl\n")
        c.wait_in_sync()
        tu.setfacl("-m", "u:1234:r", full_a)
        self.assertIn("user:1234:r--", tu.getfacl(full_a))
        c.wait_until(lambda: tu.getfacl(full_b) == tu.getfacl(full_a),
                     what=lambda: f"ACL of {f} on b:\n{tu.getfacl(full_b)}\n"
                                  f"to equal a's:\n{tu.getfacl(full_a)}")
        self.assertEqual(c.read("b", f), b"acl\n")
        # a default ACL on a directory, and a file inheriting it
        d_a, d_b = c.disk("a", self.p("acl-dir")), c.disk("b", self.p("acl-dir"))
        os.mkdir(d_a)
        tu.setfacl("-d", "-m", "u:1234:rx", d_a)
        c.wait_until(lambda: os.path.isdir(d_b) and tu.getfacl(d_b) == tu.getfacl(d_a),
                     what=lambda: f"default ACL on b:\n{tu.getfacl(d_b) if os.path.isdir(d_b) else '(absent)'}"
                                  f"\nto equal a's:\n{tu.getfacl(d_a)}")
        tu.write_file(os.path.join(d_a, "inherits.conf"), b"inherits\n")
        c.wait_content("b", self.p("acl-dir/inherits.conf"), b"inherits\n")
        ia, ib = os.path.join(d_a, "inherits.conf"), os.path.join(d_b, "inherits.conf")
        c.wait_until(lambda: tu.getfacl(ib) == tu.getfacl(ia),
                     what=lambda: f"inherited ACL on b:\n{tu.getfacl(ib)}\nto equal a's:\n{tu.getfacl(ia)}")
        # removing the ACL replicates too
        tu.setfacl("-b", full_a)
        c.wait_until(lambda: tu.getfacl(full_b) == tu.getfacl(full_a),
                     what=lambda: f"removed ACL on b:\n{tu.getfacl(full_b)}")


class DirectoryActionsTest(DirTestBase):

    @staticmethod
    def runs(c, node):
        return RUN_RE.findall(c.read_file_text(node, "dir-actions.log"))

    def test_one_run_per_burst_with_changed_list(self):
        c = self.dir_cluster(actions=[ACTION])
        c.wait_in_sync()
        time.sleep(1.5)  # let any start-up run finish (batches close within 1 s)
        base = {n: len(self.runs(c, n)) for n in ("a", "b")}
        a = c.disk("a", ENTRY)
        names = [f"site{i:02d}.conf" for i in range(10)]
        for name in names:  # ten files written together
            with open(os.path.join(a, name), "wb") as f:
                f.write(f"server {name}\n".encode())
        for name in names:
            c.wait_content("b", self.p(name), f"server {name}\n".encode())
        for n in ("a", "b"):
            c.wait_until(lambda n=n: len(self.runs(c, n)) >= base[n] + 1,
                         what=lambda n=n: f"the burst's action run on {n}: {self.runs(c, n)}")
        time.sleep(1.5 * TIMEOUT_SCALE)  # a second run would come within the 1 s batch limit
        want_changed = "".join(self.p(name) + "\n" for name in sorted(names))
        for n in ("a", "b"):
            runs = self.runs(c, n)[base[n]:]
            self.assertEqual(len(runs), 1, f"action runs on {n} for one burst of ten files: {runs}")
            path, event, changed = runs[0]
            self.assertEqual(path, ENTRY, f"SYNCR_PATH on {n}")
            self.assertEqual(changed, want_changed, f"SYNCR_CHANGED on {n}")
        # b's own burst: once again on each node, listing b's files
        names_b = [f"b{i}.conf" for i in range(3)]
        for name in names_b:
            with open(c.disk("b", self.p(name)), "wb") as f:
                f.write(b"from b\n")
        for n in ("a", "b"):
            c.wait_until(lambda n=n: len(self.runs(c, n)) >= base[n] + 2,
                         what=lambda n=n: f"the second burst's run on {n}: {self.runs(c, n)}")
        time.sleep(1.5 * TIMEOUT_SCALE)
        for n in ("a", "b"):
            runs = self.runs(c, n)[base[n]:]
            self.assertEqual(len(runs), 2, f"runs on {n}: {runs}")
            self.assertEqual(runs[1][2], "".join(self.p(x) + "\n" for x in sorted(names_b)),
                             f"SYNCR_CHANGED of b's burst on {n}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
