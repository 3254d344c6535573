#include "store/temp_token.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "os/temp_names.h"
#include "testing/testing.h"

namespace syncr {
namespace {

TEST(TempTokenTest, MadeOnceThenTheSame) {
  TempDir tmp;
  Result<std::string> first = LoadTempToken(tmp.path(), true);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(IsValidTempToken(*first)) << *first;
  Result<std::string> again = LoadTempToken(tmp.path(), true);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *first);
  struct stat st {};
  ASSERT_EQ(stat((tmp.path() + "/temp_token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(TempTokenTest, MissingWithoutCreateIsNotFound) {
  TempDir tmp;
  Result<std::string> token = LoadTempToken(tmp.path(), false);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), Code::kNotFound);
}

// A damaged token is never silently replaced: the temps it marks would
// then look like a user's files forever.
TEST(TempTokenTest, AFileWithoutATokenIsCorrupt) {
  TempDir tmp;
  std::ofstream(tmp.path() + "/temp_token") << "not a token\n";
  Result<std::string> token = LoadTempToken(tmp.path(), true);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), Code::kCorrupt);
  EXPECT_NE(token.status().ToString().find("temp_token"), std::string::npos);
}

}  // namespace
}  // namespace syncr
