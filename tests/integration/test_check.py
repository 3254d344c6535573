"""`syncr check`: exit 0 and a summary for a good config; exit 2 and
"FILE:LINE: problem" for a bad one (SPEC "Config" and "Exit codes")."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import harness

GOOD = """\
[node]
name = "check-node-1"
root = "{root}"
state_dir = "{tmp}/state"
socket = "{tmp}/s.sock"

[[peer]]
name = "peer-two"
ssh = "root@peer-two"

[[peer]]
name = "peer-three"
exec = "syncr connect --socket /tmp/nowhere.sock"

[backup]
generations = 6

[[sync]]
path = "/etc/app.conf"
actions = ["echo one", "echo two"]
timeout = 60
stop_on_error = false

[[sync]]
path = "/etc/nginx"
exclude = ["*.swp", "*~"]
actions = ["systemctl reload nginx"]
"""


def line_of(text, needle, nth=1):
    """1-based line number of the nth line containing needle."""
    seen = 0
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == nth:
                return i
    raise AssertionError(f"test bug: {needle!r} not in config")


class CheckTest(unittest.TestCase):

    def setUp(self):
        self.bin = harness.require_bin()
        self.tmp = tempfile.mkdtemp(prefix="syncr-chk-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        os.makedirs(os.path.join(self.tmp, "root"))

    def good(self):
        return GOOD.format(root=os.path.join(self.tmp, "root"), tmp=self.tmp)

    def check(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([self.bin, "check", "-c", path], capture_output=True, timeout=20,
                           stdin=subprocess.DEVNULL, env=harness.daemon_env())
        return path, r.returncode, r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")

    def assertBad(self, name, text, lines, words):
        """check exits 2, prints CONFIG:LINE with LINE one of `lines`, and one
        of `words` (case-insensitive) naming the problem."""
        path, rc, out = self.check(name, text)
        self.assertEqual(rc, 2, f"`syncr check` on {name} exited {rc} (want 2):\n{out}\n--- config:\n{text}")
        found = [int(m.group(1)) for m in re.finditer(re.escape(path) + r":(\d+)", out)]
        self.assertTrue(found, f"{name}: output does not name {path}:LINE:\n{out}")
        self.assertTrue(set(found) & set(lines),
                        f"{name}: wrong line {found}, want one of {sorted(lines)}:\n{out}")
        self.assertTrue(any(w.lower() in out.lower() for w in words),
                        f"{name}: the message does not name the problem (one of {words}):\n{out}")
        # no daemon state was created by check
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "state")), "check created state_dir")
        return out

    def test_good_config(self):
        path, rc, out = self.check("good.toml", self.good())
        self.assertEqual(rc, 0, f"`syncr check` rejected a good config:\n{out}")
        self.assertTrue(out.strip(), "no summary printed")
        self.assertIn("/etc/app.conf", out, f"the summary does not list the synced paths:\n{out}")
        self.assertIn("/etc/nginx", out, f"the summary does not list the synced paths:\n{out}")
        self.assertIn("check-node-1", out, f"the summary does not name the node:\n{out}")
        self.assertIn("peer-two", out, f"the summary does not name the peers:\n{out}")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "state")), "check created state_dir")

    def test_unknown_key_in_node(self):
        text = self.good().replace('name = "check-node-1"\n', 'name = "check-node-1"\ncolour = "blue"\n')
        out = self.assertBad("unknown-node-key.toml", text, {line_of(text, "colour")}, ["colour"])
        self.assertRegex(out.lower(), r"unknown|unexpected|not allowed|invalid|unrecognized")

    def test_unknown_key_in_sync(self):
        # a typo in an entry must not pass silently
        text = self.good().replace('actions = ["echo one", "echo two"]', 'acitons = ["echo one", "echo two"]')
        self.assertBad("typo.toml", text, {line_of(text, "acitons")}, ["acitons"])

    def test_toml_syntax_error(self):
        text = self.good().replace("timeout = 60", "timeout = = 60")
        self.assertBad("syntax.toml", text, {line_of(text, "timeout = = 60")},
                       ["expected", "syntax", "parse", "invalid", "unexpected", "error"])

    def test_relative_path(self):
        text = self.good().replace('path = "/etc/app.conf"', 'path = "etc/app.conf"')
        ln = line_of(text, 'path = "etc/app.conf"')
        self.assertBad("relative.toml", text, {ln, ln - 1}, ["absolute", "relative"])

    def test_duplicate_path(self):
        text = self.good() + '\n[[sync]]\npath = "/etc/app.conf"\n'
        ln = line_of(text, 'path = "/etc/app.conf"', nth=2)
        self.assertBad("duplicate.toml", text, {ln, ln - 1},
                       ["duplicate", "twice", "already", "overlap", "more than once"])

    def test_overlapping_path(self):
        text = self.good() + '\n[[sync]]\npath = "/etc/nginx/nginx.conf"\n'
        ln = line_of(text, 'path = "/etc/nginx/nginx.conf"')
        self.assertBad("overlap.toml", text, {ln, ln - 1},
                       ["overlap", "inside", "within", "below", "under", "already", "contain"])

    def test_peer_without_transport(self):
        text = self.good().replace('ssh = "root@peer-two"\n', "")
        ln = line_of(text, 'name = "peer-two"')
        self.assertBad("no-transport.toml", text, {ln, ln - 1}, ["transport", "ssh", "exec"])

    def test_peer_with_two_transports(self):
        text = self.good().replace('ssh = "root@peer-two"\n',
                                   'ssh = "root@peer-two"\nexec = "syncr connect"\n')
        ln = line_of(text, 'name = "peer-two"')
        self.assertBad("two-transports.toml", text, {ln, ln - 1, ln + 1, ln + 2},
                       ["transport", "ssh", "exec", "both", "one of"])

    def test_ssh_options_before_destination(self):
        # docs/config.md: words before the last are ssh options, the last is
        # the destination
        text = self.good().replace('ssh = "root@peer-two"',
                                   'ssh = "-F /etc/syncr/ssh_config root@peer-two"')
        path, rc, out = self.check("ssh-options.toml", text)
        self.assertEqual(rc, 0, f"ssh options before the destination rejected:\n{out}")

    def test_ssh_destination_looks_like_option(self):
        text = self.good().replace('ssh = "root@peer-two"', 'ssh = "-oProxyCommand=evil"')
        self.assertBad("ssh-option.toml", text, {line_of(text, "-oProxyCommand")},
                       ["destination", "option"])

    def test_missing_file(self):
        path = os.path.join(self.tmp, "does-not-exist.toml")
        r = subprocess.run([self.bin, "check", "-c", path], capture_output=True, timeout=20,
                           stdin=subprocess.DEVNULL)
        out = (r.stdout + r.stderr).decode("utf-8", "replace")
        self.assertEqual(r.returncode, 2, f"check of a missing config exited {r.returncode}:\n{out}")
        self.assertIn(path, out, "the message does not name the missing file")


if __name__ == "__main__":
    unittest.main(verbosity=2)
