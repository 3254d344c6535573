#include "os/temp_names.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace syncr {
namespace {

// Restores the process's token after a test that sets one.
class TempNamesTest : public testing::Test {
 protected:
  void TearDown() override { SetTempToken(saved_); }
  const std::string saved_ = TempToken();
};

TEST_F(TempNamesTest, TheProcessHasAValidTokenBeforeAnyIsSet) {
  EXPECT_TRUE(IsValidTempToken(TempToken())) << TempToken();
  EXPECT_NE(NewTempToken(), NewTempToken());
}

TEST_F(TempNamesTest, ANameWeMadeIsOurs) {
  const std::string name = NewTempName("f.conf");
  EXPECT_EQ(name.rfind(".syncr-f.conf." + TempToken() + ".", 0), 0u) << name;
  EXPECT_TRUE(IsSyncrTempName(name)) << name;
  EXPECT_NE(NewTempName("f.conf"), name);  // a fresh one each time
}

// SPEC 11: a user's file that only looks like ours is the user's, including
// every name the temp files had before the token.
TEST_F(TempNamesTest, ALookAlikeIsNotOurs) {
  const std::string token = TempToken();
  for (const std::string& name :
       std::vector<std::string>{".syncr-user.abc123.tmp", ".syncr-f.conf.0123456789abcdef.tmp",
                                ".syncr-x.tmp", ".syncr-.tmp", ".syncr-f.conf." + token + ".tmp",
                                ".syncr-f.conf." + token + ".0123456789abcdeX.tmp",
                                ".syncr-f.conf." + token + "0.0123456789abcdef.tmp",
                                "syncr-f.conf." + token + ".0123456789abcdef.tmp",
                                ".syncr-f.conf." + token + ".0123456789abcdef.tmp~"}) {
    EXPECT_FALSE(IsSyncrTempName(name)) << name;
  }
  EXPECT_TRUE(IsSyncrTempName(".syncr-f.conf." + TempToken() + ".0123456789abcdef.tmp"));
}

// Another node's temp (or ours from before a new token) carries another
// token: not ours to skip or remove.
TEST_F(TempNamesTest, OnlyThisProcesssTokenCounts) {
  const std::string before = NewTempName("f");
  SetTempToken(NewTempToken());
  EXPECT_FALSE(IsSyncrTempName(before)) << before;
  EXPECT_TRUE(IsSyncrTempName(NewTempName("f")));
}

// The target's name may itself look like a temp name; only the tail decides.
TEST_F(TempNamesTest, ATempOfALookAlikeIsOurs) {
  EXPECT_TRUE(IsSyncrTempName(NewTempName(".syncr-user.abc123.tmp")));
  EXPECT_TRUE(IsSyncrTempName(NewTempName(std::string(300, 'n'))));
  EXPECT_LE(NewTempName(std::string(300, 'n')).size(), 255u);
}

TEST_F(TempNamesTest, ValidTokensAreThirtyTwoLowerHexDigits) {
  EXPECT_TRUE(IsValidTempToken(std::string(32, 'a')));
  EXPECT_FALSE(IsValidTempToken(std::string(31, 'a')));
  EXPECT_FALSE(IsValidTempToken(std::string(33, 'a')));
  EXPECT_FALSE(IsValidTempToken(std::string(32, 'A')));
  EXPECT_FALSE(IsValidTempToken(""));
}

}  // namespace
}  // namespace syncr
