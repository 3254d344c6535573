#include "common/status.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

namespace syncr {
namespace {

TEST(StatusTest, OkHasCodeOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.ToString(), "ok");
}

TEST(StatusTest, SysMapsErrnoToCode) {
  const std::vector<std::pair<int, Code>> cases = {
      {ENOENT, Code::kNotFound},      {ENOTDIR, Code::kNotFound}, {EEXIST, Code::kExists},
      {ENOSPC, Code::kNoSpace},       {EDQUOT, Code::kNoSpace},   {EROFS, Code::kReadOnly},
      {EACCES, Code::kPermission},    {EPERM, Code::kPermission}, {EIO, Code::kIO},
      {ENAMETOOLONG, Code::kBadName}, {EILSEQ, Code::kBadName},   {EBUSY, Code::kBusy},
      {ETXTBSY, Code::kBusy},         {EFBIG, Code::kTooBig},     {EXDEV, Code::kIO},
      {ENOTEMPTY, Code::kIO},
  };
  for (const auto& [err, code] : cases) {
    Status s = Status::Sys("open", "/etc/hosts", err);
    EXPECT_FALSE(s.ok()) << err;
    EXPECT_EQ(s.code(), code) << err << " is " << CodeName(s.code());
    EXPECT_EQ(s.err(), err);
    EXPECT_EQ(s.path(), "/etc/hosts");
  }
}

TEST(StatusTest, SysWithoutErrnoIsStillAFailure) {
  Status s = Status::Sys("open", "/etc/hosts", 0);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kInternal);
}

TEST(StatusTest, SysSaysWhatFailedWhere) {
  EXPECT_EQ(Status::Sys("rename /etc/.hosts.tmp ->", "/etc/hosts", ENOSPC).ToString(),
            "rename /etc/.hosts.tmp -> /etc/hosts: No space left on device");
}

TEST(StatusTest, ErrorIsInvalidInput) {
  Status s = Status::Error("syncr.toml:3: bad key");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kInvalid);
  EXPECT_EQ(s.err(), 0);
  EXPECT_EQ(s.ToString(), "syncr.toml:3: bad key");
}

TEST(StatusTest, WithCodeKeepsCodeMessageAndPath) {
  Status s = Status::WithCode(Code::kCorrupt, "/etc/hosts: content does not match", "/etc/hosts");
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_EQ(s.path(), "/etc/hosts");
  EXPECT_EQ(s.ToString(), "/etc/hosts: content does not match");
}

TEST(StatusTest, WithCodeOkIsNeverOk) {
  EXPECT_FALSE(Status::WithCode(Code::kOk, "confused caller").ok());
}

TEST(StatusTest, RefusedAndTooBig) {
  EXPECT_EQ(Status::Refused("refused path /x: excluded").code(), Code::kRefused);
  Status big = Status::TooBig("/srv/big", 2048, 1024);
  EXPECT_EQ(big.code(), Code::kTooBig);
  EXPECT_EQ(big.path(), "/srv/big");
  EXPECT_EQ(big.ToString(), "/srv/big: 2048 bytes is more than max_file_bytes (1024)");
}

TEST(StatusTest, EqualityComparesEverything) {
  EXPECT_EQ(Status::Sys("open", "/a", EIO), Status::Sys("open", "/a", EIO));
  EXPECT_NE(Status::Sys("open", "/a", EIO), Status::Sys("open", "/b", EIO));
  EXPECT_NE(Status::Error("x"), Status::WithCode(Code::kCorrupt, "x"));
}

TEST(StatusTest, EveryCodeHasANameAndEveryFailureARemedy) {
  for (int c = static_cast<int>(Code::kNotFound); c <= static_cast<int>(Code::kInternal); ++c) {
    const Code code = static_cast<Code>(c);
    EXPECT_NE(CodeName(code), "unknown") << c;
    EXPECT_FALSE(Remedy(code).empty()) << c;
  }
  EXPECT_EQ(CodeName(Code::kNoSpace), "no space");
  EXPECT_EQ(CodeName(Code::kReadOnly), "read-only filesystem");
}

TEST(StatusTest, ResultCarriesTheStatus) {
  Result<int> r = Status::Sys("read", "/x", EIO);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIO);
  Result<int> v = 3;
  EXPECT_EQ(v.status().code(), Code::kOk);
}

}  // namespace
}  // namespace syncr
