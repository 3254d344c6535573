"""Helpers for directory-entry tests and the initial-sync benchmark: snapshots
of a tree on disk, waiting for a tree to match, status lookups by path, ACL
and xattr readers. Python 3.11 standard library only; builds on harness.py
(which it does not change)."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess

from harness import CLI_TIMEOUT_S, as_int


# ---------------------------------------------------------------- snapshots

def describe(full: str, with_mtime: bool = False):
    """What one path is on disk, as a comparable tuple, or None when absent:
    ("dir", mode) / ("file", sha256, mode) / ("link", target) / ("other", type);
    with_mtime, a file's tuple ends with its mtime_ns."""
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(full))
    if stat.S_ISDIR(st.st_mode):
        return ("dir", st.st_mode & 0o7777)
    if stat.S_ISREG(st.st_mode):
        with open(full, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        mtime = (st.st_mtime_ns,) if with_mtime else ()
        return ("file", digest, st.st_mode & 0o7777) + mtime
    return ("other", stat.S_IFMT(st.st_mode))


def snapshot(top: str, with_mode=True) -> dict:
    """{relative path: describe()} of everything below top (top itself is not
    listed; symlinks are not followed). {} when top does not exist."""
    out = {}
    if not os.path.isdir(top):
        return out
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            d = describe(full)
            if d is None:
                continue
            if not with_mode and d[0] in ("dir", "file"):
                d = d[:-1]
            out[os.path.relpath(full, top)] = d
    return out


def diff_snapshots(want: dict, got: dict, limit=20) -> str:
    """A short human-readable difference of two snapshots."""
    lines = []
    for k in sorted(set(want) | set(got)):
        if want.get(k) != got.get(k):
            lines.append(f"  {k}: want {want.get(k)!r}, got {got.get(k)!r}")
    more = len(lines) - limit
    lines = lines[:limit]
    if more > 0:
        lines.append(f"  ... and {more} more")
    return "\n".join(lines) or "  (no difference)"


def wait_tree_equal(c, src: str, dst: str, path: str, timeout=10.0, with_mode=True) -> dict:
    """Wait until node dst's tree under synced `path` equals node src's."""
    top_src, top_dst = c.disk(src, path), c.disk(dst, path)
    state = {}

    def same():
        state["want"] = snapshot(top_src, with_mode)
        state["got"] = snapshot(top_dst, with_mode)
        return state["want"] == state["got"]

    c.wait_until(same, timeout=timeout,
                 what=lambda: f"tree {path} on {dst} to equal {src}'s:\n"
                      + diff_snapshots(state.get("want", {}), state.get("got", {})))
    return state["want"]


def count_files(top: str) -> int:
    n = 0
    for _dirpath, _dirnames, filenames in os.walk(top):
        n += len(filenames)
    return n


def write_file(path: str, data: bytes, mode=None) -> None:
    """Create parent directories, then write path (a new inode)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)


# ---------------------------------------------------------------- status

def status_paths(c, node: str) -> dict:
    """{synced path: PathStatus} from `syncr status --json` on node."""
    st = c.status_or_fail(node)
    return {p.get("path"): p for p in (st.get("paths") or [])}


def kind_of(path_status) -> str:
    if not path_status:
        return ""
    return ((path_status.get("version") or {}).get("kind")) or ""


def status_summary(c, node: str, under: str) -> str:
    """path -> kind/state lines of node's status below `under` (diagnostics)."""
    try:
        paths = status_paths(c, node)
    except AssertionError as e:
        return str(e)
    return "\n".join(f"  {p}: {kind_of(s)} {s.get('state', '')}"
                     for p, s in sorted(paths.items()) if p.startswith(under)) or "  (none)"


def generation_sizes(c, node: str, path: str) -> list[int]:
    return [as_int(g.get("size")) for g in c.generations(node, path)]


# ---------------------------------------------------------------- acl/xattr

def user_xattrs(path: str) -> dict:
    """{name: value} of the user.* extended attributes of path (no follow)."""
    out = {}
    for name in os.listxattr(path, follow_symlinks=False):
        if name.startswith("user."):
            out[name] = os.getxattr(path, name, follow_symlinks=False)
    return out


def xattrs_supported(directory: str) -> str | None:
    """None when user xattrs can be set in directory, else the reason."""
    probe = os.path.join(directory, ".xattr-probe")
    try:
        with open(probe, "wb"):
            pass
        os.setxattr(probe, "user.probe", b"1")
        return None
    except OSError as e:
        return f"user xattrs not supported in {directory}: {e}"
    finally:
        try:
            os.unlink(probe)
        except OSError:
            pass


def acl_tools_missing() -> str | None:
    for tool in ("setfacl", "getfacl"):
        if not shutil.which(tool):
            return f"{tool} is not installed (Debian package 'acl')"
    return None


def setfacl(*args: str) -> None:
    r = subprocess.run(["setfacl", *args], capture_output=True, timeout=CLI_TIMEOUT_S)
    if r.returncode != 0:
        raise AssertionError(f"setfacl {' '.join(args)} failed: {r.stderr.decode()}")


def getfacl(path: str) -> str:
    """The ACL of path in getfacl's text form, without the header (numeric ids)."""
    r = subprocess.run(["getfacl", "--omit-header", "--numeric", "--absolute-names", path],
                       capture_output=True, timeout=CLI_TIMEOUT_S)
    if r.returncode != 0:
        raise AssertionError(f"getfacl {path} failed: {r.stderr.decode()}")
    return r.stdout.decode()
