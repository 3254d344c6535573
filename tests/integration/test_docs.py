"""The documents tell the truth (issue 11): README's build commands work on a
fresh clone, the package path is where cpack writes it, every subcommand and
flag of `syncr --help` is in the man page and the bash completion, every key
the config parser accepts is in syncr.toml(5), docs/setup.md describes the
unit as it is, and the config examples pass `syncr check`."""

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def fenced_blocks(markdown):
    """(info string, body) of every ``` block."""
    return re.findall(r"^```([^\n]*)\n(.*?)^```", markdown, re.S | re.M)


def code_spans(markdown):
    """Every fenced block and `inline code` (which may wrap lines)."""
    outside = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return [body for _, body in fenced_blocks(markdown)] + re.findall(r"`([^`]+)`", outside)


def troff(text):
    """A man page's source with the escapes that matter here undone."""
    return text.replace("\\-", "-").replace("\\(dq", '"').replace("\\e", "\\")


def has_word(text, word):
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


# ---------------------------------------------------------------- the CLI

def cli_help(*args):
    r = subprocess.run([harness.require_bin(), *args, "--help"], capture_output=True, timeout=20,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"syncr {' '.join(args)} --help exited {r.returncode}"
    return r.stdout.decode()


def section(help_text, title):
    """The lines of a CLI11 help section ("Options:", "Subcommands:")."""
    lines, inside = [], False
    for line in help_text.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            inside = line == title
        elif inside:
            lines.append(line)
    return lines


def subcommands():
    return [line.split()[0] for line in section(cli_help(), "Subcommands:")
            if re.match(r"^  \S", line)]


def options(sub):
    """[(forms, takes_value)] of a subcommand, --help left out."""
    out = []
    for line in section(cli_help(sub), "Options:"):
        if not re.match(r"^  -", line):
            continue
        tokens = line.split()
        forms = tokens[0].split(",")
        if "--help" in forms:
            continue
        takes_value = len(tokens) > 1 and re.match(r"^(TEXT|INT|UINT|FLOAT|NUMBER)\b", tokens[1])
        out.append((forms, bool(takes_value)))
    return out


# ---------------------------------------------------------------- the files

def man_synopsis_blocks(man):
    """{subcommand: its SYNOPSIS lines} of syncr.1."""
    synopsis = man.split(".SH SYNOPSIS", 1)[1].split(".SH ", 1)[0]
    blocks = {}
    for block in synopsis.split(".br"):
        m = re.search(r"^\.B syncr ([\w-]+)", block, re.M)
        if m:
            blocks[m.group(1)] = block
    return blocks


def completion_options(completion):
    """{command: its option words} from the `case $command in` table."""
    table = completion.split("case $command in", 1)[1].split("esac", 1)[0]
    out = {}
    for names, words in re.findall(r"^\s*([\w| -]+)\)\s*options=\"([^\"]*)\"", table, re.M):
        for name in names.split("|"):
            out[name.strip()] = words.split()
    return out


def case_patterns(completion, header):
    """Every word in the patterns of the `case` block that starts with `header`."""
    block = completion.split(header, 1)[1].split("esac", 1)[0].replace("\\\n", " ")
    words = set()
    for pattern in re.findall(r"^\s*([^\n()]+)\)", block, re.M):
        words.update(w.strip() for w in pattern.split("|"))
    return words


def config_keys():
    """{section label: keys} from the CheckKeys calls in src/config/config.cc;
    the top level's label is ""."""
    source = read("src/config/config.cc")
    keys = {}
    for m in re.finditer(r"CheckKeys\([^,]+,\s*([^,]+),\s*\{([^}]*)\}\)", source):
        label, names = m.group(1).strip(), re.findall(r'"([^"]+)"', m.group(2))
        if label.startswith('"'):
            label = label.strip('"')
        else:  # a constant: its nearest definition above the call
            defs = re.findall(re.escape(label) + r'\s*=\s*"([^"]+)"', source[:m.start()])
            assert defs, f"test bug: no definition of {label} above its CheckKeys"
            label = defs[-1]
        keys[label] = names
    return keys


def man_sections(man):
    """{".SH title": body} of a man page."""
    parts = re.split(r"^\.SH (.*)$", man, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def unit_directives():
    """{Name: value} of packaging/syncr.service's [Service] section."""
    service = read("packaging/syncr.service").split("[Service]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r"^(\w+)=(.*)$", service, re.M))


RESTRICTING = re.compile(r"^(Protect\w+|Private\w+|Restrict\w+|NoNewPrivileges|LockPersonality|"
                         r"SystemCallArchitectures|ReadWritePaths|ReadOnlyPaths|InaccessiblePaths)$")


class DocsTest(unittest.TestCase):
    maxDiff = None

    # ---- build and install

    def build_commands(self, rel):
        return [s for s in code_spans(read(rel)) if "cmake --build" in s]

    def test_build_commands_configure_first(self):
        for rel in ("README.md", "docs/setup.md"):
            spans = self.build_commands(rel)
            self.assertTrue(spans, f"{rel} shows no build command")
            for span in spans:
                before = span.split("cmake --build", 1)[0]
                self.assertRegex(before, r"cmake\s+-S\s+\S+\s+-B\s+build",
                                 f"{rel}: `cmake --build` without a configure step before it "
                                 f"(fails on a fresh clone):\n{span}")

    def test_readme_configure_step_runs(self):
        block = next(s for s in self.build_commands("README.md") if "\n" in s)
        line = next(x for x in block.splitlines() if x.startswith("cmake -S"))
        argv = shlex.split(line.split("#", 1)[0])
        argv[argv.index("-S") + 1] = ROOT
        tmp = tempfile.mkdtemp(prefix="syncr-docs-")
        self.addCleanup(shutil.rmtree, tmp, True)
        argv[argv.index("-B") + 1] = tmp
        r = subprocess.run(argv, capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, f"{line}: {r.stderr.decode()[-2000:]}")

    def test_package_path_is_where_cpack_writes_it(self):
        for rel in ("README.md", "docs/setup.md"):
            text = read(rel)
            installs = re.findall(r"(?:apt install|apt-get install|dpkg -i)\s+(\S*syncr_\S*\.deb)",
                                  text)
            self.assertTrue(installs, f"{rel} does not say how to install the .deb")
            for path in installs:
                self.assertTrue(path.startswith("./build/"),
                                f"{rel}: {path}: cpack runs in build/ and writes the .deb there")

    # ---- commands and flags

    def test_man_page_has_every_command_and_flag(self):
        man = troff(read("packaging/man/syncr.1"))
        blocks = man_synopsis_blocks(man)
        commands = man_sections(man)["COMMANDS"]
        for sub in subcommands():
            self.assertIn(sub, blocks, f"syncr.1 SYNOPSIS lacks `syncr {sub}`")
            self.assertRegex(commands, r"(?m)^\.(B|BI|BR) " + re.escape(sub) + r"\b",
                             f"syncr.1 COMMANDS lacks {sub}")
            for forms, _ in options(sub):
                self.assertTrue(any(has_word(blocks[sub], form) for form in forms),
                                f"syncr.1 SYNOPSIS of {sub} lacks {' or '.join(forms)}")
                for form in forms:
                    self.assertTrue(has_word(man, form), f"syncr.1 never mentions {form}")

    def test_bash_completion_has_every_command_and_flag(self):
        completion = read("packaging/bash-completion/syncr")
        listed = re.search(r'local commands="([^"]*)"', completion).group(1).split()
        per_command = completion_options(completion)
        skipped = case_patterns(completion, "case ${words[i]} in")
        after = case_patterns(completion, "case $prev in")
        for sub in subcommands():
            self.assertIn(sub, listed, f"completion does not offer the command {sub}")
            self.assertIn(sub, per_command, f"completion has no options for {sub}")
            for forms, takes_value in options(sub):
                for form in forms:
                    self.assertIn(form, per_command[sub], f"completion of {sub} lacks {form}")
                    if takes_value:
                        self.assertIn(form, skipped, f"completion takes {form}'s value for a command")
                        self.assertIn(form, after, f"completion completes after {form} as if it had no value")

    # ---- config keys

    def test_toml_man_page_has_every_section_and_key(self):
        sections = man_sections(troff(read("packaging/man/syncr.toml.5")))
        keys = config_keys()
        for name in keys.pop(""):
            self.assertTrue(f"[{name}]" in sections or f"[[{name}]]" in sections,
                            f"syncr.toml.5 has no section for [{name}]")
        self.assertTrue(keys, "test bug: no CheckKeys found in config.cc")
        for label, names in keys.items():
            self.assertIn(label, sections, f"syncr.toml.5 has no .SH {label}")
            for key in names:
                self.assertRegex(sections[label], r"(?m)^\.BR? " + re.escape(key) + r"\b",
                                 f"syncr.toml.5 {label} lacks {key}")

    def test_config_examples_pass_check(self):
        tmp = tempfile.mkdtemp(prefix="syncr-docs-")
        self.addCleanup(shutil.rmtree, tmp, True)
        examples = []
        for rel in ("README.md", "docs/setup.md", "docs/config.md"):
            examples += [(rel, body) for info, body in fenced_blocks(read(rel))
                         if info.strip() == "toml" and "[node]" in body]
        man = troff(read("packaging/man/syncr.toml.5"))
        examples.append(("syncr.toml.5", man_sections(man)["EXAMPLE"].split(".nf\n", 1)[1]
                         .split(".fi", 1)[0]))
        self.assertGreaterEqual(len(examples), 3)
        for i, (rel, body) in enumerate(examples):
            path = os.path.join(tmp, f"example{i}.toml")
            with open(path, "w") as f:
                f.write(body)
            r = subprocess.run([harness.require_bin(), "check", "-c", path], capture_output=True,
                               timeout=20, stdin=subprocess.DEVNULL, env=harness.daemon_env())
            self.assertEqual(r.returncode, 0, f"an example in {rel} fails `syncr check`:\n"
                             f"{r.stderr.decode()}\n{body}")

    # ---- the unit, as docs/setup.md describes it

    def test_setup_describes_the_unit_as_it_is(self):
        setup = read("docs/setup.md")
        unit = unit_directives()
        self.assertFalse("not supported yet" in setup, "docs/setup.md says reload is not supported")
        if "ExecReload" in unit:
            self.assertIn("systemctl reload syncr", setup)
        for name, value in unit.items():
            if RESTRICTING.match(name):
                self.assertIn(f"{name}={value}", setup, f"docs/setup.md does not document {name}")
        # Directives named outside a drop-in example must be the unit's own.
        outside_dropins = re.sub(r"^```[^\n]*\n\[Service\].*?^```", "", setup, flags=re.S | re.M)
        for name, value in re.findall(r"\b([A-Z][A-Za-z]+)=([^`|\s][^`|\n]*)", outside_dropins):
            if RESTRICTING.match(name):
                self.assertEqual(unit.get(name), value.strip(),
                                 f"docs/setup.md says {name}={value}; the unit has "
                                 f"{name}={unit.get(name, '(nothing)')}")

    def test_setup_tells_how_to_add_a_synced_path_to_a_running_pair(self):
        setup = read("docs/setup.md")
        m = re.search(r"^#+ [^\n]*[Aa]dd[^\n]*\[\[sync\]\][^\n]*$(.*?)(?=^## )", setup,
                      re.S | re.M)
        self.assertIsNotNone(m, "docs/setup.md has no section on adding a [[sync]] entry")
        for words in ("both", "systemctl reload syncr", "baseline", "no action"):
            self.assertIn(words, m.group(1))


if __name__ == "__main__":
    unittest.main(verbosity=2)
