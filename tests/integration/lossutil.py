"""Helpers for the "nothing lost" integration tests (outages, restarts,
crashes, conflicts, three nodes, failing writes, inotify overflow).

Built on harness.py (which this module never changes): everything here takes
a harness.Cluster.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
import time
import unittest

from harness import Cluster, TIMEOUT_SCALE, find_path, norm_hash, read_bytes, sha256_hex

# One action line per run: path|origin|event|sha256 of the file the action saw.
# (sha256sum of a missing file prints nothing: the field is then empty.)
ACTION = ('printf "%s|%s|%s|%s\\n" "$SYNCR_PATH" "$SYNCR_ORIGIN" "$SYNCR_EVENT" '
          '"$(sha256sum "$SYNCR_FILE" 2>/dev/null | cut -c1-64)" >> @TMP@/@NODE@-actions.log')

TEMP_GLOB = ".syncr-*.tmp"


# ---------------------------------------------------------------- environment

def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_root(test: unittest.TestCase, what: str) -> None:
    """Root is needed for `what`: fail under CI=true, else skip loudly."""
    if os.geteuid() == 0:
        return
    msg = f"{test.id()}: needs root ({what}); running as uid {os.geteuid()}"
    if in_ci():
        test.fail(msg + " and CI=true: this test must run, not be skipped")
    sys.stderr.write(f"\n!!!!! SKIPPED: {msg} !!!!!\n")
    test.skipTest(msg)


# ---------------------------------------------------------------- daemon logs

def daemon_log(c: Cluster, node: str) -> str:
    data = read_bytes(c.node(node).log)
    return "" if data is None else data.decode("utf-8", "replace")


def log_lines(c: Cluster, node: str, *needles: str) -> list[str]:
    """Lines of node's daemon log that contain every needle."""
    return [ln for ln in daemon_log(c, node).splitlines() if all(n in ln for n in needles)]


# ---------------------------------------------------------------- actions

def action_runs(c: Cluster, node: str, path: str | None = None) -> list[tuple[str, str, str, str]]:
    """(path, origin, event, hash) of every run of ACTION on node, oldest first."""
    out = []
    for ln in c.lines(node, "actions.log"):
        parts = ln.split("|")
        while len(parts) < 4:
            parts.append("")
        t = tuple(parts[:4])
        if path is None or t[0] == path:
            out.append(t)
    return out


def actions_idle(c: Cluster, node: str) -> bool:
    """No action is running on node (per its status)."""
    rc, st = c.status(node)
    if not isinstance(st, dict):
        return False
    for p in st.get("paths", []) or []:
        la = p.get("last_action") or {}
        if la.get("running"):
            return False
    return True


def settle_actions(c: Cluster, nodes, quiet_s=0.6) -> None:
    """Wait until no action runs on any of nodes and the action logs have not
    grown for quiet_s (so that a late duplicate run would have shown up)."""
    def sizes():
        return tuple(len(c.lines(n, "actions.log")) for n in nodes)
    last = sizes()
    since = time.monotonic()
    deadline = time.monotonic() + 15 * TIMEOUT_SCALE
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = sizes()
        if now != last:
            last, since = now, time.monotonic()
            continue
        if (time.monotonic() - since >= quiet_s * TIMEOUT_SCALE
                and all(actions_idle(c, n) for n in nodes)):
            return
    raise AssertionError(f"actions kept running on {nodes} for 15 s\n" + c.diagnostics())


# ---------------------------------------------------------------- status

def path_state(c: Cluster, node: str, path: str):
    """(state, pending_to, version) of path in node's status, or (None, [], {})."""
    ps = find_path(c.status_or_fail(node), path)
    if not ps:
        return None, [], {}
    return ps.get("state"), list(ps.get("pending_to") or []), ps.get("version") or {}


def status_hash(c: Cluster, node: str, path: str) -> str:
    return norm_hash(c.version(node, path).get("hash"))


def wait_status_content(c: Cluster, node: str, path: str, data: bytes, timeout=10.0) -> None:
    """Wait until node's status shows the version of path with content data."""
    want = sha256_hex(data)
    c.wait_until(lambda: status_hash(c, node, path) == want, timeout=timeout,
                 what=lambda: f"{node}'s status to show {path} with hash of {data[:60]!r} "
                              f"(status: {path_state(c, node, path)})")


def wait_pending_to(c: Cluster, node: str, path: str, peer: str, timeout=10.0) -> None:
    c.wait_until(lambda: peer in path_state(c, node, path)[1], timeout=timeout,
                 what=lambda: f"{node}'s status to show {path} pending to {peer} "
                              f"(status: {path_state(c, node, path)[:2]})")


def wait_rc_state(c: Cluster, node: str, path: str, rc_want: int, state_want: str, timeout=15.0):
    def ok():
        rc, st = c.status(node)
        ps = find_path(st, path) if isinstance(st, dict) else None
        return rc == rc_want and ps is not None and ps.get("state") == state_want
    c.wait_until(ok, timeout=timeout,
                 what=lambda: f"`syncr status` on {node} to exit {rc_want} with {path} "
                              f"\"{state_want}\" (exit {c.status(node)[0]}, "
                              f"state {path_state(c, node, path)[:2]})")


def resolve_and_wait(c: Cluster, node: str, path: str, *args: str) -> None:
    """`syncr resolve PATH [args]` on node, which must exit 0, then every
    node's status exits 0 with the path "in sync"."""
    r = c.cli(node, "resolve", path, *args)
    if r.returncode != 0:
        raise AssertionError(f"`syncr resolve {path} {' '.join(args)}` on {node}: "
                             f"rc={r.returncode} stdout={r.stdout!r} stderr={r.stderr!r}")
    for n in c.names:
        wait_rc_state(c, n, path, 0, "in sync")
    wait_all_in_sync(c)


def not_in_sync(c: Cluster, node: str) -> str:
    """What node's status shows as not in sync (for failure messages)."""
    rc, st = c.status(node)
    if not isinstance(st, dict):
        return f"{node}: no status (exit {rc})"
    bad = [f"{p.get('path')}={p.get('state')}->{p.get('pending_to') or []}"
           for p in st.get("paths", []) or [] if p.get("state") != "in sync"]
    peers = [f"{p.get('name')}:connected={p.get('connected', False)},pending={p.get('pending', 0)}"
             for p in st.get("peers", []) or []]
    return (f"{node}: exit {rc}, in_sync={st.get('in_sync', False)}, peers {peers}, "
            f"{len(bad)} paths not in sync {bad[:8]}, problems {st.get('problems') or []}")


def wait_all_in_sync(c: Cluster, nodes=None, timeout=15.0) -> None:
    """Like Cluster.wait_in_sync, but the failure says which paths are
    pending to which peer on which node."""
    for n in nodes or c.names:
        c.wait_until(lambda n=n: c.in_sync(n), timeout=timeout,
                     what=lambda n=n: "`syncr status` to exit 0 with in_sync true on every node; "
                                      + "; ".join(not_in_sync(c, m) for m in (nodes or c.names)))


# ---------------------------------------------------------------- trees

def snapshot(top: str, ignore_temps=False) -> dict:
    """{relative path: bytes | ('link', target) | 'dir'} of everything below
    top (without the daemon's .syncr-*.tmp files when ignore_temps)."""
    out = {}
    if not os.path.isdir(top):
        return out
    for dirpath, dirnames, filenames in os.walk(top):
        if ignore_temps:
            filenames = [f for f in filenames if not fnmatch.fnmatch(f, TEMP_GLOB)]
        for d in dirnames:
            full = os.path.join(dirpath, d)
            rel = os.path.relpath(full, top)
            out[rel] = ("link", os.readlink(full)) if os.path.islink(full) else "dir"
        for f in filenames:
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, top)
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full))
            else:
                try:
                    with open(full, "rb") as fh:
                        out[rel] = fh.read()
                except FileNotFoundError:
                    pass
    return out


def temp_leftovers(*tops: str) -> list[str]:
    """Every file named like the daemon's temp files (.syncr-*.tmp) below tops."""
    found = []
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(top):
            for f in filenames + dirnames:
                if fnmatch.fnmatch(f, TEMP_GLOB):
                    found.append(os.path.join(dirpath, f))
    return found


def tree_diff(a: dict, b: dict, limit=10) -> str:
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    differ = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    return (f"{len(only_a)} only on first {only_a[:limit]}, {len(only_b)} only on second "
            f"{only_b[:limit]}, {len(differ)} differ {differ[:limit]}")


def wait_trees_equal(c: Cluster, entry: str, nodes, timeout=15.0, expect: dict | None = None,
                     ignore_temps=False, note="") -> dict:
    """Wait until entry's tree is the same on every node (and equals expect
    when given); the common snapshot. With ignore_temps, leftover temp files
    do not count (the caller checks them separately, with a clearer message)."""
    first = nodes[0]
    state = {}

    def snap(n):
        return snapshot(c.disk(n, entry), ignore_temps=ignore_temps)

    def same():
        ref = snap(first) if expect is None else expect
        state["ref"] = ref
        for n in nodes:
            if snap(n) != ref:
                return False
        return True

    def what():
        ref = state.get("ref") or {}
        parts = [f"{entry} to be identical on {list(nodes)} ({len(ref)} names expected)"]
        for n in nodes:
            parts.append(f"  {n}: {tree_diff(ref, snap(n))}")
        if note:
            parts.append(note)
        return "\n".join(parts)

    c.wait_until(same, timeout=timeout, what=what)
    return state["ref"]


# ---------------------------------------------------------------- scenarios

def make_concurrent(c: Cluster, path: str, data_a: bytes, data_b: bytes,
                    a="a", b="b", write=None) -> None:
    """Both nodes edit path while apart: stop b, edit a, stop a, start b,
    edit b (b is alone), then start a. b's edit is the later one. Returns with
    both daemons running (not necessarily reconnected yet)."""
    write = write or (lambda n, d: c.rename_write(n, path, d))
    settle_actions(c, [a, b], quiet_s=0.2)  # no action is cut short by the stops
    c.stop(b)
    write(a, data_a)
    wait_status_content(c, a, path, data_a)
    settle_actions(c, [a], quiet_s=0.2)
    c.stop(a)
    c.start(b)
    time.sleep(0.02)  # b's change time is strictly later than a's
    write(b, data_b)
    wait_status_content(c, b, path, data_b)
    c.start(a)


def write_files(directory: str, names_and_data) -> None:
    os.makedirs(directory, exist_ok=True)
    for name, data in names_and_data:
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)


def sysctl_read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def sysctl_write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(str(value))


def run(cmd, check=True) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} exited {r.returncode}: {r.stderr.decode('utf-8', 'replace')}")
    return r


def is_mountpoint(path: str) -> bool:
    return subprocess.run(["mountpoint", "-q", path]).returncode == 0


def umount_all(path: str) -> None:
    """Unmount everything stacked on path (tearDown: never leave a mount)."""
    for _ in range(5):
        if not is_mountpoint(path):
            return
        r = subprocess.run(["umount", path], capture_output=True)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", path], capture_output=True)

