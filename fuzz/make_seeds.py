#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/frame_decoder_fuzz.cc (fuzz/corpus/
frame_decoder_fuzz/) with a tiny protobuf encoder (field numbers from
src/net/proto/syncr.proto). Seed layout: byte 0 = chunk size (0: all at once),
byte 1 = bound selector (0: 1 MiB, 1: 4 KiB, 2: 16 bytes), then the stream.
Run from the repository root: python3 fuzz/make_seeds.py"""
import hashlib
import os
import struct
import sys


# The one tiny protobuf encoder, shared with the hostile-peer tests.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from hostile import pb_field as field  # noqa: E402


def frame(num, body):
    payload = field(num, body)
    return struct.pack(">I", len(payload)) + payload


def vv(*pairs):
    return b"".join(field(1, field(1, n) + field(2, c)) for n, c in pairs)


def version(path, kind=1, content=b"", target=""):
    h = hashlib.sha256(content if kind == 1 else target.encode()).digest()
    meta = field(1, 0o644) + field(6, 1_700_000_000_000_000_000) + field(7, len(content))
    v = field(1, path) + field(2, kind) + field(3, vv(("a", 3), ("b", 1))) + field(5, meta)
    v += field(6, "a") + field(7, 1_700_000_000_000_000_000)
    if kind in (1, 3):
        v += field(4, h)
    if target:
        v += field(8, target)
    return v


hello = frame(1, field(1, 1) + field(2, "a"))
welcome = frame(2, field(1, 1) + field(2, "b"))
summary = frame(3, field(1, version("/etc/hosts")) + field(2, True))
update = frame(4, field(1, version("/etc/hosts", 1, b"127.0.0.1 localhost\n")) +
               field(2, b"127.0.0.1 localhost\n"))
update_dir = frame(4, field(1, version("/etc/nginx/conf.d", 2)))
update_link = frame(4, field(1, version("/etc/nginx/sites/x", 3, target="../conf.d/x.conf")))
update_del = frame(4, field(1, version("/etc/nginx/old.conf", 4)))
update_evil = frame(4, field(1, version("/etc/nginx/../../etc/passwd", 1, b"x")) + field(2, b"x"))
ack = frame(5, field(1, "/etc/hosts") + field(2, vv(("a", 3))) + field(3, True))
error = frame(6, field(1, "node 'x' is not a peer"))
control = frame(7, field(1, b""))

seeds = {
    "handshake": b"\x00\x00" + hello + welcome + summary,
    "updates": b"\x00\x00" + hello + update + update_dir + update_link + update_del + ack,
    "updates_chunked": b"\x07\x00" + hello + update + update_evil,
    "evil_path": b"\x00\x00" + update_evil,
    "control": b"\x01\x00" + control,
    "error": b"\x00\x01" + error,
    "oversized": b"\x00\x00" + b"\xff\xff\xff\xff" + b"garbage",
    "over_small_bound": b"\x03\x02" + update,
    "truncated": b"\x00\x00" + update[:-5],
    "empty_frame": b"\x00\x00" + b"\x00\x00\x00\x00",
    "unknown_field": b"\x00\x00" + struct.pack(">I", 3) + field(15, 1) + b"",
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "frame_decoder_fuzz")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {out}")
