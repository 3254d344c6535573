"""`syncr import-legacy`: an old incrontab + syncr.ini (SPEC "Legacy") becomes
a config that `syncr check` accepts; what cannot be carried over is a warning
naming FILE:LINE, never silence."""

import os
import shutil
import subprocess
import tempfile
import unittest

import harness

INCRONTAB = """\
# legacy syncr: one line per file
/etc/hosts IN_CLOSE_WRITE /opt/syncr.sh $@ $%
/etc/rsyslog.d/xenserver.conf IN_CLOSE_WRITE /opt/syncr.sh $@ $%

/etc/nginx/nginx.conf IN_CLOSE_WRITE /opt/syncr.sh $@ $%
/var/spool/app IN_CREATE /usr/local/bin/ingest.sh $@/$#
"""

INI = """\
; commands run on both nodes after the file changed
[/etc/rsyslog.d/xenserver.conf]
systemctl stop rsyslog
sleep 5s
systemctl start rsyslog

[/etc/nginx/nginx.conf]
nginx -t
systemctl reload nginx
"""


README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")


def readme_block(lang: str) -> str:
    """The README's first fenced block of `lang` (its legacy example)."""
    text = open(README).read()
    start = text.index(f"```{lang}\n") + len(f"```{lang}\n")
    return text[start:text.index("```", start)]


class ReadmeExampleTest(unittest.TestCase):
    """The README's own legacy example: imported, accepted by check, and run
    by a real daemon (root, state and socket moved into a temp dir)."""

    def test_readme_example_imports_checks_and_runs(self):
        bin_ = harness.require_bin()
        tmp = tempfile.mkdtemp(prefix="syncr-imp-", dir="/tmp")
        self.addCleanup(shutil.rmtree, tmp, True)
        inc = os.path.join(tmp, "incrontab")
        ini = os.path.join(tmp, "syncr.ini")
        with open(inc, "w") as f:
            f.write(readme_block("incrontab"))
        with open(ini, "w") as f:
            f.write(readme_block("ini"))
        r = subprocess.run([bin_, "import-legacy", "--incrontab", inc, "--ini", ini,
                            "--peer", "xcp-2=root@xcp-2"], capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        toml = r.stdout.decode()
        self.assertEqual(toml.count("[[sync]]"), 3, toml)
        # Move the node into the temp dir, as a test must; the rest is as imported.
        root = os.path.join(tmp, "root")
        node = (f'[node]\nname = "xcp-1"\nroot = "{root}"\n'
                f'state_dir = "{tmp}/state"\nsocket = "{tmp}/s.sock"\n')
        self.assertIn("\n[node]\n", toml)
        cfg = os.path.join(tmp, "syncr.toml")
        with open(cfg, "w") as f:
            f.write(toml.replace("\n[node]\n", "\n" + node, 1))
        check = subprocess.run([bin_, "check", "-c", cfg], capture_output=True, timeout=30)
        self.assertEqual(check.returncode, 0, check.stderr.decode())
        os.makedirs(os.path.join(root, "etc"))
        hosts = os.path.join(root, "etc", "hosts")
        with open(hosts, "w") as f:
            f.write("127.0.0.1 localhost\n")
        log = open(os.path.join(tmp, "daemon.log"), "wb")
        proc = harness.popen([bin_, "daemon", "-c", cfg], stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(harness.kill_tree, proc)
        harness.wait_until(lambda: os.path.exists(f"{tmp}/s.sock"), what="the daemon's socket",
                           diagnostics=lambda: harness.tail(log.name))
        with open(hosts, "w") as f:
            f.write("127.0.0.1 localhost\n10.0.0.2 xcp-2\n")
        # beside = true, as imported: the legacy FILE.1 appears next to the file
        harness.wait_until(
            lambda: harness.read_bytes(hosts + ".1") == b"127.0.0.1 localhost\n10.0.0.2 xcp-2\n",
            what="/etc/hosts.1 beside the file", diagnostics=lambda: harness.tail(log.name))
        st = subprocess.run([bin_, "status", "-c", cfg], capture_output=True, timeout=30)
        self.assertEqual(st.returncode, 1, "xcp-2 is unreachable: not in sync")
        self.assertIn(b"pending to xcp-2", st.stdout)
        self.assertIsNone(proc.poll(), "the daemon died")


class ImportLegacyTest(unittest.TestCase):

    def setUp(self):
        self.bin = harness.require_bin()
        self.tmp = tempfile.mkdtemp(prefix="syncr-imp-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.incrontab = self.write("incrontab", INCRONTAB)
        self.ini = self.write("syncr.ini", INI)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_syncr(self, *args):
        r = subprocess.run([self.bin, *args], capture_output=True, timeout=harness.CLI_TIMEOUT_S,
                           stdin=subprocess.DEVNULL, env=harness.daemon_env())
        return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")

    def import_and_check(self, *extra):
        rc, toml, err = self.run_syncr("import-legacy", "--incrontab", self.incrontab,
                                       "--ini", self.ini, *extra)
        self.assertEqual(rc, 0, f"import-legacy exited {rc}:\n{err}")
        out = self.write("out.toml", toml)
        rc, summary, check_err = self.run_syncr("check", "-c", out)
        self.assertEqual(rc, 0, f"`syncr check` rejected the imported config:\n{check_err}\n"
                                f"--- config:\n{toml}")
        return toml, err, summary

    def test_imported_config_passes_check(self):
        toml, err, summary = self.import_and_check("--peer", "b=root@b")
        for path in ("/etc/hosts", "/etc/rsyslog.d/xenserver.conf", "/etc/nginx/nginx.conf"):
            self.assertIn(path, summary, f"check summary misses {path}:\n{summary}")
        self.assertIn("b (ssh root@b)", summary, summary)
        self.assertIn("3 synced paths", summary, summary)
        self.assertIn('"systemctl stop rsyslog",\n  "sleep 5s",\n  "systemctl start rsyslog",', toml)
        self.assertIn("generations = 6", toml)
        self.assertIn("beside = true", toml)
        self.assertNotIn("/var/spool/app\"", toml, "a foreign incron line became an entry")

    def test_foreign_line_is_a_warning_with_file_and_line(self):
        _, err, _ = self.import_and_check("--peer", "b=root@b")
        self.assertIn(f"{self.incrontab}:6:", err, f"no FILE:LINE warning for the foreign line:\n{err}")
        self.assertIn("ingest.sh", err, err)

    def test_without_peer_warns_and_still_checks(self):
        toml, err, _ = self.import_and_check()
        self.assertIn("--peer", err, f"no warning that a peer must be added:\n{err}")
        self.assertIn("# [[peer]]", toml)

    def test_bad_peer_exits_2(self):
        rc, out, err = self.run_syncr("import-legacy", "--incrontab", self.incrontab,
                                      "--peer", "no-equals-sign")
        self.assertEqual(rc, 2, f"want exit 2 for a bad --peer, got {rc}:\n{err}")
        self.assertIn("no-equals-sign", err)
        self.assertEqual(out, "", "a config was printed despite the error")

    def test_unreadable_file_exits_2(self):
        missing = os.path.join(self.tmp, "missing")
        rc, out, err = self.run_syncr("import-legacy", "--incrontab", missing)
        self.assertEqual(rc, 2, f"want exit 2 for a missing incrontab, got {rc}:\n{err}")
        self.assertIn(missing, err)
        self.assertEqual(out, "")


if __name__ == "__main__":
    unittest.main()
