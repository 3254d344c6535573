#include "config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "testing/testing.h"

namespace syncr {
namespace {

/// The error message of parsing `text` as "syncr.toml" ("" if it parsed).
std::string ErrorOf(const std::string& text) {
  Result<Config> result = ParseConfig(text, "syncr.toml");
  if (result.ok()) return "";
  return result.status().ToString();
}

std::string HostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

// A minimal valid prefix, so error tests put the offending line at a known place.
#define NODE_A "[node]", "name = \"a\""

TEST(ConfigParse, FullConfig) {
  std::string text = Doc({
      "[node]",
      "name = \"xcp-1\"",
      "root = \"/tmp/x\"",
      "state_dir = \"/var/lib/syncr\"",
      "socket = \"/run/syncr/syncr.sock\"",
      "settle_ms = 25",
      "log_level = \"debug\"",
      "",
      "[[peer]]",
      "name = \"xcp-2\"",
      "ssh = \"root@xcp-2\"",
      "",
      "[[peer]]",
      "name = \"xcp-3\"",
      "exec = \"syncr connect --socket /tmp/c/syncr.sock\"",
      "",
      "[backup]",
      "generations = 3",
      "beside = true",
      "",
      "[limits]",
      "max_file_bytes = 1048576",
      "window_bytes = 65536",
      "handshake_timeout_ms = 500",
      "",
      "[[sync]]",
      "path = \"/etc/hosts\"",
      "",
      "[[sync]]",
      "path = \"/etc/rsyslog.d/xenserver.conf\"",
      "actions = [\"systemctl stop rsyslog\", \"sleep 5s\", \"systemctl start rsyslog\"]",
      "timeout = 30",
      "stop_on_error = true",
      "",
      "[[sync]]",
      "path = \"/etc/nginx\"",
      "exclude = [\"*.bak\", \"cache/*\"]",
      "actions = [\"systemctl reload nginx\"]",
  });
  Result<Config> result = ParseConfig(text, "syncr.toml");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const Config& c = *result;
  EXPECT_EQ(c.source, "syncr.toml");
  EXPECT_EQ(c.node.name, "xcp-1");
  EXPECT_EQ(c.node.root, "/tmp/x");
  EXPECT_EQ(c.node.state_dir, "/var/lib/syncr");
  EXPECT_EQ(c.node.socket, "/run/syncr/syncr.sock");
  EXPECT_EQ(c.node.settle_ms, 25);
  EXPECT_EQ(c.node.log_level, "debug");

  ASSERT_EQ(c.peers.size(), 2u);
  EXPECT_EQ(c.peers[0].name, "xcp-2");
  EXPECT_EQ(c.peers[0].ssh, "root@xcp-2");
  EXPECT_EQ(c.peers[0].exec, "");
  EXPECT_EQ(c.peers[0].line, 9);
  EXPECT_EQ(c.peers[1].name, "xcp-3");
  EXPECT_EQ(c.peers[1].exec, "syncr connect --socket /tmp/c/syncr.sock");
  EXPECT_EQ(c.peers[1].line, 13);

  EXPECT_EQ(c.backup.generations, 3);
  EXPECT_TRUE(c.backup.beside);
  EXPECT_EQ(c.limits.max_file_bytes, 1048576u);
  EXPECT_EQ(c.limits.window_bytes, 65536u);
  EXPECT_EQ(c.limits.handshake_timeout_ms, 500);

  ASSERT_EQ(c.sync.size(), 3u);
  EXPECT_EQ(c.sync[0].path, "/etc/hosts");
  EXPECT_EQ(c.sync[0].line, 26);
  EXPECT_EQ(c.sync[0].exclude, DefaultExcludes());
  EXPECT_TRUE(c.sync[0].actions.empty());
  EXPECT_EQ(c.sync[0].timeout_s, 60);
  EXPECT_FALSE(c.sync[0].stop_on_error);

  EXPECT_EQ(c.sync[1].actions.size(), 3u);
  EXPECT_EQ(c.sync[1].actions[1], "sleep 5s");
  EXPECT_EQ(c.sync[1].timeout_s, 30);
  EXPECT_TRUE(c.sync[1].stop_on_error);

  std::vector<std::string> excludes = DefaultExcludes();
  excludes.push_back("*.bak");
  excludes.push_back("cache/*");
  EXPECT_EQ(c.sync[2].exclude, excludes);
  EXPECT_EQ(c.sync[2].line, 35);
}

TEST(ConfigParse, Defaults) {
  Result<Config> result = ParseConfig("", "empty.toml");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const Config& c = *result;
  EXPECT_EQ(c.node.name, HostName());
  EXPECT_EQ(c.node.root, "/");
  EXPECT_EQ(c.node.state_dir, "/var/lib/syncr");
  EXPECT_EQ(c.node.socket, "/run/syncr/syncr.sock");
  EXPECT_EQ(c.node.settle_ms, 10);
  EXPECT_EQ(c.node.log_level, "info");
  EXPECT_TRUE(c.peers.empty());
  EXPECT_EQ(c.backup.generations, 6);
  EXPECT_FALSE(c.backup.beside);
  EXPECT_EQ(c.limits.max_file_bytes, 64ull << 20);
  EXPECT_EQ(c.limits.window_bytes, 8ull << 20);
  EXPECT_EQ(c.limits.handshake_timeout_ms, 10000);
  EXPECT_TRUE(c.sync.empty());
}

// Issue 11: beside is scoped per entry; [backup] beside is only the default.
TEST(ConfigParse, BesideIsPerEntryWithBackupBesideAsTheDefault) {
  Result<Config> plain = ParseConfig(Doc({NODE_A, "[[sync]]", "path = \"/etc/hosts\"",
                                          "beside = true", "[[sync]]", "path = \"/srv/www\""}),
                                     "syncr.toml");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_TRUE(plain->sync[0].beside);
  EXPECT_FALSE(plain->sync[1].beside);
  Result<Config> legacy =
      ParseConfig(Doc({NODE_A, "[backup]", "beside = true", "[[sync]]", "path = \"/etc/hosts\"",
                       "[[sync]]", "path = \"/srv/www\"", "beside = false"}),
                  "syncr.toml");
  ASSERT_TRUE(legacy.ok()) << legacy.status().ToString();
  EXPECT_TRUE(legacy->sync[0].beside);
  EXPECT_FALSE(legacy->sync[1].beside);
}

TEST(ConfigParse, NodeNameDefaultsToHostNameInNodeTable) {
  Result<Config> result = ParseConfig(Doc({"[node]", "root = \"/\""}), "syncr.toml");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->node.name, HostName());
}

TEST(ConfigParse, SyntaxErrorHasLine) {
  std::string error = ErrorOf(Doc({NODE_A, "", "settle_ms = "}));
  EXPECT_EQ(error.rfind("syncr.toml:4: ", 0), 0u) << error;
}

TEST(ConfigParse, DuplicateKeyIsSyntaxError) {
  std::string error = ErrorOf(Doc({NODE_A, "name = \"b\""}));
  EXPECT_EQ(error.rfind("syncr.toml:3: ", 0), 0u) << error;
}

TEST(ConfigParse, UnknownKeyInSync) {
  std::string error =
      ErrorOf(Doc({NODE_A, "[[sync]]", "path = \"/etc/a\"", "", "[[sync]]", "pathh = \"/etc/b\""}));
  EXPECT_EQ(error,
            "syncr.toml:6: [[sync]] needs a path\n"
            "syncr.toml:7: unknown key 'pathh' in [[sync]]");
}

TEST(ConfigParse, UnknownKeysEverywhere) {
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "nam = \"x\""})), "syncr.toml:3: unknown key 'nam' in [node]");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[peer]]", "name = \"b\"", "exec = \"x\"", "sh = \"y\""})),
            "syncr.toml:6: unknown key 'sh' in [[peer]]");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[backup]", "generation = 3"})),
            "syncr.toml:4: unknown key 'generation' in [backup]");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[limits]", "window = 3"})),
            "syncr.toml:4: unknown key 'window' in [limits]");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "", "[nodes]", "x = 1"})), "syncr.toml:4: unknown table [nodes]");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "", "[[syncs]]"})), "syncr.toml:4: unknown table [[syncs]]");
  EXPECT_EQ(ErrorOf(Doc({"verbose = true", NODE_A})), "syncr.toml:1: unknown key 'verbose'");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[node.extra]", "x = 1"})),
            "syncr.toml:3: unknown key 'extra' in [node]");
}

TEST(ConfigParse, ReportsAllErrorsInLineOrder) {
  std::string error = ErrorOf(Doc({"[node]", "name = \"a\"", "bogus = 1", "[[sync]]",
                                   "path = \"relative\"", "[backup]", "generations = 0"}));
  EXPECT_EQ(error,
            "syncr.toml:3: unknown key 'bogus' in [node]\n"
            "syncr.toml:5: sync path 'relative' must be absolute\n"
            "syncr.toml:7: [backup] generations = 0: must be between 1 and 1000");
}

TEST(ConfigParse, WrongTypes) {
  EXPECT_EQ(ErrorOf(Doc({"[node]", "name = 5"})),
            "syncr.toml:2: [node] name: expected a string, got an integer");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "settle_ms = \"10\""})),
            "syncr.toml:3: [node] settle_ms: expected an integer, got a string");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[backup]", "beside = \"yes\""})),
            "syncr.toml:4: [backup] beside: expected a boolean, got a string");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", "path = \"/etc/a\"", "exclude = \"*.bak\""})),
            "syncr.toml:5: [[sync]] exclude: expected an array, got a string");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", "path = \"/etc/a\"", "actions = [\"a\", 2]"})),
            "syncr.toml:5: [[sync]] actions[1]: expected a string, got an integer");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", "path = \"/etc/a\"", "timeout = 1.5"})),
            "syncr.toml:5: [[sync]] timeout: expected an integer, got a float");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", "path = \"/etc/a\"", "stop_on_error = 1"})),
            "syncr.toml:5: [[sync]] stop_on_error: expected a boolean, got an integer");
  EXPECT_EQ(ErrorOf(Doc({"node = 1"})), "syncr.toml:1: [node]: expected a table, got an integer");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[sync]", "path = \"/etc/a\""})),
            "syncr.toml:3: sync: expected [[sync]] entries (an array of tables), got a table");
}

TEST(ConfigParse, NodeValues) {
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "root = \"tmp/x\""})),
            "syncr.toml:3: [node] root 'tmp/x' must be absolute");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "state_dir = \"var/lib/syncr\""})),
            "syncr.toml:3: [node] state_dir 'var/lib/syncr' must be absolute");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "socket = \"syncr.sock\""})),
            "syncr.toml:3: [node] socket 'syncr.sock' must be absolute");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "settle_ms = 10001"})),
            "syncr.toml:3: [node] settle_ms = 10001: must be between 0 and 10000");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "settle_ms = -1"})),
            "syncr.toml:3: [node] settle_ms = -1: must be between 0 and 10000");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "settle_ms = 0"})), "");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "log_level = \"verbose\""})),
            "syncr.toml:3: [node] log_level 'verbose' must be one of trace, debug, info, warn, "
            "error");
  EXPECT_EQ(ErrorOf(Doc({"[node]", "name = \"\""})), "syncr.toml:2: [node] name must not be empty");
  std::string long_socket = "socket = \"/" + std::string(120, 's') + "\"";
  std::string error = ErrorOf(Doc({NODE_A, long_socket.c_str()}));
  EXPECT_EQ(error.rfind("syncr.toml:3: [node] socket '/sss", 0), 0u) << error;
  EXPECT_NE(error.find("at most 107"), std::string::npos) << error;
}

TEST(ConfigParse, PeerRules) {
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[peer]]", "name = \"b\""})),
            "syncr.toml:3: peer 'b' needs exactly one of ssh or exec");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[peer]]", "name = \"b\"", "ssh = \"b\"", "exec = \"x\""})),
            "syncr.toml:3: peer 'b' needs exactly one of ssh or exec");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[peer]]", "ssh = \"b\""})),
            "syncr.toml:3: [[peer]] needs a name");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[peer]]", "name = \"b\"", "ssh = \"\""})),
            "syncr.toml:5: peer 'b' ssh must not be empty");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[peer]]", "name = \"b\"", "ssh = \"-oProxyCommand=x\""})),
            "syncr.toml:5: peer 'b' ssh '-oProxyCommand=x' must end with the destination");
  EXPECT_TRUE(ParseConfig(Doc({NODE_A, "[[peer]]", "name = \"b\"", "ssh = \"-F /x/ssh_config b\""}),
                          "syncr.toml")
                  .ok());
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[peer]]", "name = \"a\"", "exec = \"x\""})),
            "syncr.toml:3: peer 'a' has this node's own name ([node] name, line 2)");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[peer]]", "name = \"b\"", "exec = \"x\"", "[[peer]]",
                         "name = \"b\"", "ssh = \"b\""})),
            "syncr.toml:6: duplicate peer 'b' (first at line 3)");
}

TEST(ConfigParse, PeerNamedLikeHostName) {
  std::string peer = "name = \"" + HostName() + "\"";
  std::string error = ErrorOf(Doc({"[[peer]]", peer.c_str(), "exec = \"x\""}));
  EXPECT_NE(error.find("syncr.toml:1: peer '" + HostName() + "' has this node's own name"),
            std::string::npos)
      << error;
}

TEST(ConfigParse, BackupAndLimitRanges) {
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[backup]", "generations = 1001"})),
            "syncr.toml:4: [backup] generations = 1001: must be between 1 and 1000");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[backup]", "generations = 1000"})), "");
  std::string error = ErrorOf(Doc({NODE_A, "[limits]", "max_file_bytes = 0"}));
  EXPECT_EQ(error.rfind("syncr.toml:4: [limits] max_file_bytes = 0: must be between 1 and", 0), 0u)
      << error;
  error = ErrorOf(Doc({NODE_A, "[limits]", "window_bytes = -5"}));
  EXPECT_EQ(error.rfind("syncr.toml:4: [limits] window_bytes = -5", 0), 0u) << error;
  error = ErrorOf(Doc({NODE_A, "[limits]", "handshake_timeout_ms = 0"}));
  EXPECT_EQ(error.rfind("syncr.toml:4: [limits] handshake_timeout_ms = 0", 0), 0u) << error;
}

TEST(ConfigParse, SyncEntryValues) {
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", "exclude = []"})),
            "syncr.toml:3: [[sync]] needs a path");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", "path = \"/etc/a\"", "timeout = 0"})),
            "syncr.toml:5: [[sync]] timeout = 0: must be between 1 and 86400");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", "path = \"/etc/a\"", "actions = [\"  \"]"})),
            "syncr.toml:5: [[sync]] actions[0]: a command must not be empty");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", "path = \"/etc/a\"", "exclude = [\"/x/*\"]"})),
            "syncr.toml:5: [[sync]] exclude '/x/*': globs are relative to the entry and must "
            "not start with '/'");
}

TEST(ConfigParse, SyncPathMustBeNormalised) {
  struct Case {
    const char* path;
    const char* problem;
  };
  const Case cases[] = {
      {"etc/hosts", "must be absolute"},
      {"", "must not be empty"},
      {"/", "must not be '/' itself"},
      {"/etc/nginx/", "must not end with '/'"},
      {"/etc//hosts", "must not contain '//'"},
      {"/etc/./hosts", "must not contain '.' or '..' components"},
      {"/etc/../hosts", "must not contain '.' or '..' components"},
      {"/etc/..", "must not contain '.' or '..' components"},
  };
  for (const Case& c : cases) {
    std::string line = std::string("path = \"") + c.path + "\"";
    std::string want = std::string("syncr.toml:4: sync path '") + c.path + "' " + c.problem;
    EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", line.c_str()})), want);
  }
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", "path = \"/etc/.hidden/..x\""})), "");
}

TEST(ConfigParse, DuplicateSyncPath) {
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", "path = \"/etc/hosts\"", "[[sync]]",
                         "path = \"/etc/hosts\""})),
            "syncr.toml:5: duplicate sync path '/etc/hosts' (first at line 3)");
}

TEST(ConfigParse, OverlappingSyncPaths) {
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", "path = \"/etc/nginx\"", "[[sync]]",
                         "path = \"/etc/nginx/nginx.conf\""})),
            "syncr.toml:5: sync path '/etc/nginx/nginx.conf' (line 5) is inside '/etc/nginx' "
            "(line 3); overlapping entries are not allowed");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", "path = \"/etc/nginx/nginx.conf\"", "[[sync]]",
                         "path = \"/etc/nginx\""})),
            "syncr.toml:5: sync path '/etc/nginx' (line 5) contains '/etc/nginx/nginx.conf' "
            "(line 3); overlapping entries are not allowed");
  // A shared prefix is not an overlap.
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", "path = \"/etc/nginx\"", "[[sync]]",
                         "path = \"/etc/nginx2\""})),
            "");
}

TEST(ConfigParse, SyncPathMustNotHoldState) {
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", "path = \"/var/lib\""})),
            "syncr.toml:3: sync path '/var/lib' contains the state_dir /var/lib/syncr; syncr "
            "must not sync its own state");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", "path = \"/var/lib/syncr/state.db\""})),
            "syncr.toml:3: sync path '/var/lib/syncr/state.db' is inside the state_dir "
            "/var/lib/syncr; syncr must not sync its own state");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "[[sync]]", "path = \"/run/syncr\""})),
            "syncr.toml:3: sync path '/run/syncr' contains the socket /run/syncr/syncr.sock; "
            "syncr must not sync its own socket");
  // The check is on the disk location: root + path.
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "root = \"/tmp/a\"", "state_dir = \"/tmp/a/state\"",
                         "socket = \"/tmp/a/syncr.sock\"", "[[sync]]", "path = \"/state\""})),
            "syncr.toml:6: sync path '/state' (on disk /tmp/a/state) contains the state_dir "
            "/tmp/a/state; syncr must not sync its own state");
  EXPECT_EQ(ErrorOf(Doc({NODE_A, "root = \"/tmp/a\"", "[[sync]]", "path = \"/var/lib/syncr\""})),
            "");
}

TEST(ConfigExcludes, DefaultExcludes) {
  EXPECT_EQ(DefaultExcludes(), (std::vector<std::string>{"*.swp", "*.swx", "*~", ".#*", "4913"}));
}

TEST(ConfigExcludes, IsExcluded) {
  const std::vector<std::string>& d = DefaultExcludes();
  EXPECT_TRUE(IsExcluded(d, ".hosts.swp"));
  EXPECT_TRUE(IsExcluded(d, "conf.d/.site.conf.swx"));
  EXPECT_TRUE(IsExcluded(d, "nginx.conf~"));
  EXPECT_TRUE(IsExcluded(d, ".#nginx.conf"));
  EXPECT_TRUE(IsExcluded(d, "sites/4913"));
  EXPECT_FALSE(IsExcluded(d, "nginx.conf"));
  EXPECT_FALSE(IsExcluded(d, "49130"));
  EXPECT_FALSE(IsExcluded(d, "swp/file"));

  std::vector<std::string> globs = {"*.bak", "cache/*"};
  EXPECT_TRUE(IsExcluded(globs, "a.bak"));
  EXPECT_TRUE(IsExcluded(globs, "deep/dir/a.bak"));  // no '/': the name anywhere
  EXPECT_TRUE(IsExcluded(globs, "cache/x"));         // '/': the whole relative path
  EXPECT_FALSE(IsExcluded(globs, "cache/sub/x"));    // '*' does not cross '/'
  EXPECT_FALSE(IsExcluded(globs, "other/cache/x"));  // anchored at the entry
  EXPECT_FALSE(IsExcluded(globs, "cache"));
  EXPECT_FALSE(IsExcluded({}, "anything"));
}

Config TwoEntries(const std::string& root) {
  std::string root_line = "root = \"" + root + "\"";
  Result<Config> result =
      ParseConfig(Doc({NODE_A, root_line.c_str(), "[[sync]]", "path = \"/etc/hosts\"", "[[sync]]",
                       "path = \"/etc/nginx\"", "[[peer]]", "name = \"b\"", "exec = \"x\""}),
                  "syncr.toml");
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? *result : Config{};
}

TEST(ConfigLookup, FindEntry) {
  Config c = TwoEntries("/");
  ASSERT_EQ(c.sync.size(), 2u);
  EXPECT_EQ(c.FindEntry("/etc/hosts"), &c.sync[0]);
  EXPECT_EQ(c.FindEntry("/etc/nginx"), &c.sync[1]);
  EXPECT_EQ(c.FindEntry("/etc/nginx/conf.d/a.conf"), &c.sync[1]);
  EXPECT_EQ(c.FindEntry("/etc/nginx2"), nullptr);
  EXPECT_EQ(c.FindEntry("/etc/hosts.allow"), nullptr);
  EXPECT_EQ(c.FindEntry("/etc/hosts/x"), &c.sync[0]);
  EXPECT_EQ(c.FindEntry("/etc"), nullptr);
  EXPECT_EQ(c.FindEntry(""), nullptr);
}

TEST(ConfigLookup, FindPeer) {
  Config c = TwoEntries("/");
  ASSERT_NE(c.FindPeer("b"), nullptr);
  EXPECT_EQ(c.FindPeer("b")->exec, "x");
  EXPECT_EQ(c.FindPeer("c"), nullptr);
}

TEST(ConfigLookup, DiskPath) {
  Config c;
  c.node.root = "/";
  EXPECT_EQ(c.DiskPath("/etc/hosts"), "/etc/hosts");
  c.node.root = "/tmp/a";
  EXPECT_EQ(c.DiskPath("/etc/hosts"), "/tmp/a/etc/hosts");
  c.node.root = "/tmp/a/";
  EXPECT_EQ(c.DiskPath("/etc/hosts"), "/tmp/a/etc/hosts");
}

TEST(ConfigResolvePath, FlagThenEnvThenDefault) {
  unsetenv("SYNCR_CONFIG");
  EXPECT_EQ(ResolveConfigPath(""), "/etc/syncr/syncr.toml");
  setenv("SYNCR_CONFIG", "/tmp/env.toml", 1);
  EXPECT_EQ(ResolveConfigPath(""), "/tmp/env.toml");
  EXPECT_EQ(ResolveConfigPath("/tmp/flag.toml"), "/tmp/flag.toml");
  unsetenv("SYNCR_CONFIG");
}

TEST(ConfigLoad, MissingFile) {
  Result<Config> result = LoadConfig("/nonexistent/syncr.toml");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().ToString(),
            "cannot read config /nonexistent/syncr.toml: No such file or directory");
}

TEST(ConfigLoad, ReadsAndNamesFile) {
  char path[] = "/tmp/syncr_config_test_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string text = Doc({NODE_A, "bogus = 1"});
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  Result<Config> result = LoadConfig(path);
  unlink(path);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().ToString(), std::string(path) + ":3: unknown key 'bogus' in [node]");
}

TEST(ConfigLoad, Directory) {
  Result<Config> result = LoadConfig("/tmp");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().ToString(), "cannot read config /tmp: Is a directory");
}

TEST(ConfigSummarize, NamesNodePeersAndPaths) {
  std::string text =
      Doc({"[node]", "name = \"a\"", "[[peer]]", "name = \"b\"", "exec = \"x\"", "[[peer]]",
           "name = \"c\"", "ssh = \"root@c\"", "[[sync]]", "path = \"/etc/hosts\"",
           "actions = [\"x\", \"y\"]", "[[sync]]", "path = \"/etc/nginx\"", "exclude = [\"*.bak\"]",
           "actions = [\"reload\"]", "[[sync]]", "path = \"/etc/motd\""});
  Result<Config> result = ParseConfig(text, "/x/syncr.toml");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(Summarize(*result),
            "config /x/syncr.toml is valid\n"
            "node a (root /, state /var/lib/syncr, socket /run/syncr/syncr.sock)\n"
            "2 peers: b (exec), c (ssh root@c)\n"
            "3 synced paths: /etc/hosts (2 actions), /etc/nginx (1 action, 1 exclude), "
            "/etc/motd\n"
            "backups: 6 generations in /var/lib/syncr\n");
}

TEST(ConfigSummarize, Empty) {
  Result<Config> result = ParseConfig(Doc({NODE_A}), "s.toml");
  ASSERT_TRUE(result.ok());
  std::string summary = Summarize(*result);
  EXPECT_NE(summary.find("no peers\n"), std::string::npos) << summary;
  EXPECT_NE(summary.find("no synced paths\n"), std::string::npos) << summary;
}

// A read-only command must still find the running daemon when the file
// being edited has errors (issue 11): every value of the right type is kept.
TEST(ConfigLenient, ValidFileHasNoProblems) {
  LenientConfig c = ParseConfigLeniently(Doc({NODE_A, "socket = \"/s/a.sock\""}), "s.toml");
  EXPECT_EQ(c.problems, "");
  EXPECT_EQ(c.config.node.socket, "/s/a.sock");
}

TEST(ConfigLenient, UnknownKeyKeepsTheWellTypedValues) {
  LenientConfig c = ParseConfigLeniently(
      Doc({NODE_A, "socket = \"/s/a.sock\"", "state_dir = \"/s/state\"", "root = 7", "[[sync]]",
           "path = \"/etc/hosts\"", "actoins = [\"true\"]"}),
      "s.toml");
  EXPECT_EQ(c.problems,
            "s.toml:5: [node] root: expected a string, got an integer\n"
            "s.toml:8: unknown key 'actoins' in [[sync]]");
  EXPECT_EQ(c.config.node.socket, "/s/a.sock");
  EXPECT_EQ(c.config.node.state_dir, "/s/state");
  EXPECT_EQ(c.config.node.root, "/");  // the default: the file's value has the wrong type
  ASSERT_EQ(c.config.sync.size(), 1u);
  EXPECT_EQ(c.config.sync[0].path, "/etc/hosts");
  EXPECT_EQ(c.config.source, "s.toml");
}

TEST(ConfigLenient, SyntaxErrorKeepsTheLinesAboveIt) {
  LenientConfig c =
      ParseConfigLeniently(Doc({NODE_A, "socket = \"/s/a.sock\"", "", "[[sync]]",
                                "path = \"/etc/unterminated", "[[sync]]", "path = \"/etc/hosts\""}),
                           "s.toml");
  EXPECT_EQ(c.problems.rfind("s.toml:6: ", 0), 0u) << c.problems;
  EXPECT_EQ(c.config.node.socket, "/s/a.sock");
}

TEST(ConfigLenient, SyntaxErrorOnTheFirstLineGivesTheDefaults) {
  LenientConfig c = ParseConfigLeniently("[node\nsocket = \"/s/a.sock\"\n", "s.toml");
  EXPECT_NE(c.problems, "");
  EXPECT_EQ(c.config.node.socket, "/run/syncr/syncr.sock");
}

TEST(ConfigLenient, UnreadableFileIsAnError) {
  EXPECT_FALSE(LoadConfigLeniently("/nonexistent/syncr.toml").ok());
}

}  // namespace
}  // namespace syncr
