// StateStore: the node's durable state in SQLite (WAL) at state_dir/state.db.
//
// Owns the tables of docs/architecture.md: current version per path, what
// each peer is known to hold, backup generations, and the bounded event and
// action-run logs. The daemon opens it read-write; CLI commands open it
// read-only while the daemon runs (WAL allows both). Not thread-safe.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "net/proto/syncr.pb.h"

namespace syncr {

struct Generation {
  int64_t id = 0;  ///< row id, increasing with time
  std::string path;
  std::string hash;  ///< raw SHA-256 of the content
  uint64_t size = 0;
  int64_t created_ns = 0;
  std::string origin;
  bool conflict = false;  ///< the losing side of a conflict
  wire::Version version;  ///< the version this content belonged to
};

struct EventRecord {
  int64_t time_ns = 0;
  std::string path;
  std::string level;
  std::string message;
};

struct ActionRun {
  int64_t id = 0;
  std::string path;
  std::string command;
  int64_t started_ns = 0;
  int64_t finished_ns = 0;
  int exit_code = 0;
  std::string output;
};

class StateStore {
 public:
  /// Opens (and creates, unless read_only) state_dir/state.db.
  static Result<std::unique_ptr<StateStore>> Open(const std::string& state_dir, bool read_only);
  ~StateStore();

  std::optional<wire::Version> GetFile(const std::string& path);
  std::vector<wire::Version> AllFiles();
  /// Every stored path strictly below `dir`, in path order.
  std::vector<wire::Version> FilesUnder(const std::string& dir);
  Status PutFile(const wire::Version& version);

  std::optional<wire::VersionVector> GetPeerHas(const std::string& peer, const std::string& path);
  std::map<std::string, wire::VersionVector> AllPeerHas(const std::string& peer);
  Status PutPeerHas(const std::string& peer, const std::string& path,
                    const wire::VersionVector& vv);

  /// Adds a generation; returns its id.
  Result<int64_t> AddGeneration(const Generation& generation);
  /// Newest first.
  std::vector<Generation> Generations(const std::string& path);
  /// The hash of the newest generation of `path`, and how many are kept.
  std::pair<std::string, int> NewestGeneration(const std::string& path);
  /// Deletes all but the newest `keep` generations of `path`; returns the
  /// hashes that no generation references any more.
  Result<std::vector<std::string>> PruneGenerations(const std::string& path, int keep);
  Status MarkGenerationConflict(int64_t id, bool conflict);

  /// Backup contents small enough to live in the database (content-addressed
  /// by raw SHA-256): one row instead of one more inode per version.
  Status PutObject(const std::string& hash, std::string_view content);
  std::optional<std::string> GetObject(const std::string& hash);
  Status DeleteObject(const std::string& hash);

  Status AddEvent(const EventRecord& event);
  std::vector<EventRecord> Events(const std::string& path, int limit);
  Status AddActionRun(const ActionRun& run);
  std::vector<ActionRun> ActionRuns(const std::string& path, int limit);

  /// Groups writes into one transaction (one fsync) while in scope.
  class Batch {
   public:
    explicit Batch(StateStore& store);
    ~Batch();
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;

   private:
    StateStore& store_;
  };

 private:
  explicit StateStore(sqlite3* db) : db_(db) {}
  Status Exec(const char* sql);
  Status Init();
  /// The compiled form of `sql` (a string literal: cached by its address),
  /// or null when it does not compile.
  sqlite3_stmt* Prepared(const char* sql);

  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> prepared_;
  int batch_depth_ = 0;
  int64_t inserts_since_trim_ = 0;
};

}  // namespace syncr
