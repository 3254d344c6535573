#include "engine/path_policy.h"

#include <gtest/gtest.h>

#include <string>

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

}  // namespace
}  // namespace syncr
