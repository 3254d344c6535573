"""Integration test harness for Syncr: real daemons in a temporary directory.

Python 3.11 standard library only. Each test file imports this module and
uses ClusterTestCase (a unittest.TestCase) and Cluster.

Layout of one cluster (a short directory, unix socket paths stay < 100 chars):

    /tmp/syncr-XXXXXXXX/
        a/root/...          node a's synced tree (root + synced path)
        a/state/            node a's state_dir
        a/s.sock            node a's socket
        a/syncr.toml        node a's config
        a/daemon.log        node a's stderr/stdout (kept, printed on failure)
        a-<name>.log        per-node files written by actions (see Cluster.file)
        b/...

In the strings of sync entries (actions, exclude) and of extra TOML, the
placeholders @NODE@ (node name), @TMP@ (the cluster directory), @ROOT@ (the
node's root) are replaced per node, so one action such as
    'echo "$SYNCR_PATH" >> @TMP@/@NODE@-actions.log'
writes a separate log on every node.

Environment:
    SYNCR_BIN                 path to the syncr binary (required)
    SYNCR_TEST_TIMEOUT_SCALE  multiply every wait timeout (slow/sanitized builds)
    SYNCR_TEST_LOG_LEVEL      if set, written as [node] log_level in configs
    SYNCR_TEST_KEEP           if set, keep the temp dirs even on success
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

SYNCR_BIN = os.environ.get("SYNCR_BIN", "")
TIMEOUT_SCALE = float(os.environ.get("SYNCR_TEST_TIMEOUT_SCALE", "1") or "1")
LOG_LEVEL = os.environ.get("SYNCR_TEST_LOG_LEVEL", "")
KEEP = bool(os.environ.get("SYNCR_TEST_KEEP"))
# Where clusters put their roots, state and sockets (bench/initial_sync.py --tmp).
TMP_ROOT = "/tmp"
POLL_S = 0.01
CLI_TIMEOUT_S = 20

# Every Popen this module starts, so that atexit can kill what is left.
_STARTED: list[subprocess.Popen] = []


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def loud_skip(test: unittest.TestCase, msg: str) -> None:
    """Skip test, loudly; under CI=true a skip is a failure (nothing is
    skipped in CI without a reason someone has to read)."""
    sys.stderr.write(f"\n!!!!! {test.id()} cannot run: {msg} !!!!!\n")
    if IN_CI:
        test.fail(msg + " (CI=true: this must not be skipped)")
    test.skipTest(msg)


def require_bin() -> str:
    """The syncr binary, or a test failure (never a skip) naming the problem."""
    if not SYNCR_BIN:
        raise AssertionError("SYNCR_BIN is not set: run with SYNCR_BIN=/path/to/syncr")
    if not (os.path.isfile(SYNCR_BIN) and os.access(SYNCR_BIN, os.X_OK)):
        raise AssertionError(f"SYNCR_BIN={SYNCR_BIN!r} is not an executable file")
    return SYNCR_BIN


# ---------------------------------------------------------------- processes

def _proc_stat(pid: int):
    """(state, ppid, pgrp, session) of pid, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read().decode("ascii", "replace")
    except OSError:
        return None
    rest = s[s.rfind(")") + 2:].split()
    try:
        return rest[0], int(rest[1]), int(rest[2]), int(rest[3])
    except (IndexError, ValueError):
        return None


def pids_in_session(sid: int) -> list[int]:
    """Processes whose session id is sid (everything a process we started with
    start_new_session=True left behind, unless it called setsid itself)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _proc_stat(int(name))
        if st and st[3] == sid and st[0] != "Z":
            out.append(int(name))
    return out


def pid_alive(pid: int) -> bool:
    """True if pid exists and is not a zombie."""
    st = _proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL a process we started with start_new_session=True, its process
    group and every process left in its session. Only ids we created."""
    sid = proc.pid
    if proc.poll() is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    try:
        os.killpg(sid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in pids_in_session(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _kill_all_started() -> None:
    for p in list(_STARTED):
        kill_tree(p)


atexit.register(_kill_all_started)


def popen(args, **kw) -> subprocess.Popen:
    kw.setdefault("start_new_session", True)
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(args, **kw)
    _STARTED.append(p)
    return p


def daemon_env() -> dict:
    env = dict(os.environ)
    for k in ("NOTIFY_SOCKET", "SYNCR_CONFIG", "LISTEN_FDS", "LISTEN_PID"):
        env.pop(k, None)
    return env


# ---------------------------------------------------------------- waiting

def wait_until(predicate, timeout=10.0, what="condition", diagnostics=None):
    """Poll predicate every 10 ms until it returns a truthy value (returned).
    Exceptions inside the predicate count as "not yet" and the last one is
    reported. `what` may be a callable, evaluated only on timeout (so it can
    show the state at the end of the wait). On timeout raise AssertionError naming `what`, plus the output of
    diagnostics() (e.g. the nodes' log tails)."""
    deadline = time.monotonic() + timeout * TIMEOUT_SCALE
    last_exc = None
    while True:
        try:
            v = predicate()
            if v:
                return v
            last_exc = None
        except _Fatal:
            raise
        except Exception as e:  # noqa: BLE001 - reported below
            last_exc = e
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_S)
    if callable(what):
        try:
            what = what()
        except Exception as e:  # noqa: BLE001
            what = f"(description failed: {e})"
    msg = f"timed out after {timeout * TIMEOUT_SCALE:.1f}s waiting for: {what}"
    if last_exc is not None:
        msg += f"\n  last error in predicate: {type(last_exc).__name__}: {last_exc}"
    if diagnostics is not None:
        try:
            msg += "\n" + diagnostics()
        except Exception as e:  # noqa: BLE001
            msg += f"\n(diagnostics failed: {e})"
    raise AssertionError(msg)


class _Fatal(AssertionError):
    """Raised from inside a predicate to stop waiting at once (daemon died)."""


# ---------------------------------------------------------------- TOML

def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string for ASCII text
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML rendering for {v!r}")


# ---------------------------------------------------------------- hashes

def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def norm_hash(h) -> str:
    """A hash as lower-case hex, whether given as hex or as base64 (protobuf
    JSON prints bytes as base64)."""
    if not h:
        return ""
    h = str(h)
    if len(h) == 64:
        try:
            bytes.fromhex(h)
            return h.lower()
        except ValueError:
            pass
    try:
        return base64.b64decode(h, validate=True).hex()
    except (binascii.Error, ValueError):
        return h


# ---------------------------------------------------------------- status JSON

def as_int(v, default=0) -> int:
    """protobuf JSON prints 64-bit ints as strings and omits zeros."""
    if v is None or v == "":
        return default
    return int(v)


def find_peer(status: dict, name: str):
    for p in (status or {}).get("peers", []) or []:
        if p.get("name") == name:
            return p
    return None


def invisible_control(cp: int) -> bool:
    """C1 controls, line/paragraph separators, bidi overrides and isolates:
    escaped byte by byte although UTF-8 (escape.cc IsInvisibleControl)."""
    return (0x80 <= cp <= 0x9F or cp in (0x2028, 0x2029) or 0x202A <= cp <= 0x202E
            or 0x2066 <= cp <= 0x2069)


def escape_name(name: bytes) -> str:
    """What syncr shows for a name (src/common/escape.h EscapeName): \\\\ \\n
    \\t, \\xHH for other control characters and bytes that are not UTF-8."""
    out = []
    i = 0
    while i < len(name):
        size = 0
        for n in (4, 3, 2, 1):
            chunk = name[i:i + n]
            if len(chunk) != n:
                continue
            try:
                if len(chunk.decode("utf-8")) == 1:
                    size = n
                    break
            except UnicodeDecodeError:
                continue
        c = name[i]
        if size > 1 and not invisible_control(ord(name[i:i + size].decode("utf-8"))):
            out.append(name[i:i + size].decode("utf-8"))
        elif size > 1:
            out += [f"\\x{b:02x}" for b in name[i:i + size]]
        elif size == 0 or c < 0x20 or c == 0x7F:
            out.append({0x0A: "\\n", 0x09: "\\t"}.get(c, f"\\x{c:02x}"))
        elif c == 0x5C:
            out.append("\\\\")
        else:
            out.append(chr(c))
        i += max(size, 1)
    return "".join(out)


def unescape_name(shown: str) -> str:
    """The path a shown (escaped) path names, as a str for os functions
    (bytes that are not UTF-8 as surrogates, os.fsdecode)."""
    raw = bytearray()
    i = 0
    while i < len(shown):
        c = shown[i]
        if c != "\\":
            raw += c.encode("utf-8")
            i += 1
            continue
        e = shown[i + 1]
        if e == "x":
            raw.append(int(shown[i + 2:i + 4], 16))
            i += 4
            continue
        raw += {"n": b"\n", "t": b"\t", "\\": b"\\"}[e]
        i += 2
    return os.fsdecode(bytes(raw))


def find_path(status: dict, path: str):
    """The row of path (as on disk: status shows it escaped) in a status."""
    shown = escape_name(os.fsencode(path))
    for p in (status or {}).get("paths", []) or []:
        if p.get("path") == shown:
            return p
    return None


def vv_of(version) -> dict:
    """{node: counter} of a Version (or of a PathStatus, via its version)."""
    if version is None:
        return {}
    if "version" in version and "vv" not in version:
        version = version.get("version") or {}
    out = {}
    for e in ((version.get("vv") or {}).get("entries") or []):
        out[e.get("node", "")] = as_int(e.get("counter"))
    return out


def vv_counter(version, node: str) -> int:
    return vv_of(version).get(node, 0)


# ---------------------------------------------------------------- files

def write_in_place(path: str, data: bytes, truncate=True) -> None:
    """Write into the existing inode (open r+b, truncate, write, close);
    creates the file when it does not exist yet. With truncate=False the bytes
    are overwritten from offset 0 (same-size rewrite, never a short file)."""
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
        return
    with open(path, "r+b") as f:
        if truncate:
            f.truncate(0)
        f.seek(0)
        f.write(data)
        if not truncate:
            f.truncate(len(data))


def rename_into_place(path: str, data: bytes, mode=None, mtime_ns=None) -> None:
    """Write a temp file in the same directory, then rename it over path (what
    vim and most editors do). mode / mtime_ns are set on the temp file first,
    so one rename carries content, mode and mtime together."""
    d, base = os.path.split(path)
    tmp = os.path.join(d, f".{base}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if mode is None and os.path.exists(path):
        mode = os.stat(path).st_mode & 0o7777
    if mode is not None:
        os.chmod(tmp, mode)
    if mtime_ns is not None:
        os.utime(tmp, ns=(mtime_ns, mtime_ns))
    os.rename(tmp, path)


def sed_i(path: str, expr: str) -> None:
    subprocess.run(["sed", "-i", expr, path], check=True, timeout=CLI_TIMEOUT_S)


def read_bytes(path: str):
    """Content of path, or None if it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def stat_or_none(path: str):
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def read_text(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def tail(path: str, n=60) -> str:
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError as e:
        return f"({path}: {e})"
    return "\n".join(lines[-n:])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- cluster

class Node:
    def __init__(self, cluster: "Cluster", name: str):
        self.cluster = cluster
        self.name = name
        self.dir = os.path.join(cluster.tmp, name)
        self.root = os.path.join(self.dir, "root")
        self.state = os.path.join(self.dir, "state")
        self.sock = os.path.join(self.dir, "s.sock")
        self.config = os.path.join(self.dir, "syncr.toml")
        self.log = os.path.join(self.dir, "daemon.log")
        self.proc: subprocess.Popen | None = None
        self.expect_running = False

    def disk(self, path: str) -> str:
        """Where synced path lives on this node: root + path."""
        return self.root + path


class Cluster:
    """N nodes ("a", "b", "c", ...) in one temp dir, joined by the exec
    transport (full mesh), all with the same [[sync]] entries.

    sync: list of dicts with keys path, actions, timeout, stop_on_error,
          exclude (only the keys given are written).
    node_extra: TOML lines added to every node's [node] table (str), or a dict
          name -> str for per-node lines.
    extra_toml: TOML appended at the end of every config (str) or per node
          (dict name -> str).
    peer_transport: f(node_name, peer_name) -> dict of peer keys (e.g.
          {"ssh": "-F @TMP@/ssh/ssh_config peer-b"}; placeholders are
          replaced); default is exec through `syncr connect --socket`.
    """

    def __init__(self, names=("a", "b"), sync=None, generations=6,
                 node_extra=None, extra_toml=None, peer_transport=None,
                 backup_extra=""):
        self.bin = require_bin()
        self.tmp = tempfile.mkdtemp(prefix="syncr-", dir=TMP_ROOT)
        self.names = list(names)
        self.nodes = {n: Node(self, n) for n in self.names}
        self.sync = list(sync) if sync else [{"path": "/etc/app.conf"}]
        self.backup_generations = generations
        self.node_extra = node_extra
        self.extra_toml = extra_toml
        self.peer_transport = peer_transport
        self.backup_extra = backup_extra
        self.aux_procs: list[subprocess.Popen] = []  # e.g. sshd
        self.aux_logs: list[str] = []
        for n in self.nodes.values():
            os.makedirs(n.root)
            os.makedirs(n.state)
            for e in self.sync:
                os.makedirs(os.path.dirname(n.disk(e["path"])), exist_ok=True)
        for n in self.names:
            self.write_config(n)

    # ---- config

    def subst(self, node: str, s: str) -> str:
        return (s.replace("@NODE@", node).replace("@TMP@", self.tmp)
                .replace("@ROOT@", self.nodes[node].root))

    def _per_node(self, value, node: str) -> str:
        if not value:
            return ""
        if isinstance(value, dict):
            value = value.get(node, "")
        return self.subst(node, value)

    def exec_command(self, peer: str) -> str:
        return f"{shlex.quote(self.bin)} connect --socket {shlex.quote(self.nodes[peer].sock)}"

    def config_text(self, node: str, drop_peers=()) -> str:
        """node's config; the peers named in drop_peers are left out."""
        n = self.nodes[node]
        lines = ["[node]",
                 f"name = {toml_value(node)}",
                 f"root = {toml_value(n.root)}",
                 f"state_dir = {toml_value(n.state)}",
                 f"socket = {toml_value(n.sock)}"]
        if LOG_LEVEL:
            lines.append(f"log_level = {toml_value(LOG_LEVEL)}")
        extra = self._per_node(self.node_extra, node)
        if extra:
            lines.append(extra.rstrip("\n"))
        for p in self.names:
            if p == node or p in drop_peers:
                continue
            keys = (self.peer_transport(node, p) if self.peer_transport
                    else {"exec": self.exec_command(p)})
            lines += ["", "[[peer]]", f"name = {toml_value(p)}"]
            lines += [f"{k} = {toml_value(self.subst(node, v) if isinstance(v, str) else v)}"
                      for k, v in keys.items()]
        lines += ["", "[backup]", f"generations = {self.backup_generations}"]
        if self.backup_extra:
            lines.append(self.backup_extra.rstrip("\n"))
        for e in self.sync:
            lines += ["", "[[sync]]"]
            for k in ("path", "exclude", "actions", "timeout", "stop_on_error", "beside"):
                if k in e:
                    v = e[k]
                    if isinstance(v, str):
                        v = self.subst(node, v)
                    elif isinstance(v, (list, tuple)):
                        v = [self.subst(node, x) if isinstance(x, str) else x for x in v]
                    lines.append(f"{k} = {toml_value(v)}")
        extra = self._per_node(self.extra_toml, node)
        if extra:
            lines += ["", extra.rstrip("\n")]
        return "\n".join(lines) + "\n"

    def write_config(self, node: str, drop_peers=()) -> None:
        with open(self.nodes[node].config, "w") as f:
            f.write(self.config_text(node, drop_peers=drop_peers))

    # ---- paths and files

    def node(self, name: str) -> Node:
        return self.nodes[name]

    def disk(self, node: str, path: str) -> str:
        return self.nodes[node].disk(path)

    def file(self, node: str, name: str) -> str:
        """<tmp>/<node>-<name>: where the @TMP@/@NODE@-<name> actions write."""
        return os.path.join(self.tmp, f"{node}-{name}")

    def read_file_text(self, node: str, name: str) -> str:
        data = read_bytes(self.file(node, name))
        return "" if data is None else data.decode("utf-8", "replace")

    def lines(self, node: str, name: str) -> list[str]:
        return self.read_file_text(node, name).splitlines()

    def read(self, node: str, path: str):
        return read_bytes(self.disk(node, path))

    def stat(self, node: str, path: str):
        return stat_or_none(self.disk(node, path))

    def write(self, node: str, path: str, data: bytes, truncate=True) -> None:
        write_in_place(self.disk(node, path), data, truncate=truncate)

    def rename_write(self, node: str, path: str, data: bytes, mode=None, mtime_ns=None) -> None:
        rename_into_place(self.disk(node, path), data, mode=mode, mtime_ns=mtime_ns)

    def sed(self, node: str, path: str, expr: str) -> None:
        sed_i(self.disk(node, path), expr)

    def remove(self, node: str, path: str) -> None:
        os.unlink(self.disk(node, path))

    # ---- processes

    def start(self, node: str, wait=True, env: dict | None = None) -> subprocess.Popen:
        """Starts node's daemon; `env` adds variables to its environment."""
        n = self.nodes[node]
        assert n.proc is None or n.proc.poll() is not None, f"node {node} already running"
        logf = open(n.log, "ab")
        logf.write(f"=== harness: starting {node}: {self.bin} daemon -c {n.config}\n".encode())
        logf.flush()
        n.proc = popen([self.bin, "daemon", "-c", n.config], stdout=logf,
                       stderr=subprocess.STDOUT, env={**daemon_env(), **(env or {})},
                       cwd=self.tmp)
        logf.close()
        n.expect_running = True
        if wait:
            self.wait_until(lambda: self._answers(node), timeout=10,
                            what=f"daemon {node} to answer `status`")
        return n.proc

    def start_all(self, wait=True) -> None:
        for n in self.names:
            self.start(n, wait=False)
        if wait:
            for n in self.names:
                self.wait_until(lambda n=n: self._answers(n), timeout=10,
                                what=f"daemon {n} to answer `status`")

    def _answers(self, node: str) -> bool:
        if not os.path.exists(self.nodes[node].sock):
            return False
        rc, st = self.status(node)
        return rc in (0, 1) and isinstance(st, dict)

    def pid(self, node: str) -> int:
        return self.nodes[node].proc.pid

    def stop(self, node: str, sig=signal.SIGTERM, timeout=10) -> int:
        """Send sig to the daemon and wait for it to exit; its exit code."""
        n = self.nodes[node]
        n.expect_running = False
        if n.proc is None:
            return 0
        if n.proc.poll() is None:
            n.proc.send_signal(sig)
        try:
            rc = n.proc.wait(timeout=timeout * TIMEOUT_SCALE)
        except subprocess.TimeoutExpired:
            kill_tree(n.proc)
            raise AssertionError(f"daemon {node} did not exit within {timeout}s of signal {sig}\n"
                                 + self.diagnostics())
        kill_tree(n.proc)  # whatever it left in its session
        return rc

    def freeze(self, node: str) -> None:
        """SIGSTOP the daemon process alone (not its `syncr connect` children):
        a peer that stops answering without closing anything."""
        os.kill(self.pid(node), signal.SIGSTOP)

    def thaw(self, node: str) -> None:
        """SIGCONT the daemon; safe as a cleanup (no error if it is gone)."""
        n = self.nodes[node]
        if n.proc is not None and n.proc.poll() is None:
            try:
                os.kill(n.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def kill(self, node: str) -> None:
        n = self.nodes[node]
        n.expect_running = False
        if n.proc is not None:
            kill_tree(n.proc)

    def kill_all(self) -> None:
        for n in self.nodes.values():
            n.expect_running = False
            if n.proc is not None:
                kill_tree(n.proc)
        for p in self.aux_procs:
            kill_tree(p)

    def check_alive(self) -> None:
        for n in self.nodes.values():
            if n.expect_running and n.proc is not None and n.proc.poll() is not None:
                n.expect_running = False
                raise _Fatal(f"daemon {n.name} exited unexpectedly with code {n.proc.returncode}\n"
                             + self.diagnostics())

    def cleanup(self, success: bool) -> None:
        self.kill_all()
        if success and not KEEP:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            sys.stderr.write(f"\n[harness] keeping {self.tmp}\n")

    def diagnostics(self, n_lines=60) -> str:
        out = []
        for n in self.nodes.values():
            state = "not started"
            if n.proc is not None:
                rc = n.proc.poll()
                state = f"pid {n.proc.pid}, " + ("running" if rc is None else f"exited {rc}")
            out.append(f"----- node {n.name} ({state}) log tail: {n.log}")
            out.append(tail(n.log, n_lines))
        for path in sorted(os.listdir(self.tmp)) if os.path.isdir(self.tmp) else []:
            full = os.path.join(self.tmp, path)
            if os.path.isfile(full) and path.endswith(".log"):
                out.append(f"----- {full}")
                out.append(tail(full, 20))
        for path in self.aux_logs:
            out.append(f"----- {path}")
            out.append(tail(path, 30))
        return "\n".join(out)

    def wait_until(self, predicate, timeout=10.0, what="condition"):
        def checked():
            self.check_alive()
            return predicate()
        return wait_until(checked, timeout=timeout, what=what, diagnostics=self.diagnostics)

    # ---- CLI

    def cli(self, node: str, *args, timeout=CLI_TIMEOUT_S, check_config=True) -> subprocess.CompletedProcess:
        """Run `syncr ARGS -c <node config>`."""
        cmd = [self.bin, *args]
        if check_config:
            cmd += ["-c", self.nodes[node].config]
        return subprocess.run(cmd, capture_output=True, timeout=timeout * TIMEOUT_SCALE,
                              env=daemon_env(), stdin=subprocess.DEVNULL)

    def status(self, node: str):
        """(exit code, parsed JSON or None) of `syncr status -c CONFIG --json`."""
        r = self.cli(node, "status", "--json")
        try:
            st = json.loads(r.stdout.decode("utf-8", "replace") or "null")
        except json.JSONDecodeError:
            st = None
        return r.returncode, st

    def status_or_fail(self, node: str) -> dict:
        r = self.cli(node, "status", "--json")
        try:
            st = json.loads(r.stdout.decode("utf-8", "replace"))
        except json.JSONDecodeError as e:
            raise AssertionError(f"`syncr status --json` on {node} printed no JSON ({e}); "
                                 f"rc={r.returncode} stdout={r.stdout[:2000]!r} "
                                 f"stderr={r.stderr[:2000]!r}")
        return st

    def path_status(self, node: str, path: str):
        return find_path(self.status_or_fail(node), path)

    def version(self, node: str, path: str) -> dict:
        ps = self.path_status(node, path)
        return (ps or {}).get("version") or {}

    def counter(self, node: str, path: str, of: str) -> int:
        """vv[of] of path in node's status (0 when absent)."""
        return vv_counter(self.version(node, path), of)

    def connected(self) -> bool:
        for n in self.names:
            rc, st = self.status(n)
            if not isinstance(st, dict):
                return False
            for p in self.names:
                if p == n:
                    continue
                peer = find_peer(st, p)
                if not peer or not peer.get("connected", False):
                    return False
        return True

    def wait_connected(self, timeout=10.0) -> None:
        self.wait_until(self.connected, timeout=timeout,
                        what=f"every node of {self.names} to show every peer connected")

    def in_sync(self, node: str) -> bool:
        rc, st = self.status(node)
        return rc == 0 and isinstance(st, dict) and bool(st.get("in_sync", False))

    def wait_in_sync(self, timeout=10.0) -> None:
        for n in self.names:
            self.wait_until(lambda n=n: self.in_sync(n), timeout=timeout,
                            what=f"`syncr status` on {n} to exit 0 with in_sync true")

    def wait_content(self, node: str, path: str, data, timeout=10.0) -> None:
        """Wait until node's copy of path has exactly data (None: absent)."""
        if data is None:
            self.wait_until(lambda: not os.path.lexists(self.disk(node, path)), timeout=timeout,
                            what=f"{path} to be absent on {node}")
            return
        self.wait_until(lambda: self.read(node, path) == data, timeout=timeout,
                        what=lambda: f"{path} on {node} to be {data[:80]!r} "
                             f"(it is {(self.read(node, path) or b'<absent>')[:80]!r})")

    def history(self, node: str, path: str) -> dict:
        r = self.cli(node, "history", path, "--json")
        if r.returncode != 0:
            raise AssertionError(f"`syncr history {path} --json` on {node} exited {r.returncode}: "
                                 f"{r.stderr.decode('utf-8', 'replace')[:2000]}")
        try:
            return json.loads(r.stdout.decode("utf-8", "replace"))
        except json.JSONDecodeError as e:
            raise AssertionError(f"`syncr history --json` on {node} printed no JSON ({e}): "
                                 f"{r.stdout[:2000]!r}")

    def generations(self, node: str, path: str) -> list[dict]:
        return self.history(node, path).get("generations", []) or []

    def history_hashes(self, node: str, path: str) -> list[str]:
        """Hex hashes of the kept generations, newest first."""
        return [norm_hash(g.get("hash")) for g in self.generations(node, path)]

    def restore(self, node: str, path: str, gen: int) -> subprocess.CompletedProcess:
        return self.cli(node, "restore", path, "--generation", str(gen))

    def action_lines(self, node: str, name="actions.log") -> list[str]:
        return self.lines(node, name)


class ClusterTestCase(unittest.TestCase):
    """A TestCase whose clusters are killed after each test; their temp dirs
    are removed when the test passed, kept (and the logs printed) when not."""

    maxDiff = None

    def run(self, result=None):
        self._clusters: list[Cluster] = []
        if result is None:
            result = self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            failed = len(result.failures) + len(result.errors) > before
            for c in self._clusters:
                c.kill_all()
                if failed:
                    sys.stderr.write(f"\n===== {self.id()} failed; cluster {c.tmp}\n")
                    sys.stderr.write(c.diagnostics(n_lines=200) + "\n")
                c.cleanup(success=not failed)

    def cluster(self, **kw) -> Cluster:
        c = Cluster(**kw)
        self._clusters.append(c)
        self.addCleanup(c.kill_all)
        return c

    def started_cluster(self, dirs=(), **kw) -> Cluster:
        """A cluster with every daemon started and every peer connected;
        `dirs` (synced paths) are made on every node first."""
        c = self.cluster(**kw)
        for d in dirs:
            for n in c.names:
                os.makedirs(c.disk(n, d), exist_ok=True)
        c.start_all()
        c.wait_connected()
        return c


# ---------------------------------------------------------------- sshd

SSHD = "/usr/sbin/sshd"


def ssh_unavailable_reason():
    if os.geteuid() != 0:
        return "not running as root (sshd needs root for a forced-command login as this user)"
    for p in (SSHD, shutil.which("ssh") or "", shutil.which("ssh-keygen") or ""):
        if not p or not os.path.exists(p):
            return f"missing {p or 'ssh/ssh-keygen'}"
    return None


class SshServer:
    """A throwaway OpenSSH server on 127.0.0.1:<free port>, keys and config in
    <dir>; each client key gets a forced command in authorized_keys, and a Host
    entry in <dir>/ssh_config (used with `ssh -F <dir>/ssh_config HOST`)."""

    def __init__(self, directory: str, extra_config: str = ""):
        self.dir = directory
        self.extra_config = extra_config  # appended to sshd_config (e.g. SetEnv)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.port = free_port()
        self.user = __import__("pwd").getpwuid(os.geteuid()).pw_name
        self.host_key = os.path.join(self.dir, "host_ed25519")
        self.authorized_keys = os.path.join(self.dir, "authorized_keys")
        self.sshd_config = os.path.join(self.dir, "sshd_config")
        self.ssh_config = os.path.join(self.dir, "ssh_config")
        self.log = os.path.join(self.dir, "sshd.log")
        self.pidfile = os.path.join(self.dir, "sshd.pid")
        self.proc: subprocess.Popen | None = None
        self.hosts: list[tuple[str, str]] = []
        self._keygen(self.host_key)
        open(self.authorized_keys, "w").close()

    @staticmethod
    def _keygen(path: str) -> None:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", os.path.basename(path),
                        "-f", path], check=True, capture_output=True, timeout=30)

    def add_client(self, host_alias: str, forced_command: str) -> str:
        """A new client key whose login runs forced_command; reachable as
        `ssh -F self.ssh_config host_alias`. Returns the identity file."""
        key = os.path.join(self.dir, f"id_{host_alias}")
        self._keygen(key)
        with open(key + ".pub") as f:
            pub = f.read().strip()
        # Exactly the line docs/setup.md tells admins to use.
        opts = f'command="{forced_command}",restrict'
        with open(self.authorized_keys, "a") as f:
            f.write(f"{opts} {pub}\n")
        self.hosts.append((host_alias, key))
        self._write_ssh_config()
        return key

    def _write_ssh_config(self) -> None:
        parts = []
        for alias, key in self.hosts:
            parts.append(f"""Host {alias}
    HostName 127.0.0.1
    Port {self.port}
    User {self.user}
    IdentityFile {key}
    IdentitiesOnly yes
    IdentityAgent none
    UserKnownHostsFile /dev/null
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking no
    LogLevel ERROR
    ConnectTimeout 10
""")
        with open(self.ssh_config, "w") as f:
            f.write("\n".join(parts))

    def start(self, timeout=10.0, attempts=3) -> None:
        """Start sshd; a new free port is tried if another process took ours
        between free_port() and sshd's bind (parallel test runs)."""
        for attempt in range(attempts):
            try:
                return self._start_once(timeout)
            except AssertionError:
                if attempt == attempts - 1 or "Address already in use" not in tail(self.log):
                    raise
                self.stop()
                self.port = free_port()
                self._write_ssh_config()

    def _start_once(self, timeout) -> None:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir
        with open(self.sshd_config, "w") as f:
            f.write(f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.host_key}
AuthorizedKeysFile {self.authorized_keys}
PidFile {self.pidfile}
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers {self.user}
LogLevel VERBOSE
MaxStartups 50
{self.extra_config}
""")
        t = subprocess.run([SSHD, "-t", "-f", self.sshd_config], capture_output=True, timeout=30)
        if t.returncode != 0:
            raise AssertionError(f"sshd -t rejected {self.sshd_config}: {t.stderr.decode()}")
        logf = open(self.log, "ab")
        self.proc = popen([SSHD, "-D", "-e", "-f", self.sshd_config], stdout=logf,
                          stderr=subprocess.STDOUT)
        logf.close()

        def banner():
            if self.proc.poll() is not None:
                raise _Fatal(f"sshd exited with {self.proc.returncode}:\n{tail(self.log)}")
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(64).startswith(b"SSH-")
        wait_until(banner, timeout=timeout, what=f"sshd to accept on 127.0.0.1:{self.port}",
                   diagnostics=lambda: tail(self.log))

    def ssh(self, alias: str, *remote, timeout=30) -> subprocess.CompletedProcess:
        return subprocess.run(["ssh", "-F", self.ssh_config, "-T", "-o", "BatchMode=yes", alias,
                               *remote], capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None:
            kill_tree(self.proc)
