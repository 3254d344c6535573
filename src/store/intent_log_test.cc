#include "store/intent_log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "testing/testing.h"

namespace syncr {
namespace {

wire::Version V(const std::string& path, uint64_t counter) {
  return syncr::V(path, wire::KIND_FILE, VV({{"b", counter}}));
}

TEST(IntentLogTest, RecordsSurviveReopeningUntilCleared) {
  TempDir dir;
  {
    Result<std::unique_ptr<IntentLog>> log = IntentLog::Open(dir.path());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    ASSERT_TRUE((*log)->Record(V("/etc/a", 1)).ok());
    ASSERT_TRUE((*log)->Record(V("/etc/b", 2)).ok());
  }  // as if killed: nothing cleared
  Result<std::unique_ptr<IntentLog>> log = IntentLog::Open(dir.path());
  ASSERT_TRUE(log.ok());
  EXPECT_FALSE((*log)->empty());
  Result<std::vector<wire::Version>> pending = (*log)->Pending();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].path(), "/etc/a");
  EXPECT_EQ((*pending)[1].path(), "/etc/b");
  ASSERT_TRUE((*log)->Clear().ok());
  EXPECT_TRUE((*log)->empty());
  EXPECT_TRUE((*log)->Pending()->empty());
}

TEST(IntentLogTest, ATornLastRecordIsIgnored) {
  TempDir dir;
  {
    Result<std::unique_ptr<IntentLog>> log = IntentLog::Open(dir.path());
    ASSERT_TRUE((*log)->Record(V("/etc/a", 1)).ok());
  }
  {
    std::ofstream out(dir.path() + "/intents.log", std::ios::binary | std::ios::app);
    out << std::string("\0\0\0\x40partial", 11);  // a length of 64 and 7 bytes: torn
  }
  Result<std::unique_ptr<IntentLog>> log = IntentLog::Open(dir.path());
  Result<std::vector<wire::Version>> pending = (*log)->Pending();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].path(), "/etc/a");
}

TEST(IntentLogTest, IsPrivateToRoot) {
  TempDir dir;
  ASSERT_TRUE(IntentLog::Open(dir.path()).ok());
  struct stat st {};
  ASSERT_EQ(stat((dir.path() + "/intents.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

}  // namespace
}  // namespace syncr
