#include "store/backup_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "common/util.h"
#include "engine/version_vector.h"
#include "testing/testing.h"

namespace syncr {
namespace {

class BackupStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    ASSERT_FALSE(dir_.empty());
    config_.node.name = "a";
    config_.node.root = dir_ + "/root";
    config_.node.state_dir = dir_ + "/state";
    config_.backup.generations = 3;
    std::filesystem::create_directories(config_.node.root + "/etc");
    Result<std::unique_ptr<StateStore>> store = StateStore::Open(config_.node.state_dir, false);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store.value());
    backups_ = std::make_unique<BackupStore>(config_, PosixDisk(), *store_);
  }
  void TearDown() override {
    backups_.reset();
    store_.reset();
  }

  /// A version of /etc/hosts holding `content`, counter `n`, from node a.
  wire::Version VersionOf(std::string_view content, uint64_t n) const {
    wire::Version v;
    v.set_path("/etc/hosts");
    v.set_kind(wire::KIND_FILE);
    v.set_hash(Sha256(content));
    SetCounter(v.mutable_vv(), "a", n);
    v.mutable_meta()->set_mode(0644);
    v.mutable_meta()->set_mtime_ns(1'700'000'000'000'000'000);
    v.mutable_meta()->set_size(content.size());
    v.set_origin("a");
    v.set_change_ns(static_cast<int64_t>(n));
    return v;
  }

  /// Content too large to be kept inline in state.db: it lives in objects/.
  static std::string Large(int i) {
    return std::string(1 << 20, static_cast<char>('a' + i)) + "large " + std::to_string(i);
  }

  std::string ObjectFile(std::string_view content) const {
    const std::string hex = Hex(Sha256(content));
    return config_.node.state_dir + "/objects/" + hex.substr(0, 2) + "/" + hex;
  }

  void RecordContents(int count) {
    for (int i = 1; i <= count; ++i) {
      const std::string content = "content " + std::to_string(i) + "\n";
      ASSERT_TRUE(
          backups_->Record(VersionOf(content, static_cast<uint64_t>(i)), content, false).ok());
    }
  }

  TempDir tmp_;  // first, so that it is removed last
  std::string dir_;
  Config config_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<BackupStore> backups_;
};

TEST_F(BackupStoreTest, FirstRecordIsGenerationOne) {
  const std::string content = "127.0.0.1 localhost\n";
  ASSERT_TRUE(backups_->Record(VersionOf(content, 1), content, false).ok());
  Result<std::string> got = backups_->Content("/etc/hosts", 1);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, content);
  std::vector<Generation> gens = store_->Generations("/etc/hosts");
  ASSERT_EQ(gens.size(), 1u);
  EXPECT_EQ(gens[0].hash, Sha256(content));
  EXPECT_EQ(gens[0].size, content.size());
  EXPECT_EQ(gens[0].origin, "a");
  EXPECT_FALSE(gens[0].conflict);
}

TEST_F(BackupStoreTest, LargeContentIsAnObjectUnderStateDir) {
  const std::string content = Large(1);
  ASSERT_TRUE(backups_->Record(VersionOf(content, 1), content, false).ok());
  EXPECT_EQ(ReadFile(ObjectFile(content)), content);
  Result<std::string> got = backups_->Content("/etc/hosts", 1);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, content);
}

TEST_F(BackupStoreTest, ObjectDirectoriesArePrivateWhateverTheUmask) {
  const mode_t old = umask(022);
  const std::string content = Large(2);
  const bool recorded = backups_->Record(VersionOf(content, 1), content, false).ok();
  umask(old);
  ASSERT_TRUE(recorded);
  const std::string object = ObjectFile(content);
  const std::string fan_out = object.substr(0, object.rfind('/'));
  for (const std::string& path : {fan_out.substr(0, fan_out.rfind('/')), fan_out, object}) {
    struct stat st {};
    ASSERT_EQ(lstat(path.c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_mode & 077, 0u) << path << " is mode " << std::oct << (st.st_mode & 07777);
  }
}

TEST_F(BackupStoreTest, RotationKeepsConfiguredGenerations) {
  RecordContents(5);
  std::vector<Generation> gens = store_->Generations("/etc/hosts");
  ASSERT_EQ(gens.size(), 3u);
  EXPECT_EQ(gens[0].hash, Sha256("content 5\n"));
  EXPECT_EQ(gens[1].hash, Sha256("content 4\n"));
  EXPECT_EQ(gens[2].hash, Sha256("content 3\n"));
  for (int n = 1; n <= 3; ++n) {
    Result<std::string> got = backups_->Content("/etc/hosts", n);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, "content " + std::to_string(6 - n) + "\n") << "generation " << n;
  }
}

TEST_F(BackupStoreTest, LargeRotationKeepsContentAndRemovesPrunedObjects) {
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(
        backups_->Record(VersionOf(Large(i), static_cast<uint64_t>(i)), Large(i), false).ok());
  }
  ASSERT_EQ(store_->Generations("/etc/hosts").size(), 3u);
  for (int n = 1; n <= 3; ++n) {
    Result<std::string> got = backups_->Content("/etc/hosts", n);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(*got == Large(6 - n)) << "generation " << n;
  }
  EXPECT_FALSE(std::filesystem::exists(ObjectFile(Large(1))));
  EXPECT_FALSE(std::filesystem::exists(ObjectFile(Large(2))));
  EXPECT_TRUE(std::filesystem::exists(ObjectFile(Large(3))));
  EXPECT_TRUE(std::filesystem::exists(ObjectFile(Large(5))));
}

TEST_F(BackupStoreTest, ObjectStillReferencedIsNotRemoved) {
  // A, B, C, A: the oldest A is pruned but the newest generation still uses it.
  const std::string a = Large(1);
  for (const std::string& c : {a, Large(2), Large(3), a}) {
    ASSERT_TRUE(backups_->Record(VersionOf(c, 1), c, false).ok());
  }
  ASSERT_EQ(store_->Generations("/etc/hosts").size(), 3u);
  EXPECT_TRUE(std::filesystem::exists(ObjectFile(a)));
  Result<std::string> got = backups_->Content("/etc/hosts", 1);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == a);
}

TEST_F(BackupStoreTest, SmallContentStillReferencedIsKept) {
  for (const char* c : {"A", "B", "C", "A"}) {
    ASSERT_TRUE(backups_->Record(VersionOf(c, 1), c, false).ok());
  }
  Result<std::string> got = backups_->Content("/etc/hosts", 1);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "A");
}

TEST_F(BackupStoreTest, ContentOutOfRangeIsError) {
  RecordContents(2);
  EXPECT_FALSE(backups_->Content("/etc/hosts", 0).ok());
  EXPECT_FALSE(backups_->Content("/etc/hosts", 3).ok());
  EXPECT_FALSE(backups_->Content("/etc/other", 1).ok());
  EXPECT_EQ(backups_->Content("/etc/hosts", 3).status().code(), Code::kNotFound);
}

TEST_F(BackupStoreTest, CorruptObjectIsError) {
  const std::string content = Large(1);
  ASSERT_TRUE(backups_->Record(VersionOf(content, 1), content, false).ok());
  ASSERT_TRUE(std::filesystem::exists(ObjectFile(content)));
  std::ofstream(ObjectFile(content), std::ios::binary | std::ios::trunc) << "tampered";
  Result<std::string> got = backups_->Content("/etc/hosts", 1);
  EXPECT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kCorrupt);
}

// Objects are not synced one by one: a crash can leave one cut short. The
// next record of the same content writes it again instead of trusting the name.
TEST_F(BackupStoreTest, ObjectCutShortIsWrittenAgain) {
  const std::string content = Large(1);
  ASSERT_TRUE(backups_->Record(VersionOf(content, 1), content, false).ok());
  std::filesystem::resize_file(ObjectFile(content), 0);
  ASSERT_TRUE(backups_->Record(VersionOf(Large(2), 2), Large(2), false).ok());
  ASSERT_TRUE(backups_->Record(VersionOf(content, 3), content, false).ok());
  Result<std::string> got = backups_->Content("/etc/hosts", 1);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, content);
}

TEST_F(BackupStoreTest, SameContentIsNotDuplicated) {
  const std::string content = "same\n";
  ASSERT_TRUE(backups_->Record(VersionOf(content, 1), content, false).ok());
  ASSERT_TRUE(backups_->Record(VersionOf(content, 2), content, false).ok());
  EXPECT_EQ(store_->Generations("/etc/hosts").size(), 1u);
}

TEST_F(BackupStoreTest, ConflictRecordIsKeptEvenIfSameContent) {
  const std::string content = "same\n";
  ASSERT_TRUE(backups_->Record(VersionOf(content, 1), content, false).ok());
  wire::Version loser = VersionOf(content, 1);
  loser.set_origin("b");
  ASSERT_TRUE(backups_->Record(loser, content, true).ok());
  std::vector<Generation> gens = store_->Generations("/etc/hosts");
  ASSERT_EQ(gens.size(), 2u);
  EXPECT_TRUE(gens[0].conflict);
  EXPECT_EQ(gens[0].origin, "b");
  EXPECT_FALSE(gens[1].conflict);
}

TEST_F(BackupStoreTest, ConflictRecordIsFlagged) {
  ASSERT_TRUE(backups_->Record(VersionOf("mine", 1), "mine", false).ok());
  wire::Version theirs = VersionOf("theirs", 1);
  theirs.set_origin("b");
  ASSERT_TRUE(backups_->Record(theirs, "theirs", true).ok());
  std::vector<Generation> gens = store_->Generations("/etc/hosts");
  ASSERT_EQ(gens.size(), 2u);
  EXPECT_TRUE(gens[0].conflict);
  EXPECT_EQ(gens[0].hash, Sha256("theirs"));
  EXPECT_EQ(gens[0].version.origin(), "b");
  Result<std::string> got = backups_->Content("/etc/hosts", 1);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "theirs");
}

class BackupStoreBesideTest : public BackupStoreTest {
 protected:
  void SetUp() override {
    BackupStoreTest::SetUp();
    config_.backup.beside = true;
  }
  std::string Beside(int n) const { return config_.node.root + "/etc/hosts." + std::to_string(n); }
};

TEST_F(BackupStoreBesideTest, FilesBesideNewestFirst) {
  RecordContents(5);
  EXPECT_EQ(ReadFile(Beside(1)), "content 5\n");
  EXPECT_EQ(ReadFile(Beside(2)), "content 4\n");
  EXPECT_EQ(ReadFile(Beside(3)), "content 3\n");
  EXPECT_FALSE(std::filesystem::exists(Beside(4)));
  EXPECT_FALSE(std::filesystem::exists(config_.node.state_dir + "/objects"));
  for (int n = 1; n <= 3; ++n) {
    Result<std::string> got = backups_->Content("/etc/hosts", n);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, "content " + std::to_string(6 - n) + "\n") << "generation " << n;
  }
}

TEST_F(BackupStoreBesideTest, BesideFileCarriesMode) {
  RecordContents(1);
  std::filesystem::perms p = std::filesystem::status(Beside(1)).permissions();
  EXPECT_EQ(p & std::filesystem::perms::mask, std::filesystem::perms(0644));
}

TEST_F(BackupStoreBesideTest, SameContentIsNotRotated) {
  RecordContents(1);
  ASSERT_TRUE(backups_->Record(VersionOf("content 1\n", 2), "content 1\n", false).ok());
  EXPECT_FALSE(std::filesystem::exists(Beside(2)));
  EXPECT_EQ(store_->Generations("/etc/hosts").size(), 1u);
}

}  // namespace
}  // namespace syncr
