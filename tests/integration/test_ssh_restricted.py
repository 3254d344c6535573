"""The restricted key exactly as docs/setup.md gives it: the peer's key in
authorized_keys carries `command="syncr connect",restrict`, so the login can
do nothing else. Node b's own sshd (127.0.0.1, started here) sets what a
real host has: syncr on the PATH and SYNCR_CONFIG naming b's config, so the
forced command finds b's socket the way it does on a server."""

import os
import unittest

import harness
from harness import ClusterTestCase, SshServer, ssh_unavailable_reason

P = "/etc/app.conf"


class RestrictedKeyTest(ClusterTestCase):

    def setUp(self):
        why = ssh_unavailable_reason()
        if why:
            if os.environ.get("CI") == "true":
                self.fail(f"CI must run the sshd test: {why}")
            self.skipTest(f"LOUD SKIP: no sshd test here: {why}")

    def test_exact_restricted_key_line(self):
        c = self.cluster(sync=[{"path": P}])
        bindir = os.path.dirname(os.path.abspath(c.bin))
        sshd = SshServer(os.path.join(c.tmp, "sshd-b"), extra_config=(
            f"SetEnv SYNCR_CONFIG={c.node('b').config} PATH={bindir}:/usr/bin:/bin"))
        self.addCleanup(sshd.stop)
        sshd.add_client("node-b", "syncr connect")
        with open(sshd.authorized_keys) as f:
            line = f.read().strip()
        self.assertRegex(line, r'^command="syncr connect",restrict ssh-ed25519 ')
        sshd.start()
        # a reaches b through ssh; b reaches a through exec (only b's key is tested)
        c.peer_transport = lambda node, peer: (
            {"ssh": f"-F {sshd.ssh_config} node-b"} if node == "a"
            else {"exec": c.exec_command(peer)})
        for n in ("a", "b"):
            c.write_config(n)
        c.start_all()
        c.wait_connected()
        c.write("a", P, b"through the restricted key\n")
        c.wait_content("b", P, b"through the restricted key\n")
        self.assertIn("Accepted publickey", harness.read_text(sshd.log))
        # the key can run nothing else
        marker = os.path.join(c.tmp, "pwned")
        r = sshd.ssh("node-b", f"touch {marker}")
        self.assertFalse(os.path.exists(marker), "the restricted key ran another command")
        # both logins (the channel and the `touch` attempt) ran the forced command
        self.assertGreaterEqual(
            harness.read_text(sshd.log).count("forced-command (key-option) 'syncr connect'"), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
