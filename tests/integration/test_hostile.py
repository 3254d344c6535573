"""Confinement (SPEC 9, issue "Confinement"): hostile input on the peer endpoint.

Real daemons from harness.py; the hostile side is either a raw byte stream
piped into `syncr connect --socket` or syncr_test_peer (tests/tools/
test_peer.cc), a peer that speaks the real protocol with the project's own
encoder and sends whatever path it is told to (hostile.py).

  StreamTest     garbage, an unknown message, a truncated frame, an oversized
                 length and a silent client into `syncr connect`: the daemon
                 lives, logs the problem, and a still replicates to b.
  HostilePeerTest  a peer named "a" (which b accepts) sends "..", absolute,
                 NUL, over-long, excluded and unsynced paths, a bad hash, and
                 a symlink followed by a write through it: each is refused
                 with an error Ack, nothing is written outside; an unknown
                 node and a wrong protocol are refused at the handshake.
  PlantedSymlinkTest  b has a symlink (to a directory outside its root)
                 where a has a directory: nothing is written through it.
  UnsyncedPathTest  a path a syncs and b does not is never created on b.
  RestrictedKeyTest  the authorized_keys line with command="syncr connect",
                 restrict: replication works through it, and any other remote
                 command still runs only `syncr connect`.
"""

import os
import shlex
import sys
import time
import unittest

import harness
import hostile
from harness import ClusterTestCase, SshServer

P = "/etc/app.conf"
NGINX = "/etc/nginx"

# b's limits: a small max_file_bytes so that an "oversized" frame is cheap to
# send (the bound is max_file_bytes + 1 MiB), a short handshake timeout.
# what a log line about a frame cut short by EOF may say
TRUNCATED = r"(?i)truncat|incomplete|partial|unfinished|mid-frame|in the middle of"

LIMITS = "[limits]\nmax_file_bytes = 65536\nhandshake_timeout_ms = 1000\n"


def assert_alive(tc, c, node="b"):
    c.check_alive()
    tc.assertTrue(c._answers(node), f"daemon {node} does not answer `status` any more\n"
                  + c.diagnostics())


class StreamTest(ClusterTestCase):
    """Bytes that are not the protocol, written into `syncr connect`."""

    def _replicates(self, c, round_):
        data = f"edit {round_} on a\n".encode()
        c.write("a", P, data)
        c.wait_content("b", P, data, timeout=10)

    def _feed(self, c, data: bytes, expect_in_log, what: str, round_: int):
        mark = hostile.LogMark(c.node("b").log)
        r = hostile.connect_with_input(c.bin, c.node("b").sock, data)
        # the daemon closed the channel (connect returned) and said why
        c.wait_until(lambda: any(s in mark.new() for s in expect_in_log),
                     what=lambda: f"b's log to name the problem with {what} "
                                  f"(one of {expect_in_log}); it logged since:\n{mark.new()}\n"
                                  f"connect exit {r.returncode}, stderr {r.stderr[-500:]!r}")
        assert_alive(self, c)
        self._replicates(c, round_)

    def test_garbage_truncated_oversized(self):
        c = self.started_cluster(sync=[{"path": P}], extra_toml={"b": LIMITS})
        self._replicates(c, 0)
        st = os.stat(c.node("b").sock)
        self.assertEqual(st.st_mode & 0o777, 0o600, "the peer endpoint must be mode 0600")

        # 1. text that is no frame at all: its first 4 bytes read as a huge length
        self._feed(c, b"GET / HTTP/1.1\r\nHost: b\r\n\r\n" * 10,
                   ["exceeds the limit"], "an HTTP request", 1)
        # 2. a small length whose body is no protobuf
        self._feed(c, b"\x00\x00\x00\x08" + b"\xff" * 8, ["malformed frame"], "a malformed frame", 2)
        # 3. random bytes (fixed, so a failure reproduces)
        rnd = bytes((i * 7919 + 13) % 251 for i in range(4096))
        self._feed(c, b"\x00\x00\x00\x10" + rnd, ["malformed frame", "exceeds the limit",
                                                  "unknown or empty message"],
                   "random bytes", 3)
        # 4. a frame that parses but carries no message this protocol knows
        self._feed(c, hostile.unknown_frame(), ["unknown or empty message"], "an unknown message", 4)
        # 5. a known message that a dialer must not send first
        self._feed(c, hostile.welcome_frame("a"), ["expected a handshake"],
                   "a Welcome instead of a Hello", 5)
        # 6. after a good Hello from a, a message the acceptor does not take
        self._feed(c, hostile.hello_frame("a") + hostile.welcome_frame("a"),
                   ["unexpected message"], "a Welcome after the Hello", 6)
        # 7. an oversized length (2 MiB > 64 KiB + 1 MiB) followed by 1.5 MiB:
        # refused from the header, before the body is buffered
        self._feed(c, hostile.hello_frame("a") + b"\x00\x20\x00\x00" + b"x" * (3 << 19),
                   ["exceeds the limit"], "an oversized frame", 7)

    def test_truncated_frame(self):
        c = self.started_cluster(sync=[{"path": P}], extra_toml={"b": LIMITS})
        self._replicates(c, 0)
        whole = hostile.update_frame(P, b"never complete\n")
        # after a good Hello, an Update cut short, then EOF: the daemon must not
        # apply it, must log that the peer went away mid-frame, and live on
        mark = hostile.LogMark(c.node("b").log)
        hostile.connect_with_input(c.bin, c.node("b").sock,
                                   hostile.hello_frame("a") + whole[:len(whole) // 2])
        c.wait_until(lambda: "peer a" in mark.new(),
                     what=lambda: f"b's log to name peer a after a truncated frame; "
                                  f"it logged:\n{mark.new()}")
        self.assertRegex(mark.new(), TRUNCATED,
                         "b's log names peer a but not the frame it left unfinished")
        assert_alive(self, c)
        self.assertNotEqual(c.read("b", P), b"never complete\n")
        self._replicates(c, 1)
        # the same without a handshake: a truncated frame from an anonymous
        # client is still worth a log line (SPEC 9: refused and logged)
        mark = hostile.LogMark(c.node("b").log)
        hostile.connect_with_input(c.bin, c.node("b").sock, whole[:10])
        self._replicates(c, 2)
        self.assertRegex(mark.new(), TRUNCATED,
                         "b logged nothing about a client that closed in the middle of a frame")

    def test_silent_client_and_handshake_timeout(self):
        # a client that connects and says nothing is dropped after
        # handshake_timeout_ms (1 s here), and the daemon is not blocked meanwhile
        c = self.started_cluster(sync=[{"path": P}], extra_toml={"b": LIMITS})
        import socket
        mark = hostile.LogMark(c.node("b").log)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(c.node("b").sock)
        try:
            self._replicates(c, 1)   # b serves a while the silent client waits
            s.settimeout(10 * harness.TIMEOUT_SCALE)
            t0 = time.monotonic()
            self.assertEqual(s.recv(1), b"", "the daemon closes a client that sends no Hello")
            self.assertLess(time.monotonic() - t0, 8 * harness.TIMEOUT_SCALE)
        finally:
            s.close()
        c.wait_until(lambda: "no handshake within 1000 ms" in mark.new(),
                     what=lambda: f"b to log the handshake timeout; it logged:\n{mark.new()}")
        assert_alive(self, c)


class HostilePeerTest(ClusterTestCase):
    """syncr_test_peer, claiming to be node a, sends refused paths to b."""

    def _cluster(self):
        sync = [{"path": P}, {"path": NGINX, "exclude": ["*.bak", "private", "keys/*"]}]
        c = self.cluster(sync=sync, extra_toml={"b": LIMITS})
        os.makedirs(c.disk("a", NGINX))
        os.makedirs(c.disk("b", NGINX))
        # only b runs: the test peer is the "a" that b accepts
        c.start("b")
        return c

    def _outside(self, c):
        d = os.path.join(c.tmp, "outside")
        os.makedirs(d, exist_ok=True)
        return d

    def test_refused_paths(self):
        c = self._cluster()
        outside = self._outside(c)
        before_tmp = set(os.listdir(c.tmp))
        before_root = hostile.files_below(c.node("b").root)
        long_path = NGINX + "/" + "a" * 5000
        refused = {
            "relative ../": b"../../etc/passwd",
            "relative name": b"etc/app.conf",
            "absolute .. out of an entry": f"{NGINX}/../../../../../../..{outside}/dotdot".encode(),
            "'..' below a file entry": b"/etc/app.conf/../x",
            "'.' component": f"{NGINX}/./dot.conf".encode(),
            "empty component": f"{NGINX}//double.conf".encode(),
            "trailing slash": f"{NGINX}/trailing/".encode(),
            "empty path": b"",
            "absolute outside every entry": b"/etc/passwd",
            "absolute outside the root": f"{outside}/absolute".encode(),
            "prefix sibling of a dir entry": b"/etc/nginxevil/x.conf",
            "prefix sibling of a file entry": b"/etc/app.conf.evil",
            "NUL": f"{NGINX}/nul".encode() + b"\x00/../../../../escape",
            "NUL at the end": f"{NGINX}/nul.conf".encode() + b"\x00",
            "5000-byte path": long_path.encode(),
            "excluded name": f"{NGINX}/site.conf.bak".encode(),
            "default-excluded swap file": f"{NGINX}/.site.conf.swp".encode(),
            "excluded by a glob with '/'": f"{NGINX}/keys/server.key".encode(),
        }
        actions = [hostile.file_update(p, b"pwned\n") for p in refused.values()]
        actions += [hostile.dir_update(f"{outside}/dir".encode()),
                    hostile.symlink_update(b"/etc/passwd", "/tmp"),
                    hostile.delete_update(b"/etc/../etc/hosts")]
        ok_path = f"{NGINX}/ok.conf".encode()
        actions.append(hostile.file_update(ok_path, b"a legitimate file\n"))
        run = hostile.run_peer(c.node("b").sock, "a", actions)
        self.assertEqual(run.rc, 0, str(run))
        self.assertEqual(run.welcome, "b", str(run))

        for what, path in refused.items():
            self.assertIn(path, run.acks, f"no Ack for {what} ({path[:80]!r})\n{run}")
            ok, msg = run.acks[path]
            self.assertFalse(ok, f"b accepted {what} ({path[:80]!r})")
            self.assertTrue(msg, f"the error Ack for {what} says nothing")
        for path in (f"{outside}/dir".encode(), b"/etc/passwd", b"/etc/../etc/hosts"):
            self.assertFalse(run.acks.get(path, (True, ""))[0], f"b accepted {path!r}\n{run}")
        # the peer is not vacuous: a path b syncs is written
        self.assertEqual(run.acks.get(ok_path, (False, ""))[0], True, str(run))
        self.assertEqual(c.read("b", NGINX + "/ok.conf"), b"a legitimate file\n")

        # nothing outside: not in <tmp>/outside, not in the cluster dir, and in
        # b's root nothing but the legitimate file
        self.assertEqual(os.listdir(outside), [], "b wrote outside its synced paths")
        self.assertEqual(set(os.listdir(c.tmp)) - before_tmp, set(),
                         "b created something in the test's temp dir")
        self.assertFalse(os.path.lexists(c.disk("b", "/etc/passwd")))
        self.assertFalse(os.path.lexists(c.disk("b", "/etc/app.conf.evil")))
        self.assertFalse(os.path.lexists(c.disk("b", "/etc/nginxevil")))
        after_root = hostile.files_below(c.node("b").root)
        self.assertEqual(sorted(set(after_root) - set(before_root)), ["etc/nginx/ok.conf"],
                         "b created more than the one legitimate file under its root")
        assert_alive(self, c)
        log = harness.read_text(c.node("b").log)
        self.assertIn("refused path", log, "b's log names the refused paths")
        self.assertIn("from a", log, "b's log names the peer that sent them")

    def test_excluded_directory_contents(self):
        # b excludes the directory "private" below /etc/nginx: b's watcher
        # never syncs it, so b must not accept files inside it from a peer
        # either ("excluded paths excepted")
        c = self._cluster()
        path = f"{NGINX}/private/key.pem".encode()
        run = hostile.run_peer(c.node("b").sock, "a", [hostile.file_update(path, b"secret\n")])
        self.assertEqual(run.rc, 0, str(run))
        self.assertFalse(run.acks.get(path, (True, ""))[0],
                         f"b accepted {path!r} although its config excludes 'private'\n{run}")
        self.assertFalse(os.path.lexists(c.disk("b", f"{NGINX}/private/key.pem")))

    def test_bad_hash_and_file_entry_children(self):
        c = self._cluster()
        bad = f"{NGINX}/tampered.conf".encode()
        child = b"/etc/app.conf/child"
        run = hostile.run_peer(c.node("b").sock, "a", [hostile.badhash_update(bad, b"x\n"),
                                                       hostile.file_update(child, b"x\n")])
        self.assertEqual(run.rc, 0, str(run))
        self.assertFalse(run.acks[bad][0], "content that does not match its hash was accepted")
        self.assertFalse(os.path.lexists(c.disk("b", f"{NGINX}/tampered.conf")))
        # /etc/app.conf is a file entry: nothing may appear below it
        self.assertFalse(run.acks[child][0], f"b accepted a child of the file entry {P}\n{run}")
        self.assertFalse(os.path.isdir(c.disk("b", P)), f"b turned the file entry {P} into a directory")
        assert_alive(self, c)

    def test_symlink_then_write_through_it(self):
        # symlinks replicate as links (SPEC 11), so a peer may create one that
        # points outside; a later write *through* it must not follow it
        c = self._cluster()
        outside = self._outside(c)
        link = f"{NGINX}/evil".encode()
        actions = [hostile.symlink_update(link, outside),
                   hostile.file_update(link + b"/pwned.conf", b"pwned\n"),
                   hostile.dir_update(link + b"/newdir"),
                   hostile.delete_update(link + b"/victim")]
        with open(os.path.join(outside, "victim"), "w") as f:
            f.write("must survive\n")
        run = hostile.run_peer(c.node("b").sock, "a", actions)
        self.assertEqual(run.rc, 0, str(run))
        self.assertEqual(sorted(os.listdir(outside)), ["victim"],
                         f"b wrote or deleted through a symlink into {outside}\n{run}")
        for p in (link + b"/pwned.conf", link + b"/newdir"):
            self.assertFalse(run.acks.get(p, (True, ""))[0], f"b acked {p!r} as ok\n{run}")
        assert_alive(self, c)

    def test_delete_through_planted_symlink(self):
        # b knows /etc/nginx/evil/victim (a file a sent earlier); then its
        # directory evil becomes a symlink to a directory outside b's root
        # (planted locally while b was down). A tombstone for evil/victim must
        # not unlink <tmp>/outside/victim through it.
        c = self._cluster()
        outside = self._outside(c)
        victim = f"{NGINX}/evil/victim".encode()
        run = hostile.run_peer(c.node("b").sock, "a", [hostile.file_update(victim, b"v\n")])
        self.assertEqual(run.acks.get(victim, (False, ""))[0], True, str(run))
        c.stop("b")
        evil = c.disk("b", f"{NGINX}/evil")
        os.unlink(os.path.join(evil, "victim"))
        os.rmdir(evil)
        os.symlink(outside, evil)
        with open(os.path.join(outside, "victim"), "w") as f:
            f.write("outside b's root: must survive\n")
        c.start("b")
        run = hostile.run_peer(c.node("b").sock, "a", [hostile.delete_update(victim)],
                               counter=2000000)
        self.assertEqual(run.rc, 0, str(run))
        self.assertEqual(os.listdir(outside), ["victim"],
                         f"b unlinked {outside}/victim through the symlink planted at {evil}\n{run}")
        assert_alive(self, c)

    def test_symlink_does_not_become_a_read_primitive(self):
        # a peer makes b know /etc/nginx/leak/id_rsa, deletes it and its
        # directory, then sends /etc/nginx/leak as a symlink to a directory
        # outside b's root. b must not read <outside>/id_rsa through the link
        # and offer it as a version of its own (which it would push to peers).
        c = self._cluster()
        outside = self._outside(c)
        secret = b"root-only secret\n"
        with open(os.path.join(outside, "id_rsa"), "wb") as f:
            f.write(secret)
        leak = f"{NGINX}/leak".encode()
        run = hostile.run_peer(c.node("b").sock, "a", [
            hostile.dir_update(leak), hostile.file_update(leak + b"/id_rsa", b"decoy\n")])
        self.assertEqual(run.rc, 0, str(run))
        time.sleep(0.5 * harness.TIMEOUT_SCALE)
        # (a few unrelated files first: the updates then arrive as one gathered
        # batch, and b's inotify events for the deletions come after the link)
        filler = [hostile.file_update(f"{NGINX}/filler{i}.conf", b"1\n") for i in range(30)]
        run = hostile.run_peer(c.node("b").sock, "a", filler + [
            hostile.delete_update(leak + b"/id_rsa"), hostile.delete_update(leak),
            hostile.symlink_update(leak, outside)], counter=2000000)
        self.assertEqual(run.rc, 0, str(run))
        time.sleep(1.5 * harness.TIMEOUT_SCALE)
        # and at the start-up scan
        c.stop("b")
        c.start("b")
        time.sleep(0.5 * harness.TIMEOUT_SCALE)
        secret_hash = harness.sha256_hex(secret)
        st = c.status_or_fail("b")
        leaked = [p for p in st.get("paths", []) or []
                  if harness.norm_hash((p.get("version") or {}).get("hash")) == secret_hash]
        self.assertEqual(leaked, [], f"b read {outside}/id_rsa through the symlink {leak!r} and "
                         "made it a version of its own (it would push it to its peers)")
        assert_alive(self, c)

    def test_unread_acks_are_bounded(self):
        # a peer that sends updates and never reads the Acks: what b queues
        # for it must be capped ("a cap on queued bytes"), not grow with the
        # input. ~115 MiB of refused 4000-byte paths; b may grow by < 96 MiB.
        import socket
        c = self._cluster()
        pid = c.pid("b")
        with open(f"/proc/{pid}/maps") as f:
            if "libasan" in f.read():
                self.skipTest("resident memory is no measure under AddressSanitizer (quarantine)")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(c.node("b").sock)
        s.settimeout(60 * harness.TIMEOUT_SCALE)
        rss0 = hostile.rss_kib(pid)
        batch = hostile.update_frame("/nonsynced/" + "a" * 4000, b"") * 100
        peak = rss0
        try:
            s.sendall(hostile.hello_frame("a"))
            for _ in range(300):
                s.sendall(batch)
                peak = max(peak, hostile.rss_kib(pid))
        except OSError:
            pass  # b closed the channel: a fine way to cap it
        time.sleep(2 * harness.TIMEOUT_SCALE)
        peak = max(peak, hostile.rss_kib(pid))
        s.close()
        assert_alive(self, c)
        self.assertLess(peak - rss0, 96 * 1024,
                        f"b grew from {rss0} KiB to {peak} KiB for a peer that never reads")

    def test_log_injection(self):
        # a refused path is logged; a newline in it must not forge a log line
        c = self._cluster()
        forged = "2026-01-01 00:00:00.000 info [b] applied modified /etc/shadow FORGED"
        path = f"/etc/passwd\n{forged}".encode()
        run = hostile.run_peer(c.node("b").sock, "a", [hostile.file_update(path, b"x")])
        self.assertEqual(run.rc, 0, str(run))
        self.assertFalse(run.acks.get(path, (True, ""))[0], str(run))
        lines = harness.read_text(c.node("b").log).splitlines()
        self.assertFalse([l for l in lines if l.startswith(forged)],
                         "a peer forged a line in b's log with a newline in a path")

    def test_handshake_refusals(self):
        c = self._cluster()
        run = hostile.run_peer(c.node("b").sock, "mallory", [hostile.file_update(P, b"x\n")])
        self.assertEqual(run.rc, 3, f"an unknown node must be refused at the handshake\n{run}")
        self.assertTrue(any("mallory" in e for e in run.errors), str(run))
        run = hostile.run_peer(c.node("b").sock, "b", [hostile.file_update(P, b"x\n")])
        self.assertEqual(run.rc, 3, f"a peer claiming b's own name must be refused\n{run}")
        run = hostile.run_peer(c.node("b").sock, "a", [hostile.file_update(P, b"x\n")], protocol=999)
        self.assertEqual(run.rc, 3, f"an unknown protocol version must be refused\n{run}")
        self.assertFalse(os.path.lexists(c.disk("b", P)))
        log = harness.read_text(c.node("b").log)
        self.assertIn("mallory", log, "b's log names the refused node")
        assert_alive(self, c)


class PlantedSymlinkTest(ClusterTestCase):
    """b has a symlink to a directory outside its root where a has a directory."""

    def test_planted_symlink_on_receiver(self):
        c = self.cluster(sync=[{"path": NGINX}])
        outside = os.path.join(c.tmp, "outside")
        os.makedirs(outside)
        for n in c.names:
            os.makedirs(c.disk(n, NGINX + "/conf.d"))
        with open(c.disk("a", NGINX + "/conf.d/old.conf"), "w") as f:
            f.write("old\n")
        c.start_all()
        c.wait_connected()
        c.wait_content("b", NGINX + "/conf.d/old.conf", b"old\n")

        # b is down while its admin (or an attacker with local access) plants
        # the link; a, meanwhile, adds a file to its directory conf.d
        c.stop("b")
        conf_b = c.disk("b", NGINX + "/conf.d")
        os.unlink(os.path.join(conf_b, "old.conf"))
        os.rmdir(conf_b)
        os.symlink(outside, conf_b)
        with open(c.disk("a", NGINX + "/conf.d/x.conf"), "w") as f:
            f.write("new on a\n")
        c.start("b")
        c.wait_connected(timeout=20)
        # give both directions time to exchange what they have
        time.sleep(2 * harness.TIMEOUT_SCALE)
        self.assertEqual(os.listdir(outside), [],
                         "a daemon wrote through the symlink planted on b into a directory "
                         "outside its root")
        # and a live change after the reconnect does not go through it either
        if os.path.isdir(c.disk("a", NGINX + "/conf.d")) and \
                not os.path.islink(c.disk("a", NGINX + "/conf.d")):
            with open(c.disk("a", NGINX + "/conf.d/y.conf"), "w") as f:
                f.write("live on a\n")
            time.sleep(1.5 * harness.TIMEOUT_SCALE)
            self.assertEqual(os.listdir(outside), [],
                             "a live change was written through the symlink planted on b")
        assert_alive(self, c, "a")
        assert_alive(self, c, "b")


    def test_planted_symlink_and_deletion(self):
        # a deletes a file in conf.d while b has conf.d as a symlink to a
        # directory outside its root, with a file of the same name there
        c = self.cluster(sync=[{"path": NGINX}])
        outside = os.path.join(c.tmp, "outside")
        os.makedirs(outside)
        for n in c.names:
            os.makedirs(c.disk(n, NGINX + "/conf.d"))
        with open(c.disk("a", NGINX + "/conf.d/old.conf"), "w") as f:
            f.write("old\n")
        c.start_all()
        c.wait_connected()
        c.wait_content("b", NGINX + "/conf.d/old.conf", b"old\n")
        c.stop("b")
        conf_b = c.disk("b", NGINX + "/conf.d")
        os.unlink(os.path.join(conf_b, "old.conf"))
        os.rmdir(conf_b)
        os.symlink(outside, conf_b)
        with open(os.path.join(outside, "old.conf"), "w") as f:
            f.write("not b's to delete\n")
        os.unlink(c.disk("a", NGINX + "/conf.d/old.conf"))
        time.sleep(0.5 * harness.TIMEOUT_SCALE)   # a records the deletion
        c.start("b")
        c.wait_connected(timeout=20)
        time.sleep(2 * harness.TIMEOUT_SCALE)
        self.assertEqual(os.listdir(outside), ["old.conf"],
                         "b deleted a file outside its root through the symlink planted at "
                         f"{conf_b}")
        assert_alive(self, c, "a")
        assert_alive(self, c, "b")


class UnsyncedPathTest(ClusterTestCase):
    """a syncs /etc/a.conf and /etc/b.conf, b syncs only /etc/a.conf."""

    def test_path_one_node_does_not_sync(self):
        c = self.started_cluster(sync=[{"path": "/etc/a.conf"}],
                                 extra_toml={"a": '[[sync]]\npath = "/etc/b.conf"\n'})
        mark = hostile.LogMark(c.node("b").log)
        c.write("a", "/etc/b.conf", b"only a syncs this\n")
        c.write("a", "/etc/a.conf", b"both sync this\n")
        c.wait_content("b", "/etc/a.conf", b"both sync this\n")
        c.write("a", "/etc/b.conf", b"only a syncs this, edited\n")
        c.write("a", "/etc/a.conf", b"both sync this, edited\n")
        c.wait_content("b", "/etc/a.conf", b"both sync this, edited\n")
        time.sleep(1 * harness.TIMEOUT_SCALE)
        self.assertFalse(os.path.lexists(c.disk("b", "/etc/b.conf")),
                         "b created a path its config does not sync")
        log = mark.new()
        self.assertIn("/etc/b.conf", log, "b's log names the refused path")
        # refused once per version, not in a loop
        self.assertLessEqual(log.count("/etc/b.conf"), 10,
                             f"b logged /etc/b.conf {log.count('/etc/b.conf')} times in ~1 s")
        # a restart of a (catch-up) does not smuggle it in either
        c.stop("a")
        c.start("a")
        c.wait_connected(timeout=20)
        c.write("a", "/etc/a.conf", b"after restart\n")
        c.wait_content("b", "/etc/a.conf", b"after restart\n")
        self.assertFalse(os.path.lexists(c.disk("b", "/etc/b.conf")))
        assert_alive(self, c)


REASON = harness.ssh_unavailable_reason()


class RestrictedKeyTest(ClusterTestCase):
    """docs/security.md: the authorized_keys line for a peer's key."""

    def setUp(self):
        if REASON:
            msg = f"RestrictedKeyTest cannot run: {REASON}"
            sys.stderr.write(f"\n!!!!! {msg} !!!!!\n")
            if harness.IN_CI:
                self.fail(msg + " (CI=true: this must not be skipped)")
            self.skipTest(msg)

    def test_restricted_key(self):
        def transport(node, peer):
            return {"ssh": f"-F @TMP@/ssh/ssh_config peer-{peer}"}

        c = self.cluster(sync=[{"path": P}], peer_transport=transport)
        sshd = SshServer(os.path.join(c.tmp, "ssh"))
        for name in c.names:
            # command="<abs syncr> connect --socket <sock>",restrict <key>
            sshd.add_client(f"peer-{name}",
                            f"{shlex.quote(os.path.abspath(c.bin))} connect --socket "
                            f"{shlex.quote(c.node(name).sock)}")
        line = [l for l in harness.read_text(sshd.authorized_keys).splitlines() if "peer-b" in l
                or c.node("b").sock in l][0]
        self.assertRegex(line, r'^command="[^"]+ connect --socket [^"]+",restrict ssh-ed25519 ')
        c.aux_logs.append(sshd.log)
        sshd.start()
        c.aux_procs.append(sshd.proc)
        c.start_all()
        c.wait_connected(timeout=20)
        c.write("a", P, b"through the restricted key\n")
        c.wait_content("b", P, b"through the restricted key\n")

        # any other command still runs only `syncr connect`
        victim = os.path.join(c.tmp, "pwned")
        for remote in (["touch", victim], [f"touch {victim}; id"], ["sh", "-c", f"touch {victim}"]):
            r = sshd.ssh("peer-b", *remote)
            self.assertFalse(os.path.exists(victim),
                             f"`ssh peer-b {remote}` ran a command other than syncr connect")
            self.assertNotIn(b"uid=", r.stdout)
        # no forwarding with this key (restrict): a stdio forward (-W) to sshd's
        # own port is refused by the server
        import subprocess
        r = subprocess.run(["ssh", "-F", sshd.ssh_config, "-o", "BatchMode=yes",
                            "-W", f"127.0.0.1:{sshd.port}", "peer-b"],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertNotIn(b"SSH-2.0", r.stdout, "forwarding must be refused (restrict)")
        self.assertNotEqual(r.returncode, 0, "forwarding must be refused (restrict): "
                            + r.stderr.decode("utf-8", "replace"))
        # the daemon is still fine and still replicates
        c.write("a", P, b"after the probes\n")
        c.wait_content("b", P, b"after the probes\n")
        assert_alive(self, c)


if __name__ == "__main__":
    unittest.main(verbosity=2)
