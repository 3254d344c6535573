"""Names with any bytes replicate, and every printed name is escaped
(SPEC 11; issue 11: "names with non-UTF-8 bytes, newlines, tabs or escape
characters are never replicated and never shown").

A name is any bytes but NUL and '/'. Paths travel as protobuf `bytes`; what
Syncr prints (status, its JSON, history, the log, SYNCR_CHANGED) shows them
escaped as bash's $'...' does: \\\\ \\n \\t and \\xHH for other control
characters (C1 and bidi overrides included) and for bytes that are not
UTF-8 (docs/protocol.md "Names").

- test_odd_names_replicate_both_ways_and_show_escaped: files named with a
  newline, a tab, an escape sequence, Latin-1 bytes, a backslash, a C1
  CSI, a right-to-left override and (valid) UTF-8, a directory with a
  newline in its name and a file in it, and a symlink whose name and
  target are not UTF-8 reach b byte for byte; both nodes' `status` exits 0
  and lists every one escaped, in valid UTF-8 with no control character,
  and each shown name, unescaped, is the file on disk; both logs and
  `syncr log` name them escaped, hold none of the raw bytes and no line a
  name split; SYNCR_CHANGED lists them escaped; `history` and `diff
  --peer` take the raw name, and the shown name pasted into bash's $'...'
  (what the docs say); an edit on b and a deletion on a come back the
  other way; after b restarts (its store read back), both are in sync.
- test_a_refused_odd_name_is_named_escaped: a file too big for b is
  refused for that path alone; a's status and log name it escaped.
- test_conflict_on_an_odd_name_is_resolved_by_pasting_the_shown_name: a
  conflict on a name with a tab, Latin-1, a newline and quotes shows in
  both statuses, and `syncr resolve $'...'` with the shown name ends it.
Before: none of these names replicated, status showed none of them, and a
peer's frame with a non-UTF-8 path was refused by protobuf ("invalid UTF-8").
"""

import json
import os
import re
import shlex
import subprocess
import sys
import unittest

from harness import ClusterTestCase, escape_name, find_path, loud_skip, unescape_name
from lossutil import make_concurrent
import treeutil

DIR = "/srv/odd"
ACTION = ('printf "RUN\\n%sEND\\n" "$SYNCR_CHANGED" >> @TMP@/@NODE@-changed.log')
SYNC = [{"path": DIR, "actions": [ACTION]}]

# name (bytes) -> content
FILES = {
    b"new\nline": b"a newline in the name\n",
    b"tab\there": b"a tab\n",
    b"esc\x1b[31mred": b"an escape sequence\n",
    b"latin1-\xe9t\xe9": b"not UTF-8\n",
    b"back\\slash": b"a backslash\n",
    "caf\u00e9 \u4e2d".encode(): b"valid UTF-8, shown as is\n",
    b"dir\nname/inside\x01": b"in a directory with a newline in its name\n",
    b"csi-\xc2\x9b31m": b"a C1 control (CSI), valid UTF-8 but shown escaped\n",
    b"rtl-\xe2\x80\xaetxt.exe": b"a right-to-left override\n",
}
LINK = b"link-\xff"
LINK_TARGET = b"target-\xfe\n"


def path_of(name: bytes) -> str:
    """The synced path of name, as a str the harness can join (surrogates)."""
    return DIR + "/" + os.fsdecode(name)


def shown(name: bytes) -> str:
    return DIR + "/" + escape_name(name)


# Raw bytes of the names above that must never reach a log line.
RAW_BYTES = [b"\t", b"\x1b", b"\xe9t\xe9", b"\x01", b"\xff", b"\xfe", b"\xc2\x9b", b"\xe2\x80\xae"]
# Every line syncr logs starts so: a raw newline in a name would start one
# that does not.
LOG_LINE = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \w+ \[[ab]\] ")


class OddNamesTest(ClusterTestCase):

    def assert_clean_text(self, what: str, data: bytes) -> str:
        """data is valid UTF-8 with no control character but newlines."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            self.fail(f"{what} is not valid UTF-8 ({e}): {data[:400]!r}")
        bad = sorted({c for c in text if (ord(c) < 0x20 and c != "\n") or ord(c) == 0x7F})
        self.assertEqual(bad, [], f"{what} holds raw control characters: {text[:2000]}")
        return text

    def status_paths(self, c, node: str) -> dict[str, str]:
        """{shown path: state} of node's `status --json`, which exits 0."""
        r = c.cli(node, "status", "--json")
        self.assertEqual(r.returncode, 0, f"status on {node}: {r.stderr!r}")
        st = json.loads(self.assert_clean_text(f"`status --json` on {node}", r.stdout))
        self.assertTrue(st["in_sync"], json.dumps(st, indent=1)[:3000])
        return {p["path"]: p["state"] for p in st["paths"]}

    def test_odd_names_replicate_both_ways_and_show_escaped(self):
        c = self.started_cluster(sync=SYNC, dirs=(DIR,))
        os.makedirs(c.disk("a", path_of(b"dir\nname")))
        for name, data in FILES.items():
            c.write("a", path_of(name), data)
        os.symlink(LINK_TARGET, os.fsencode(c.disk("a", path_of(LINK))))
        for name, data in FILES.items():
            c.wait_content("b", path_of(name), data)
        link_b = os.fsencode(c.disk("b", path_of(LINK)))
        c.wait_until(lambda: os.path.islink(link_b) and os.readlink(link_b) == LINK_TARGET,
                     what=f"{LINK!r} on b, a symlink to {LINK_TARGET!r}")
        c.wait_in_sync()

        # status, JSON and text: every name, escaped, on both nodes.
        want = {DIR, shown(b"dir\nname"), shown(LINK)} | {shown(n) for n in FILES}
        for n in ("a", "b"):
            self.assertEqual(self.status_paths(c, n), {p: "in sync" for p in want},
                             f"status --json paths on {n}")
            r = c.cli(n, "status")
            text = self.assert_clean_text(f"`status` on {n}", r.stdout)
            self.assertEqual(r.returncode, 0, text)
            for path in want:
                self.assertIn(path, text, f"`status` on {n}")
        for path in want:  # a shown name, unescaped, names the file on disk
            self.assertTrue(os.path.lexists(c.disk("b", unescape_name(path))), path)

        # b's log names what it applied, escaped; no raw byte of a name in
        # either log, nor in `syncr log`; no line a name could have split.
        with open(c.node("b").log, "rb") as f:
            log = f.read()
        for name in FILES:
            self.assertIn(f"applied created {shown(name)} from a".encode(), log)
        for n in ("a", "b"):
            with open(c.node(n).log, "rb") as f:
                log = f.read()
            r = c.cli(n, "log", "-n", "200")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(shown(b"new\nline").encode(), r.stdout)
            for what, text in ((f"{n}'s log", log), (f"`syncr log` on {n}", r.stdout)):
                for raw in RAW_BYTES:
                    self.assertNotIn(raw, text, f"a raw {raw!r} of a name in {what}")
                self.assert_clean_text(what, text)
            split = [ln for ln in log.splitlines()
                     if not LOG_LINE.match(ln) and not ln.startswith(b"=== harness:")]
            self.assertEqual(split, [], f"{n}'s log has lines a name split")

        # The actions' SYNCR_CHANGED: one name a line, escaped.
        def changed(node):
            return c.read_file_text(node, "changed.log").splitlines()
        for name in FILES:
            c.wait_until(lambda name=name: shown(name) in changed("b"),
                         what=lambda name=name: f"{shown(name)} in b's SYNCR_CHANGED: {changed('b')}")
        with open(c.file("b", "changed.log"), "rb") as f:
            self.assert_clean_text("b's SYNCR_CHANGED", f.read())

        # history and diff take the raw name (the shell's $'...').
        name = b"esc\x1b[31mred"
        h = c.history("b", path_of(name))
        self.assertEqual(h["path"], shown(name))
        self.assertEqual(len(h["generations"]), 1, json.dumps(h))
        r = c.cli("b", "history", path_of(name))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_clean_text("`history`", r.stdout)
        # What the docs tell an operator: paste the shown name into $'...'.
        for name in (b"new\nline", b"latin1-\xe9t\xe9", b"back\\slash", b"esc\x1b[31mred"):
            cmd = (f"{shlex.quote(c.bin)} history $'{shown(name)}' --json "
                   f"-c {shlex.quote(c.node('b').config)}")
            r = subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0, f"{cmd}: {r.stderr!r}")
            self.assertEqual(json.loads(r.stdout)["path"], shown(name), cmd)
        r = c.cli("b", "diff", path_of(b"latin1-\xe9t\xe9"), "--peer", "a")
        self.assertEqual(r.returncode, 0, f"diff --peer of an equal file: {r.stdout!r} {r.stderr!r}")

        # Back the other way, and a deletion.
        c.write("b", path_of(b"tab\there"), b"edited on b\n")
        c.wait_content("a", path_of(b"tab\there"), b"edited on b\n")
        c.remove("a", path_of(b"new\nline"))
        c.wait_content("b", path_of(b"new\nline"), None)
        c.wait_in_sync()

        # b's store reads the names back after a restart.
        c.stop("b")
        c.start("b")
        c.wait_connected()
        c.wait_in_sync()
        states = {p: "in sync" for p in want}
        states[shown(b"new\nline")] = "deleted"
        self.assertEqual(self.status_paths(c, "b"), states)
        self.assertEqual(c.read("b", path_of(b"tab\there")), b"edited on b\n")


    def test_an_xattr_name_that_is_not_utf8_replicates(self):
        c = self.cluster(sync=SYNC)
        for n in ("a", "b"):
            os.makedirs(c.disk(n, DIR))
        reason = treeutil.xattrs_supported(c.disk("a", DIR))
        if reason:
            loud_skip(self, reason)
        c.start_all()
        c.wait_connected()
        attr = os.fsdecode(b"user.odd-\xff\n")
        full_a, full_b = c.disk("a", path_of(b"attr")), c.disk("b", path_of(b"attr"))
        treeutil.write_file(full_a, b"with an odd xattr name\n")
        os.setxattr(full_a, attr, b"value")
        c.wait_until(lambda: treeutil.user_xattrs(full_b).get(attr) == b"value",
                     what=lambda: f"{attr!r} on b (there: {treeutil.user_xattrs(full_b)})")
        c.wait_in_sync()
        OddNamesTest.status_paths(self, c, "a")  # its JSON still parses, and says in sync


class OddNamesFailuresTest(ClusterTestCase):
    """Where a name enters an error, a refusal or a conflict."""

    def test_a_refused_odd_name_is_named_escaped(self):
        # b takes files up to 1000 bytes: a's larger one is refused for that
        # path alone, and a's status names it, escaped, with the reason.
        c = self.started_cluster(sync=SYNC, dirs=(DIR,),
                                 extra_toml={"b": "[limits]\nmax_file_bytes = 1000\n"})
        big = b"big-\xff\n\x1b"
        c.write("a", path_of(big), b"x" * 5000)
        c.write("a", path_of(b"small"), b"fits\n")
        c.wait_content("b", path_of(b"small"), b"fits\n")

        def refused():
            row = find_path(c.status_or_fail("a"), path_of(big)) or {}
            return row if "b" in (row.get("refused_by") or []) else None
        c.wait_until(refused, what=lambda: f"a's status to show {shown(big)} refused by b")
        row = refused()
        self.assertEqual(row["path"], shown(big))
        self.assertTrue(any("max_file_bytes" in p for p in row["problems"]), row)
        with open(c.node("a").log, "rb") as f:
            self.assertIn(f"not sending {shown(big)} to b: too big".encode(), f.read())
        r = c.cli("a", "status")
        self.assertEqual(r.returncode, 1, r.stdout)
        text = OddNamesTest.assert_clean_text(self, "`status` on a", r.stdout)
        self.assertIn(shown(big), text)
        self.assertIsNone(c.read("b", path_of(big)))

    def test_conflict_on_an_odd_name_is_resolved_by_pasting_the_shown_name(self):
        c = self.started_cluster(sync=SYNC, dirs=(DIR,))
        name = b"conf\tlict-\xe9\n'quoted'"
        path = path_of(name)
        c.write("a", path, b"base\n")
        c.wait_content("b", path, b"base\n")
        make_concurrent(c, path, b"a's edit\n", b"b's later edit\n")
        c.wait_connected(timeout=15)
        for n in ("a", "b"):
            c.wait_until(lambda n=n: (find_path(c.status_or_fail(n), path) or {}).get("state")
                         == "conflict", what=f"{shown(name)} in conflict on {n}")
        # What the docs say: paste the shown name into $'...' (a ' as \').
        quoted = "$'" + shown(name).replace("'", "\\'") + "'"
        cmd = f"{shlex.quote(c.bin)} resolve {quoted} -c {shlex.quote(c.node('a').config)}"
        r = subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, f"{cmd}: {r.stdout!r} {r.stderr!r}")
        OddNamesTest.assert_clean_text(self, "`resolve`", r.stdout)
        c.wait_in_sync(timeout=15)
        for n in ("a", "b"):
            self.assertEqual(c.read(n, path), b"b's later edit\n", n)


if __name__ == "__main__":
    unittest.main()
