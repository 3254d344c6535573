"""A saved config with errors never cuts a running node off (SPEC "Config",
issue 11): b's config gets a typo while b runs (no SIGHUP). Its peer still
reaches it through `syncr connect -c <b's config>`, the forced command a peer
runs, and `status`, `log`, `history` and `diff` still answer from the running
daemon with a warning naming FILE:LINE; `check` still exits 2."""

import json
import os
import shlex
import unittest

from harness import ClusterTestCase, read_text

P = "/etc/app.conf"


class BrokenConfigTest(ClusterTestCase):

    def pair(self):
        """a and b where each dials the other with `syncr connect -c <peer's
        config>`, so that connect reads the config file as it does over ssh."""
        c = self.cluster(sync=[{"path": P}])
        c.peer_transport = lambda node, peer: {
            "exec": f"{shlex.quote(c.bin)} connect -c @TMP@/{peer}/syncr.toml"}
        for n in c.names:
            c.write_config(n)
        c.start_all()
        c.wait_connected()
        c.write("a", P, b"before the typo\n")
        c.wait_content("b", P, b"before the typo\n")
        return c

    def break_config(self, c, node, text):
        """Appends `text` to node's config; returns the line it starts on."""
        config = c.node(node).config
        line = read_text(config).count("\n") + 1
        with open(config, "a") as f:
            f.write(text)
        r = c.cli(node, "check")
        self.assertEqual(r.returncode, 2, f"check accepted the broken config: {r.stdout!r}")
        return line

    def assert_still_reachable(self, c, data):
        """a redials b (restart) through the broken config and a change gets there."""
        c.stop("a")
        c.start("a")
        c.write("a", P, data)
        c.wait_content("b", P, data)

    def assert_answers_with_warning(self, c, node, line, *args, codes=(0, 1)):
        r = c.cli(node, *args)
        err = r.stderr.decode("utf-8", "replace")
        self.assertIn(r.returncode, codes, f"`syncr {' '.join(args)}` exited {r.returncode}: {err}")
        config = c.node(node).config
        self.assertIn(f"warning: {config} has errors ({config}:{line}: ", err)
        self.assertIn("the running daemon's answer follows", err)
        self.assertTrue(r.stdout.strip(), f"`syncr {' '.join(args)}` printed nothing")
        return r

    def test_unknown_key_typo(self):
        c = self.pair()
        line = self.break_config(c, "b", 'actoins = ["true"]\n')
        self.assert_still_reachable(c, b"after the typo\n")
        r = c.cli("b", "status", "--json")  # stdout stays parseable
        self.assertIn(r.returncode, (0, 1))
        self.assertEqual(json.loads(r.stdout)["node"], "b")
        self.assert_answers_with_warning(c, "b", line, "status")
        self.assert_answers_with_warning(c, "b", line, "log", codes=(0,))
        self.assert_answers_with_warning(c, "b", line, "history", P, codes=(0,))
        self.assert_answers_with_warning(c, "b", line, "diff", P, codes=(0, 1))
        self.assertIsNone(c.node("b").proc.poll(), "b's daemon stopped")

    def test_syntax_error_after_node_table(self):
        c = self.pair()
        line = self.break_config(c, "b", '\n[[sync]]\npath = "/etc/unterminated\n')
        self.assert_still_reachable(c, b"after the syntax error\n")
        self.assert_answers_with_warning(c, "b", line + 2, "status")

    def test_connect_warns_in_one_line(self):
        c = self.pair()
        config = c.node("b").config
        line = self.break_config(c, "b", 'actoins = ["true"]\n')
        r = c.cli("b", "connect", timeout=20)  # stdin is /dev/null: bridges, then ends
        err = r.stderr.decode("utf-8", "replace")
        warnings = [x for x in err.splitlines() if "warning" in x]
        self.assertEqual(len(warnings), 1, err)
        self.assertIn(f"{config}:{line}: unknown key 'actoins'", warnings[0])
        self.assertIn(c.node("b").sock, warnings[0])

    def test_unreadable_config_is_still_an_error(self):
        c = self.cluster(sync=[{"path": P}])
        missing = os.path.join(c.tmp, "nowhere.toml")
        for args in (["connect"], ["status"], ["log"], ["check"]):
            r = c.cli("a", *args, "-c", missing, check_config=False)
            self.assertEqual(r.returncode, 2, f"syncr {args} on a missing config: {r.stderr!r}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
