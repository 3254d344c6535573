"""The ssh transport through a real OpenSSH server on 127.0.0.1.

The test starts its own sshd (throwaway host key, authorized_keys, config and
pid file in the cluster's temp dir) on a free port. Each direction has its own
client key whose authorized_keys line forces
`<SYNCR_BIN> connect --socket <that node's socket>`. Each node's peer is
configured with the ssh transport as
    ssh = "-F <tmp>/ssh/ssh_config peer-b"
so the daemon runs `ssh -T -o BatchMode=yes -F <tmp>/ssh/ssh_config peer-b
syncr connect`, the options before the host coming from the `ssh` value
(docs/config.md: the value is split on whitespace, words before the last are
ssh options, the last is the destination).

Needs root and /usr/sbin/sshd; without them the test fails when CI=true and is
skipped (loudly) otherwise.
"""

import os
import shlex
import subprocess
import sys
import unittest

import harness
from harness import ClusterTestCase, SshServer

P = "/etc/app.conf"
REASON = harness.ssh_unavailable_reason()


class SshTest(ClusterTestCase):

    def setUp(self):
        if REASON:
            msg = f"test_ssh cannot run: {REASON}"
            sys.stderr.write(f"\n!!!!! {msg} !!!!!\n")
            if harness.IN_CI:
                self.fail(msg + " (CI=true: this must not be skipped)")
            self.skipTest(msg)

    def _cluster_with_sshd(self):
        def transport(node, peer):
            # docs/config.md: words before the last are ssh options, the last
            # is the destination
            return {"ssh": f"-F @TMP@/ssh/ssh_config peer-{peer}"}

        c = self.cluster(sync=[{"path": P, "actions": [
            'echo "$SYNCR_ORIGIN $SYNCR_EVENT" >> @TMP@/@NODE@-actions.log']}],
            peer_transport=transport)
        sshd = SshServer(os.path.join(c.tmp, "ssh"))
        for name in c.names:
            sshd.add_client(f"peer-{name}",
                            f"{shlex.quote(c.bin)} connect --socket {shlex.quote(c.node(name).sock)}")
        sshd.add_client("probe", "echo ssh-probe-ok")
        self.assertEqual(sshd.ssh_config, os.path.join(c.tmp, "ssh", "ssh_config"))
        c.aux_logs.append(sshd.log)
        sshd.start()
        c.aux_procs.append(sshd.proc)
        return c, sshd

    def test_sshd_harness(self):
        # the harness's sshd works on its own (independent of the daemon)
        c, sshd = self._cluster_with_sshd()
        r = sshd.ssh("probe", "ignored remote command")
        self.assertEqual(r.returncode, 0, f"ssh probe failed: {r.stderr.decode()}\n{harness.tail(sshd.log)}")
        self.assertEqual(r.stdout.decode().strip(), "ssh-probe-ok")
        for n in c.names:
            self.assertIn(f'ssh = "-F {sshd.ssh_config} peer-', harness.read_text(c.node(n).config))
            self.assertNotIn("exec =", harness.read_text(c.node(n).config))
        # and ssh options before the destination work as the daemon passes them
        r = subprocess.run(["ssh", "-T", "-o", "BatchMode=yes", "-F", sshd.ssh_config, "probe",
                            "syncr", "connect"], capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(r.stdout.decode().strip(), "ssh-probe-ok", r.stderr.decode())

    def test_replicate_over_ssh(self):
        c, sshd = self._cluster_with_sshd()
        c.start_all()
        c.wait_connected(timeout=20)
        # both channels really went through sshd, one key per direction
        for name in c.names:
            fp = self._fingerprint(os.path.join(sshd.dir, f"id_peer-{name}.pub"))
            c.wait_until(lambda fp=fp: fp in harness.read_text(sshd.log),
                         what=lambda: f"sshd to log a login with the key for peer-{name} ({fp})")
        st = c.status_or_fail("a")
        peer = harness.find_peer(st, "b")
        if peer.get("transport"):
            self.assertIn("ssh", peer["transport"], f"status transport of b on a: {peer}")

        c.write("a", P, b"over ssh from a\n")
        c.wait_content("b", P, b"over ssh from a\n")
        c.write("b", P, b"over ssh from b\n")
        c.wait_content("a", P, b"over ssh from b\n")
        c.rename_write("a", P, b"saved on a\n", mode=0o640, mtime_ns=1_700_000_000_000_000_001)
        c.wait_content("b", P, b"saved on a\n")
        c.wait_until(lambda: c.stat("b", P).st_mtime_ns == 1_700_000_000_000_000_001,
                     what="mtime over ssh")
        for n in c.names:
            c.wait_until(lambda n=n: c.lines(n, "actions.log") ==
                         ["a created", "b modified", "a modified"],
                         what=lambda: f"actions on {n}: {c.lines(n, 'actions.log')}")
        c.wait_in_sync()

    def test_reconnect_after_peer_restart(self):
        # the ssh channel is redialled when the peer daemon comes back
        c, sshd = self._cluster_with_sshd()
        c.start_all()
        c.wait_connected(timeout=20)
        c.write("a", P, b"one\n")
        c.wait_content("b", P, b"one\n")
        c.stop("b")
        c.start("b")
        c.wait_connected(timeout=40)
        c.write("a", P, b"two\n")
        c.wait_content("b", P, b"two\n")

    @staticmethod
    def _fingerprint(pub):
        r = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", pub], capture_output=True,
                           timeout=10, check=True)
        return r.stdout.decode().split()[1]  # "SHA256:..."


if __name__ == "__main__":
    unittest.main(verbosity=2)
