#include "engine/path_policy.h"

#include <gtest/gtest.h>

#include <string>

#include "common/escape.h"
#include "os/temp_names.h"

namespace syncr {
namespace {

Config OneEntry() {
  Config config;
  SyncEntry entry;
  entry.path = "/etc/app";
  entry.exclude = {"*.swp"};
  config.sync.push_back(entry);
  return config;
}

TEST(PathPolicyTest, CheckSyncedPathAcceptsASyncedPath) {
  EXPECT_TRUE(CheckSyncedPath(OneEntry(), "/etc/app/main.conf").ok());
}

// SPEC 11: a name is any bytes but NUL and '/'; the refusal shows it escaped.
TEST(PathPolicyTest, AnyNameButNulIsSynced) {
  const Config config = OneEntry();
  for (const std::string& path :
       {std::string("/etc/app/new\nline"), std::string("/etc/app/tab\there"),
        std::string("/etc/app/esc\x1b[31m"), std::string("/etc/app/latin1-\xe9t\xe9")}) {
    EXPECT_TRUE(IsCleanPath(path)) << EscapeName(path);
    EXPECT_FALSE(IsNotSynced(config, path)) << EscapeName(path);
    EXPECT_TRUE(CheckSyncedPath(config, path).ok()) << EscapeName(path);
  }
  const std::string nul("/etc/app/a\0b", 12);
  EXPECT_FALSE(IsCleanPath(nul));
  EXPECT_EQ(CheckSyncedPath(config, nul).ToString().find('\0'), std::string::npos);
  EXPECT_NE(CheckSyncedPath(config, "/etc/other\nx").ToString().find("/etc/other\\nx"),
            std::string::npos);
}

// The receiver tells a refusal (not retried) from a failure by the code; the
// text keeps saying "refused path" for people and older daemons.
TEST(PathPolicyTest, CheckSyncedPathRefusalsHaveCodeRefused) {
  const Config config = OneEntry();
  for (const std::string& path : {std::string("/etc/app/../shadow"), std::string("/etc/other"),
                                  std::string("/etc/app/x.swp")}) {
    Status s = CheckSyncedPath(config, path);
    EXPECT_EQ(s.code(), Code::kRefused) << path;
    EXPECT_EQ(s.ToString().rfind("refused path", 0), 0u) << s.ToString();
  }
}

// A peer whose entry is not beside = true sends app.conf.1; here it would
// overwrite a backup generation: refused, so the sender shows why.
TEST(PathPolicyTest, AFileNNameIsRefusedWhereTheEntryKeepsBackupsBeside) {
  Config config = OneEntry();
  EXPECT_TRUE(CheckSyncedPath(config, "/etc/app/app.conf.1").ok());
  config.sync[0].beside = true;
  Status s = CheckSyncedPath(config, "/etc/app/app.conf.1");
  EXPECT_EQ(s.code(), Code::kRefused) << s.ToString();
  EXPECT_NE(s.ToString().find("beside"), std::string::npos) << s.ToString();
  EXPECT_TRUE(CheckSyncedPath(config, "/etc/app/app.conf").ok());
}

// SPEC 11: a user's file named like a temp file is synced, sent and
// accepted like any other; only a name with this node's token is not.
TEST(PathPolicyTest, OnlyThisNodesOwnTempNamesAreNotSynced) {
  const Config config = OneEntry();
  for (const std::string name :
       {".syncr-user.abc123.tmp", ".syncr-f.conf.0123456789abcdef.tmp", ".syncr-x.tmp"}) {
    EXPECT_FALSE(IsNotSynced(config, "/etc/app/" + name)) << name;
    EXPECT_TRUE(CheckSyncedPath(config, "/etc/app/sub/" + name).ok()) << name;
  }
  const std::string ours = "/etc/app/" + NewTempName("f.conf");
  EXPECT_TRUE(IsNotSynced(config, ours));
  EXPECT_EQ(CheckSyncedPath(config, ours).code(), Code::kRefused);
}

}  // namespace
}  // namespace syncr
