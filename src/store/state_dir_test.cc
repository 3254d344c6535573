#include "store/state_dir.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "store/state_store.h"
#include "testing/testing.h"

namespace syncr {
namespace {

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

void MakeFile(const std::string& path, mode_t mode) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, mode);
  ASSERT_GE(fd, 0) << path;
  close(fd);
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

// Sets the umask for one test and restores it.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(umask(mask)) {}
  ~ScopedUmask() { umask(old_); }

 private:
  mode_t old_;
};

TEST(StateDir, CreatesAMissingDirectory0700) {
  TempDir tmp;
  ScopedUmask mask(022);
  const std::string dir = tmp.path() + "/state";
  ASSERT_TRUE(MakeStateDirPrivate(dir).ok());
  EXPECT_EQ(ModeOf(dir), 0700u);
}

TEST(StateDir, TakesGroupAndOtherBitsOffEverything) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/state";
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
  MakeFile(dir + "/state.db", 0644);
  MakeFile(dir + "/state.db-wal", 0666);
  MakeFile(dir + "/intents.log", 0600);
  ASSERT_EQ(mkdir((dir + "/objects").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir + "/objects/ab").c_str(), 0755), 0);
  ASSERT_EQ(chmod((dir + "/objects/ab").c_str(), 0775), 0);
  MakeFile(dir + "/objects/ab/abcd", 0640);
  MakeFile(tmp.path() + "/outside", 0644);
  ASSERT_EQ(symlink((tmp.path() + "/outside").c_str(), (dir + "/link").c_str()), 0);

  ASSERT_TRUE(MakeStateDirPrivate(dir).ok());
  EXPECT_EQ(ModeOf(dir), 0700u);
  EXPECT_EQ(ModeOf(dir + "/state.db"), 0600u);
  EXPECT_EQ(ModeOf(dir + "/state.db-wal"), 0600u);
  EXPECT_EQ(ModeOf(dir + "/intents.log"), 0600u);
  EXPECT_EQ(ModeOf(dir + "/objects"), 0700u);
  EXPECT_EQ(ModeOf(dir + "/objects/ab"), 0700u);
  EXPECT_EQ(ModeOf(dir + "/objects/ab/abcd"), 0600u);
  EXPECT_EQ(ModeOf(tmp.path() + "/outside"), 0644u) << "followed a symlink";
}

TEST(StateDir, NotADirectoryIsAnError) {
  TempDir tmp;
  MakeFile(tmp.path() + "/file", 0600);
  Status s = MakeStateDirPrivate(tmp.path() + "/file");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find(tmp.path() + "/file"), std::string::npos) << s.ToString();
}

// The store's files are born private whatever the umask: SQLite gives the
// -wal and -shm the database's own mode.
TEST(StateDir, StoreFilesAre0600UnderUmask022) {
  TempDir tmp;
  ScopedUmask mask(022);
  const std::string dir = tmp.path() + "/state";
  Result<std::unique_ptr<StateStore>> store = StateStore::Open(dir, false);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->AddEvent(EventRecord{1, "/etc/hosts", "info", "a line"}).ok());
  for (const char* name : {"state.db", "state.db-wal", "state.db-shm"}) {
    EXPECT_EQ(ModeOf(dir + "/" + name), 0600u) << name;
  }
}

}  // namespace
}  // namespace syncr
