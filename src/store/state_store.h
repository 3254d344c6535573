// StateStore: the node's durable state in SQLite (WAL) at state_dir/state.db.
//
// Owns the tables of docs/architecture.md: current version per path, what
// each peer is known to hold, backup generations, and the bounded event and
// action-run logs. The daemon opens it read-write; CLI commands open it
// read-only while the daemon runs (WAL allows both). Not thread-safe.
//
// Failed writes are sticky (like leveldb's background error): the first
// write or commit that fails rolls back the open transaction, is logged
// once, and from then on every write returns that same Status without
// touching the database, so nothing half-recorded follows it. Reads keep
// working. Only a restart (after the operator freed space or made
// state_dir writable) clears it.
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

/// The Status code of an SQLite result code (extended or primary);
/// `sys_errno` (sqlite3_system_errno) refines I/O and open failures.
Code CodeOfSqlite(int result, int sys_errno);

class StateStore {
 public:
  /// Opens (and creates, unless read_only) state_dir/state.db. Read-write,
  /// it first makes state_dir private (MakeStateDirPrivate) and creates the
  /// database 0600; a database SQLite cannot read is a kCorrupt error that
  /// names the file and the remedy.
  static Result<std::unique_ptr<StateStore>> Open(const std::string& state_dir, bool read_only);
  ~StateStore();

  /// The stored version of `path`; nullopt if there is none, and an error
  /// (never nullopt) if the row cannot be read or parsed.
  Result<std::optional<wire::Version>> FindFile(const std::string& path);
  /// FindFile for callers that do not tell a failed read from "none" (the
  /// daemon's sending side). Decisions about what changed use FindFile.
  std::optional<wire::Version> GetFile(const std::string& path);
  std::vector<wire::Version> AllFiles();
  /// Every stored path strictly below `dir`, in path order.
  std::vector<wire::Version> FilesUnder(const std::string& dir);
  Status PutFile(const wire::Version& version);

  std::optional<wire::VersionVector> GetPeerHas(const std::string& peer, const std::string& path);
  std::map<std::string, wire::VersionVector> AllPeerHas(const std::string& peer);
  /// What `peer` is known to hold of `dir` and everything below it.
  std::map<std::string, wire::VersionVector> PeerHasUnder(const std::string& peer,
                                                          const std::string& dir);
  Status PutPeerHas(const std::string& peer, const std::string& path,
                    const wire::VersionVector& vv);

  /// Adds a generation; returns its id.
  Result<int64_t> AddGeneration(const Generation& generation);
  /// Newest first.
  std::vector<Generation> Generations(const std::string& path);
  /// The hash of the newest generation of `path`, and how many are kept.
  std::pair<std::string, int> NewestGeneration(const std::string& path);
  /// Deletes all but the newest `keep` generations of `path`; returns the
  /// hashes that no generation references any more (a hash whose references
  /// cannot be read is an error, never "unreferenced").
  Result<std::vector<std::string>> PruneGenerations(const std::string& path, int keep);
  Status MarkGenerationConflict(int64_t id, bool conflict);

  /// Backup contents small enough to live in the database (content-addressed
  /// by raw SHA-256): one row instead of one more inode per version.
  Status PutObject(const std::string& hash, std::string_view content);
  /// nullopt if no such object; an error if it cannot be read.
  Result<std::optional<std::string>> GetObject(const std::string& hash);
  Status DeleteObject(const std::string& hash);

  Status AddEvent(const EventRecord& event);
  std::vector<EventRecord> Events(const std::string& path, int limit);
  Status AddActionRun(const ActionRun& run);
  std::vector<ActionRun> ActionRuns(const std::string& path, int limit);
  /// The last finished run of each entry's actions (SPEC 10): kept so that
  /// a failure is still shown, here and on the peers, after a restart.
  Status PutActionReport(const wire::ActionReport& report);
  Status DeleteActionReport(const std::string& entry);
  /// Every kept report, by entry; one that does not parse is skipped.
  std::vector<wire::ActionReport> ActionReports();

  /// The first write or commit that failed, or ok. Once set, every write
  /// returns it (see the top of this file).
  Status sticky_error() const { return sticky_; }
  bool healthy() const { return sticky_.ok(); }
  /// Where the database lives (for messages).
  const std::string& path() const { return path_; }

  /// A transaction: the writes made while it is open become durable
  /// together (one fsync) at Commit, or not at all (Rollback).
  ///
  /// New code calls Commit and checks it, or Rollback. The destructor
  /// commits when neither was called: that is for callers that do not care
  /// about the result (a failed commit is still sticky and logged).
  ///
  /// Batches nest like scopes (an inner one ends before its outer one). An
  /// inner batch is a savepoint: its Rollback undoes only its own writes,
  /// its Commit makes them part of the outer transaction and returns the
  /// store's sticky status; only the outermost Commit makes them durable.
  /// A failed write rolls back the whole transaction, whatever the depth.
  class Batch {
   public:
    explicit Batch(StateStore& store);
    ~Batch();
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;

    /// Commits now (see above); ok, or why the writes did not reach the disk.
    Status Commit();
    /// Undoes this batch's writes. Commit or Rollback after either is a no-op.
    void Rollback();

   private:
    StateStore& store_;
    int depth_;  // 1: the outermost
    bool open_ = true;
  };

 private:
  StateStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status Exec(const char* sql);
  Status Init();
  /// Runs a cached transaction-control statement (BEGIN, COMMIT, SAVEPOINT...).
  Status Control(const char* sql);
  /// Ok, or why no write may happen now (the sticky error).
  Status Writable();
  /// Makes `s` (a failed write) the sticky error if it is the first, rolls
  /// back the open transaction and returns the sticky error.
  Status Fail(const Status& s);
  /// The compiled form of `sql` (a string literal: cached by its address),
  /// or null when it does not compile.
  sqlite3_stmt* Prepared(const char* sql);

  sqlite3* db_;
  std::string path_;  // state_dir/state.db
  std::unordered_map<const char*, sqlite3_stmt*> prepared_;
  Status sticky_;
  int batch_depth_ = 0;
  int64_t inserts_since_trim_ = 0;
};

}  // namespace syncr
