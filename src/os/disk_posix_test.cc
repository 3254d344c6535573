#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "os/disk.h"
#include "testing/testing.h"

namespace syncr {
namespace {

class DiskPosixTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    ASSERT_FALSE(dir_.empty());
    disk_ = NewConfinedDisk({dir_});
  }
  void TearDown() override { disk_.reset(); }

  TempDir tmp_;  // first, so that it is removed last
  std::string dir_;
  std::unique_ptr<Disk> disk_;
};

TEST_F(DiskPosixTest, OpenForWritingSeesAWriterUntilItCloses) {
  const std::string path = dir_ + "/f.conf";
  std::ofstream(path) << "done\n";
  EXPECT_FALSE(disk_->OpenForWriting(path)) << "nobody writes it";

  int writer = open(path.c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(writer, 0);
  EXPECT_TRUE(disk_->OpenForWriting(path)) << "a writer holds it open";
  close(writer);
  EXPECT_FALSE(disk_->OpenForWriting(path)) << "the writer closed it";

  int reader = open(path.c_str(), O_RDONLY);
  ASSERT_GE(reader, 0);
  EXPECT_FALSE(disk_->OpenForWriting(path)) << "a reader is not a writer";
  close(reader);
}

TEST_F(DiskPosixTest, OpenForWritingIsFalseForWhatItCannotTell) {
  EXPECT_FALSE(disk_->OpenForWriting(dir_ + "/missing"));
  std::filesystem::create_directory(dir_ + "/d");
  EXPECT_FALSE(disk_->OpenForWriting(dir_ + "/d"));
  std::filesystem::create_symlink(dir_ + "/d", dir_ + "/link");
  EXPECT_FALSE(disk_->OpenForWriting(dir_ + "/link"));
}

// A held directory removed and made again under its name: later writes go
// into the new directory, not into the descriptor of the removed one.
TEST_F(DiskPosixTest, HeldDirectoryRemovedAndMadeAgainIsResolvedAgain) {
  WriteMeta meta;
  meta.mode = 0644;
  Disk::Hold hold(*disk_);
  ASSERT_TRUE(disk_->ReplaceFile(dir_ + "/d/one", "1", meta).ok());
  ASSERT_TRUE(disk_->Remove(dir_ + "/d/one").ok());
  ASSERT_TRUE(disk_->RemoveDirectory(dir_ + "/d").ok());
  ASSERT_TRUE(disk_->MakeDirs(dir_ + "/d").ok());
  Status s = disk_->ReplaceFile(dir_ + "/d/two", "2", meta);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReadFile(dir_ + "/d/two"), "2");
}

// A user removes a held directory and makes it again (rm -rf d; mkdir d;
// ...) in the middle of a scan: the files of the new one must not look
// missing through the descriptor of the old one (that would send deletions).
TEST_F(DiskPosixTest, HeldDirectoryReplacedByAUserIsResolvedAgain) {
  std::filesystem::create_directory(dir_ + "/d");
  std::ofstream(dir_ + "/d/a.conf") << "a\n";
  Disk::Hold hold(*disk_);
  Result<FileInfo> before = disk_->Lstat(dir_ + "/d/a.conf");
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->type, FileType::kFile);
  std::filesystem::remove_all(dir_ + "/d");
  std::filesystem::create_directory(dir_ + "/d");
  std::ofstream(dir_ + "/d/b.conf") << "b\n";
  Result<FileInfo> after = disk_->Lstat(dir_ + "/d/b.conf");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->type, FileType::kFile) << "looked up in the removed directory";
}

// A user moves a held directory away (here out of the confinement base)
// between the staging of a file and its rename: the file must not follow.
TEST_F(DiskPosixTest, HeldDirectoryMovedAwayGetsNoFile) {
  std::filesystem::create_directory(dir_ + "/base");
  std::filesystem::create_directory(dir_ + "/base/d");
  std::unique_ptr<Disk> disk = NewConfinedDisk({dir_ + "/base"});
  WriteMeta meta;
  meta.mode = 0644;
  Disk::Hold hold(*disk);
  Result<std::string> temp = disk->StageFile(dir_ + "/base/d/x.conf", "x", meta, nullptr);
  ASSERT_TRUE(temp.ok()) << temp.status().ToString();
  std::filesystem::rename(dir_ + "/base/d", dir_ + "/outside");
  std::filesystem::create_directory(dir_ + "/base/d");
  ASSERT_TRUE(disk->SyncFilesystems({*temp}).ok());
  EXPECT_FALSE(disk->CommitStaged(*temp, dir_ + "/base/d/x.conf").ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/outside/x.conf")) << "the file left the base";
}

// Held directories serve many paths, and nothing is held after the Hold.
TEST_F(DiskPosixTest, HeldDirectoriesServeABatchAndAreReleasedAfter) {
  WriteMeta meta;
  meta.mode = 0644;
  {
    Disk::Hold hold(*disk_);
    for (int i = 0; i < 50; ++i) {
      const std::string p = dir_ + "/h/f" + std::to_string(i);
      ASSERT_TRUE(disk_->ReplaceFile(p, std::to_string(i), meta).ok()) << p;
    }
  }
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(ReadFile(dir_ + "/h/f" + std::to_string(i)), std::to_string(i));
  // Released: the directory can be replaced by another and is found anew.
  std::filesystem::rename(dir_ + "/h", dir_ + "/h.old");
  std::filesystem::create_directory(dir_ + "/h");
  ASSERT_TRUE(disk_->ReplaceFile(dir_ + "/h/new", "n", meta).ok());
  EXPECT_EQ(ReadFile(dir_ + "/h/new"), "n");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/h.old/new"));
}

}  // namespace
}  // namespace syncr
