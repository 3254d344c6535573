#!/usr/bin/env python3
"""Seeded, randomized fault soak for Syncr (issue 12): the way Jepsen or
FoundationDB's simulation test distributed stores, at the scale of one
machine.

N real daemons (tests/integration/harness.py) joined by the exec transport
sync one directory entry (/srv/data) and one file entry (/etc/app.conf).
One random generator, seeded from the clock or by --seed, drives:

- operations at random nodes (in-place and rename-into-place writes,
  appends, deletes, mkdir, rmdir, rm -r, directory renames, chmod), made on
  the node's disk whether its daemon is up, frozen or down;
- faults (kill -9 and restart, SIGSTOP then SIGCONT, killing the
  `syncr connect` bridges that reach a node, SIGHUP, SIGTERM and restart),
  never more than N-1 nodes down or frozen at once.

Then it heals (thaw and start everything, stop operating, acknowledge
conflicts with `syncr resolve`) and checks what must hold:

- every node's tree is identical (type, content, mode, and mtime of files);
- every *owned* path holds exactly its owner's last write, or is absent
  when its owner's last operation removed it. A path is owned when its name
  says so: below a shared directory, a name "<node>.f<k>" or "<node>.d<k>"
  belongs to <node>, and so does everything below such a directory. Only
  the owner ever touches it, so the owner's own view of its operations
  (the Model) is the truth. /etc/app.conf is owned by the first node;
- a path that only its owner writes never shows a conflict (SPEC 6: only
  real conflicts); "shared.<k>" files and "shared.d<k>" directories may be
  written (and removed) by anyone, and only have to converge;
- no Syncr temp file (.syncr-*.tmp) is left in any tree;
- no daemon died unless the soak killed it;
- `syncr status` exits 0 everywhere once conflicts are acknowledged.

A failure prints the seed, the check, and every operation and fault that
touched the failing path. Python 3.11 standard library only.

    SYNCR_BIN=build/syncr python3 tests/soak/soak.py --seconds 60 [--seed S]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import fnmatch
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402  (needs the sys.path line above)
import treeutil  # noqa: E402

ENTRY = "/srv/data"
SHARED_DIRS = tuple(f"{ENTRY}/s{i}" for i in range(3))
FILE_ENTRY = "/etc/app.conf"
TEMP_GLOB = ".syncr-*.tmp"
OWNED_NAME = re.compile(r"^([a-z])\.([fd])\d+(?:-.*)?$", re.S)
SHARED_NAME = re.compile(r"^shared\.\d+$")
SHARED_DIR_NAME = re.compile(r"^shared\.d\d+$")
NAMES_PER_KIND = 8       # a.f0..a.f7, a.d0..a.d7 per parent: names get reused
# Names are bytes (SPEC 11): two of the eight carry a newline, an escape
# character and a byte that is not UTF-8.
ODD_SUFFIX = {6: "-new\nline", 7: "-" + os.fsdecode(b"\x1b\xff")}
SHARED_FILES = 3         # shared.0..shared.2 per directory they may be in
SHARED_SUBDIRS = 2       # shared.d0, shared.d1 per shared directory
MAX_DEPTH = 4            # components below ENTRY
FILE_MODES = (0o644, 0o600, 0o640, 0o664, 0o755)
NEW_FILE_MODE = 0o644    # with the umask set in main()
NEW_DIR_MODE = 0o755

OWNED_OP_WEIGHTS = {
    "write": 20, "rename_write": 15, "append": 10, "delete": 8, "mkdir": 8,
    "rmdir": 4, "rmtree": 3, "rename_dir": 4, "chmod": 6, "file_entry": 3,
}
SHARED_OP_SHARE = 0.12
SHARED_OP_WEIGHTS = {"shared_write": 5, "shared_append": 2, "shared_delete": 2,
                     "shared_mkdir": 1, "shared_rmtree": 2}
FAULT_WEIGHTS = {"kill9": 3, "freeze": 2, "bridges": 2, "sighup": 1, "restart": 2}
DURABLE_FAULTS = ("kill9", "freeze", "restart")  # the node stays faulted a while
MAX_DOWN_S = 5.0
MAX_FREEZE_S = 15.0


# ---------------------------------------------------------------- naming

def components(path: str) -> list[str]:
    """The components of a synced path below ENTRY ([] for ENTRY itself)."""
    return [p for p in path[len(ENTRY):].split("/") if p]


def owner_of(path: str, first_node: str) -> str | None:
    """The node that owns path, by its name; None for shared or stray paths."""
    if path == FILE_ENTRY:
        return first_node
    parts = components(path)
    if len(parts) >= 2:
        m = OWNED_NAME.match(parts[1])
        if m:
            return m.group(1)
    return None


def is_shared(path: str) -> bool:
    """A path any node may write: sN/shared.K, sN/shared.dJ, sN/shared.dJ/shared.K."""
    parts = components(path)
    if not path.startswith(SHARED_DIRS) or len(parts) not in (2, 3):
        return False
    if len(parts) == 2:
        return bool(SHARED_NAME.match(parts[1]) or SHARED_DIR_NAME.match(parts[1]))
    return bool(SHARED_DIR_NAME.match(parts[1]) and SHARED_NAME.match(parts[2]))


def shown(path: str) -> str:
    """path as syncr shows it (escaped, harness.escape_name): safe to print."""
    return harness.escape_name(os.fsencode(path))


def printable(text: str) -> str:
    """text with its undecodable bytes (surrogates) as \\xHH: printable."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def under(path: str, top: str) -> bool:
    """path is top or below it."""
    return path == top or path.startswith(top + "/")


# ---------------------------------------------------------------- model

@dataclasses.dataclass
class FileState:
    content: bytes
    mode: int
    mtime_ns: int

    def describe(self):
        return ("file", hashlib.sha256(self.content).hexdigest(), self.mode, self.mtime_ns)


@dataclasses.dataclass
class DirState:
    mode: int = NEW_DIR_MODE

    def describe(self):
        return ("dir", self.mode)


class Model:
    """Each owner's own view of the paths it owns: what its last operation
    on each of them left on its disk. Nobody else touches them, so this is
    what every node must hold at the end."""

    def __init__(self, names):
        self.owned: dict[str, dict[str, FileState | DirState]] = {n: {} for n in names}

    def get(self, node: str, path: str):
        return self.owned[node].get(path)

    def files(self, node: str) -> list[str]:
        return sorted(p for p, s in self.owned[node].items()
                      if isinstance(s, FileState) and p != FILE_ENTRY)

    def dirs(self, node: str) -> list[str]:
        return sorted(p for p, s in self.owned[node].items() if isinstance(s, DirState))

    def parents(self, node: str) -> list[str]:
        """Directories where node may create what it owns."""
        return list(SHARED_DIRS) + [d for d in self.dirs(node)
                                    if len(components(d)) < MAX_DEPTH]

    def subtree(self, node: str, top: str) -> list[str]:
        return sorted(p for p in self.owned[node] if under(p, top))

    def is_empty_dir(self, node: str, path: str) -> bool:
        return self.subtree(node, path) == [path]

    def height(self, node: str, top: str) -> int:
        """Levels of top's subtree, top included (1 for an empty dir)."""
        base = len(components(top))
        return max(len(components(p)) - base + 1 for p in self.subtree(node, top))

    def set(self, node: str, path: str, state) -> None:
        self.owned[node][path] = state

    def remove_tree(self, node: str, top: str) -> None:
        for p in self.subtree(node, top):
            del self.owned[node][p]

    def move_tree(self, node: str, src: str, dst: str) -> None:
        for p in self.subtree(node, src):
            self.owned[node][dst + p[len(src):]] = self.owned[node].pop(p)

    def expected(self, node: str) -> dict:
        return {p: s.describe() for p, s in self.owned[node].items()}


# ---------------------------------------------------------------- disk

def describe(full: str):
    """What one path is on disk, comparable with FileState/DirState.describe()
    (a file with its mtime)."""
    return treeutil.describe(full, with_mtime=True)


def snapshot(node: harness.Node) -> dict:
    """{synced path: describe()} of the synced tree and the file entry on
    node's disk, without the daemon's temp files (checked on their own)."""
    out = {}
    top = node.disk(ENTRY)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            if fnmatch.fnmatch(name, TEMP_GLOB):
                continue
            full = os.path.join(dirpath, name)
            d = describe(full)
            if d is not None:
                out[ENTRY + full[len(top):]] = d
    d = describe(node.disk(FILE_ENTRY))
    if d is not None:
        out[FILE_ENTRY] = d
    return out


def temp_leftovers(node: harness.Node) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(node.disk(ENTRY)):
        found += [os.path.join(dirpath, f) for f in filenames + dirnames
                  if fnmatch.fnmatch(f, TEMP_GLOB)]
    return found


def short(d) -> str:
    """A describe() tuple for humans: hashes cut, modes in octal."""
    if d is None:
        return "absent"
    if d[0] == "file":
        return f"file sha {d[1][:12]} mode {d[2]:o} mtime {d[3]}"
    if d[0] == "dir":
        return f"dir mode {d[1]:o}"
    return repr(d)


def bridge_pids(sock: str, sessions: set[int]) -> list[int]:
    """`syncr connect --socket SOCK` processes (the bridges through which
    peers reach the node listening on SOCK), only in sessions we started."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if "connect" not in argv or "--socket" not in argv:
            continue
        i = argv.index("--socket")
        st = harness._proc_stat(int(name))
        if i + 1 < len(argv) and argv[i + 1] == sock and st and st[3] in sessions:
            out.append(int(name))
    return out


# ---------------------------------------------------------------- records

@dataclasses.dataclass
class Record:
    t: float           # seconds since the soak started
    node: str
    kind: str          # an op, a fault, a recovery or a heal step
    paths: tuple = ()  # synced paths it touched (none for a fault)
    detail: str = ""

    def line(self) -> str:
        where = " ".join(shown(p) for p in self.paths)
        return f"  {self.t:8.3f}s {self.node:2} {self.kind:13} {where} {self.detail}".rstrip()

    def touches(self, path: str) -> bool:
        return any(under(path, p) or under(p, path) for p in self.paths)


@dataclasses.dataclass
class Failure:
    check: str
    path: str
    message: str


# ---------------------------------------------------------------- the soak

class Soak:
    def __init__(self, args, seed: int):
        self.args = args
        self.seed = seed
        self.rng = random.Random(seed)
        self.names = [chr(ord("a") + i) for i in range(args.nodes)]
        self.first = self.names[0]
        self.model = Model(self.names)
        self.state = {n: "up" for n in self.names}  # up | down | frozen
        self.records: list[Record] = []
        self.failures: list[Failure] = []
        self.ops = collections.Counter()
        self.faults = collections.Counter()
        self.resolved: list[str] = []
        self.seq = 0
        self.t0 = time.monotonic()
        self.vclock = 0.0  # the virtual time of the event being run
        self.recoveries: list[tuple[float, str, str]] = []  # (virtual time, node, what)
        self.c = harness.Cluster(names=self.names,
                                 sync=[{"path": ENTRY}, {"path": FILE_ENTRY}])

    # ---- bookkeeping

    def now(self) -> float:
        return time.monotonic() - self.t0

    def record(self, node: str, kind: str, paths=(), detail="") -> None:
        state = self.state.get(node, "")
        tag = f"[{state}] " if state and state != "up" and kind not in FAULT_WEIGHTS else ""
        self.records.append(Record(self.now(), node, kind, tuple(paths), tag + detail))

    def fail(self, check: str, path: str, message: str) -> None:
        self.failures.append(Failure(check, path, message))

    def content(self, node: str, path: str) -> bytes:
        """Unique bytes, so that every write is a real change (SPEC 2)."""
        self.seq += 1
        head = f"{node} {shown(path)} #{self.seq}\n".encode()
        r = self.rng.random()
        size = (self.rng.randrange(0, 200) if r < 0.7 else
                self.rng.randrange(200, 8000) if r < 0.95 else
                self.rng.randrange(64 << 10, 400 << 10))
        return head + self.rng.randbytes(size)

    def disk(self, node: str, path: str) -> str:
        return self.c.disk(node, path)

    def stat_mtime(self, node: str, path: str) -> int:
        return os.stat(self.disk(node, path)).st_mtime_ns

    def new_name(self, node: str, parent: str, kind: str) -> str | None:
        """An owned name ("f" or "d") not in use below parent, or None."""
        free = [f"{parent}/{node}.{kind}{k}{ODD_SUFFIX.get(k, '')}" for k in range(NAMES_PER_KIND)]
        free = [p for p in free if self.model.get(node, p) is None]
        return self.rng.choice(free) if free else None

    def owned_disk_op(self, node: str, kind: str, paths, fn) -> bool:
        """Run fn (an operation on node's own disk); an OSError there means
        the disk is not what the owner left: a failure, the model unchanged."""
        try:
            fn()
        except OSError as e:
            self.record(node, kind, paths, f"FAILED {e}")
            self.fail("owner-disk", paths[0],
                      f"{kind} by {node}, the owner, failed on its own disk: {e}")
            return False
        return True

    # ---- operations on owned paths

    def op_write(self, node: str) -> None:
        """Write in place (an existing owned file, or a new one)."""
        files = self.model.files(node)
        if not files or self.rng.random() < 0.3:
            return self.op_create(node)
        path = self.rng.choice(files)
        old = self.model.get(node, path)
        data = self.content(node, path)
        if self.owned_disk_op(node, "write", [path],
                              lambda: harness.write_in_place(self.disk(node, path), data)):
            self.model.set(node, path, FileState(data, old.mode, self.stat_mtime(node, path)))
            self.record(node, "write", [path], f"{len(data)} bytes")

    def op_create(self, node: str) -> None:
        parent = self.rng.choice(self.model.parents(node))
        path = self.new_name(node, parent, "f")
        if path is None:
            return self.op_mkdir(node)
        data = self.content(node, path)
        if self.owned_disk_op(node, "create", [path],
                              lambda: harness.write_in_place(self.disk(node, path), data)):
            self.model.set(node, path, FileState(data, NEW_FILE_MODE, self.stat_mtime(node, path)))
            self.record(node, "create", [path], f"{len(data)} bytes")

    def op_rename_write(self, node: str) -> None:
        """Temp file beside the target, renamed over it (vim, sed -i);
        sometimes with an mtime in the past set on the temp."""
        files = self.model.files(node)
        if files and self.rng.random() < 0.8:
            path = self.rng.choice(files)
            mode = self.model.get(node, path).mode
        else:
            path = self.new_name(node, self.rng.choice(self.model.parents(node)), "f")
            mode = NEW_FILE_MODE
            if path is None:
                return self.op_mkdir(node)
        data = self.content(node, path)
        mtime = None
        if self.rng.random() < 0.3:
            mtime = time.time_ns() - self.rng.randrange(1, 3600) * 10**9
        if self.owned_disk_op(node, "rename_write", [path], lambda: harness.rename_into_place(
                self.disk(node, path), data, mode=mode, mtime_ns=mtime)):
            self.model.set(node, path, FileState(data, mode, self.stat_mtime(node, path)))
            self.record(node, "rename_write", [path],
                        f"{len(data)} bytes" + (" old mtime" if mtime else ""))

    def op_append(self, node: str) -> None:
        files = self.model.files(node)
        if not files:
            return self.op_create(node)
        path = self.rng.choice(files)
        old = self.model.get(node, path)
        self.seq += 1
        extra = f"+{node} #{self.seq}\n".encode()

        def append():
            with open(self.disk(node, path), "ab") as f:
                f.write(extra)
        if self.owned_disk_op(node, "append", [path], append):
            self.model.set(node, path, FileState(old.content + extra, old.mode,
                                                 self.stat_mtime(node, path)))
            self.record(node, "append", [path], f"+{len(extra)} bytes")

    def op_delete(self, node: str) -> None:
        files = self.model.files(node)
        if not files:
            return self.op_create(node)
        path = self.rng.choice(files)
        if self.owned_disk_op(node, "delete", [path], lambda: os.unlink(self.disk(node, path))):
            self.model.remove_tree(node, path)
            self.record(node, "delete", [path])

    def op_chmod(self, node: str) -> None:
        files = self.model.files(node)
        if not files:
            return self.op_create(node)
        path = self.rng.choice(files)
        old = self.model.get(node, path)
        mode = self.rng.choice([m for m in FILE_MODES if m != old.mode])
        if self.owned_disk_op(node, "chmod", [path], lambda: os.chmod(self.disk(node, path), mode)):
            self.model.set(node, path, FileState(old.content, mode, old.mtime_ns))
            self.record(node, "chmod", [path], f"{old.mode:o} -> {mode:o}")

    def op_mkdir(self, node: str) -> None:
        parent = self.rng.choice(self.model.parents(node))
        path = self.new_name(node, parent, "d")
        if path is None:
            return
        if self.owned_disk_op(node, "mkdir", [path], lambda: os.mkdir(self.disk(node, path))):
            self.model.set(node, path, DirState())
            self.record(node, "mkdir", [path])

    def op_rmdir(self, node: str) -> None:
        empty = [d for d in self.model.dirs(node) if self.model.is_empty_dir(node, d)]
        if not empty:
            return self.op_mkdir(node)
        path = self.rng.choice(empty)
        if self.owned_disk_op(node, "rmdir", [path], lambda: os.rmdir(self.disk(node, path))):
            self.model.remove_tree(node, path)
            self.record(node, "rmdir", [path])

    def op_rmtree(self, node: str) -> None:
        """rm -r of an owned directory (its whole subtree is node's)."""
        dirs = self.model.dirs(node)
        if not dirs:
            return self.op_mkdir(node)
        path = self.rng.choice(dirs)
        n = len(self.model.subtree(node, path))
        if self.owned_disk_op(node, "rmtree", [path], lambda: shutil.rmtree(self.disk(node, path))):
            self.model.remove_tree(node, path)
            self.record(node, "rmtree", [path], f"{n} paths")

    def op_rename_dir(self, node: str) -> None:
        """mv of an owned directory to a free owned name, possibly elsewhere."""
        dirs = self.model.dirs(node)
        if not dirs:
            return self.op_mkdir(node)
        src = self.rng.choice(dirs)
        height = self.model.height(node, src)
        parents = [p for p in self.model.parents(node)
                   if not under(p, src) and len(components(p)) + height <= MAX_DEPTH]
        dst = self.new_name(node, self.rng.choice(parents), "d") if parents else None
        if dst is None:
            return self.op_mkdir(node)
        n = len(self.model.subtree(node, src))
        if self.owned_disk_op(node, "rename_dir", [src, dst],
                              lambda: os.rename(self.disk(node, src), self.disk(node, dst))):
            self.model.move_tree(node, src, dst)
            self.record(node, "rename_dir", [src, dst], f"{n} paths")

    def op_file_entry(self, node: str) -> None:
        """A write of the file entry, by its owner only (else an owned op)."""
        if node != self.first:
            return self.op_write(node)
        path = FILE_ENTRY
        old = self.model.get(node, path)
        data = self.content(node, path)
        in_place = self.rng.random() < 0.5
        write = ((lambda: harness.write_in_place(self.disk(node, path), data)) if in_place else
                 (lambda: harness.rename_into_place(self.disk(node, path), data, mode=old.mode)))
        kind = "write" if in_place else "rename_write"
        if self.owned_disk_op(node, kind, [path], write):
            self.model.set(node, path, FileState(data, old.mode, self.stat_mtime(node, path)))
            self.record(node, kind, [path], f"{len(data)} bytes")

    # ---- operations on shared paths (anyone writes; they only converge)

    def shared_dir(self) -> str:
        return f"{self.rng.choice(SHARED_DIRS)}/shared.d{self.rng.randrange(SHARED_SUBDIRS)}"

    def shared_path(self) -> str:
        """A shared file, directly in a shared directory or one level below,
        in a shared subdirectory that any node may also remove."""
        parent = self.rng.choice(SHARED_DIRS) if self.rng.random() < 0.5 else self.shared_dir()
        return f"{parent}/shared.{self.rng.randrange(SHARED_FILES)}"

    def shared_disk_op(self, node: str, kind: str, path: str, fn, detail="") -> None:
        """A shared path may have changed under us (a peer's version): an
        error here is expected and only logged."""
        try:
            fn()
            self.record(node, kind, [path], detail)
        except OSError as e:
            self.record(node, kind, [path], f"not done: {e.strerror}")

    def op_shared_write(self, node: str) -> None:
        """Write a shared file, making its shared subdirectory if this node
        has none (a creation that may race another node's rm -r)."""
        path = self.shared_path()
        data = self.content(node, path)
        full = self.disk(node, path)
        rename = self.rng.random() < 0.5

        def write():
            os.makedirs(os.path.dirname(full), exist_ok=True)
            if rename:
                harness.rename_into_place(full, data)
            else:
                harness.write_in_place(full, data)
        self.shared_disk_op(node, "shared_rename" if rename else "shared_write", path, write,
                            f"{len(data)} bytes")

    def op_shared_append(self, node: str) -> None:
        path = self.shared_path()
        self.seq += 1

        def append():
            with open(self.disk(node, path), "ab") as f:
                f.write(f"+{node} #{self.seq}\n".encode())
        self.shared_disk_op(node, "shared_append", path, append)

    def op_shared_delete(self, node: str) -> None:
        path = self.shared_path()
        self.shared_disk_op(node, "shared_delete", path, lambda: os.unlink(self.disk(node, path)))

    def op_shared_mkdir(self, node: str) -> None:
        path = self.shared_dir()
        self.shared_disk_op(node, "shared_mkdir", path, lambda: os.mkdir(self.disk(node, path)))

    def op_shared_rmtree(self, node: str) -> None:
        path = self.shared_dir()
        self.shared_disk_op(node, "shared_rmtree", path,
                            lambda: shutil.rmtree(self.disk(node, path)))

    def random_op(self) -> None:
        node = self.rng.choice(self.names)
        if self.rng.random() < SHARED_OP_SHARE:
            weights = SHARED_OP_WEIGHTS
        else:
            weights = OWNED_OP_WEIGHTS
        kind = self.rng.choices(list(weights), weights=list(weights.values()))[0]
        getattr(self, "op_" + kind)(node)
        self.ops[kind] += 1

    # ---- faults

    def faulted(self) -> list[str]:
        return [n for n in self.names if self.state[n] != "up"]

    def random_fault(self) -> None:
        up = [n for n in self.names if self.state[n] == "up"]
        if not up:
            return
        allowed = dict(FAULT_WEIGHTS)
        if len(self.faulted()) >= len(self.names) - 1:
            for k in DURABLE_FAULTS:
                allowed.pop(k)
        kind = self.rng.choices(list(allowed), weights=list(allowed.values()))[0]
        node = self.rng.choice(up)
        getattr(self, "fault_" + kind)(node)
        self.faults[kind] += 1

    def schedule(self, delay: float, node: str, what: str) -> None:
        self.recoveries.append((self.vclock + delay, node, what))
        self.recoveries.sort()

    def fault_kill9(self, node: str) -> None:
        self.c.kill(node)
        self.state[node] = "down"
        down = self.rng.uniform(0, MAX_DOWN_S)
        self.record(node, "kill9", detail=f"down for {down:.1f}s")
        self.schedule(down, node, "start")

    def fault_restart(self, node: str) -> None:
        """SIGTERM, wait for a clean exit (code 0), start again later."""
        try:
            rc = self.c.stop(node, sig=signal.SIGTERM)
        except AssertionError as e:
            rc = f"no exit within 10 s: {str(e).splitlines()[0]}"
        self.state[node] = "down"
        down = self.rng.uniform(0, MAX_DOWN_S)
        self.record(node, "restart", detail=f"SIGTERM exit {rc}, down for {down:.1f}s")
        if rc != 0:
            self.fail("clean-exit", "", f"daemon {node} after SIGTERM: exit {rc}\n"
                      + harness.tail(self.c.node(node).log, 30))
        self.schedule(down, node, "start")

    def fault_freeze(self, node: str) -> None:
        self.c.freeze(node)
        self.state[node] = "frozen"
        frozen = self.rng.uniform(0.5, MAX_FREEZE_S)
        self.record(node, "freeze", detail=f"SIGSTOP for {frozen:.1f}s")
        self.schedule(frozen, node, "thaw")

    def fault_bridges(self, node: str) -> None:
        sessions = {n.proc.pid for n in self.c.nodes.values() if n.proc is not None}
        pids = bridge_pids(self.c.node(node).sock, sessions)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.record(node, "bridges", detail=f"SIGKILL to {len(pids)} `syncr connect` into {node}")

    def fault_sighup(self, node: str) -> None:
        os.kill(self.c.pid(node), signal.SIGHUP)
        self.record(node, "sighup")

    def recover(self, node: str, what: str) -> None:
        if what == "thaw":
            self.c.thaw(node)
        else:
            self.c.start(node, wait=False)
        self.state[node] = "up"
        self.record(node, what)

    def check_alive(self) -> None:
        """A daemon the soak did not stop that is not running died on its
        own: a failure; it is started again so the soak goes on."""
        for n in self.names:
            proc = self.c.node(n).proc
            if self.state[n] != "down" and proc is not None and proc.poll() is not None:
                self.record(n, "died", detail=f"exit {proc.returncode}")
                self.fail("daemon-died", "", f"daemon {n} exited on its own with code "
                          f"{proc.returncode}; log tail:\n" + harness.tail(self.c.node(n).log, 40))
                self.c.start(n, wait=False)
                self.state[n] = "up"

    # ---- the run

    def setup(self) -> None:
        for n in self.names:
            for d in SHARED_DIRS:
                os.makedirs(self.disk(n, d), mode=NEW_DIR_MODE)
        data = self.content(self.first, FILE_ENTRY)
        harness.write_in_place(self.disk(self.first, FILE_ENTRY), data)
        self.model.set(self.first, FILE_ENTRY,
                       FileState(data, NEW_FILE_MODE, self.stat_mtime(self.first, FILE_ENTRY)))
        self.record(self.first, "create", [FILE_ENTRY], "before start")
        self.c.start_all()
        self.c.wait_connected(timeout=15)
        self.t0 = time.monotonic()

    def run(self) -> None:
        """Operations and faults in the order of their virtual times, all
        drawn from the one generator, so a seed replays the same sequence."""
        end = self.args.seconds
        self.vclock = 0.0
        next_op = self.rng.expovariate(self.args.ops_per_s)
        next_fault = self.rng.expovariate(1.0 / self.args.fault_every)
        while True:
            t = min([next_op, next_fault] + [r[0] for r in self.recoveries[:1]])
            if t >= end:
                break
            self.vclock = t
            delay = t - self.now()
            if delay > 0:
                time.sleep(delay)
            self.check_alive()
            if self.recoveries and self.recoveries[0][0] == t:
                _, node, what = self.recoveries.pop(0)
                self.recover(node, what)
            elif t == next_op:
                self.random_op()
                next_op = t + self.rng.expovariate(self.args.ops_per_s)
            else:
                self.random_fault()
                next_fault = t + self.rng.expovariate(1.0 / self.args.fault_every)
        sleep = end - self.now()
        if sleep > 0:
            time.sleep(sleep)

    # ---- heal

    def heal(self) -> bool:
        """Thaw and start everything, then wait until every `status` exits 0,
        acknowledging each conflict with `syncr resolve` on one node.
        False (and a failure) when the nodes do not get there in time."""
        self.recoveries.clear()
        for n in self.names:
            if self.state[n] != "up":
                self.recover(n, "thaw" if self.state[n] == "frozen" else "start")
        deadline = time.monotonic() + self.args.heal_seconds * harness.TIMEOUT_SCALE
        last_resolve: dict[str, float] = {}
        while time.monotonic() < deadline:
            self.check_alive()
            statuses = {n: self.c.status(n) for n in self.names}
            if all(rc == 0 and isinstance(st, dict) and st.get("in_sync") for rc, st in
                   statuses.values()):
                self.record("", "healed", detail=f"after {self.now() - self.args.seconds:.1f}s")
                return True
            self.resolve_conflicts(statuses, last_resolve)
            time.sleep(0.2)
        self.report_not_in_sync()
        return False

    def resolve_conflicts(self, statuses: dict, last_resolve: dict) -> None:
        for n, (_, st) in statuses.items():
            if not isinstance(st, dict):
                continue
            for p in st.get("paths") or []:
                if p.get("state") == "conflict":
                    self.resolve(n, harness.unescape_name(p.get("path", "")), last_resolve)

    def resolve(self, node: str, path: str, last_resolve: dict) -> None:
        """`syncr resolve PATH` on node, at most once per path every 3 s. A
        conflict on a path that only its owner writes is not a real one."""
        if time.monotonic() - last_resolve.get(path, -1e9) < 3.0:
            return
        last_resolve[path] = time.monotonic()
        r = self.c.cli(node, "resolve", path)
        self.resolved.append(path)
        self.record(node, "resolve", [path], f"exit {r.returncode}")
        owner = owner_of(path, self.first)
        if owner is not None and path not in {f.path for f in self.failures
                                              if f.check == "spurious-conflict"}:
            self.fail("spurious-conflict", path,
                      f"{path} is written by {owner} alone, yet {node}'s status shows a conflict "
                      f"(SPEC 6: only real conflicts)")

    def report_not_in_sync(self) -> None:
        for n in self.names:
            rc, st = self.c.status(n)
            if not isinstance(st, dict):
                self.fail("status", "", f"{n}: `syncr status` gave no JSON (exit {rc})")
                continue
            bad = [p for p in st.get("paths", []) or [] if p.get("state") != "in sync"]
            peers = [f"{p.get('name')}: connected={p.get('connected', False)} "
                     f"pending={p.get('pending', 0)} {p.get('last_error', '')}".rstrip()
                     for p in st.get("peers", []) or []]
            if rc == 0:
                continue
            summary = (f"{n}: `syncr status` still exits {rc} after "
                       f"{self.args.heal_seconds * harness.TIMEOUT_SCALE:.0f}s of healing; "
                       f"peers [{'; '.join(peers)}]; problems {st.get('problems') or []}; "
                       f"{len(bad)} paths not in sync")
            self.fail("status", "", summary)
            for p in bad[:5]:
                self.fail("status", p.get("path", ""),
                          f"on {n}: state {p.get('state')!r}, pending_to "
                          f"{p.get('pending_to') or []}, refused_by {p.get('refused_by') or []}")

    # ---- checks

    def check_trees_identical(self) -> None:
        snaps = {n: snapshot(self.c.node(n)) for n in self.names}
        ref = snaps[self.first]
        for n in self.names[1:]:
            differ = sorted(p for p in set(ref) | set(snaps[n]) if ref.get(p) != snaps[n].get(p))
            for p in differ:
                self.fail("trees-identical", p, "; ".join(
                    f"{m}: {short(snaps[m].get(p))}" for m in self.names))
        self.snaps = snaps

    def check_owned(self) -> None:
        """Every owned path on every node is exactly the owner's last write;
        nothing else than shared dirs, shared files and owned paths exists."""
        for n in self.names:
            got = self.snaps[n]
            for owner in self.names:
                want = self.model.expected(owner)
                mine = {p: d for p, d in got.items() if owner_of(p, self.first) == owner}
                for p in sorted(set(want) | set(mine)):
                    if want.get(p) != mine.get(p):
                        self.fail("owned-content", p,
                                  f"on {n}: want {owner}'s last write {short(want.get(p))}, "
                                  f"got {short(mine.get(p))}")
            for p in sorted(got):
                if owner_of(p, self.first) is None and not is_shared(p) \
                        and p not in SHARED_DIRS:
                    self.fail("stray-path", p, f"on {n}: {short(got[p])} was never written "
                              f"by any node under that name")

    def check_no_temps(self) -> None:
        for n in self.names:
            for full in temp_leftovers(self.c.node(n)):
                self.fail("temp-left", ENTRY + full[len(self.c.disk(n, ENTRY)):],
                          f"Syncr temp file left on {n}: {full}")

    def check_final_status(self) -> None:
        for n in self.names:
            rc, _ = self.c.status(n)
            if rc != 0:
                self.fail("status", "", f"{n}: `syncr status` exits {rc} after healing")

    def check(self, healed: bool) -> None:
        self.check_alive()
        self.check_trees_identical()
        self.check_owned()
        self.check_no_temps()
        if healed:
            self.check_final_status()

    # ---- report

    def history(self, path: str) -> list[str]:
        return [r.line() for r in self.records if path and r.touches(path)]

    def log_lines(self, path: str, limit=8) -> list[str]:
        out = []
        for n in self.names:
            text = harness.read_bytes(self.c.node(n).log) or b""
            lines = [ln for ln in text.decode("utf-8", "replace").splitlines()
                     if shown(path) in ln]
            out += [f"  {n}: {ln}" for ln in lines[-limit:]]
        return out

    def report_failures(self) -> None:
        w = sys.stdout.write
        w(f"\nsoak: FAILED with seed {self.seed}; replay: {self.replay_command()}\n")
        by_check = collections.Counter(f.check for f in self.failures)
        w(f"soak: failures by check: {dict(by_check)}\n")
        for f in self.failures:
            if not f.path:
                w(f"\nFAIL [{f.check}]\n  {printable(f.message)}\n")
        by_path: dict[str, list[Failure]] = {}
        for f in self.failures:
            if f.path:
                by_path.setdefault(f.path, []).append(f)
        for path, failures in list(by_path.items())[:self.args.show]:
            for f in failures:
                w(f"\nFAIL [{f.check}] {shown(path)}\n  {printable(f.message)}")
            w(f"\n  operations and heal steps that touched {shown(path)}:\n")
            w("\n".join(self.history(path) or ["  (none)"]) + "\n")
            lines = self.log_lines(path)
            if lines:
                w(f"  daemon log lines naming {shown(path)} (last {len(lines)}):\n")
                w("\n".join(lines) + "\n")
        if len(by_path) > self.args.show:
            w(f"\n... and {len(by_path) - self.args.show} more failing paths\n")
        w("\nfaults:\n" + "\n".join(r.line() for r in self.records
                                    if r.kind in FAULT_WEIGHTS or r.kind in
                                    ("start", "thaw", "died", "healed")) + "\n")

    def replay_command(self) -> str:
        a = self.args
        return (f"python3 tests/soak/soak.py --seconds {a.seconds:g} --nodes {a.nodes} "
                f"--seed {self.seed} --ops-per-s {a.ops_per_s:g} --fault-every {a.fault_every:g}")

    def write_log(self) -> str:
        path = os.path.join(self.c.tmp, "soak-ops.log")
        with open(path, "w") as f:
            f.write(f"seed {self.seed}\n")
            f.write("\n".join(r.line() for r in self.records) + "\n")
        return path

    def summary(self) -> dict:
        return {"seed": self.seed, "seconds": self.args.seconds, "nodes": self.args.nodes,
                "ops": sum(self.ops.values()), "faults": sum(self.faults.values()),
                "failures": len(self.failures), "ops_by_kind": dict(sorted(self.ops.items())),
                "faults_by_kind": dict(sorted(self.faults.items())),
                "conflicts_resolved": len(self.resolved),
                "failures_by_check": dict(collections.Counter(f.check for f in self.failures))}


# ---------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float,
                    default=float(os.environ.get("SYNCR_SOAK_SECONDS", "60")),
                    help="how long operations and faults run (default: $SYNCR_SOAK_SECONDS or 60)")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--seed", type=int, default=None, help="replay this seed (default: from time)")
    ap.add_argument("--ops-per-s", type=float, default=20.0, help="mean operation rate (5-50)")
    ap.add_argument("--fault-every", type=float, default=4.0, help="mean seconds between faults")
    ap.add_argument("--heal-seconds", type=float, default=60.0,
                    help="bound on healing (scaled by SYNCR_TEST_TIMEOUT_SCALE)")
    ap.add_argument("--show", type=int, default=12, help="failing paths printed in detail")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    ap.add_argument("--bin", default=os.environ.get("SYNCR_BIN", ""), help="syncr binary")
    args = ap.parse_args(argv)
    if args.nodes < 2 or args.nodes > 26:
        ap.error("--nodes must be 2..26")
    if not args.bin:
        ap.error("set SYNCR_BIN or pass --bin")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    harness.SYNCR_BIN = os.path.abspath(args.bin)
    os.umask(0o022)
    seed = args.seed if args.seed is not None else time.time_ns() % 10**9
    print(f"soak: seed {seed} ({args.nodes} nodes, {args.seconds:g}s, {args.ops_per_s:g} ops/s, "
          f"a fault every {args.fault_every:g}s)", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(f"soak: SIGTERM (seed {seed})"))
    soak = Soak(args, seed)
    ok = False
    try:
        soak.setup()
        soak.run()
        healed = soak.heal()
        soak.check(healed)
    except Exception:  # noqa: BLE001 - a harness error is a failure with a seed too
        soak.fail("soak-error", "", traceback.format_exc())
    except BaseException:  # SIGTERM (a CTest timeout), ^C: keep what was found
        soak.fail("interrupted", "", "the soak was stopped before its checks ran")
        raise
    finally:
        ok = not soak.failures
        if not ok:
            soak.report_failures()
        soak.c.kill_all()
        log = soak.write_log()
        if ok and not args.keep and not harness.KEEP:
            shutil.rmtree(soak.c.tmp, ignore_errors=True)
        else:
            print(f"soak: kept {soak.c.tmp} (operations in {log}, daemon logs in */daemon.log)")
    s = soak.summary()
    print(f"soak: seed {seed}, {s['ops']} ops, {s['faults']} faults, {s['failures']} failures")
    print(json.dumps(s, sort_keys=True))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
