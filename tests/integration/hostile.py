"""Helpers for the hostile-peer tests (tests/integration/test_hostile.py).

Python 3.11 standard library only; the cluster, waits and sshd come from
harness.py, which this module does not change.

- TestPeer runs syncr_test_peer (tests/tools/test_peer.cc), a peer that
  speaks the real protocol with the project's own encoder: it sends Hello,
  reads Welcome and the Summary, sends the Updates it is told to and prints
  every Ack. It is found next to SYNCR_BIN (same build directory) or at
  $SYNCR_TEST_PEER.
- A tiny protobuf encoder (field numbers from src/net/proto/syncr.proto)
  builds the raw byte streams that are piped into `syncr connect`:
  garbage, truncated and oversized frames.
- Small helpers: the files below a directory, a daemon's resident memory,
  the lines a daemon logged since a mark.
"""

from __future__ import annotations

import os
import struct
import subprocess

import harness

# ---------------------------------------------------------------- test peer


def test_peer_bin() -> str:
    """The syncr_test_peer binary, or a test failure naming where it was sought."""
    env = os.environ.get("SYNCR_TEST_PEER", "")
    candidates = [env] if env else []
    bin_ = harness.require_bin()
    candidates.append(os.path.join(os.path.dirname(os.path.abspath(bin_)), "syncr_test_peer"))
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise AssertionError(
        "syncr_test_peer not found (looked at " + ", ".join(repr(c) for c in candidates) +
        "); build the target syncr_test_peer (CMakeLists.txt, block '# ---- fuzzing') or set "
        "SYNCR_TEST_PEER")


def hx(value) -> str:
    if isinstance(value, str):
        value = value.encode()
    return value.hex()


def file_update(path, content=b"") -> str:
    return f"file:{hx(path)}:{hx(content)}"


def badhash_update(path, content=b"") -> str:
    return f"badhash:{hx(path)}:{hx(content)}"


def dir_update(path) -> str:
    return f"dir:{hx(path)}"


def symlink_update(path, target) -> str:
    return f"symlink:{hx(path)}:{hx(target)}"


def delete_update(path) -> str:
    return f"delete:{hx(path)}"


def raw_bytes(data: bytes) -> str:
    return f"raw:{data.hex()}"


class PeerRun:
    """What one syncr_test_peer run printed."""

    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc = proc.returncode
        self.stdout = proc.stdout.decode("utf-8", "replace")
        self.stderr = proc.stderr.decode("utf-8", "replace")
        self.lines = self.stdout.splitlines()
        self.acks: dict[bytes, tuple[bool, str]] = {}
        self.errors: list[str] = []
        self.welcome = None
        for line in self.lines:
            if line.startswith("ACK "):
                parts = line.split(" ", 3)
                path = bytes.fromhex(parts[1])
                ok = parts[2] == "ok"
                self.acks[path] = (ok, parts[3] if len(parts) > 3 else "")
            elif line.startswith("ERROR "):
                self.errors.append(line[len("ERROR "):])
            elif line.startswith("WELCOME "):
                self.welcome = line[len("WELCOME "):]

    def __str__(self):
        return f"syncr_test_peer exit {self.rc}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def run_peer(sock: str, node: str, actions=(), protocol=None, timeout_s=20.0,
             counter=None) -> PeerRun:
    """Runs syncr_test_peer; counter: the vv counter base of its updates
    (default 1000000; a later run that must supersede an earlier one passes
    a larger one)."""
    cmd = [test_peer_bin(), sock, node, "--timeout-ms", str(int(timeout_s * 1000 * harness.TIMEOUT_SCALE))]
    if protocol is not None:
        cmd += ["--protocol", str(protocol)]
    if counter is not None:
        cmd += ["--counter", str(counter)]
    cmd += list(actions)
    proc = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL,
                          timeout=(timeout_s + 10) * harness.TIMEOUT_SCALE)
    return PeerRun(proc)


# ---------------------------------------------------------------- protobuf

def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_field(num: int, value) -> bytes:
    """One protobuf field: ints and bools as varints, str/bytes as length-delimited."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(num << 3 | 2) + varint(len(value)) + value


def framed(payload: bytes) -> bytes:
    """4-byte big-endian length, then the serialized Frame."""
    return struct.pack(">I", len(payload)) + payload


# The wire protocol's version (kProtocolVersion in src/net/frame.h).
PROTOCOL = 4


def hello_frame(node: str, protocol=PROTOCOL) -> bytes:
    return framed(pb_field(1, pb_field(1, protocol) + pb_field(2, node)))


def welcome_frame(node: str) -> bytes:
    """A Welcome: a message the acceptor never expects from a dialer."""
    return framed(pb_field(2, pb_field(1, PROTOCOL) + pb_field(2, node)))


def unknown_frame() -> bytes:
    """A Frame whose only field (number 99) is no message this protocol has."""
    return framed(pb_field(99, b"from a newer or hostile peer"))


def update_frame(path: str, content: bytes, node="a", counter=1_000_000) -> bytes:
    import hashlib
    vv = pb_field(1, pb_field(1, node) + pb_field(2, counter))
    meta = pb_field(1, 0o644) + pb_field(7, len(content))
    version = (pb_field(1, path) + pb_field(2, 1) + pb_field(3, vv) +
               pb_field(4, hashlib.sha256(content).digest()) + pb_field(5, meta) +
               pb_field(6, node) + pb_field(7, 1))
    return framed(pb_field(4, pb_field(1, version) + pb_field(2, content)))


# ---------------------------------------------------------------- observing

def files_below(directory: str) -> list[str]:
    """Every entry (file, dir, link) below directory, relative, sorted."""
    out = []
    for base, dirs, files in os.walk(directory, followlinks=False):
        for name in dirs + files:
            out.append(os.path.relpath(os.path.join(base, name), directory))
    return sorted(out)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class LogMark:
    """Remembers the size of a daemon's log; new() is what it logged since."""

    def __init__(self, path: str):
        self.path = path
        self.offset = os.path.getsize(path) if os.path.exists(path) else 0

    def new(self) -> str:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            return f.read().decode("utf-8", "replace")


def connect_with_input(bin_: str, sock: str, data: bytes, timeout_s=20.0) -> subprocess.CompletedProcess:
    """`syncr connect --socket SOCK` with data on stdin, its output captured."""
    return subprocess.run([bin_, "connect", "--socket", sock], input=data, capture_output=True,
                          timeout=timeout_s * harness.TIMEOUT_SCALE, env=harness.daemon_env())
