#include "store/state_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "engine/version_vector.h"
#include "testing/testing.h"

namespace syncr {
namespace {

wire::VersionVector VV(const std::string& node, uint64_t counter) {
  wire::VersionVector vv;
  SetCounter(&vv, node, counter);
  return vv;
}

wire::Version FileVersion(const std::string& path, const std::string& hash, uint64_t counter) {
  wire::Version v;
  v.set_path(path);
  v.set_kind(wire::KIND_FILE);
  v.set_hash(hash);
  *v.mutable_vv() = VV("a", counter);
  v.mutable_meta()->set_mode(0640);
  v.mutable_meta()->set_mtime_ns(123456789);
  v.set_origin("a");
  v.set_change_ns(42);
  return v;
}

class StateStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    ASSERT_FALSE(dir_.empty());
    state_dir_ = dir_ + "/state";
    SqliteConnections connections;
    Result<std::unique_ptr<StateStore>> store = StateStore::Open(state_dir_, false);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store.value());
    db_ = connections.last();
    ASSERT_NE(db_, nullptr);
  }
  void TearDown() override { store_.reset(); }

  /// What another process (the CLI) reads from the database now.
  std::optional<wire::Version> CommittedFile(const std::string& path) {
    Result<std::unique_ptr<StateStore>> reader = StateStore::Open(state_dir_, true);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    return reader.ok() ? (*reader)->GetFile(path) : std::nullopt;
  }

  TempDir tmp_;  // first, so that it is removed last
  std::string dir_;
  std::string state_dir_;
  std::unique_ptr<StateStore> store_;
  sqlite3* db_ = nullptr;  // the store's own connection
};

/// Makes the next COMMIT on `db` fail (and roll back), as a failed fsync would.
void FailNextCommit(sqlite3* db) {
  sqlite3_commit_hook(
      db, [](void*) { return 1; }, nullptr);
}

TEST_F(StateStoreTest, OpenCreatesDatabase) {
  EXPECT_TRUE(std::filesystem::exists(state_dir_ + "/state.db"));
}

TEST_F(StateStoreTest, GetFileOfUnknownPathIsEmpty) {
  EXPECT_FALSE(store_->GetFile("/etc/hosts").has_value());
}

TEST_F(StateStoreTest, PutThenGetFileRoundTrips) {
  const wire::Version v = FileVersion("/etc/hosts", std::string("\x00\x01\xfe", 3), 3);
  ASSERT_TRUE(store_->PutFile(v).ok());
  std::optional<wire::Version> got = store_->GetFile("/etc/hosts");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->SerializeAsString(), v.SerializeAsString());
}

TEST_F(StateStoreTest, PutFileReplaces) {
  ASSERT_TRUE(store_->PutFile(FileVersion("/etc/hosts", "h1", 1)).ok());
  ASSERT_TRUE(store_->PutFile(FileVersion("/etc/hosts", "h2", 2)).ok());
  std::optional<wire::Version> got = store_->GetFile("/etc/hosts");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->hash(), "h2");
  EXPECT_EQ(store_->AllFiles().size(), 1u);
}

TEST_F(StateStoreTest, AllFilesSortedByPath) {
  ASSERT_TRUE(store_->PutFile(FileVersion("/etc/b", "h", 1)).ok());
  ASSERT_TRUE(store_->PutFile(FileVersion("/etc/a", "h", 1)).ok());
  ASSERT_TRUE(store_->PutFile(FileVersion("/etc/c", "h", 1)).ok());
  std::vector<wire::Version> all = store_->AllFiles();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].path(), "/etc/a");
  EXPECT_EQ(all[1].path(), "/etc/b");
  EXPECT_EQ(all[2].path(), "/etc/c");
}

TEST_F(StateStoreTest, DataSurvivesReopen) {
  ASSERT_TRUE(store_->PutFile(FileVersion("/etc/hosts", "h1", 1)).ok());
  store_.reset();
  Result<std::unique_ptr<StateStore>> reopened = StateStore::Open(state_dir_, true);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  std::optional<wire::Version> got = (*reopened)->GetFile("/etc/hosts");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->hash(), "h1");
}

TEST_F(StateStoreTest, PeerStatePerPeerAndPath) {
  EXPECT_FALSE(store_->GetPeerHas("b", "/etc/hosts").has_value());
  ASSERT_TRUE(store_->PutPeerHas("b", "/etc/hosts", VV("a", 1)).ok());
  ASSERT_TRUE(store_->PutPeerHas("b", "/etc/motd", VV("a", 2)).ok());
  ASSERT_TRUE(store_->PutPeerHas("c", "/etc/hosts", VV("a", 7)).ok());
  ASSERT_TRUE(store_->PutPeerHas("b", "/etc/hosts", VV("a", 3)).ok());  // replaces

  std::optional<wire::VersionVector> got = store_->GetPeerHas("b", "/etc/hosts");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->SerializeAsString(), VV("a", 3).SerializeAsString());

  std::map<std::string, wire::VersionVector> all_b = store_->AllPeerHas("b");
  ASSERT_EQ(all_b.size(), 2u);
  EXPECT_EQ(Counter(all_b["/etc/hosts"], "a"), 3u);
  EXPECT_EQ(Counter(all_b["/etc/motd"], "a"), 2u);
  EXPECT_EQ(store_->AllPeerHas("c").size(), 1u);
  EXPECT_TRUE(store_->AllPeerHas("nobody").empty());
}

TEST_F(StateStoreTest, PeerHasUnderIsTheDirectoryAndWhatIsBelowItOnly) {
  for (const char* path : {"/etc/app", "/etc/app/a.conf", "/etc/app/sub/b", "/etc/app-x",
                           "/etc/app.bak", "/etc/apps/c"}) {
    ASSERT_TRUE(store_->PutPeerHas("b", path, VV("a", 1)).ok());
  }
  ASSERT_TRUE(store_->PutPeerHas("c", "/etc/app/a.conf", VV("a", 1)).ok());
  std::vector<std::string> paths;
  for (const auto& [path, vv] : store_->PeerHasUnder("b", "/etc/app")) paths.push_back(path);
  EXPECT_EQ(paths, (std::vector<std::string>{"/etc/app", "/etc/app/a.conf", "/etc/app/sub/b"}));
  EXPECT_EQ(store_->PeerHasUnder("b", "/etc/app/a.conf").size(), 1u);
  EXPECT_EQ(store_->PeerHasUnder("b", "").size(), 6u);
}

TEST_F(StateStoreTest, EventsNewestFirstAndFilteredByPath) {
  ASSERT_TRUE(store_->AddEvent({1, "/etc/a", "info", "first"}).ok());
  ASSERT_TRUE(store_->AddEvent({2, "/etc/b", "warn", "second"}).ok());
  ASSERT_TRUE(store_->AddEvent({3, "/etc/a", "info", "third"}).ok());

  std::vector<EventRecord> all = store_->Events("", 10);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].message, "third");
  EXPECT_EQ(all[2].message, "first");
  EXPECT_EQ(all[1].level, "warn");
  EXPECT_EQ(all[1].time_ns, 2);

  std::vector<EventRecord> only_a = store_->Events("/etc/a", 10);
  ASSERT_EQ(only_a.size(), 2u);
  EXPECT_EQ(only_a[0].message, "third");
  EXPECT_EQ(only_a[1].message, "first");

  EXPECT_EQ(store_->Events("", 1).size(), 1u);
}

TEST_F(StateStoreTest, EventLogIsBounded) {
  constexpr int kDocumentedBound = 10000;  // docs/architecture.md: newest 10,000
  {
    StateStore::Batch batch(*store_);
    for (int i = 0; i < kDocumentedBound + 50; ++i) {
      ASSERT_TRUE(store_->AddEvent({i, "/p", "info", "event " + std::to_string(i)}).ok());
    }
  }
  std::vector<EventRecord> all = store_->Events("", kDocumentedBound * 2);
  EXPECT_EQ(all.size(), static_cast<size_t>(kDocumentedBound));
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.front().message, "event " + std::to_string(kDocumentedBound + 49));
  EXPECT_EQ(all.back().message, "event 50");
}

TEST_F(StateStoreTest, ActionRunsRoundTripNewestFirst) {
  ActionRun r1{0, "/etc/a", "systemctl reload x", 10, 20, 0, "ok\n"};
  ActionRun r2{0, "/etc/a", "false", 30, 40, 1, ""};
  ActionRun r3{0, "/etc/b", "true", 50, 60, -1, "killed"};
  ASSERT_TRUE(store_->AddActionRun(r1).ok());
  ASSERT_TRUE(store_->AddActionRun(r2).ok());
  ASSERT_TRUE(store_->AddActionRun(r3).ok());

  std::vector<ActionRun> a = store_->ActionRuns("/etc/a", 10);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].command, "false");
  EXPECT_EQ(a[0].exit_code, 1);
  EXPECT_EQ(a[0].started_ns, 30);
  EXPECT_EQ(a[0].finished_ns, 40);
  EXPECT_EQ(a[1].output, "ok\n");
  EXPECT_GT(a[0].id, a[1].id);

  std::vector<ActionRun> all = store_->ActionRuns("", 10);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].exit_code, -1);
  EXPECT_EQ(all[0].path, "/etc/b");
}

TEST_F(StateStoreTest, ActionRunLogIsBounded) {
  constexpr int kRuns = 10050;  // more than any bound the architecture names
  {
    StateStore::Batch batch(*store_);
    for (int i = 0; i < kRuns; ++i) {
      ASSERT_TRUE(store_->AddActionRun({0, "/p", "cmd " + std::to_string(i), i, i, 0, ""}).ok());
    }
  }
  std::vector<ActionRun> all = store_->ActionRuns("", kRuns * 2);
  EXPECT_LT(all.size(), static_cast<size_t>(kRuns));
  EXPECT_LE(all.size(), 10000u);
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.front().command, "cmd " + std::to_string(kRuns - 1));  // newest kept
}

TEST_F(StateStoreTest, GenerationsNewestFirst) {
  for (int i = 1; i <= 3; ++i) {
    Generation g;
    g.path = "/etc/hosts";
    g.hash = "hash" + std::to_string(i);
    g.size = static_cast<uint64_t>(i * 10);
    g.created_ns = i;
    g.origin = "a";
    g.version = FileVersion("/etc/hosts", g.hash, static_cast<uint64_t>(i));
    ASSERT_TRUE(store_->AddGeneration(g).ok());
  }
  Generation other;
  other.path = "/etc/other";
  other.hash = "x";
  ASSERT_TRUE(store_->AddGeneration(other).ok());

  std::vector<Generation> gens = store_->Generations("/etc/hosts");
  ASSERT_EQ(gens.size(), 3u);
  EXPECT_EQ(gens[0].hash, "hash3");
  EXPECT_EQ(gens[1].hash, "hash2");
  EXPECT_EQ(gens[2].hash, "hash1");
  EXPECT_EQ(gens[0].size, 30u);
  EXPECT_EQ(Counter(gens[0].version.vv(), "a"), 3u);
  EXPECT_GT(gens[0].id, gens[1].id);
}

TEST_F(StateStoreTest, PruneKeepsNewestAndReportsUnreferencedHashes) {
  auto add = [&](const std::string& path, const std::string& hash) {
    Generation g;
    g.path = path;
    g.hash = hash;
    ASSERT_TRUE(store_->AddGeneration(g).ok());
  };
  add("/etc/hosts", "shared");  // oldest, pruned, but still used by /etc/other
  add("/etc/other", "shared");
  add("/etc/hosts", "only-here");  // pruned, referenced nowhere else
  add("/etc/hosts", "keep1");
  add("/etc/hosts", "keep2");

  Result<std::vector<std::string>> unref = store_->PruneGenerations("/etc/hosts", 2);
  ASSERT_TRUE(unref.ok()) << unref.status().ToString();
  EXPECT_EQ(*unref, std::vector<std::string>{"only-here"});
  std::vector<Generation> gens = store_->Generations("/etc/hosts");
  ASSERT_EQ(gens.size(), 2u);
  EXPECT_EQ(gens[0].hash, "keep2");
  EXPECT_EQ(gens[1].hash, "keep1");
  EXPECT_EQ(store_->Generations("/etc/other").size(), 1u);
}

TEST(StateStoreCodeTest, SqliteResultsMapToCodes) {
  EXPECT_EQ(CodeOfSqlite(SQLITE_FULL, 0), Code::kNoSpace);
  EXPECT_EQ(CodeOfSqlite(SQLITE_READONLY, 0), Code::kReadOnly);
  EXPECT_EQ(CodeOfSqlite(SQLITE_READONLY_DBMOVED, 0), Code::kReadOnly);
  EXPECT_EQ(CodeOfSqlite(SQLITE_CORRUPT, 0), Code::kCorrupt);
  EXPECT_EQ(CodeOfSqlite(SQLITE_NOTADB, 0), Code::kCorrupt);
  EXPECT_EQ(CodeOfSqlite(SQLITE_IOERR_WRITE, EIO), Code::kIO);
  EXPECT_EQ(CodeOfSqlite(SQLITE_IOERR_FSYNC, 0), Code::kIO);
  EXPECT_EQ(CodeOfSqlite(SQLITE_IOERR_WRITE, ENOSPC), Code::kNoSpace);
  EXPECT_EQ(CodeOfSqlite(SQLITE_IOERR_WRITE, EROFS), Code::kReadOnly);
  EXPECT_EQ(CodeOfSqlite(SQLITE_BUSY, 0), Code::kBusy);
  EXPECT_EQ(CodeOfSqlite(SQLITE_CANTOPEN, ENOENT), Code::kNotFound);
  EXPECT_EQ(CodeOfSqlite(SQLITE_CANTOPEN, EACCES), Code::kPermission);
  EXPECT_EQ(CodeOfSqlite(SQLITE_CANTOPEN, 0), Code::kPermission);
  EXPECT_EQ(CodeOfSqlite(SQLITE_ERROR, 0), Code::kInternal);
  EXPECT_EQ(CodeOfSqlite(SQLITE_DONE, 0), Code::kOk);
}

TEST_F(StateStoreTest, OpenOfAMissingDatabaseIsNotFound) {
  Result<std::unique_ptr<StateStore>> none = StateStore::Open(dir_ + "/none", true);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Code::kNotFound) << none.status().ToString();
}

TEST_F(StateStoreTest, OpenOfACorruptDatabaseNamesTheFileAndTheRemedy) {
  const std::string dir = dir_ + "/garbage";
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  std::FILE* f = std::fopen((dir + "/state.db").c_str(), "wb");
  ASSERT_NE(f, nullptr);
  for (int i = 0; i < 1024; ++i) std::fputs("not a database ", f);
  std::fclose(f);
  Result<std::unique_ptr<StateStore>> store = StateStore::Open(dir, false);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kCorrupt);
  const std::string message = store.status().ToString();
  EXPECT_NE(message.find(dir + "/state.db is corrupt"), std::string::npos) << message;
  EXPECT_NE(message.find("move it away"), std::string::npos) << message;
}

TEST_F(StateStoreTest, FindFileTellsNoneFromUnreadable) {
  Result<std::optional<wire::Version>> none = store_->FindFile("/etc/hosts");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  // A row that does not parse is corrupt, not absent.
  ASSERT_TRUE(Sql(db_, "INSERT INTO files (path, version) VALUES ('/etc/bad', x'ffffffff')"));
  Result<std::optional<wire::Version>> bad = store_->FindFile("/etc/bad");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kCorrupt);
}

// leveldb's background error: the first failed write is kept and returned
// by every later write, which does not touch the database; reads go on.
TEST_F(StateStoreTest, FailedWriteIsStickyAndReadsStillWork) {
  ASSERT_TRUE(store_->PutFile(FileVersion("/etc/a", "ha", 1)).ok());
  ASSERT_TRUE(store_->healthy());
  ASSERT_TRUE(Sql(db_, "PRAGMA query_only = 1"));
  Status failed = store_->PutFile(FileVersion("/etc/b", "hb", 1));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.code(), Code::kReadOnly) << failed.ToString();
  EXPECT_FALSE(store_->healthy());
  EXPECT_EQ(store_->sticky_error(), failed);

  // The cause is gone, the failure stays until restart.
  ASSERT_TRUE(Sql(db_, "PRAGMA query_only = 0"));
  EXPECT_EQ(store_->PutFile(FileVersion("/etc/c", "hc", 1)), failed);
  EXPECT_EQ(store_->PutPeerHas("b", "/etc/a", VV("a", 1)), failed);
  EXPECT_EQ(store_->AddEvent({1, "/etc/a", "info", "x"}), failed);
  EXPECT_EQ(store_->AddGeneration(Generation{}).status(), failed);
  EXPECT_FALSE(store_->GetFile("/etc/c").has_value())
      << "a write after the failure reached the database";

  std::optional<wire::Version> a = store_->GetFile("/etc/a");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->hash(), "ha");
}

TEST_F(StateStoreTest, FullDatabaseIsNoSpace) {
  ASSERT_TRUE(FillDatabase(db_));
  Status s = store_->PutObject(std::string(32, 'h'), std::string(100000, 'x'));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kNoSpace) << s.ToString();
  EXPECT_EQ(store_->sticky_error(), s);
}

// A write that fails inside a batch takes the whole transaction with it:
// nothing half-recorded is ever committed.
TEST_F(StateStoreTest, FailedWriteRollsBackTheBatch) {
  StateStore::Batch batch(*store_);
  ASSERT_TRUE(store_->PutFile(FileVersion("/etc/a", "ha", 1)).ok());
  ASSERT_TRUE(FillDatabase(db_));
  Status failed = store_->PutObject(std::string(32, 'h'), std::string(100000, 'x'));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(batch.Commit(), failed);
  EXPECT_FALSE(store_->GetFile("/etc/a").has_value());
  EXPECT_FALSE(CommittedFile("/etc/a").has_value());
}

TEST_F(StateStoreTest, FailedCommitIsStickyAndReported) {
  StateStore::Batch batch(*store_);
  ASSERT_TRUE(store_->PutFile(FileVersion("/etc/a", "ha", 1)).ok());
  FailNextCommit(db_);
  Status failed = batch.Commit();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(store_->sticky_error(), failed);
  EXPECT_FALSE(store_->GetFile("/etc/a").has_value());
  EXPECT_FALSE(CommittedFile("/etc/a").has_value());

  sqlite3_commit_hook(db_, nullptr, nullptr);
  EXPECT_EQ(store_->PutFile(FileVersion("/etc/b", "hb", 1)), failed);
  StateStore::Batch later(*store_);
  EXPECT_EQ(store_->PutFile(FileVersion("/etc/c", "hc", 1)), failed);
  EXPECT_EQ(later.Commit(), failed);
  EXPECT_FALSE(CommittedFile("/etc/c").has_value());
}

TEST_F(StateStoreTest, BatchCommitsAtCommitAndIsDurable) {
  StateStore::Batch batch(*store_);
  ASSERT_TRUE(store_->PutFile(FileVersion("/etc/a", "ha", 1)).ok());
  EXPECT_FALSE(CommittedFile("/etc/a").has_value()) << "visible before the commit";
  ASSERT_TRUE(batch.Commit().ok());
  EXPECT_TRUE(CommittedFile("/etc/a").has_value());
  EXPECT_TRUE(batch.Commit().ok()) << "a second Commit is a no-op";
}

// The destructor commits for callers that do not care (the daemon's scopes).
TEST_F(StateStoreTest, BatchNotCommittedCommitsAtScopeEnd) {
  {
    StateStore::Batch batch(*store_);
    ASSERT_TRUE(store_->PutFile(FileVersion("/etc/a", "ha", 1)).ok());
  }
  EXPECT_TRUE(CommittedFile("/etc/a").has_value());
}

TEST_F(StateStoreTest, RollbackUndoesTheBatch) {
  {
    StateStore::Batch batch(*store_);
    ASSERT_TRUE(store_->PutFile(FileVersion("/etc/a", "ha", 1)).ok());
    batch.Rollback();
  }
  EXPECT_FALSE(store_->GetFile("/etc/a").has_value());
  EXPECT_TRUE(store_->healthy());
  ASSERT_TRUE(store_->PutFile(FileVersion("/etc/b", "hb", 1)).ok());
  EXPECT_TRUE(CommittedFile("/etc/b").has_value());
}

// Inner batches are savepoints: their Rollback undoes only their writes,
// their Commit waits for the outermost one.
TEST_F(StateStoreTest, NestedBatchesCommitWithTheOutermost) {
  StateStore::Batch outer(*store_);
  ASSERT_TRUE(store_->PutFile(FileVersion("/etc/a", "ha", 1)).ok());
  {
    StateStore::Batch inner(*store_);
    ASSERT_TRUE(store_->PutFile(FileVersion("/etc/b", "hb", 1)).ok());
    inner.Rollback();
  }
  {
    StateStore::Batch inner(*store_);
    ASSERT_TRUE(store_->PutFile(FileVersion("/etc/c", "hc", 1)).ok());
    {
      StateStore::Batch innermost(*store_);
      ASSERT_TRUE(store_->PutFile(FileVersion("/etc/d", "hd", 1)).ok());
      EXPECT_TRUE(innermost.Commit().ok());
    }
    EXPECT_TRUE(inner.Commit().ok());
  }
  EXPECT_FALSE(CommittedFile("/etc/c").has_value()) << "an inner commit is not durable";
  EXPECT_TRUE(store_->GetFile("/etc/c").has_value());
  EXPECT_FALSE(store_->GetFile("/etc/b").has_value());
  ASSERT_TRUE(outer.Commit().ok());
  EXPECT_TRUE(CommittedFile("/etc/a").has_value());
  EXPECT_FALSE(CommittedFile("/etc/b").has_value());
  EXPECT_TRUE(CommittedFile("/etc/c").has_value());
  EXPECT_TRUE(CommittedFile("/etc/d").has_value());
}

TEST_F(StateStoreTest, InnerCommitReturnsTheStickyError) {
  StateStore::Batch outer(*store_);
  ASSERT_TRUE(store_->PutFile(FileVersion("/etc/a", "ha", 1)).ok());
  Status failed;
  {
    StateStore::Batch inner(*store_);
    ASSERT_TRUE(Sql(db_, "PRAGMA query_only = 1"));
    failed = store_->PutFile(FileVersion("/etc/b", "hb", 1));
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(inner.Commit(), failed);
  }
  ASSERT_TRUE(Sql(db_, "PRAGMA query_only = 0"));
  EXPECT_EQ(outer.Commit(), failed);
  EXPECT_FALSE(CommittedFile("/etc/a").has_value());
}

TEST_F(StateStoreTest, PruneOfAStoreThatFailedIsTheStickyError) {
  ASSERT_TRUE(Sql(db_, "PRAGMA query_only = 1"));
  Status failed = store_->PutFile(FileVersion("/etc/a", "ha", 1));
  ASSERT_FALSE(failed.ok());
  Result<std::vector<std::string>> pruned = store_->PruneGenerations("/etc/a", 1);
  ASSERT_FALSE(pruned.ok());
  EXPECT_EQ(pruned.status(), failed);
}

TEST_F(StateStoreTest, MarkGenerationConflict) {
  Generation g;
  g.path = "/etc/hosts";
  g.hash = "h";
  Result<int64_t> id = store_->AddGeneration(g);
  ASSERT_TRUE(id.ok());
  ASSERT_FALSE(store_->Generations("/etc/hosts")[0].conflict);
  ASSERT_TRUE(store_->MarkGenerationConflict(*id, true).ok());
  EXPECT_TRUE(store_->Generations("/etc/hosts")[0].conflict);
  ASSERT_TRUE(store_->MarkGenerationConflict(*id, false).ok());
  EXPECT_FALSE(store_->Generations("/etc/hosts")[0].conflict);
}

}  // namespace
}  // namespace syncr
