"""Local changes on b right after b applied a's version must not be lost.

When b applies a file that a sent, b renames a temp file into place. b's
daemon then ignores exactly one IN_MOVED_TO for that path (the echo of its own
rename) and trusts the stat it took just after the rename, so a later scan
does not read and hash the file again, until any other inotify event for the
path makes it forget that stat. Directories an apply creates are watched at
once, before files are written into them. The risk of these shortcuts: a
user's change on b made just after an apply (a same-size in-place write, a
rename-into-place save, a chmod, an xattr, a new file in a directory the apply
made) is taken for the echo or hidden behind the trusted stat, and never
reaches a. Every test below makes such a change at once (no wait after b got
a's content) and requires it to arrive on a.

The last test checks the other side of the shortcut: 300 files applied on b
must stay a's versions in b's state (b never takes its own writes for local
changes: no version with b in its vector, no "local change" in b's log).

Two nodes a and b joined by the exec transport (harness.Cluster), one
directory entry /srv/site."""

import errno
import os
import sys
import unittest

from harness import LOG_LEVEL, ClusterTestCase, find_path, norm_hash, sha256_hex, vv_of
from lossutil import log_lines, snapshot, tree_diff, wait_all_in_sync, wait_status_content

ENTRY = "/srv/site"


def p(rel: str) -> str:
    return f"{ENTRY}/{rel}"


def overwrite_same_size(path: str, data: bytes) -> None:
    """An in-place write that keeps the inode and the size: open r+b, write
    from offset 0, close (no truncate)."""
    with open(path, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        if size != len(data):
            raise AssertionError(f"{path}: {len(data)} bytes would not keep its size {size}")
        f.seek(0)
        f.write(data)


def replace_save(path: str, data: bytes) -> None:
    """What an editor does: write a temp file in the same directory, then
    os.replace it over path (a new inode)."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.save")
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, os.stat(path).st_mode & 0o7777)
    os.replace(tmp, path)


class EchoTrustTest(ClusterTestCase):

    def site_cluster(self):
        return self.started_cluster(sync=[{"path": ENTRY}], dirs=[ENTRY])

    def wait_on(self, c, node, path, data, what):
        c.wait_until(lambda: c.read(node, path) == data,
                     what=lambda: f"{what}: {path} on {node} to be {data!r} "
                                  f"(it is {c.read(node, path)!r})")

    def test_edit_right_after_apply_replicates(self):
        c = self.site_cluster()
        f = p("x.conf")
        rounds = 20
        for i in range(rounds):
            from_a = f"round {i:02d}: content from node a\n".encode()
            from_b = f"round {i:02d}: content from node b\n".encode()  # same size
            c.write("a", f, from_a)
            c.wait_content("b", f, from_a)
            kind = "same-size in-place write" if i % 2 == 0 else "rename-into-place save"
            if i % 2 == 0:
                overwrite_same_size(c.disk("b", f), from_b)  # at once: no wait
            else:
                replace_save(c.disk("b", f), from_b)
            self.wait_on(c, "a", f, from_b, f"round {i}, {kind} on b right after an apply")
        last = f"round {rounds - 1:02d}: content from node b\n".encode()
        self.assertEqual(c.read("a", f), last)
        self.assertEqual(c.read("b", f), last)
        wait_all_in_sync(c)
        for n in ("a", "b"):
            wait_status_content(c, n, f, last)
            # one version per write on each side: b's edits were versions of
            # b, and no apply of b's was taken for a local change (or lost)
            self.assertEqual(vv_of(c.version(n, f)), {"a": rounds, "b": rounds},
                             f"version vector of {f} on {n}")

    def test_chmod_and_xattr_right_after_apply(self):
        c = self.site_cluster()
        f = p("perm.conf")
        xattrs = True
        for i in range(5):
            data = f"secret round {i}\n".encode()
            c.rename_write("a", f, data, mode=0o644)  # content and mode in one rename
            c.wait_content("b", f, data)
            full_b = c.disk("b", f)
            self.assertEqual(os.stat(full_b).st_mode & 0o7777, 0o644, f"round {i}: mode on b")
            note = f"v{i + 1}".encode()
            os.chmod(full_b, 0o600)  # at once: no wait
            if xattrs:
                try:
                    os.setxattr(full_b, "user.note", note)
                except OSError as e:
                    if e.errno != errno.ENOTSUP:
                        raise
                    xattrs = False
                    sys.stderr.write(f"\n!!!!! SKIPPED: {self.id()}: the xattr part: user "
                                     f"xattrs are not supported in {c.disk('b', ENTRY)}: {e}\n")
            full_a = c.disk("a", f)
            c.wait_until(lambda: os.stat(full_a).st_mode & 0o7777 == 0o600,
                         what=lambda: f"round {i}: chmod 0600 made on b right after an apply to "
                                      f"reach a (mode there: {oct(os.stat(full_a).st_mode)})")
            if xattrs:
                c.wait_until(lambda: os.getxattr(full_a, "user.note") == note,
                             what=lambda: f"round {i}: user.note={note!r} set on b right after "
                                          f"an apply to reach a (a has {os.listxattr(full_a)})")
            self.assertEqual(c.read("a", f), data, f"round {i}: content on a")
        wait_all_in_sync(c)
        self.assertEqual(os.stat(c.disk("b", f)).st_mode & 0o7777, 0o600, "final mode on b")

    def test_new_directory_tree_then_local_file(self):
        c = self.site_cluster()
        for r, top in enumerate(("n1", "m1", "k1")):
            deep = f"{top}/n2/n3"
            os.makedirs(c.disk("a", p(deep)))
            files = {f"{deep}/f{j:02d}.conf": f"{deep} file {j:02d}\n".encode() for j in range(50)}
            for rel, data in files.items():
                with open(c.disk("a", p(rel)), "wb") as fh:
                    fh.write(data)

            def b_has_all():
                return all(c.read("b", p(rel)) == data for rel, data in files.items())
            c.wait_until(b_has_all, what=lambda: f"round {r}: the 50 files of {deep} on b "
                         f"({sum(c.read('b', p(x)) == d for x, d in files.items())} there)")
            # at once, in the directories b's apply made
            local = f"made on b in {deep}\n".encode()
            with open(c.disk("b", p(f"{deep}/local.txt")), "wb") as fh:
                fh.write(local)
            edited = f"{deep}/f17.conf"
            new17 = files[edited].replace(b"file", b"FILE")
            overwrite_same_size(c.disk("b", p(edited)), new17)
            self.wait_on(c, "a", p(f"{deep}/local.txt"), local,
                         f"round {r}: a file created on b in a directory b's apply made")
            self.wait_on(c, "a", p(edited), new17,
                         f"round {r}: an in-place edit on b of a file b just applied")
        wait_all_in_sync(c)
        tree_a, tree_b = snapshot(c.disk("a", ENTRY)), snapshot(c.disk("b", ENTRY))
        self.assertEqual(tree_a, tree_b, tree_diff(tree_a, tree_b))
        self.assertEqual(len([k for k in tree_a if k.endswith(".conf") or
                              k.endswith(".txt")]), 3 * 51)

    def test_many_files_no_rescan_reread(self):
        c = self.site_cluster()
        os.makedirs(c.disk("a", p("bulk")))
        files = {p(f"bulk/file{j:03d}.conf"): f"bulk file {j:03d}\n".encode() * 20
                 for j in range(300)}
        for path, data in files.items():
            with open(c.disk("a", path), "wb") as fh:
                fh.write(data)
        c.wait_until(lambda: all(c.read("b", x) == d for x, d in files.items()), timeout=20,
                     what=lambda: "the 300 files on b ("
                                  f"{sum(c.read('b', x) == d for x, d in files.items())} there)")
        wait_all_in_sync(c, timeout=20)
        # (a may have made more than one version of a file it was still
        # writing: b must hold exactly a's last one, and no version of b's)
        st_a, st_b = c.status_or_fail("a"), c.status_or_fail("b")
        wrong = []
        for path in [p("bulk"), *files]:
            ps, pa = find_path(st_b, path), find_path(st_a, path)
            v, va = (ps or {}).get("version") or {}, (pa or {}).get("version") or {}
            if ps is None or pa is None:
                wrong.append(f"{path}: in b's status {ps is not None}, in a's {pa is not None}")
            elif (v.get("origin") != "a" or "b" in vv_of(v) or vv_of(v) != vv_of(va)
                  or ps.get("state") != "in sync"
                  or (path in files and norm_hash(v.get("hash")) != sha256_hex(files[path]))):
                wrong.append(f"{path}: state {ps.get('state')!r}, origin {v.get('origin')!r}, "
                             f"vv {vv_of(v)} (a has {vv_of(va)}), "
                             f"hash {norm_hash(v.get('hash'))[:12]}")
        self.assertEqual(wrong, [], f"{len(wrong)} of 301 paths on b are not a's version "
                         "(b took its own writes for local changes?)")
        if LOG_LEVEL in ("warn", "error"):
            sys.stderr.write(f"\n!!!!! SKIPPED: {self.id()}: the log part: "
                             f"SYNCR_TEST_LOG_LEVEL={LOG_LEVEL} hides info lines\n")
            return
        mine = [ln for ln in log_lines(c, "b", "local change") if f" {p('bulk')}" in ln]
        self.assertEqual(mine, [], "b logged its own applies as local changes")
        # the log does hold b's info lines for these paths (the check above can see them)
        applied = [x for x in files if not log_lines(c, "b", "applied", f" {x} from a ")]
        self.assertEqual(applied, [], "paths with no 'applied ... from a' line in b's log")


if __name__ == "__main__":
    unittest.main(verbosity=2)
