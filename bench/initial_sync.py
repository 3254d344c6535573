#!/usr/bin/env python3
"""Initial sync of a large tree: Syncr against `rsync -a`, over the same sshd.

Creates FILES files of FILE_BYTES random bytes (100 per directory) once, then
for each run (fresh, empty targets every time):

  syncr  a new two-node cluster (harness.Cluster, fresh state dirs) whose
         [[sync]] entry is the tree's directory; node a's root holds the tree
         (copied in before the clock starts), node b's root is empty. a is
         started first (its first scan is timed apart); the clock starts
         when b is started and stops when b holds FILES files (a count,
         polled every --poll seconds) and `syncr status` on a exits 0
         (everything acknowledged by b). Its JSON, every path of the tree
         listed, and the contents are checked after the clock stopped.
         Transport: ssh through a throwaway sshd on 127.0.0.1
         (harness.SshServer).
  rsync  `rsync -a -e "ssh -F <cfg>" SRC/ host:DST/` to an empty directory,
         through the same sshd (the forced command runs the original command,
         i.e. `rsync --server ...` on this machine).

Without root or sshd the Syncr runs use the exec transport and rsync copies
locally; the JSON says so ("transport", "rsync_transport").

Prints one JSON object on stdout; progress goes to stderr. Not part of CTest.

    SYNCR_BIN=build/syncr python3 bench/initial_sync.py [--files N] [--runs R]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import harness  # noqa: E402
from harness import Cluster, SshServer  # noqa: E402

ENTRY = "/srv/tree"


def log(msg: str) -> None:
    sys.stderr.write(f"[bench] {msg}\n")
    sys.stderr.flush()


def make_tree(top: str, files: int, size: int, per_dir: int) -> None:
    os.makedirs(top)
    for i in range(files):
        d = os.path.join(top, f"d{i // per_dir:03d}")
        if i % per_dir == 0:
            os.mkdir(d)
        with open(os.path.join(d, f"f{i % per_dir:03d}.dat"), "wb") as f:
            f.write(os.urandom(size))


def last_file(files: int, per_dir: int) -> str:
    """The path (relative to the tree) that make_tree writes last."""
    i = files - 1
    return os.path.join(f"d{i // per_dir:03d}", f"f{i % per_dir:03d}.dat")


def count_files(top: str) -> int:
    n = 0
    for _d, _dirs, names in os.walk(top):
        n += len(names)
    return n


def same_tree(src: str, dst: str) -> str | None:
    """None when dst has exactly src's files with the same bytes, else why not."""
    for dirpath, _dirs, names in os.walk(src):
        rel_dir = os.path.relpath(dirpath, src)
        for name in names:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            try:
                with open(os.path.join(src, rel), "rb") as a, open(os.path.join(dst, rel), "rb") as b:
                    if a.read() != b.read():
                        return f"{rel} differs"
            except FileNotFoundError:
                return f"{rel} missing in {dst}"
    n_src, n_dst = count_files(src), count_files(dst)
    if n_src != n_dst:
        return f"{n_dst} files in {dst}, {n_src} in {src}"
    return None


def median(xs):
    return round(statistics.median(xs), 3) if xs else None


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="syncr-bench-", dir=args.tmp)
        self.src = os.path.join(self.tmp, "src")
        self.reason_no_ssh = harness.ssh_unavailable_reason()
        self.sshd: SshServer | None = None
        self.notes: list[str] = []
        self.scan_s: list[float] = []
        self.ready_s: list[float] = []
        # Trees of finished runs. They are deleted only after the last run:
        # ext4 without a journal skips inodes freed in the last 60 s (5 min
        # while their table block is dirty) when it allocates new ones, so a
        # run started right after deleting 20,000 files pays for the previous
        # run's cleanup, whichever tool it measures.
        self.doomed: list[str] = []

    # ---- sshd

    def start_sshd(self) -> None:
        if self.reason_no_ssh:
            self.notes.append(f"no sshd ({self.reason_no_ssh}): syncr over exec, rsync local")
            log(self.notes[-1])
            return
        self.sshd = SshServer(os.path.join(self.tmp, "ssh"))
        # rsync needs the original command (`rsync --server ...`) run as asked
        wrapper = os.path.join(self.sshd.dir, "run-original.sh")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\nexec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n')
        os.chmod(wrapper, 0o755)
        self.sshd.add_client("rsync-host", wrapper)
        self.sshd.start()
        r = self.sshd.ssh("rsync-host", "echo", "ok")
        if r.returncode != 0 or r.stdout.strip() != b"ok":
            raise SystemExit(f"ssh through the bench sshd failed: {r.stderr.decode()}\n"
                             + harness.tail(self.sshd.log))

    # ---- one Syncr run

    def syncr_run(self, k: int) -> float:
        a = self.args
        transport = None
        if self.sshd is not None:
            cfg = self.sshd.ssh_config

            def transport(node, peer):
                return {"ssh": f"-F {cfg} run{k}-{peer}"}

        c = Cluster(names=("a", "b"), sync=[{"path": ENTRY}], peer_transport=transport)
        ok = False
        try:
            if self.sshd is not None:
                for name in c.names:
                    self.sshd.add_client(
                        f"run{k}-{name}",
                        f"{shlex.quote(c.bin)} connect --socket {shlex.quote(c.node(name).sock)}")
            dst = c.disk("b", ENTRY)
            last = os.path.join(dst, last_file(a.files, a.per_dir))
            subprocess.run(["cp", "-a", self.src, c.disk("a", ENTRY)], check=True)
            os.sync()
            # The origin has been running (its first scan of the tree is timed
            # apart); the clock runs from the empty peer's start until it
            # holds every file and the origin sees it in sync.
            s0 = time.monotonic()
            c.start("a")  # returns once a answers status: after its first scan
            self.scan_s.append(time.monotonic() - s0)
            t0 = time.monotonic()
            c.start("b", wait=False)
            deadline = t0 + a.timeout
            polls = 0
            ready_s = None  # when b's socket appeared: its start-up, apart from the sync
            while True:
                if ready_s is None and os.path.exists(c.node("b").sock):
                    ready_s = time.monotonic() - t0
                c.check_alive()
                if time.monotonic() > deadline:
                    raise SystemExit(f"syncr run {k}: not in sync after {a.timeout}s "
                                     f"({count_files(dst)} files on b)\n" + c.diagnostics())
                # b's file count first, then a's own view: `syncr status`
                # exits 0 once nothing is pending to b (every version
                # acknowledged). Catch-up sends in path order, so until the
                # last file is there, one stat does instead of a walk of the
                # tree (the poller must not take the CPU from the daemons it
                # measures). The table form: the JSON of 10,000 paths takes
                # half a second to print and parse; it is checked below,
                # after the clock.
                if os.path.lexists(last) and count_files(dst) >= a.files:
                    polls += 1
                    if c.cli("a", "status").returncode == 0:
                        break
                time.sleep(a.poll)
            elapsed = time.monotonic() - t0
            rc, st = c.status("a")
            listed = len(st.get("paths") or []) if isinstance(st, dict) else 0
            if rc != 0 or not st.get("in_sync") or listed < a.files:
                raise SystemExit(f"syncr run {k}: a's status --json disagrees with its exit "
                                 f"code (rc {rc}, {listed} paths)\n" + c.diagnostics())
            why = same_tree(self.src, dst)
            if why:
                raise SystemExit(f"syncr run {k}: b's tree is not a's: {why}\n" + c.diagnostics())
            self.ready_s.append(ready_s)
            log(f"syncr run {k}: {elapsed:.3f}s ({polls} status polls, b listening after "
                f"{ready_s:.3f}s)")
            ok = True
            return elapsed
        finally:
            c.kill_all()
            if ok and not a.keep:
                self.doomed.append(c.tmp)  # deleted after the last run, see cleanup()
            else:
                c.cleanup(success=False)

    # ---- one rsync run

    def rsync_run(self, k: int) -> float:
        dst = os.path.join(self.tmp, f"rsync-dst-{k}")
        os.mkdir(dst)
        os.sync()
        if self.sshd is not None:
            cmd = ["rsync", "-a", "-e", f"ssh -F {self.sshd.ssh_config}",
                   self.src + "/", f"rsync-host:{dst}/"]
        else:
            cmd = ["rsync", "-a", self.src + "/", dst + "/"]
        t0 = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL,
                           timeout=self.args.timeout)
        elapsed = time.monotonic() - t0
        if r.returncode != 0:
            raise SystemExit(f"rsync run {k} failed ({r.returncode}): {r.stderr.decode()}")
        why = same_tree(self.src, dst)
        if why:
            raise SystemExit(f"rsync run {k}: target is not the source: {why}")
        log(f"rsync run {k}: {elapsed:.3f}s")
        self.doomed.append(dst)
        return elapsed

    def run(self) -> dict:
        a = self.args
        log(f"creating {a.files} files of {a.file_bytes} bytes in {self.src}")
        make_tree(self.src, a.files, a.file_bytes, a.per_dir)
        self.start_sshd()
        syncr_s, rsync_s = [], []
        for k in range(a.runs):
            syncr_s.append(round(self.syncr_run(k), 3))
            rsync_s.append(round(self.rsync_run(k), 3))
        sm, rm = median(syncr_s), median(rsync_s)
        return {
            "files": a.files,
            "file_bytes": a.file_bytes,
            "transport": "ssh" if self.sshd is not None else "exec",
            "rsync_transport": "ssh" if self.sshd is not None else "local",
            "syncr_s": syncr_s,
            "rsync_s": rsync_s,
            "syncr_median_s": sm,
            "rsync_median_s": rm,
            "ratio_syncr_over_rsync": round(sm / rm, 3) if sm and rm else None,
            # the origin's first scan of the tree (hash, record, back up),
            # before the peer starts: not in syncr_s
            "origin_first_scan_s": [round(x, 3) for x in self.scan_s],
            "origin_first_scan_median_s": round(median(self.scan_s), 3) if self.scan_s else None,
            # part of syncr_s: from b's start until its socket exists
            "peer_listening_s": [round(x, 3) for x in self.ready_s if x is not None],
            "runs": a.runs,
            "dirs": -(-a.files // a.per_dir),
            "syncr_bin": harness.SYNCR_BIN,
            "notes": self.notes,
        }

    def cleanup(self) -> None:
        if self.sshd is not None:
            self.sshd.stop()
        for path in self.doomed:
            shutil.rmtree(path, ignore_errors=True)
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            log(f"keeping {self.tmp}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=10000, help="number of files (default 10000)")
    ap.add_argument("--file-bytes", type=int, default=4096, help="bytes per file (default 4096)")
    ap.add_argument("--per-dir", type=int, default=100, help="files per directory (default 100)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each tool (default 3)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per run before giving up")
    ap.add_argument("--poll", type=float, default=0.05, help="seconds between status polls")
    ap.add_argument("--bin", default=os.environ.get("SYNCR_BIN") or os.path.join(REPO, "build", "syncr"),
                    help="the syncr binary (default $SYNCR_BIN, else build/syncr)")
    ap.add_argument("--keep", action="store_true", help="keep the temp directories")
    ap.add_argument("--tmp", default="/tmp",
                    help="where the trees, nodes and sshd live (default /tmp); for instance a "
                         "freshly made filesystem, see bench/README.md")
    args = ap.parse_args()
    if args.files < 1 or args.runs < 1 or args.per_dir < 1:
        ap.error("--files, --runs and --per-dir must be at least 1")
    if not shutil.which("rsync"):
        ap.error("rsync is not installed")
    harness.SYNCR_BIN = os.path.abspath(args.bin)
    harness.TMP_ROOT = args.tmp
    harness.require_bin()
    bench = Bench(args)
    try:
        result = bench.run()
    finally:
        bench.cleanup()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
