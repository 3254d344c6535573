#include "engine/node.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/util.h"
#include "engine/version_vector.h"
#include "os/temp_names.h"
#include "testing/testing.h"

namespace syncr {
namespace {

constexpr char kPath[] = "/etc/app.conf";
constexpr int64_t kRemoteMtime = 1'600'000'000'123'456'789;

/// PosixDisk, except that writes to one chosen path fail like a full disk:
/// every write (`fail_write_of`), or only the final rename (`fail_rename_of`).
class FaultyDisk : public Disk {
 public:
  Result<FileInfo> Lstat(const std::string& path) override {
    if (path == fail_read_of) return ReadFail(path);
    return Real().Lstat(path);
  }
  Result<Xattrs> GetXattrs(const std::string& path) override {
    if (path == fail_read_of) return ReadFail(path);
    return Real().GetXattrs(path);
  }
  Result<Snapshot> Observe(const std::string& path, uint64_t max_bytes) override {
    if (path == fail_read_of) return ReadFail(path);
    return Real().Observe(path, max_bytes);
  }
  Status ReplaceFile(const std::string& path, std::string_view content,
                     const WriteMeta& meta) override {
    if (path == fail_replace_of || path == fail_rename_of) return Fail(path);
    return Real().ReplaceFile(path, content, meta);
  }
  Result<std::string> StageFile(const std::string& path, std::string_view content,
                                const WriteMeta& meta, Xattrs* xattrs_after) override {
    if (path == fail_replace_of) return Fail(path);
    return Real().StageFile(path, content, meta, xattrs_after);
  }
  Status SyncFilesystems(const std::vector<std::string>& paths) override {
    return Real().SyncFilesystems(paths);
  }
  Status CommitStaged(const std::string& temp, const std::string& path) override {
    if (path == fail_replace_of || path == fail_rename_of) return Fail(path);
    Status s = Real().CommitStaged(temp, path);
    if (s.ok() && after_commit) after_commit(path);
    return s;
  }
  Status SyncDirectory(const std::string& dir) override { return Real().SyncDirectory(dir); }
  void DiscardStaged(const std::string& temp) override { Real().DiscardStaged(temp); }
  Status WriteUnsynced(const std::string& path, std::string_view content,
                       const WriteMeta& meta) override {
    if (path == fail_replace_of) return Fail(path);
    return Real().WriteUnsynced(path, content, meta);
  }
  Status SetMeta(const std::string& path, const WriteMeta& meta) override {
    if (path == fail_replace_of) return Fail(path);
    return Real().SetMeta(path, meta);
  }
  Status Remove(const std::string& path) override { return Real().Remove(path); }
  Status MakeDirs(const std::string& path) override { return Real().MakeDirs(path); }
  Status EnsureDirectory(const std::string& path, const WriteMeta& meta) override {
    return Real().EnsureDirectory(path, meta);
  }
  Status ReplaceSymlink(const std::string& path, const std::string& target,
                        const WriteMeta& meta) override {
    return Real().ReplaceSymlink(path, target, meta);
  }
  Status RemoveDirectory(const std::string& path) override { return Real().RemoveDirectory(path); }
  Result<std::vector<std::pair<std::string, FileType>>> List(const std::string& dir) override {
    return Real().List(dir);
  }

  /// Disk path whose every write fails with ENOSPC; empty: none.
  std::string fail_replace_of;
  /// Disk path whose content can be staged but not renamed into place.
  std::string fail_rename_of;
  /// Disk path that cannot be looked at (EIO): not missing, unreadable.
  std::string fail_read_of;
  /// Runs right after a successful rename into place (a user racing us).
  std::function<void(const std::string& path)> after_commit;

 private:
  static Disk& Real() { return PosixDisk(); }
  static Status Fail(const std::string& path) { return Status::Sys("write", path, ENOSPC); }
  static Status ReadFail(const std::string& path) { return Status::Sys("lstat", path, EIO); }
};

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

struct stat StatOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st;
}

/// One node over its own temp root and state dir.
struct TestNode {
  TestNode(const std::string& dir, const std::string& name) {
    config.node.name = name;
    config.node.root = dir + "/root-" + name;
    config.node.state_dir = dir + "/state-" + name;
    config.backup.generations = 3;
    std::filesystem::create_directories(config.node.root + "/etc");
    SqliteConnections connections;
    Result<std::unique_ptr<StateStore>> opened = StateStore::Open(config.node.state_dir, false);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    if (opened.ok()) store = std::move(opened.value());
    db = connections.last();
    backups = std::make_unique<BackupStore>(config, disk, *store);
    node = std::make_unique<Node>(config, disk, *store, *backups);
  }

  std::string DiskPath() const { return config.DiskPath(kPath); }

  /// Writes `content` to the file and scans it; the resulting local version.
  wire::Version Edit(const std::string& content) {
    WriteFile(DiskPath(), content);
    Result<std::optional<Change>> change = node->ScanLocal(kPath);
    EXPECT_TRUE(change.ok()) << change.status().ToString();
    EXPECT_TRUE(change.ok() && change->has_value());
    if (!change.ok() || !change->has_value()) return wire::Version();
    return (*change)->version;
  }

  /// What a peer would send for our current version.
  wire::Update UpdateFor(const wire::Version& v) {
    wire::Update u;
    *u.mutable_version() = v;
    Result<std::string> content = node->ContentFor(v);
    EXPECT_TRUE(content.ok()) << content.status().ToString();
    if (content.ok()) u.set_content(*content);
    return u;
  }

  Config config;
  FaultyDisk disk;
  std::unique_ptr<StateStore> store;
  sqlite3* db = nullptr;  // the store's own connection, to make it fail
  std::unique_ptr<BackupStore> backups;
  std::unique_ptr<Node> node;
};

class NodeTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    ASSERT_FALSE(dir_.empty());
    a_ = std::make_unique<TestNode>(dir_, "a");
    ASSERT_NE(a_->store, nullptr);
  }
  void TearDown() override { a_.reset(); }

  /// An update for kPath made on node "b" with vector `vv`.
  static wire::Update RemoteUpdate(const std::string& content, const wire::VersionVector& vv,
                                   int64_t change_ns, uint32_t mode = 0640) {
    wire::Update u;
    wire::Version* v = u.mutable_version();
    v->set_path(kPath);
    v->set_kind(wire::KIND_FILE);
    *v->mutable_vv() = vv;
    v->set_hash(Sha256(content));
    v->mutable_meta()->set_mode(mode);
    v->mutable_meta()->set_uid(geteuid());
    v->mutable_meta()->set_gid(getegid());
    v->mutable_meta()->set_mtime_ns(kRemoteMtime);
    v->mutable_meta()->set_size(content.size());
    v->set_origin("b");
    v->set_change_ns(change_ns);
    u.set_content(content);
    return u;
  }

  /// A directory or deletion from node "b" (mode 0755, no content).
  static wire::Update NoContentUpdate(const std::string& path, wire::Kind kind,
                                      const wire::VersionVector& vv, int64_t change_ns) {
    wire::Update u;
    wire::Version* v = u.mutable_version();
    v->set_path(path);
    v->set_kind(kind);
    *v->mutable_vv() = vv;
    v->mutable_meta()->set_mode(0755);
    v->set_origin("b");
    v->set_change_ns(change_ns);
    return u;
  }

  std::string StoredBytes() {
    std::optional<wire::Version> v = a_->store->GetFile(kPath);
    return v ? v->SerializeAsString() : std::string("<none>");
  }

  std::string GenerationsDump() {
    std::string out;
    for (const Generation& g : a_->store->Generations(kPath)) {
      out += std::to_string(g.id) + ":" + Hex(g.hash) + ":" + (g.conflict ? "c" : "-") + ";";
    }
    return out;
  }

  bool TempFilesLeft() {
    for (const auto& e : std::filesystem::directory_iterator(a_->config.node.root + "/etc")) {
      if (IsSyncrTempName(e.path().filename().string())) return true;
    }
    return false;
  }

  TempDir tmp_;  // first, so that it is removed last
  std::string dir_;
  std::unique_ptr<TestNode> a_;
};

// ---- ScanLocal ----

TEST_F(NodeTest, ScanOfMissingNeverSeenPathIsNoChange) {
  Result<std::optional<Change>> change = a_->node->ScanLocal(kPath);
  ASSERT_TRUE(change.ok()) << change.status().ToString();
  EXPECT_FALSE(change->has_value());
  EXPECT_FALSE(a_->store->GetFile(kPath).has_value());
}

TEST_F(NodeTest, ScanNewFileMakesFirstVersion) {
  WriteFile(a_->DiskPath(), "hello\n");
  Result<std::optional<Change>> change = a_->node->ScanLocal(kPath);
  ASSERT_TRUE(change.ok()) << change.status().ToString();
  ASSERT_TRUE(change->has_value());
  const wire::Version& v = (*change)->version;
  EXPECT_EQ(ToString(v.vv()), "a:1");
  EXPECT_EQ(v.kind(), wire::KIND_FILE);
  EXPECT_EQ(v.hash(), Sha256("hello\n"));
  EXPECT_EQ(v.origin(), "a");
  EXPECT_EQ((*change)->event, "created");

  std::optional<wire::Version> stored = a_->store->GetFile(kPath);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->SerializeAsString(), v.SerializeAsString());
  Result<std::string> gen1 = a_->backups->Content(kPath, 1);
  ASSERT_TRUE(gen1.ok()) << gen1.status().ToString();
  EXPECT_EQ(*gen1, "hello\n");
}

TEST_F(NodeTest, SameBytesRewriteMakesNoVersion) {
  a_->Edit("hello\n");
  const std::string before = StoredBytes();
  WriteFile(a_->DiskPath(), "hello\n");  // new mtime, same bytes
  Result<std::optional<Change>> change = a_->node->ScanLocal(kPath);
  ASSERT_TRUE(change.ok()) << change.status().ToString();
  EXPECT_FALSE(change->has_value());
  EXPECT_EQ(StoredBytes(), before);
}

TEST_F(NodeTest, ContentChangeMakesNextVersion) {
  a_->Edit("one\n");
  wire::Version v = a_->Edit("two\n");
  EXPECT_EQ(ToString(v.vv()), "a:2");
  EXPECT_EQ(a_->store->Generations(kPath).size(), 2u);
}

TEST_F(NodeTest, ChmodMakesNewVersion) {
  a_->Edit("hello\n");
  ASSERT_EQ(chmod(a_->DiskPath().c_str(), 0600), 0);
  Result<std::optional<Change>> change = a_->node->ScanLocal(kPath);
  ASSERT_TRUE(change.ok()) << change.status().ToString();
  ASSERT_TRUE(change->has_value());
  EXPECT_EQ(ToString((*change)->version.vv()), "a:2");
  EXPECT_EQ((*change)->version.meta().mode(), 0600u);
  EXPECT_EQ((*change)->event, "metadata");
}

TEST_F(NodeTest, ChownMakesNewVersionWhenRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to chown (owners only count as root)";
  const wire::Version before = a_->Edit("hello\n");
  ASSERT_EQ(chown(a_->DiskPath().c_str(), before.meta().uid() + 4321, -1), 0);
  Result<std::optional<Change>> change = a_->node->ScanLocal(kPath);
  ASSERT_TRUE(change.ok()) << change.status().ToString();
  ASSERT_TRUE(change->has_value());
  EXPECT_EQ((*change)->version.meta().uid(), before.meta().uid() + 4321);
  EXPECT_EQ(ToString((*change)->version.vv()), "a:2");
}

TEST_F(NodeTest, DeletionMakesTombstone) {
  a_->Edit("hello\n");
  ASSERT_EQ(unlink(a_->DiskPath().c_str()), 0);
  Result<std::optional<Change>> change = a_->node->ScanLocal(kPath);
  ASSERT_TRUE(change.ok()) << change.status().ToString();
  ASSERT_TRUE(change->has_value());
  EXPECT_EQ((*change)->version.kind(), wire::KIND_DELETED);
  EXPECT_EQ(ToString((*change)->version.vv()), "a:2");
  EXPECT_EQ((*change)->event, "deleted");
  std::optional<wire::Version> stored = a_->store->GetFile(kPath);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->kind(), wire::KIND_DELETED);

  // Still missing: the tombstone is not made again.
  Result<std::optional<Change>> again = a_->node->ScanLocal(kPath);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
}

// ---- ApplyRemote ----

TEST_F(NodeTest, ApplyNewFileWritesContentModeAndMtime) {
  const wire::Update u = RemoteUpdate("from b\n", VV({{"b", 1}}), 100, 0640);
  Result<ApplyOutcome> out = a_->node->ApplyRemote(u);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->decision, RemoteDecision::kApply);
  ASSERT_TRUE(out->applied.has_value());
  EXPECT_EQ(out->applied->event, "created");
  EXPECT_EQ(ToString(out->now_have), "b:1");

  EXPECT_EQ(ReadFile(a_->DiskPath()), "from b\n");
  struct stat st = StatOf(a_->DiskPath());
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec, kRemoteMtime);
  EXPECT_FALSE(TempFilesLeft());

  std::optional<wire::Version> stored = a_->store->GetFile(kPath);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(ToString(stored->vv()), "b:1");
  EXPECT_EQ(stored->origin(), "b");
  Result<std::string> gen1 = a_->backups->Content(kPath, 1);
  ASSERT_TRUE(gen1.ok()) << gen1.status().ToString();
  EXPECT_EQ(*gen1, "from b\n");
}

TEST_F(NodeTest, ApplyNewerOverLocalIsModified) {
  a_->Edit("old\n");
  const wire::Update u = RemoteUpdate("new\n", VV({{"a", 1}, {"b", 1}}), 100);
  Result<ApplyOutcome> out = a_->node->ApplyRemote(u);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->decision, RemoteDecision::kApply);
  EXPECT_FALSE(out->local_first.has_value());
  ASSERT_TRUE(out->applied.has_value());
  EXPECT_EQ(out->applied->event, "modified");
  EXPECT_EQ(ReadFile(a_->DiskPath()), "new\n");
  std::vector<Generation> gens = a_->store->Generations(kPath);
  ASSERT_EQ(gens.size(), 2u);
  EXPECT_EQ(gens[0].hash, Sha256("new\n"));
  EXPECT_EQ(gens[1].hash, Sha256("old\n"));
}

TEST_F(NodeTest, ApplyThenScanIsNoEcho) {
  ASSERT_TRUE(a_->node->ApplyRemote(RemoteUpdate("from b\n", VV({{"b", 1}}), 100)).ok());
  Result<std::optional<Change>> change = a_->node->ScanLocal(kPath);
  ASSERT_TRUE(change.ok()) << change.status().ToString();
  EXPECT_FALSE(change->has_value()) << "applying a remote version must not make a local one";
}

// Where the daemon watches the directory, our rename is announced as our own
// (its IN_MOVED_TO is dropped) and its stat trusted; a user's edit after it
// still changes the stat (ctime) and is a new version.
TEST_F(NodeTest, ApplyIntoWatchedDirectoryIsOwnRenameAndLaterEditsCount) {
  const std::string dir = DirName(a_->DiskPath());
  a_->node->SetWatching({[dir](const std::string& d) { return d == dir; }, nullptr});
  Result<ApplyOutcome> out = a_->node->ApplyRemote(RemoteUpdate("from b\n", VV({{"b", 1}}), 100));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(out->own_rename);
  Result<std::optional<Change>> echo = a_->node->ScanLocal(kPath);
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  EXPECT_FALSE(echo->has_value()) << "our own write must not make a local version";

  WriteFile(a_->DiskPath(), "from a\n");  // same size, in place: a new ctime and mtime
  Result<std::optional<Change>> edit = a_->node->ScanLocal(kPath);
  ASSERT_TRUE(edit.ok()) << edit.status().ToString();
  ASSERT_TRUE(edit->has_value()) << "a user's edit after our rename was taken for ours";
  EXPECT_EQ((*edit)->version.hash(), Sha256("from a\n"));
}

// The same path twice in one batch, and a user's write lands right after
// the first rename (before any event can be read): the second decision must
// see that write, not the trusted stat of our own rename.
TEST_F(NodeTest, UserWriteBetweenTwoAppliesOfOnePathInABatchIsNotLost) {
  const std::string dir = DirName(a_->DiskPath());
  a_->node->SetWatching({[dir](const std::string& d) { return d == dir; }, nullptr});
  const std::string user = "user's edit, made right after our rename\n";
  bool raced = false;
  a_->disk.after_commit = [&](const std::string& path) {
    if (raced) return;
    raced = true;
    WriteFile(path, user);
  };
  const wire::Update first = RemoteUpdate("first from b\n", VV({{"b", 1}}), 100);
  const wire::Update second = RemoteUpdate("second from b\n", VV({{"b", 2}}), 200);
  std::vector<Result<ApplyOutcome>> out = a_->node->ApplyBatch({&first, &second});
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].ok()) << out[0].status().ToString();
  ASSERT_TRUE(out[1].ok()) << out[1].status().ToString();
  ASSERT_TRUE(raced);
  EXPECT_TRUE(out[1]->local_first.has_value()) << "the user's write was taken for our own";
  bool kept = ReadFile(a_->DiskPath()) == user;
  for (const Generation& g : a_->store->Generations(kPath)) kept |= g.hash == Sha256(user);
  EXPECT_TRUE(kept) << "the user's content is neither on disk nor kept as a generation";
}

TEST_F(NodeTest, ApplyIntoUnwatchedDirectoryIsNotOwnRename) {
  a_->node->SetWatching({[](const std::string&) { return false; }, nullptr});
  Result<ApplyOutcome> out = a_->node->ApplyRemote(RemoteUpdate("from b\n", VV({{"b", 1}}), 100));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_FALSE(out->own_rename) << "no event will come to drop: the scan must read the file";
}

TEST_F(NodeTest, AppliedDirectoryIsAnnouncedBeforeAnythingIsWrittenIntoIt) {
  const std::string file_disk = a_->config.DiskPath("/etc/conf.d/x.conf");
  std::vector<std::string> made;
  bool file_there_when_made = true;
  a_->node->SetWatching({nullptr, [&](const std::string& p) {
                           made.push_back(p);
                           file_there_when_made = std::filesystem::exists(file_disk);
                         }});
  wire::Update dir;
  wire::Version* v = dir.mutable_version();
  v->set_path("/etc/conf.d");
  v->set_kind(wire::KIND_DIRECTORY);
  *v->mutable_vv() = VV({{"b", 1}});
  v->mutable_meta()->set_mode(0755);
  v->set_origin("b");
  wire::Update file = RemoteUpdate("inside\n", VV({{"b", 1}}), 100);
  file.mutable_version()->set_path("/etc/conf.d/x.conf");
  std::vector<Result<ApplyOutcome>> out = a_->node->ApplyBatch({&dir, &file});
  ASSERT_TRUE(out[0].ok()) << out[0].status().ToString();
  ASSERT_TRUE(out[1].ok()) << out[1].status().ToString();
  EXPECT_EQ(made, std::vector<std::string>{"/etc/conf.d"});
  EXPECT_FALSE(file_there_when_made) << "announced after a file was written into it";
  EXPECT_EQ(ReadFile(file_disk), "inside\n");
}

// A directory's deletion that arrives in the batch that also creates a file
// in it (the file's own tombstone still queued behind its creation on the
// sender): the file is renamed into place before the deletion is decided, so
// the deletion finds a synced file and waits for it, instead of taking the
// staged temp file for a file it must keep and recording the directory as
// deleted while it stays.
TEST_F(NodeTest, DeletionOfADirectoryWaitsForAFileStagedInItInTheSameBatch) {
  SyncEntry entry;
  entry.path = "/etc/conf.d";
  a_->config.sync.push_back(entry);
  const std::string dir_disk = a_->config.DiskPath("/etc/conf.d");
  auto version = [](const std::string& path, wire::Kind kind, const wire::VersionVector& vv) {
    return NoContentUpdate(path, kind, vv, 100);
  };
  const wire::Update made = version("/etc/conf.d", wire::KIND_DIRECTORY, VV({{"b", 1}}));
  ASSERT_TRUE(a_->node->ApplyBatch({&made})[0].ok());
  wire::Update file = RemoteUpdate("inside\n", VV({{"b", 1}}), 100);
  file.mutable_version()->set_path("/etc/conf.d/x.conf");
  const wire::Update gone = version("/etc/conf.d", wire::KIND_DELETED, VV({{"b", 2}}));
  std::vector<Result<ApplyOutcome>> out = a_->node->ApplyBatch({&file, &gone});
  ASSERT_TRUE(out[0].ok()) << out[0].status().ToString();
  EXPECT_FALSE(out[1].ok()) << "deleted a directory that still holds a synced file";
  EXPECT_EQ(ReadFile(dir_disk + "/x.conf"), "inside\n");
  std::optional<wire::Version> stored = a_->store->GetFile("/etc/conf.d");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->kind(), wire::KIND_DIRECTORY) << "recorded as deleted while it stays";

  // The file's tombstone comes next: then the directory goes.
  wire::Update file_gone = version("/etc/conf.d/x.conf", wire::KIND_DELETED, VV({{"b", 2}}));
  out = a_->node->ApplyBatch({&file_gone, &gone});
  ASSERT_TRUE(out[0].ok()) << out[0].status().ToString();
  ASSERT_TRUE(out[1].ok()) << out[1].status().ToString();
  EXPECT_FALSE(std::filesystem::exists(dir_disk));
}

// Issue 12 (found by the soak): a directory's deletion applied, then an
// older creation of a file in it arrives (relayed by a third node that had
// not seen the deletion yet). Writing it would re-create the directory, and
// the next scan would call that a new directory of ours, dated now: it would
// beat its owner's deletion everywhere. The same origin deleted the parent
// after it made the file, so the file is acknowledged and not written; a
// later creation by that origin, or one by another node, is written.
TEST_F(NodeTest, AFileItsOriginDeletedWithItsDirectoryIsNotWrittenBack) {
  SyncEntry entry;
  entry.path = "/etc/conf.d";
  a_->config.sync.push_back(entry);
  const std::string dir_disk = a_->config.DiskPath("/etc/conf.d/sub");
  auto version = NoContentUpdate;
  const wire::Update root = version("/etc/conf.d", wire::KIND_DIRECTORY, VV({{"b", 1}}), 100);
  const wire::Update made = version("/etc/conf.d/sub", wire::KIND_DIRECTORY, VV({{"b", 1}}), 100);
  const wire::Update gone = version("/etc/conf.d/sub", wire::KIND_DELETED, VV({{"b", 2}}), 300);
  ASSERT_TRUE(a_->node->ApplyBatch({&root, &made})[1].ok());
  ASSERT_TRUE(a_->node->ApplyBatch({&gone})[0].ok());
  ASSERT_FALSE(std::filesystem::exists(dir_disk));

  wire::Update old = RemoteUpdate("inside\n", VV({{"b", 1}}), 200);  // made before the rm -r
  old.mutable_version()->set_path("/etc/conf.d/sub/x.conf");
  Result<ApplyOutcome> out = a_->node->ApplyRemote(old);
  ASSERT_FALSE(out.ok()) << "written, or acknowledged as held";
  EXPECT_EQ(out.status().code(), Code::kUnavailable) << out.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(dir_disk)) << "the deleted directory came back";
  EXPECT_FALSE(a_->store->GetFile("/etc/conf.d/sub/x.conf"));
  Result<std::optional<Change>> scan = a_->node->ScanLocal("/etc/conf.d/sub");
  ASSERT_TRUE(scan.ok());
  EXPECT_FALSE(scan->has_value()) << "a scan invented a directory";

  wire::Update later = RemoteUpdate("again\n", VV({{"b", 2}}), 400);  // made after it
  later.mutable_version()->set_path("/etc/conf.d/sub/y.conf");
  wire::Update other = RemoteUpdate("from c\n", VV({{"c", 1}}), 200);  // c's, maybe unseen by b
  other.mutable_version()->set_path("/etc/conf.d/sub/z.conf");
  other.mutable_version()->set_origin("c");
  std::vector<Result<ApplyOutcome>> both = a_->node->ApplyBatch({&later, &other});
  ASSERT_TRUE(both[0].ok()) << both[0].status().ToString();
  ASSERT_TRUE(both[1].ok()) << both[1].status().ToString();
  EXPECT_EQ(both[0]->decision, RemoteDecision::kApply);
  EXPECT_EQ(both[1]->decision, RemoteDecision::kApply);
  EXPECT_EQ(ReadFile(dir_disk + "/y.conf"), "again\n");
  EXPECT_EQ(ReadFile(dir_disk + "/z.conf"), "from c\n");

  // The directory those writes made is what we found, not an edit of ours:
  // a baseline, which b's own later version of it (here: a deletion) takes
  // over without a conflict. So it is after a restart (a new Node), which
  // finds it holding files recorded as peers'.
  a_->node = std::make_unique<Node>(a_->config, a_->disk, *a_->store, *a_->backups);
  scan = a_->node->ScanLocal("/etc/conf.d/sub");
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  ASSERT_TRUE(scan->has_value());
  EXPECT_TRUE((*scan)->version.baseline()) << (*scan)->version.DebugString();
  wire::Update y_gone = version("/etc/conf.d/sub/y.conf", wire::KIND_DELETED, VV({{"b", 3}}), 500);
  wire::Update z_gone = version("/etc/conf.d/sub/z.conf", wire::KIND_DELETED, VV({{"c", 2}}), 500);
  z_gone.mutable_version()->set_origin("c");
  const wire::Update gone_again =
      version("/etc/conf.d/sub", wire::KIND_DELETED, VV({{"b", 4}}), 500);
  std::vector<Result<ApplyOutcome>> last = a_->node->ApplyBatch({&y_gone, &z_gone, &gone_again});
  for (const auto& r : last) ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(last[2]->decision, RemoteDecision::kTakeOverBaseline);
  EXPECT_FALSE(std::filesystem::exists(dir_disk));
}

// Issue 12: killed after a peer's version reached the disk but before it was
// recorded, the node must not take what it finds at its next start for a
// local edit (which could beat the origin's later real edit): the intent log
// says which version it was writing, and a disk that holds exactly that
// version adopts it.
TEST_F(NodeTest, AVersionACrashKeptFromBeingRecordedIsAdoptedNotInvented) {
  Result<std::unique_ptr<IntentLog>> log = IntentLog::Open(dir_ + "/state-a");
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  a_->node->SetIntentLog(log->get());
  const wire::Version old = a_->Edit("old\n");
  // What a peer sent and we were writing when killed: on disk, not stored.
  wire::Update update = RemoteUpdate("new from b\n", VV({{"a", 1}, {"b", 1}}), 100, 0600);
  ASSERT_TRUE((*log)->Record(update.version()).ok());
  WriteFile(a_->DiskPath(), "new from b\n");
  chmod(a_->DiskPath().c_str(), 0600);

  Result<std::vector<Change>> adopted = a_->node->AdoptIntents();
  ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
  ASSERT_EQ(adopted->size(), 1u);
  EXPECT_EQ((*adopted)[0].version.path(), kPath);
  EXPECT_EQ((*adopted)[0].event, "modified");
  std::optional<wire::Version> stored = a_->store->GetFile(kPath);
  ASSERT_TRUE(stored);
  EXPECT_EQ(ToString(stored->vv()), ToString(update.version().vv()));
  EXPECT_TRUE((*log)->empty());
  Result<std::optional<Change>> scan = a_->node->ScanLocal(kPath);
  ASSERT_TRUE(scan.ok());
  EXPECT_FALSE(scan->has_value()) << "the adopted version was taken for a local edit";
  (void)old;
}

TEST_F(NodeTest, AnIntentTheDiskDoesNotHoldIsDroppedAndTheScanDatesTheEditByItsMtime) {
  Result<std::unique_ptr<IntentLog>> log = IntentLog::Open(dir_ + "/state-a");
  ASSERT_TRUE(log.ok());
  a_->node->SetIntentLog(log->get());
  a_->Edit("old\n");
  wire::Update update = RemoteUpdate("never renamed\n", VV({{"a", 1}, {"b", 1}}), 100);
  ASSERT_TRUE((*log)->Record(update.version()).ok());
  WriteFile(a_->DiskPath(), "a local edit\n");  // not what the log announced
  // Made an hour ago, as far as its mtime says (an offline edit, SPEC 6).
  const time_t hour_ago = time(nullptr) - 3600;
  const timespec times[2] = {{0, UTIME_OMIT}, {hour_ago, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, a_->DiskPath().c_str(), times, 0), 0);
  const int64_t mtime = int64_t{hour_ago} * 1000000000LL;
  Result<std::vector<Change>> adopted = a_->node->AdoptIntents();
  ASSERT_TRUE(adopted.ok());
  EXPECT_TRUE(adopted->empty());
  Result<std::optional<Change>> scan = a_->node->ScanLocal(kPath);
  ASSERT_TRUE(scan.ok() && scan->has_value());
  EXPECT_EQ((*scan)->version.change_ns(), mtime) << "dated by the scan, not by the edit";
}

// A peer's vector is stored as sent. If it is not canonical (a duplicate entry
// for this node), the next local edit must still make a newer version, or
// every peer would ignore that edit as old.
TEST_F(NodeTest, LocalEditAfterNonCanonicalRemoteVectorIsNewer) {
  wire::VersionVector sent;
  for (auto [node, counter] : {std::pair{"a", 1}, std::pair{"a", 5}, std::pair{"b", 1}}) {
    wire::VectorEntry* e = sent.add_entries();
    e->set_node(node);
    e->set_counter(static_cast<uint64_t>(counter));
  }
  ASSERT_TRUE(a_->node->ApplyRemote(RemoteUpdate("from b\n", sent, 1)).ok());
  const wire::Version mine = a_->Edit("local edit\n");
  EXPECT_EQ(Compare(mine.vv(), sent), Order::kNewer) << ToString(mine.vv());
}

TEST_F(NodeTest, SameUpdateTwiceIsIgnoredTheSecondTime) {
  const wire::Update u = RemoteUpdate("from b\n", VV({{"b", 1}}), 100);
  ASSERT_TRUE(a_->node->ApplyRemote(u).ok());
  const std::string gens_before = GenerationsDump();
  Result<ApplyOutcome> second = a_->node->ApplyRemote(u);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->decision, RemoteDecision::kIgnore);
  EXPECT_FALSE(second->applied.has_value());
  EXPECT_EQ(ToString(second->now_have), "b:1");
  EXPECT_EQ(GenerationsDump(), gens_before);
}

TEST_F(NodeTest, OlderUpdateIsIgnoredAndDiskKept) {
  a_->Edit("one\n");
  a_->Edit("two\n");
  wire::Update old = RemoteUpdate("one\n", VV({{"a", 1}}), 1);
  Result<ApplyOutcome> out = a_->node->ApplyRemote(old);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->decision, RemoteDecision::kIgnore);
  EXPECT_EQ(ReadFile(a_->DiskPath()), "two\n");
  EXPECT_EQ(ToString(out->now_have), "a:2");
}

TEST_F(NodeTest, ApplyTombstoneRemovesFile) {
  a_->Edit("doomed\n");
  wire::Update u;
  u.mutable_version()->set_path(kPath);
  u.mutable_version()->set_kind(wire::KIND_DELETED);
  *u.mutable_version()->mutable_vv() = VV({{"a", 1}, {"b", 1}});
  u.mutable_version()->set_origin("b");
  Result<ApplyOutcome> out = a_->node->ApplyRemote(u);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->decision, RemoteDecision::kApply);
  ASSERT_TRUE(out->applied.has_value());
  EXPECT_EQ(out->applied->event, "deleted");
  EXPECT_FALSE(std::filesystem::exists(a_->DiskPath()));
  Result<std::optional<Change>> rescan = a_->node->ScanLocal(kPath);
  ASSERT_TRUE(rescan.ok());
  EXPECT_FALSE(rescan->has_value());
}

TEST_F(NodeTest, LocalEditBeforeApplyBecomesVersionFirst) {
  a_->Edit("one\n");
  WriteFile(a_->DiskPath(), "unsettled local edit\n");  // not scanned yet
  // b saw a:1 and changed it: concurrent with the unsettled local edit.
  const wire::Update u = RemoteUpdate("b's edit\n", VV({{"a", 1}, {"b", 1}}), 1);
  Result<ApplyOutcome> out = a_->node->ApplyRemote(u);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_TRUE(out->local_first.has_value());
  EXPECT_EQ(ToString(out->local_first->version.vv()), "a:2");
  // The local edit is later (change_ns = now vs 1): it wins and stays on disk.
  EXPECT_EQ(out->decision, RemoteDecision::kConflictKeepLocal);
  EXPECT_EQ(ReadFile(a_->DiskPath()), "unsettled local edit\n");
}

TEST_F(NodeTest, ConcurrentRemoteWinsKeepsLocalAsConflictGeneration) {
  const wire::Version mine = a_->Edit("mine\n");
  const wire::Update theirs = RemoteUpdate("theirs\n", VV({{"b", 1}}), mine.change_ns() + 1);
  Result<ApplyOutcome> out = a_->node->ApplyRemote(theirs);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->decision, RemoteDecision::kConflictTakeRemote);
  EXPECT_FALSE(out->note.empty());
  EXPECT_EQ(ReadFile(a_->DiskPath()), "theirs\n");
  EXPECT_EQ(ToString(out->now_have), "a:1,b:1");

  std::optional<wire::Version> stored = a_->store->GetFile(kPath);
  ASSERT_TRUE(stored.has_value());
  EXPECT_TRUE(stored->conflict());
  EXPECT_EQ(stored->hash(), Sha256("theirs\n"));
  EXPECT_EQ(ToString(stored->vv()), "a:1,b:1");

  std::vector<Generation> gens = a_->store->Generations(kPath);
  ASSERT_GE(gens.size(), 2u);
  EXPECT_EQ(gens[0].hash, Sha256("theirs\n"));
  EXPECT_FALSE(gens[0].conflict);
  EXPECT_EQ(gens[1].hash, Sha256("mine\n"));
  EXPECT_TRUE(gens[1].conflict);
  Result<std::string> loser = a_->backups->Content(kPath, 2);
  ASSERT_TRUE(loser.ok()) << loser.status().ToString();
  EXPECT_EQ(*loser, "mine\n");
}

TEST_F(NodeTest, ConcurrentLocalWinsKeepsRemoteAsConflictGeneration) {
  const wire::Version mine = a_->Edit("mine\n");
  const wire::Update theirs = RemoteUpdate("theirs\n", VV({{"b", 1}}), mine.change_ns() - 1);
  Result<ApplyOutcome> out = a_->node->ApplyRemote(theirs);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->decision, RemoteDecision::kConflictKeepLocal);
  EXPECT_FALSE(out->applied.has_value());
  EXPECT_EQ(ReadFile(a_->DiskPath()), "mine\n");
  EXPECT_EQ(ToString(out->now_have), "a:1,b:1");

  std::optional<wire::Version> stored = a_->store->GetFile(kPath);
  ASSERT_TRUE(stored.has_value());
  EXPECT_TRUE(stored->conflict());
  EXPECT_EQ(stored->hash(), Sha256("mine\n"));

  std::vector<Generation> gens = a_->store->Generations(kPath);
  ASSERT_FALSE(gens.empty());
  EXPECT_EQ(gens[0].hash, Sha256("mine\n"));  // generation 1 is the current content
  EXPECT_FALSE(gens[0].conflict);
  int conflict_gen = 0;
  for (size_t i = 0; i < gens.size(); ++i) {
    if (gens[i].conflict) conflict_gen = static_cast<int>(i) + 1;
  }
  ASSERT_NE(conflict_gen, 0) << GenerationsDump();
  EXPECT_EQ(gens[conflict_gen - 1].hash, Sha256("theirs\n"));
  Result<std::string> loser = a_->backups->Content(kPath, conflict_gen);
  ASSERT_TRUE(loser.ok()) << loser.status().ToString();
  EXPECT_EQ(*loser, "theirs\n");
}

// Two real nodes edit concurrently and exchange their versions: both must end
// with the same content and the same vector, whichever order things arrive in.
TEST_F(NodeTest, ConcurrentEditsConvergeOnBothNodes) {
  TestNode b(dir_, "b");
  ASSERT_NE(b.store, nullptr);
  const wire::Version va = a_->Edit("from a\n");
  const wire::Version vb = b.Edit("from b\n");
  const wire::Update ua = a_->UpdateFor(va);
  const wire::Update ub = b.UpdateFor(vb);

  Result<ApplyOutcome> at_a = a_->node->ApplyRemote(ub);
  Result<ApplyOutcome> at_b = b.node->ApplyRemote(ua);
  ASSERT_TRUE(at_a.ok()) << at_a.status().ToString();
  ASSERT_TRUE(at_b.ok()) << at_b.status().ToString();

  const bool b_wins = RemoteWinsConflict(va, vb);
  const std::string winner = b_wins ? "from b\n" : "from a\n";
  EXPECT_EQ(ReadFile(a_->DiskPath()), winner);
  EXPECT_EQ(ReadFile(b.DiskPath()), winner);
  EXPECT_EQ(ToString(at_a->now_have), "a:1,b:1");
  EXPECT_EQ(ToString(at_b->now_have), "a:1,b:1");
  // Exactly one node took the remote side.
  EXPECT_NE(at_a->decision == RemoteDecision::kConflictTakeRemote,
            at_b->decision == RemoteDecision::kConflictTakeRemote);

  // Once converged, neither side's version is news to the other.
  std::optional<wire::Version> now_a = a_->store->GetFile(kPath);
  ASSERT_TRUE(now_a.has_value());
  Result<ApplyOutcome> echo = b.node->ApplyRemote(a_->UpdateFor(*now_a));
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  EXPECT_TRUE(echo->decision == RemoteDecision::kIgnore ||
              echo->decision == RemoteDecision::kMerge);
  EXPECT_EQ(ReadFile(b.DiskPath()), winner);
}

TEST_F(NodeTest, ContentNotMatchingHashIsErrorAndKeepsOldFile) {
  a_->Edit("old\n");
  const std::string stored_before = StoredBytes();
  const std::string gens_before = GenerationsDump();
  wire::Update u = RemoteUpdate("new\n", VV({{"a", 1}, {"b", 1}}), 100);
  u.set_content("tampered\n");
  Result<ApplyOutcome> out = a_->node->ApplyRemote(u);
  EXPECT_FALSE(out.ok());
  EXPECT_EQ(ReadFile(a_->DiskPath()), "old\n");
  EXPECT_EQ(StoredBytes(), stored_before);
  EXPECT_EQ(GenerationsDump(), gens_before);
  EXPECT_FALSE(TempFilesLeft());
}

TEST_F(NodeTest, WriteFailureKeepsOldFileAndStore) {
  a_->Edit("old\n");
  const std::string stored_before = StoredBytes();
  const std::string gens_before = GenerationsDump();
  a_->disk.fail_replace_of = a_->DiskPath();
  Result<ApplyOutcome> out =
      a_->node->ApplyRemote(RemoteUpdate("new\n", VV({{"a", 1}, {"b", 1}}), 100));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().err(), ENOSPC);
  EXPECT_EQ(ReadFile(a_->DiskPath()), "old\n");
  EXPECT_EQ(StoredBytes(), stored_before);
  EXPECT_EQ(GenerationsDump(), gens_before);
}

TEST_F(NodeTest, WriteFailureOnConflictKeepsOldFileAndStore) {
  const wire::Version mine = a_->Edit("mine\n");
  const std::string stored_before = StoredBytes();
  const std::string gens_before = GenerationsDump();
  a_->disk.fail_replace_of = a_->DiskPath();
  // Concurrent and later: the remote would win the conflict, but cannot be written.
  Result<ApplyOutcome> out =
      a_->node->ApplyRemote(RemoteUpdate("theirs\n", VV({{"b", 1}}), mine.change_ns() + 1));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(ReadFile(a_->DiskPath()), "mine\n");
  EXPECT_EQ(StoredBytes(), stored_before);
  EXPECT_EQ(GenerationsDump(), gens_before)
      << "the current generation must not be flagged as a conflict loser when nothing replaced it";
}

TEST_F(NodeTest, WriteFailureOnNewPathLeavesNoFileAndNoVersion) {
  a_->disk.fail_replace_of = a_->DiskPath();
  Result<ApplyOutcome> out = a_->node->ApplyRemote(RemoteUpdate("x\n", VV({{"b", 1}}), 1));
  ASSERT_FALSE(out.ok());
  EXPECT_FALSE(std::filesystem::exists(a_->DiskPath()));
  EXPECT_FALSE(a_->store->GetFile(kPath).has_value());
  EXPECT_TRUE(a_->store->Generations(kPath).empty());
}

// A file that cannot be looked at is an error, never a deletion.
TEST_F(NodeTest, ScanOfAPathThatCannotBeReadIsAnErrorNotADeletion) {
  a_->Edit("old\n");
  const std::string stored_before = StoredBytes();
  a_->disk.fail_read_of = a_->DiskPath();
  Result<std::optional<Change>> scan = a_->node->ScanLocal(kPath);
  ASSERT_FALSE(scan.ok());
  EXPECT_EQ(scan.status().code(), Code::kIO);
  EXPECT_EQ(StoredBytes(), stored_before);
}

// The content to send: a disk that cannot be read is reported as such, not
// as content that is gone.
TEST_F(NodeTest, ContentForAnUnreadableFileSaysWhy) {
  wire::Version v = a_->Edit("one\n");
  v.set_hash(Sha256("not what the backups hold\n"));
  a_->disk.fail_read_of = a_->DiskPath();
  Result<std::string> content = a_->node->ContentFor(v);
  ASSERT_FALSE(content.ok());
  EXPECT_EQ(content.status().code(), Code::kIO) << content.status().ToString();
  a_->disk.fail_read_of.clear();
  std::filesystem::remove(a_->DiskPath());
  EXPECT_EQ(a_->node->ContentFor(v).status().code(), Code::kNotFound);
}

// The version and its backup generation go together: when the store cannot
// take them the stored version stays as it was, and the store says why.
TEST_F(NodeTest, ScanWhoseStoreWriteFailsLeavesTheStoredVersion) {
  a_->Edit("old\n");
  const std::string stored_before = StoredBytes();
  const std::string gens_before = GenerationsDump();
  ASSERT_TRUE(FillDatabase(a_->db));
  WriteFile(a_->DiskPath(), std::string(100000, 'n'));  // kept inline: needs new pages
  Result<std::optional<Change>> scan = a_->node->ScanLocal(kPath);
  ASSERT_FALSE(scan.ok());
  EXPECT_EQ(scan.status().code(), Code::kNoSpace) << scan.status().ToString();
  EXPECT_EQ(a_->store->sticky_error(), scan.status());
  EXPECT_EQ(StoredBytes(), stored_before);
  EXPECT_EQ(GenerationsDump(), gens_before);
}

// A backup that fails for a reason of its own (the disk beside the file)
// takes back the version it belonged to, and only that, even inside a
// larger transaction such as the daemon's scan of a tree.
TEST_F(NodeTest, ScanWhoseBackupFailsRecordsNothingOfThatVersion) {
  a_->config.backup.beside = true;
  a_->Edit("old\n");
  const std::string stored_before = StoredBytes();
  const std::string gens_before = GenerationsDump();
  {
    StateStore::Batch outer(*a_->store);
    ASSERT_TRUE(a_->store->PutPeerHas("b", "/etc/other", VV({{"b", 1}})).ok());
    a_->disk.fail_replace_of = a_->DiskPath() + ".1";
    WriteFile(a_->DiskPath(), "new\n");
    Result<std::optional<Change>> scan = a_->node->ScanLocal(kPath);
    ASSERT_FALSE(scan.ok());
    EXPECT_EQ(scan.status().code(), Code::kNoSpace);
    EXPECT_EQ(StoredBytes(), stored_before);
    EXPECT_EQ(GenerationsDump(), gens_before);
    ASSERT_TRUE(outer.Commit().ok());
  }
  EXPECT_TRUE(a_->store->healthy());
  EXPECT_TRUE(a_->store->GetPeerHas("b", "/etc/other").has_value()) << "the rest committed";
  // Once the backup can be written, the next scan finds the change again.
  a_->disk.fail_replace_of.clear();
  Result<std::optional<Change>> again = a_->node->ScanLocal(kPath);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ(ReadFile(a_->DiskPath() + ".1"), "new\n");
}

// Nothing is acknowledged that did not reach the store.
TEST_F(NodeTest, ApplyBatchWhoseCommitFailsFailsEveryUpdate) {
  wire::Update first = RemoteUpdate("one\n", VV({{"b", 1}}), 1);
  wire::Update second = RemoteUpdate("two\n", VV({{"b", 1}}), 1);
  second.mutable_version()->set_path("/etc/other.conf");
  sqlite3_commit_hook(
      a_->db, [](void*) { return 1; }, nullptr);
  std::vector<Result<ApplyOutcome>> out = a_->node->ApplyBatch({&first, &second});
  sqlite3_commit_hook(a_->db, nullptr, nullptr);
  ASSERT_EQ(out.size(), 2u);
  for (const Result<ApplyOutcome>& result : out) {
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status(), a_->store->sticky_error());
  }
  EXPECT_FALSE(a_->store->GetFile(kPath).has_value());
  EXPECT_FALSE(a_->store->GetFile("/etc/other.conf").has_value());
}

// A write that fails the store in the middle of a batch rolls back the
// updates before it too: they fail with it.
TEST_F(NodeTest, ApplyBatchWithAStoreThatFailsMidwayFailsEveryUpdate) {
  wire::Update small = RemoteUpdate("one\n", VV({{"b", 1}}), 1);
  wire::Update large = RemoteUpdate(std::string(100000, 'x'), VV({{"b", 1}}), 1);
  large.mutable_version()->set_path("/etc/large.conf");
  ASSERT_TRUE(FillDatabase(a_->db));
  std::vector<Result<ApplyOutcome>> out = a_->node->ApplyBatch({&small, &large});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(a_->store->healthy());
  for (const Result<ApplyOutcome>& result : out) {
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), Code::kNoSpace) << result.status().ToString();
  }
  EXPECT_FALSE(a_->store->GetFile(kPath).has_value());
  EXPECT_FALSE(a_->store->GetFile("/etc/large.conf").has_value());
  EXPECT_TRUE(a_->store->Generations(kPath).empty());
}

TEST_F(NodeTest, RenameFailureKeepsOldFileAndStoreAndLeavesNoTemp) {
  a_->Edit("old\n");
  const std::string stored_before = StoredBytes();
  const std::string gens_before = GenerationsDump();
  a_->disk.fail_rename_of = a_->DiskPath();
  Result<ApplyOutcome> out =
      a_->node->ApplyRemote(RemoteUpdate("new\n", VV({{"a", 1}, {"b", 1}}), 100));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(ReadFile(a_->DiskPath()), "old\n");
  EXPECT_EQ(StoredBytes(), stored_before);
  EXPECT_EQ(GenerationsDump(), gens_before);
  EXPECT_FALSE(TempFilesLeft());
}

TEST_F(NodeTest, FailedApplyCanBeRetried) {
  a_->Edit("old\n");
  const wire::Update u = RemoteUpdate("new\n", VV({{"a", 1}, {"b", 1}}), 100);
  a_->disk.fail_replace_of = a_->DiskPath();
  ASSERT_FALSE(a_->node->ApplyRemote(u).ok());
  a_->disk.fail_replace_of.clear();
  Result<ApplyOutcome> retry = a_->node->ApplyRemote(u);
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_EQ(retry->decision, RemoteDecision::kApply);
  EXPECT_EQ(ReadFile(a_->DiskPath()), "new\n");
}

TEST_F(NodeTest, ApplyCreatesMissingParentDirectories) {
  wire::Update u = RemoteUpdate("deep\n", VV({{"b", 1}}), 1);
  u.mutable_version()->set_path("/etc/new/sub/file.conf");
  Result<ApplyOutcome> out = a_->node->ApplyRemote(u);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(ReadFile(a_->config.DiskPath("/etc/new/sub/file.conf")), "deep\n");
}

TEST_F(NodeTest, MetadataOnlyUpdateChangesModeKeepsContent) {
  WriteFile(a_->DiskPath(), "same\n");
  ASSERT_EQ(chmod(a_->DiskPath().c_str(), 0644), 0);
  ASSERT_TRUE(a_->node->ScanLocal(kPath).ok());
  wire::Update u = RemoteUpdate("same\n", VV({{"a", 1}, {"b", 1}}), 100, 0600);
  Result<ApplyOutcome> out = a_->node->ApplyRemote(u);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->decision, RemoteDecision::kApply);
  ASSERT_TRUE(out->applied.has_value());
  EXPECT_EQ(out->applied->event, "metadata");
  EXPECT_EQ(ReadFile(a_->DiskPath()), "same\n");
  EXPECT_EQ(StatOf(a_->DiskPath()).st_mode & 07777, 0600u);
  Result<std::optional<Change>> rescan = a_->node->ScanLocal(kPath);
  ASSERT_TRUE(rescan.ok());
  EXPECT_FALSE(rescan->has_value());
}

// ---- ContentFor / ForgetIfMissingAtStart ----

TEST_F(NodeTest, ContentForFallsBackToBackupWhenDiskMovedOn) {
  const wire::Version v = a_->Edit("scanned\n");
  WriteFile(a_->DiskPath(), "edited since\n");
  Result<std::string> content = a_->node->ContentFor(v);
  ASSERT_TRUE(content.ok()) << content.status().ToString();
  EXPECT_EQ(*content, "scanned\n");
}

TEST_F(NodeTest, ForgetIfMissingAtStartClearsClaim) {
  a_->Edit("hello\n");
  EXPECT_FALSE(a_->node->ForgetIfMissingAtStart(kPath));  // still there
  ASSERT_EQ(unlink(a_->DiskPath().c_str()), 0);
  EXPECT_TRUE(a_->node->ForgetIfMissingAtStart(kPath));
  // Not a deletion: no tombstone, and a peer's copy applies as new.
  Result<std::optional<Change>> change = a_->node->ScanLocal(kPath);
  ASSERT_TRUE(change.ok());
  EXPECT_FALSE(change->has_value());
  Result<ApplyOutcome> out = a_->node->ApplyRemote(RemoteUpdate("hello\n", VV({{"a", 1}}), 1));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->decision, RemoteDecision::kApply);
  EXPECT_EQ(ReadFile(a_->DiskPath()), "hello\n");
}

}  // namespace
}  // namespace syncr
