#include "cli/import_legacy.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "testing/testing.h"

namespace syncr {
namespace {

using Peers = std::vector<std::pair<std::string, std::string>>;

// A peer name no test host is called, so ParseConfig never sees "own name".
const Peers kPeerB = {{"legacy-peer-b", "root@legacy-peer-b"}};

/// Imports and asserts it succeeded.
LegacyImport Import(const std::string& incrontab, const std::string& ini = "",
                    const Peers& peers = kPeerB) {
  Result<LegacyImport> result = ImportLegacy(incrontab, "incrontab", ini, "syncr.ini", peers);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? *result : LegacyImport{};
}

/// Parses the generated TOML with syncr's own parser, as `syncr check` does.
Config Parse(const LegacyImport& imported) {
  Result<Config> config = ParseConfig(imported.toml, "generated.toml");
  EXPECT_TRUE(config.ok()) << config.status().ToString() << "\n--- toml:\n" << imported.toml;
  return config.ok() ? *config : Config{};
}

std::vector<std::string> Paths(const Config& config) {
  std::vector<std::string> paths;
  for (const SyncEntry& entry : config.sync) paths.push_back(entry.path);
  return paths;
}

/// True if some warning starts with `prefix` and contains `needle`.
bool HasWarning(const LegacyImport& imported, const std::string& prefix,
                const std::string& needle) {
  for (const std::string& w : imported.warnings) {
    if (w.rfind(prefix, 0) == 0 && w.find(needle) != std::string::npos) return true;
  }
  return false;
}

std::string Warnings(const LegacyImport& imported) {
  std::string all;
  for (const std::string& w : imported.warnings) all += w + "\n";
  return all;
}

const std::string kIncrontab = Doc({
    "# legacy syncr, one line per file",
    "/etc/hosts IN_CLOSE_WRITE /opt/syncr.sh $@ $%",
    "",
    "/etc/rsyslog.d/xenserver.conf IN_CLOSE_WRITE /opt/syncr.sh $@ $%",
    "/etc/nginx IN_CLOSE_WRITE,IN_MOVED_TO /opt/syncr.sh $@/$# $%",
});

const std::string kIni = Doc({
    "; commands per file",
    "[/etc/rsyslog.d/xenserver.conf]",
    "systemctl stop rsyslog",
    "sleep 5s",
    "# a comment between commands",
    "systemctl start rsyslog",
    "",
    "[/etc/nginx]",
    "nginx -t",
    "systemctl reload nginx",
});

TEST(ImportLegacyConvert, ThreeLinesWithIniParseBack) {
  LegacyImport imported = Import(kIncrontab, kIni);
  EXPECT_TRUE(imported.warnings.empty()) << Warnings(imported);
  Config config = Parse(imported);

  ASSERT_EQ(config.sync.size(), 3u);
  EXPECT_EQ(config.sync[0].path, "/etc/hosts");
  EXPECT_TRUE(config.sync[0].actions.empty());
  EXPECT_EQ(config.sync[1].path, "/etc/rsyslog.d/xenserver.conf");
  EXPECT_EQ(config.sync[1].actions, (std::vector<std::string>{"systemctl stop rsyslog", "sleep 5s",
                                                              "systemctl start rsyslog"}));
  EXPECT_EQ(config.sync[2].path, "/etc/nginx");
  EXPECT_EQ(config.sync[2].actions,
            (std::vector<std::string>{"nginx -t", "systemctl reload nginx"}));
  EXPECT_EQ(config.sync[1].timeout_s, 60);
  EXPECT_FALSE(config.sync[1].stop_on_error);

  ASSERT_EQ(config.peers.size(), 1u);
  EXPECT_EQ(config.peers[0].name, "legacy-peer-b");
  EXPECT_EQ(config.peers[0].ssh, "root@legacy-peer-b");
  EXPECT_TRUE(config.peers[0].exec.empty());

  EXPECT_EQ(config.backup.generations, 6);
  // Beside the imported files only: an entry added later keeps its
  // backups in state_dir (issue 11: not FILE.1 beside 3,000 files).
  EXPECT_FALSE(config.backup.beside);
  for (const SyncEntry& entry : config.sync) EXPECT_TRUE(entry.beside) << entry.path;
  // [node] is present and commented, and leaves the defaults alone.
  EXPECT_NE(imported.toml.find("\n[node]\n"), std::string::npos);
  EXPECT_NE(imported.toml.find("host"), std::string::npos);
  EXPECT_EQ(config.node.state_dir, NodeConfig().state_dir);
  EXPECT_EQ(config.node.socket, NodeConfig().socket);
  // The backup choice is explained.
  EXPECT_NE(imported.toml.find("set beside = true on it"), std::string::npos) << imported.toml;
  EXPECT_NE(imported.toml.find("state_dir"), std::string::npos);
}

TEST(ImportLegacyConvert, IniIsOptional) {
  LegacyImport imported = Import(kIncrontab);
  Config config = Parse(imported);
  EXPECT_EQ(Paths(config), (std::vector<std::string>{"/etc/hosts", "/etc/rsyslog.d/xenserver.conf",
                                                     "/etc/nginx"}));
  for (const SyncEntry& entry : config.sync) EXPECT_TRUE(entry.actions.empty());
}

TEST(ImportLegacyConvert, SeveralPeers) {
  LegacyImport imported =
      Import(kIncrontab, "", {{"legacy-b", "root@10.0.0.2"}, {"legacy-c", "admin@c.example"}});
  Config config = Parse(imported);
  ASSERT_EQ(config.peers.size(), 2u);
  EXPECT_EQ(config.peers[1].name, "legacy-c");
  EXPECT_EQ(config.peers[1].ssh, "admin@c.example");
}

TEST(ImportLegacyConvert, EmptyInputsStillGiveAValidConfig) {
  LegacyImport imported = Import("");
  Config config = Parse(imported);
  EXPECT_TRUE(config.sync.empty());
  EXPECT_TRUE(HasWarning(imported, "incrontab:", "no line runs the legacy"));
}

TEST(ImportLegacyIncrontab, ForeignCommandIsWarnedAndCommented) {
  LegacyImport imported = Import(Doc({
      "/etc/hosts IN_CLOSE_WRITE /opt/syncr.sh $@ $%",
      "/var/log/app IN_CREATE /usr/local/bin/rotate.sh $@/$#",
  }));
  Config config = Parse(imported);
  EXPECT_EQ(Paths(config), (std::vector<std::string>{"/etc/hosts"}));
  EXPECT_TRUE(HasWarning(imported, "incrontab:2: ", "not the legacy syncr.sh"));
  EXPECT_NE(imported.toml.find("#   incrontab:2: "), std::string::npos) << imported.toml;
  EXPECT_NE(imported.toml.find("rotate.sh"), std::string::npos);
}

TEST(ImportLegacyIncrontab, AnyScriptPathCounts) {
  LegacyImport imported = Import(Doc({
      "/etc/hosts IN_CLOSE_WRITE bash /usr/local/sbin/syncr.sh $@ $%",
      "\t /etc/resolv.conf\tIN_CLOSE_WRITE\t/root/bin/syncr.sh $@",
  }));
  EXPECT_EQ(Paths(Parse(imported)), (std::vector<std::string>{"/etc/hosts", "/etc/resolv.conf"}));
  EXPECT_TRUE(imported.warnings.empty()) << Warnings(imported);
}

TEST(ImportLegacyIncrontab, MalformedLinesAreWarnedWithTheirLine) {
  LegacyImport imported = Import(Doc({
      "/etc/hosts",                                       // 1: path only
      "/etc/a IN_CLOSE_WRITE",                            // 2: no command
      "/etc/b IN_CLOSE_WIRTE /opt/syncr.sh $@",           // 3: typo in the mask
      "etc/c IN_CLOSE_WRITE /opt/syncr.sh $@",            // 4: relative
      "/etc/../d IN_CLOSE_WRITE /opt/syncr.sh $@",        // 5: ..
      "/ IN_CLOSE_WRITE /opt/syncr.sh $@",                // 6: the root
      "/etc/ok IN_CLOSE_WRITE,IN_NO_LOOP /opt/syncr.sh",  // 7: fine
      "/etc/ok2 0x8 /opt/syncr.sh",                       // 8: numeric mask, fine
  }));
  Config config = Parse(imported);
  EXPECT_EQ(Paths(config), (std::vector<std::string>{"/etc/ok", "/etc/ok2"}));
  EXPECT_TRUE(HasWarning(imported, "incrontab:1: ", "malformed")) << Warnings(imported);
  EXPECT_TRUE(HasWarning(imported, "incrontab:2: ", "no command"));
  EXPECT_TRUE(HasWarning(imported, "incrontab:3: ", "IN_CLOSE_WIRTE"));
  EXPECT_TRUE(HasWarning(imported, "incrontab:4: ", "not absolute"));
  EXPECT_TRUE(HasWarning(imported, "incrontab:5: ", "'..'"));
  EXPECT_TRUE(HasWarning(imported, "incrontab:6: ", "'/' itself"));
  EXPECT_EQ(imported.warnings.size(), 6u) << Warnings(imported);
}

TEST(ImportLegacyIncrontab, HarmlessSpellingsAreNormalised) {
  LegacyImport imported = Import(Doc({
      "/etc/nginx/ IN_CLOSE_WRITE /opt/syncr.sh $@",
      "/etc//hosts IN_CLOSE_WRITE /opt/syncr.sh $@",
  }));
  EXPECT_EQ(Paths(Parse(imported)), (std::vector<std::string>{"/etc/nginx", "/etc/hosts"}));
  EXPECT_TRUE(HasWarning(imported, "incrontab:1: ", "'/etc/nginx'"));
  EXPECT_TRUE(HasWarning(imported, "incrontab:2: ", "'/etc/hosts'"));
}

TEST(ImportLegacyIncrontab, EscapedSpaceInPath) {
  LegacyImport imported = Import("/etc/my\\ app.conf IN_CLOSE_WRITE /opt/syncr.sh $@\n");
  EXPECT_EQ(Paths(Parse(imported)), (std::vector<std::string>{"/etc/my app.conf"}));
}

TEST(ImportLegacyIncrontab, DuplicateAndOverlappingPathsKeepTheFirst) {
  LegacyImport imported = Import(Doc({
      "/etc/a IN_CLOSE_WRITE /opt/syncr.sh $@",    // 1
      "/etc/a/b IN_CLOSE_WRITE /opt/syncr.sh $@",  // 2: inside 1
      "/etc/a IN_MODIFY /opt/syncr.sh $@",         // 3: same as 1
      "/etc/x/y IN_CLOSE_WRITE /opt/syncr.sh $@",  // 4
      "/etc/x IN_CLOSE_WRITE /opt/syncr.sh $@",    // 5: contains 4
      "/etc/ab IN_CLOSE_WRITE /opt/syncr.sh $@",   // 6: not inside /etc/a
  }));
  Config config = Parse(imported);
  EXPECT_EQ(Paths(config), (std::vector<std::string>{"/etc/a", "/etc/x/y", "/etc/ab"}));
  EXPECT_TRUE(HasWarning(imported, "incrontab:2: ", "inside '/etc/a' (incrontab:1)"))
      << Warnings(imported);
  EXPECT_TRUE(HasWarning(imported, "incrontab:3: ", "already imported from incrontab:1"));
  EXPECT_TRUE(HasWarning(imported, "incrontab:5: ", "contains '/etc/x/y' (incrontab:4)"));
  EXPECT_EQ(imported.warnings.size(), 3u) << Warnings(imported);
}

TEST(ImportLegacyIncrontab, SyncrsOwnStateIsRefused) {
  LegacyImport imported = Import(Doc({
      "/var/lib IN_CLOSE_WRITE /opt/syncr.sh $@",
      "/run/syncr IN_CLOSE_WRITE /opt/syncr.sh $@",
      "/etc/hosts IN_CLOSE_WRITE /opt/syncr.sh $@",
  }));
  EXPECT_EQ(Paths(Parse(imported)), (std::vector<std::string>{"/etc/hosts"}));
  EXPECT_TRUE(HasWarning(imported, "incrontab:1: ", "state_dir"));
  EXPECT_TRUE(HasWarning(imported, "incrontab:2: ", "socket"));
}

TEST(ImportLegacyIncrontab, CrlfLineEndings) {
  LegacyImport imported =
      Import("/etc/hosts IN_CLOSE_WRITE /opt/syncr.sh $@\r\n", "[/etc/hosts]\r\necho hi\r\n");
  Config config = Parse(imported);
  ASSERT_EQ(config.sync.size(), 1u);
  EXPECT_EQ(config.sync[0].path, "/etc/hosts");
  EXPECT_EQ(config.sync[0].actions, (std::vector<std::string>{"echo hi"}));
}

TEST(ImportLegacyIni, SectionNotInIncrontabBecomesACommentedEntry) {
  LegacyImport imported =
      Import("/etc/hosts IN_CLOSE_WRITE /opt/syncr.sh $@\n", Doc({
                                                                 "[/etc/hosts]",
                                                                 "echo hosts",
                                                                 "[/etc/ntp.conf]",
                                                                 "systemctl restart ntp",
                                                             }));
  Config config = Parse(imported);
  ASSERT_EQ(config.sync.size(), 2u);
  EXPECT_EQ(config.sync[1].path, "/etc/ntp.conf");
  EXPECT_EQ(config.sync[1].actions, (std::vector<std::string>{"systemctl restart ntp"}));
  EXPECT_TRUE(HasWarning(imported, "syncr.ini:3: ", "not in the incrontab")) << Warnings(imported);
  EXPECT_NE(imported.toml.find("# Only in syncr.ini:3, not in the incrontab"), std::string::npos)
      << imported.toml;
}

TEST(ImportLegacyIni, CommandsOutsideAnImportedSectionAreWarned) {
  LegacyImport imported = Import(Doc({
                                     "/etc/a IN_CLOSE_WRITE /opt/syncr.sh $@",
                                     "/etc/a/b IN_CLOSE_WRITE /opt/syncr.sh $@",
                                 }),
                                 Doc({
                                     "echo orphan",    // 1: before any header
                                     "[/etc/a/b]",     // 2: its incron line was skipped
                                     "echo inner",     // 3
                                     "[etc/relative",  // 4: malformed header
                                     "echo lost",      // 5
                                     "[/etc/a/c]",     // 6: inside /etc/a
                                     "echo c",         // 7
                                     "[/etc/a]",       // 8
                                     "echo a",         // 9
                                 }));
  Config config = Parse(imported);
  ASSERT_EQ(config.sync.size(), 1u);
  EXPECT_EQ(config.sync[0].actions, (std::vector<std::string>{"echo a"}));
  EXPECT_TRUE(HasWarning(imported, "syncr.ini:1: ", "before any")) << Warnings(imported);
  EXPECT_TRUE(HasWarning(imported, "syncr.ini:2: ", "incrontab line 2 was not imported"));
  EXPECT_TRUE(HasWarning(imported, "syncr.ini:4: ", "malformed section header"));
  EXPECT_TRUE(HasWarning(imported, "syncr.ini:6: ", "inside '/etc/a'"));
  EXPECT_FALSE(HasWarning(imported, "syncr.ini:5: ", ""));  // one warning per lost section
}

TEST(ImportLegacyIni, RepeatedSectionAppends) {
  LegacyImport imported = Import("/etc/hosts IN_CLOSE_WRITE /opt/syncr.sh $@\n",
                                 Doc({"[/etc/hosts]", "echo 1", "[ /etc/hosts ]", "echo 2"}));
  Config config = Parse(imported);
  ASSERT_EQ(config.sync.size(), 1u);
  EXPECT_EQ(config.sync[0].actions, (std::vector<std::string>{"echo 1", "echo 2"}));
  EXPECT_TRUE(HasWarning(imported, "syncr.ini:3: ", "appears again (first at line 1)"));
}

TEST(ImportLegacyToml, QuotesAndBackslashesSurvive) {
  const std::string path = "/etc/we\"ird\\name";
  const std::string action = "printf '%s\\n' \"$SYNCR_PATH\" | tee -a /tmp/log\t# \"x\"";
  std::string incrontab = "/etc/we\"ird\\\\name IN_CLOSE_WRITE /opt/syncr.sh $@\n";
  LegacyImport imported =
      Import(incrontab, "[" + path + "]\n" + action + "\n", {{"peer \"q\"", "root@peer\\b"}});
  Config config = Parse(imported);
  ASSERT_EQ(config.sync.size(), 1u) << Warnings(imported);
  EXPECT_EQ(config.sync[0].path, path);
  EXPECT_EQ(config.sync[0].actions, (std::vector<std::string>{action}));
  ASSERT_EQ(config.peers.size(), 1u);
  EXPECT_EQ(config.peers[0].name, "peer \"q\"");
  EXPECT_EQ(config.peers[0].ssh, "root@peer\\b");
}

TEST(ImportLegacyToml, TomlQuoteEscapes) {
  EXPECT_EQ(TomlQuote("plain"), "\"plain\"");
  EXPECT_EQ(TomlQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(TomlQuote("t\tn\n"), "\"t\\tn\\n\"");
  EXPECT_EQ(TomlQuote(std::string("\x01\x7f", 2)), "\"\\u0001\\u007F\"");
  EXPECT_EQ(TomlQuote("é"), "\"é\"");
}

TEST(ImportLegacyToml, BadBytesNeverBreakTheOutput) {
  // Invalid UTF-8 and control characters end up in warnings and comments.
  std::string incrontab =
      "/etc/\xff IN_CLOSE_WRITE /opt/syncr.sh $@\n"
      "/etc/x\x01y IN_CLOSE_WRITE /usr/bin/other \x02\n"
      "/etc/hosts IN_CLOSE_WRITE /opt/syncr.sh $@\n";
  LegacyImport imported = Import(incrontab, "[/etc/hosts]\necho \xc3\x28\n");
  Config config = Parse(imported);
  EXPECT_EQ(Paths(config), (std::vector<std::string>{"/etc/hosts"}));
  EXPECT_TRUE(config.sync[0].actions.empty());
  EXPECT_TRUE(HasWarning(imported, "incrontab:1: ", "UTF-8")) << Warnings(imported);
  EXPECT_TRUE(HasWarning(imported, "incrontab:2: ", "not the legacy"));
  EXPECT_TRUE(HasWarning(imported, "syncr.ini:2: ", "UTF-8"));
}

TEST(ImportLegacyPeers, NoPeerGivesATemplateAndAWarning) {
  LegacyImport imported = Import(kIncrontab, kIni, {});
  Config config = Parse(imported);
  EXPECT_TRUE(config.peers.empty());
  EXPECT_NE(imported.toml.find("# [[peer]]"), std::string::npos) << imported.toml;
  EXPECT_TRUE(HasWarning(imported, "", "no --peer given"));
}

TEST(ImportLegacyPeers, SshOptionsBeforeTheDestination) {
  LegacyImport imported =
      Import(kIncrontab, "", {{"legacy-b", "-F /etc/syncr/ssh_config legacy-b"}});
  Config config = Parse(imported);
  ASSERT_EQ(config.peers.size(), 1u);
  EXPECT_EQ(config.peers[0].ssh, "-F /etc/syncr/ssh_config legacy-b");
}

TEST(ImportLegacyPeers, BadPeersAreRefused) {
  for (const Peers& peers : std::vector<Peers>{{{"", "root@b"}},
                                               {{"b", ""}},
                                               {{"b", "-oProxyCommand=x"}},
                                               {{"b", "root@b -v"}},
                                               {{"b", "root@b"}, {"b", "root@c"}}}) {
    Result<LegacyImport> result = ImportLegacy(kIncrontab, "incrontab", "", "", peers);
    EXPECT_FALSE(result.ok()) << peers[0].first << "=" << peers[0].second;
    if (!result.ok()) {
      EXPECT_NE(result.status().ToString().find("--peer"), std::string::npos);
    }
  }
}

// ---------------------------------------------------------------------------
// CmdImportLegacy: exit codes for what the operator gets wrong.

class ImportLegacyCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    ASSERT_FALSE(dir_.empty());
    incrontab_ = dir_ + "/incrontab";
    std::ofstream(incrontab_) << kIncrontab;
  }
  TempDir tmp_;
  std::string dir_;
  std::string incrontab_;
};

TEST_F(ImportLegacyCommand, UnreadableFilesExit2) {
  EXPECT_EQ(CmdImportLegacy(dir_ + "/missing", "", {}), 2);
  EXPECT_EQ(CmdImportLegacy(incrontab_, dir_ + "/missing.ini", {}), 2);
}

TEST_F(ImportLegacyCommand, BadPeerSpecExits2) {
  EXPECT_EQ(CmdImportLegacy(incrontab_, "", {"no-equals-sign"}), 2);
  EXPECT_EQ(CmdImportLegacy(incrontab_, "", {"=root@b"}), 2);
  EXPECT_EQ(CmdImportLegacy(incrontab_, "", {"b=-oProxyCommand=x"}), 2);
}

}  // namespace
}  // namespace syncr
