#!/usr/bin/env python3
"""Change-to-replica latency: write a small file on node a, time until b has its bytes.

Two nodes on this machine (harness.Cluster, exec transport; --ssh goes
through a throwaway sshd on 127.0.0.1, harness.SshServer), with one synced
file entry (/etc/app.conf) and one synced directory entry (/srv/drop). On
node a, CHANGES changes of a small file (FILE_BYTES bytes, `port=8080` ->
`port=8081` ..., same size, new bytes every time), at least INTERVAL seconds
apart, for each mode:

  in_place           open(O_WRONLY|O_TRUNC), write, close of /etc/app.conf
  rename_into_place  write a temp file in /etc, rename it over app.conf
                     (what vim and sed -i do)
  new_file_in_dir    a new file /srv/drop/new-NNN.conf (O_CREAT|O_EXCL)

Each change is timed from the return of its last call (close or rename)
until node b's copy reads back exactly the new bytes (b's file is read every
--poll seconds, 0.2 ms by default). A change whose bytes have not reached b
after --timeout seconds (5) counts as lost. The next change is written
INTERVAL after the previous write, or when the previous one has arrived or
been given up, whichever is later.

In the same run, the physical floor: CHANGES durable small-file replaces
(write temp, fsync, rename, fsync the directory) in the cluster's temp
directory; its median.

Prints one JSON object on stdout; progress goes to stderr. Not part of CTest.

    SYNCR_BIN=build/syncr python3 bench/latency.py [--changes N] [--settle-ms MS] [--ssh]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import harness  # noqa: E402
from harness import Cluster, SshServer  # noqa: E402

FILE_ENTRY = "/etc/app.conf"
DIR_ENTRY = "/srv/drop"
MODES = ("in_place", "rename_into_place", "new_file_in_dir")
FILE_BYTES = 220


def log(msg: str) -> None:
    sys.stderr.write(f"[latency] {msg}\n")
    sys.stderr.flush()


def content(mode: str, k: int) -> bytes:
    """FILE_BYTES bytes of a small config; only the port differs between
    changes (same size: ports stay 4 digits), the mode between modes."""
    head = (f"# app.conf ({mode})\n"
            f"listen=0.0.0.0\nport={8080 + k}\nworkers=4\n"
            f"log=/var/log/app.log\n").encode()
    pad = FILE_BYTES - len(head) - 1
    assert pad >= 0, "FILE_BYTES too small for the header"
    return head + b"#" * pad + b"\n"


def read_or_none(path: str):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def write_in_place(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def write_rename(path: str, data: bytes, k: int) -> None:
    d, base = os.path.split(path)
    tmp = os.path.join(d, f".{base}.tmp{os.getpid()}-{k}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def write_new(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def durable_replace(d: str, data: bytes) -> float:
    """Seconds for write temp, fsync, rename, fsync dir (the physical floor)."""
    tmp, dst = os.path.join(d, "floor.tmp"), os.path.join(d, "floor.conf")
    t0 = time.monotonic()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, dst)
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return time.monotonic() - t0


def ms(x: float) -> float:
    return round(x * 1000, 2)


def summary(lat: list[float], lost: int) -> dict:
    out = {"n": len(lat) + lost, "lost": lost, "p50_ms": None, "p90_ms": None, "max_ms": None}
    if lat:
        p90 = statistics.quantiles(lat, n=10, method="inclusive")[8] if len(lat) > 1 else lat[0]
        out.update(p50_ms=ms(statistics.median(lat)), p90_ms=ms(p90), max_ms=ms(max(lat)))
    return out


class Bench:
    def __init__(self, args):
        self.args = args
        self.c: Cluster | None = None
        self.sshd: SshServer | None = None

    def setup(self) -> None:
        a = self.args
        transport = None
        if a.ssh:

            def transport(node, peer):
                return {"ssh": f"-F @TMP@/ssh/ssh_config peer-{peer}"}

        extra = f"settle_ms = {a.settle_ms}" if a.settle_ms is not None else None
        c = self.c = Cluster(names=("a", "b"), sync=[{"path": FILE_ENTRY}, {"path": DIR_ENTRY}],
                             node_extra=extra, peer_transport=transport)
        if a.ssh:
            self.sshd = SshServer(os.path.join(c.tmp, "ssh"))
            for name in c.names:
                self.sshd.add_client(
                    f"peer-{name}",
                    f"{shlex.quote(c.bin)} connect --socket {shlex.quote(c.node(name).sock)}")
            c.aux_logs.append(self.sshd.log)
            self.sshd.start()
            c.aux_procs.append(self.sshd.proc)
        for n in c.names:
            os.makedirs(c.disk(n, DIR_ENTRY), exist_ok=True)
        first = content("initial", 0)
        with open(c.disk("a", FILE_ENTRY), "wb") as f:
            f.write(first)
        c.start_all()
        c.wait_connected(timeout=20)
        c.wait_content("b", FILE_ENTRY, first, timeout=20)
        c.wait_in_sync(timeout=20)
        time.sleep(0.5)  # let both nodes finish what follows a first sync
        log(f"cluster {c.tmp} up ({'ssh' if a.ssh else 'exec'} transport, settle_ms "
            f"{a.settle_ms if a.settle_ms is not None else 'default'})")

    def wait_arrival(self, path: str, want: bytes, t0: float):
        """Seconds from t0 until path reads want, or None after --timeout."""
        a = self.args
        deadline = t0 + a.timeout
        next_check = t0 + 0.1
        while True:
            data = read_or_none(path)
            now = time.monotonic()
            if data == want:
                return now - t0
            if now >= deadline:
                return None
            if now >= next_check:
                self.c.check_alive()
                next_check = now + 0.1
            time.sleep(a.poll)

    def run_mode(self, mode: str) -> dict:
        a, c = self.args, self.c
        lat: list[float] = []
        lost = 0
        next_write = time.monotonic()
        for k in range(1, a.changes + 1):
            data = content(mode, k)
            delay = next_write - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if mode == "in_place":
                src, dst = c.disk("a", FILE_ENTRY), c.disk("b", FILE_ENTRY)
                write_in_place(src, data)
            elif mode == "rename_into_place":
                src, dst = c.disk("a", FILE_ENTRY), c.disk("b", FILE_ENTRY)
                write_rename(src, data, k)
            else:
                name = f"new-{k:03d}.conf"
                src = os.path.join(c.disk("a", DIR_ENTRY), name)
                dst = os.path.join(c.disk("b", DIR_ENTRY), name)
                write_new(src, data)
            t0 = time.monotonic()
            next_write = t0 + a.interval
            got = self.wait_arrival(dst, data, t0)
            if got is None:
                lost += 1
                log(f"{mode} #{k}: lost (not on b after {a.timeout}s)")
            else:
                lat.append(got)
        s = summary(lat, lost)
        log(f"{mode}: p50 {s['p50_ms']} ms, p90 {s['p90_ms']} ms, max {s['max_ms']} ms, "
            f"lost {lost}/{a.changes}")
        return s

    def floor(self) -> list[float]:
        d = os.path.join(self.c.tmp, "floor")
        os.makedirs(d, exist_ok=True)
        out = []
        for k in range(1, self.args.changes + 1):
            out.append(durable_replace(d, content("floor", k)))
            time.sleep(0.02)
        return out

    def run(self) -> dict:
        a = self.args
        self.setup()
        modes = {m: self.run_mode(m) for m in MODES}
        fl = self.floor()
        log(f"floor (durable replace): p50 {ms(statistics.median(fl))} ms")
        return {
            "syncr_bin": harness.SYNCR_BIN,
            "transport": "ssh" if a.ssh else "exec",
            "changes": a.changes,
            "interval_s": a.interval,
            "timeout_s": a.timeout,
            "file_bytes": FILE_BYTES,
            "settle_ms": a.settle_ms,  # null: not written, the binary's default
            "modes": modes,
            "floor_p50_ms": ms(statistics.median(fl)),
            "floor_max_ms": ms(max(fl)),
        }

    def cleanup(self, ok: bool) -> None:
        if self.c is None:
            return
        self.c.kill_all()
        if ok and not self.args.keep:
            shutil.rmtree(self.c.tmp, ignore_errors=True)
        else:
            log(f"keeping {self.c.tmp}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.environ.get("SYNCR_BIN") or os.path.join(REPO, "build", "syncr"),
                    help="the syncr binary (default $SYNCR_BIN, else build/syncr)")
    ap.add_argument("--changes", type=int, default=30, help="changes per mode (default 30)")
    ap.add_argument("--interval", type=float, default=0.2,
                    help="seconds between two changes' writes (default 0.2)")
    ap.add_argument("--settle-ms", type=int, default=None,
                    help="write [node] settle_ms = MS into both configs (default: not written)")
    ap.add_argument("--timeout", type=float, default=5.0,
                    help="seconds after which a change not on b counts as lost (default 5)")
    ap.add_argument("--poll", type=float, default=0.0002,
                    help="seconds between two reads of b's copy (default 0.0002)")
    ap.add_argument("--ssh", action="store_true",
                    help="peers through a throwaway sshd on 127.0.0.1 (needs root and sshd)")
    ap.add_argument("--keep", action="store_true", help="keep the cluster's temp directory")
    ap.add_argument("--tmp", default="/tmp", help="where the nodes live (default /tmp)")
    args = ap.parse_args()
    if not 1 <= args.changes <= 1919:  # ports 8081..9999: the same size
        ap.error("--changes must be between 1 and 1919")
    if args.ssh:
        why = harness.ssh_unavailable_reason()
        if why:
            ap.error(f"--ssh: {why}")
    harness.SYNCR_BIN = os.path.abspath(args.bin)
    harness.TMP_ROOT = args.tmp
    harness.require_bin()
    bench = Bench(args)
    ok = False
    try:
        result = bench.run()
        ok = True
    finally:
        bench.cleanup(ok)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
