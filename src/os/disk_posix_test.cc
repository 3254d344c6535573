#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "os/disk.h"
#include "os/temp_names.h"
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

// The staged file is provably ours: its name carries this node's token, so
// a start after a crash removes it and nothing that merely looks like it.
TEST_F(DiskPosixTest, AStagedFileCarriesTheToken) {
  WriteMeta meta;
  Result<std::string> temp = disk_->StageFile(dir_ + "/f.conf", "x", meta, nullptr);
  ASSERT_TRUE(temp.ok()) << temp.status().ToString();
  EXPECT_TRUE(IsSyncrTempName(BaseName(*temp))) << *temp;
  EXPECT_NE(BaseName(*temp).find(TempToken()), std::string::npos) << *temp;
  disk_->DiscardStaged(*temp);
  EXPECT_FALSE(std::filesystem::exists(*temp));
}

/// Runs `check` in a child process that permissions apply to (as nobody
/// when the tests run as root: root reads anything). Returns what `check`
/// returned: "" for success, else what went wrong.
std::string Unprivileged(const std::function<std::string()>& check) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    close(fds[0]);
    std::string out;
    if (geteuid() == 0 &&
        (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) {
      out = "cannot drop root";
    } else {
      out = check();
    }
    if (write(fds[1], out.data(), out.size()) < 0) _exit(2);
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) out += " (the child failed)";
  return out;
}

/// "" if `s` failed with `code`, else what it was.
std::string ExpectCode(const Status& s, Code code) {
  if (!s.ok() && s.code() == code) return "";
  return "got " + std::string(CodeName(s.code())) + ": " + s.ToString();
}

TEST_F(DiskPosixTest, MissingPathIsOkAndMissing) {
  for (const std::string& path : {dir_ + "/none", dir_ + "/no/such/dir"}) {
    Result<FileInfo> info = disk_->Lstat(path);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->type, FileType::kMissing) << path;
    Result<Snapshot> snap = disk_->Observe(path, 100);
    ASSERT_TRUE(snap.ok()) << snap.status().ToString();
    EXPECT_EQ(snap->info.type, FileType::kMissing) << path;
  }
}

TEST_F(DiskPosixTest, ContentOverTheLimitIsTooBig) {
  std::ofstream(dir_ + "/big") << std::string(200, 'x');
  Result<Snapshot> snap = disk_->Observe(dir_ + "/big", 100);
  EXPECT_EQ(ExpectCode(snap.status(), Code::kTooBig), "");
}

// A path that cannot be looked at is an error, never "missing": the scan
// would record a deletion and every peer would delete the file.
TEST_F(DiskPosixTest, UnsearchableDirectoryIsAnErrorNotMissing) {
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  std::filesystem::create_directory(dir_ + "/d");
  std::ofstream(dir_ + "/d/f") << "x";
  ASSERT_EQ(chmod((dir_ + "/d").c_str(), 0444), 0);  // listable, not searchable
  EXPECT_EQ(Unprivileged([&] {
              std::string why = ExpectCode(disk_->Lstat(dir_ + "/d/f").status(), Code::kPermission);
              if (why.empty()) {
                why = ExpectCode(disk_->Observe(dir_ + "/d/f", 100).status(), Code::kPermission);
              }
              // A listing whose entries cannot be stat'ed must not leave them out.
              if (why.empty())
                why = ExpectCode(disk_->List(dir_ + "/d").status(), Code::kPermission);
              return why;
            }),
            "");
}

// A directory's xattrs that cannot be read are unknown, not none: taken for
// none, they would be removed on every peer.
TEST_F(DiskPosixTest, UnreadableDirectoryIsAnErrorNotOneWithoutXattrs) {
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  std::filesystem::create_directory(dir_ + "/e");
  ASSERT_EQ(chmod((dir_ + "/e").c_str(), 0111), 0);  // searchable, not readable
  EXPECT_EQ(Unprivileged([&] {
              Result<FileInfo> info = disk_->Lstat(dir_ + "/e");
              if (!info.ok() || info->type != FileType::kDirectory) return std::string("lstat");
              return ExpectCode(disk_->Observe(dir_ + "/e", 100).status(), Code::kPermission);
            }),
            "");
}

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
