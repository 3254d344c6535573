#include "store/state_store.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "common/escape.h"
#include "common/fd.h"
#include "store/state_dir.h"

namespace syncr {
namespace {

// Transaction control, prepared once like every other statement. Inner
// batches are savepoints that all share one name: RELEASE and ROLLBACK TO
// act on the innermost one of that name, and batches nest like scopes.
constexpr char kBegin[] = "BEGIN IMMEDIATE";
constexpr char kCommit[] = "COMMIT";
constexpr char kRollback[] = "ROLLBACK";
constexpr char kSavepoint[] = "SAVEPOINT batch";
constexpr char kRelease[] = "RELEASE batch";
constexpr char kRollbackTo[] = "ROLLBACK TO batch";

constexpr int kEventsKept = 10000;
constexpr int kActionRunsKept = 2000;
// The logs are trimmed back to their bound every this many inserts.
constexpr int64_t kTrimEvery = 200;

// A cached prepared statement in use: reset, with its bindings cleared, on
// scope exit, so the next use starts clean.
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Stmt() {
    if (!stmt_) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  Stmt& Bind(int i, const std::string& s) {
    sqlite3_bind_blob(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& BindText(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  /// SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return stmt_ ? sqlite3_step(stmt_) : SQLITE_ERROR; }
  std::string Blob(int col) {
    const void* p = sqlite3_column_blob(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// What went wrong on `db` just now, with the code its result maps to.
Status DbError(sqlite3* db, const std::string& db_path, const std::string& what) {
  return Status::WithCode(CodeOfSqlite(sqlite3_extended_errcode(db), sqlite3_system_errno(db)),
                          "state database: " + what + ": " + sqlite3_errmsg(db), db_path);
}

// What to do about a state database SQLite cannot read. It cannot be
// repaired in place, but all of it except the backups can be rebuilt: the
// start-up scan finds the files on disk and catch-up learns the peers'.
std::string CorruptRemedy(const std::string& db_path) {
  return "move it away (mv " + db_path + " " + db_path +
         ".corrupt, and its -wal and -shm if present) and restart: the node rebuilds its state "
         "from disk and its peers; the backup generations kept in it are lost";
}

}  // namespace

Code CodeOfSqlite(int result, int sys_errno) {
  switch (result & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return Code::kOk;
    case SQLITE_FULL:
      return Code::kNoSpace;
    case SQLITE_READONLY:
      return Code::kReadOnly;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Code::kCorrupt;
    case SQLITE_IOERR: {
      // The errno says more: a write that failed with ENOSPC or EROFS.
      const Code code = CodeOfErrno(sys_errno);
      return code == Code::kOk || code == Code::kNotFound ? Code::kIO : code;
    }
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Code::kBusy;
    case SQLITE_CANTOPEN: {
      // Missing directory (kNotFound), read-only mount, or no access.
      const Code code = CodeOfErrno(sys_errno);
      return code == Code::kOk || code == Code::kIO ? Code::kPermission : code;
    }
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return Code::kPermission;
    case SQLITE_TOOBIG:
      return Code::kTooBig;
    case SQLITE_NOMEM:
      return Code::kUnavailable;
    default:
      return Code::kInternal;  // a statement or schema of ours is wrong
  }
}

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::string& state_dir, bool read_only) {
  const std::string path = state_dir + "/state.db";
  if (!read_only) {
    if (Status s = MakeStateDirPrivate(state_dir); !s.ok()) return s;
    // SQLite would create the database 0644 (less the umask), and it gives
    // the -wal and -shm it creates later the database's mode: a database
    // born 0600 keeps all three private whatever the umask.
    UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.valid() && errno != EEXIST) return Status::Sys("create", path, errno);
  }
  sqlite3* db = nullptr;
  int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  const int opened = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (opened != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    const Code code = db ? CodeOfSqlite(opened, sqlite3_system_errno(db)) : Code::kUnavailable;
    sqlite3_close(db);
    return Status::WithCode(code, "cannot open state database " + path + ": " + msg, path);
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<StateStore> store(new StateStore(db, path));
  if (!read_only) {
    if (Status s = store->Init(); !s.ok()) {
      if (s.code() != Code::kCorrupt) return s;
      return Status::WithCode(Code::kCorrupt,
                              "state database " + path + " is corrupt (" +
                                  sqlite3_errmsg(store->db_) + "). Remedy: " + CorruptRemedy(path),
                              path);
    }
  }
  return store;
}

StateStore::~StateStore() {
  for (auto& [sql, stmt] : prepared_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

// Statements are compiled once per store: the hot paths (a version per file
// applied, a peer's knowledge per acknowledgement) run the same few thousands
// of times a second, and compiling SQL would cost more than running it.
sqlite3_stmt* StateStore::Prepared(const char* sql) {
  auto it = prepared_.find(sql);
  if (it != prepared_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return nullptr;
  }
  prepared_.emplace(sql, stmt);
  return stmt;
}

Status StateStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::WithCode(CodeOfSqlite(sqlite3_extended_errcode(db_), sqlite3_system_errno(db_)),
                            "state database " + path_ + ": " + msg, path_);
  }
  return Status();
}

Status StateStore::Control(const char* sql) {
  Stmt st(Prepared(sql));
  if (st.Step() != SQLITE_DONE) return DbError(db_, path_, sql);
  return Status();
}

// Every write starts here: after a failure, nothing more reaches the database.
Status StateStore::Writable() {
  if (!sticky_.ok()) return sticky_;
  if (batch_depth_ > 0 && sqlite3_get_autocommit(db_)) {
    // SQLite rolls a transaction back by itself after some errors (a full
    // disk or an I/O error during a read): the writes before it are gone,
    // and a write now would be committed alone, without them.
    return Fail(Status::WithCode(
        Code::kIO,
        "state database " + path_ + ": the open transaction was rolled back after an error",
        path_));
  }
  return Status();
}

// Like leveldb's RecordBackgroundError: the first failure is kept and
// reported by every later write. A transaction that lost a write must not
// commit the others (a version without its generation, peer knowledge
// without the version), so it is rolled back whole.
Status StateStore::Fail(const Status& s) {
  if (sticky_.ok()) {
    sticky_ = s;
    const std::string state_dir = path_.substr(0, path_.find_last_of('/'));
    const std::string remedy =
        s.code() == Code::kCorrupt
            ? "stop syncr, " + CorruptRemedy(path_)
            : std::string(Remedy(s.code())) + " (in " + state_dir + "), then restart syncr";
    spdlog::error(
        "state database {} failed, nothing more is recorded until restart: {} ({}). "
        "Remedy: {}",
        path_, s.ToString(), CodeName(s.code()), remedy);
  }
  if (!sqlite3_get_autocommit(db_)) {
    // No statement may be in the middle of a step across the rollback.
    for (auto& [sql, stmt] : prepared_) sqlite3_reset(stmt);
    sqlite3_exec(db_, kRollback, nullptr, nullptr, nullptr);
  }
  return sticky_;
}

Status StateStore::Init() {
  // WAL: CLI readers never block the daemon. synchronous=NORMAL: a power loss
  // may forget the last commits but never corrupts; the start-up scan then
  // re-derives any version whose file is already on disk.
  return Exec(R"sql(
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, version BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS peer_state (
      peer TEXT NOT NULL, path TEXT NOT NULL, vv BLOB NOT NULL, PRIMARY KEY (peer, path));
    CREATE TABLE IF NOT EXISTS generations (
      id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL, hash BLOB NOT NULL,
      size INTEGER NOT NULL, created_ns INTEGER NOT NULL, origin TEXT NOT NULL,
      conflict INTEGER NOT NULL DEFAULT 0, version BLOB NOT NULL);
    CREATE INDEX IF NOT EXISTS generations_path ON generations (path, id);
    CREATE TABLE IF NOT EXISTS objects (hash BLOB PRIMARY KEY, content BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS events (
      id INTEGER PRIMARY KEY AUTOINCREMENT, time_ns INTEGER NOT NULL, path TEXT NOT NULL,
      level TEXT NOT NULL, message TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS action_reports (entry TEXT PRIMARY KEY, report BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS action_runs (
      id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL, command TEXT NOT NULL,
      started_ns INTEGER NOT NULL, finished_ns INTEGER NOT NULL, exit_code INTEGER NOT NULL,
      output TEXT NOT NULL);
  )sql");
}

StateStore::Batch::Batch(StateStore& store) : store_(store), depth_(++store.batch_depth_) {
  if (!store_.healthy()) return;
  // A batch that cannot begin cannot keep its writes together: fail now.
  if (Status s = store_.Control(depth_ == 1 ? kBegin : kSavepoint); !s.ok()) store_.Fail(s);
}

StateStore::Batch::~Batch() {
  if (open_) Commit();  // for callers that do not care; a failure is sticky and logged
}

Status StateStore::Batch::Commit() {
  if (!open_) return store_.sticky_;
  open_ = false;
  --store_.batch_depth_;
  if (!store_.healthy()) return store_.sticky_;
  if (Status s = store_.Control(depth_ == 1 ? kCommit : kRelease); !s.ok()) return store_.Fail(s);
  return store_.sticky_;
}

void StateStore::Batch::Rollback() {
  if (!open_) return;
  open_ = false;
  --store_.batch_depth_;
  if (!store_.healthy()) return;  // the failure rolled everything back already
  Status s = store_.Control(depth_ == 1 ? kRollback : kRollbackTo);
  if (s.ok() && depth_ > 1) s = store_.Control(kRelease);
  if (!s.ok()) store_.Fail(s);
}

Result<std::optional<wire::Version>> StateStore::FindFile(const std::string& path) {
  Stmt st(Prepared("SELECT version FROM files WHERE path = ?"));
  st.BindText(1, path);
  const int rc = st.Step();
  if (rc == SQLITE_DONE) return std::optional<wire::Version>();
  if (rc != SQLITE_ROW) return DbError(db_, path_, "read the version of " + EscapeName(path));
  wire::Version v;
  if (!v.ParseFromString(st.Blob(0))) {
    return Status::WithCode(
        Code::kCorrupt,
        "state database " + path_ + ": the version of " + EscapeName(path) + " does not parse",
        path_);
  }
  return std::optional<wire::Version>(std::move(v));
}

std::optional<wire::Version> StateStore::GetFile(const std::string& path) {
  Result<std::optional<wire::Version>> found = FindFile(path);
  return found.ok() ? std::move(*found) : std::nullopt;
}

std::vector<wire::Version> StateStore::AllFiles() {
  std::vector<wire::Version> out;
  Stmt st(Prepared("SELECT version FROM files ORDER BY path"));
  while (st.Step() == SQLITE_ROW) {
    wire::Version v;
    if (v.ParseFromString(st.Blob(0))) out.push_back(std::move(v));
  }
  return out;
}

std::vector<wire::Version> StateStore::FilesUnder(const std::string& dir) {
  std::vector<wire::Version> out;
  // '/' + 1 == '0': the range holds exactly the paths that start with dir + '/'.
  Stmt st(Prepared("SELECT version FROM files WHERE path >= ? AND path < ? ORDER BY path"));
  st.BindText(1, dir + "/").BindText(2, dir + "0");
  while (st.Step() == SQLITE_ROW) {
    wire::Version v;
    if (v.ParseFromString(st.Blob(0))) out.push_back(std::move(v));
  }
  return out;
}

Status StateStore::PutFile(const wire::Version& version) {
  if (Status s = Writable(); !s.ok()) return s;
  Stmt st(Prepared("INSERT OR REPLACE INTO files (path, version) VALUES (?, ?)"));
  st.BindText(1, version.path()).Bind(2, version.SerializeAsString());
  if (st.Step() != SQLITE_DONE)
    return Fail(DbError(db_, path_, "store version of " + EscapeName(version.path())));
  return Status();
}

std::optional<wire::VersionVector> StateStore::GetPeerHas(const std::string& peer,
                                                          const std::string& path) {
  Stmt st(Prepared("SELECT vv FROM peer_state WHERE peer = ? AND path = ?"));
  st.BindText(1, peer).BindText(2, path);
  if (st.Step() != SQLITE_ROW) return std::nullopt;
  wire::VersionVector vv;
  if (!vv.ParseFromString(st.Blob(0))) return std::nullopt;
  return vv;
}

std::map<std::string, wire::VersionVector> StateStore::AllPeerHas(const std::string& peer) {
  return PeerHasUnder(peer, "");
}

std::map<std::string, wire::VersionVector> StateStore::PeerHasUnder(const std::string& peer,
                                                                    const std::string& dir) {
  std::map<std::string, wire::VersionVector> out;
  // As FilesUnder, and dir itself; "" is every path (all start with '/').
  Stmt st(
      Prepared("SELECT path, vv FROM peer_state WHERE peer = ?1 AND "
               "(?2 = '' OR path = ?2 OR (path >= ?2 || '/' AND path < ?2 || '0'))"));
  st.BindText(1, peer).BindText(2, dir);
  while (st.Step() == SQLITE_ROW) {
    wire::VersionVector vv;
    if (vv.ParseFromString(st.Blob(1))) out[st.Blob(0)] = std::move(vv);
  }
  return out;
}

Status StateStore::PutPeerHas(const std::string& peer, const std::string& path,
                              const wire::VersionVector& vv) {
  if (Status s = Writable(); !s.ok()) return s;
  Stmt st(Prepared("INSERT OR REPLACE INTO peer_state (peer, path, vv) VALUES (?, ?, ?)"));
  st.BindText(1, peer).BindText(2, path).Bind(3, vv.SerializeAsString());
  if (st.Step() != SQLITE_DONE)
    return Fail(DbError(db_, path_, "store peer state of " + EscapeName(path)));
  return Status();
}

Result<int64_t> StateStore::AddGeneration(const Generation& g) {
  if (Status s = Writable(); !s.ok()) return s;
  Stmt st(
      Prepared("INSERT INTO generations (path, hash, size, created_ns, origin, conflict, version) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)"));
  st.BindText(1, g.path)
      .Bind(2, g.hash)
      .Bind(3, static_cast<int64_t>(g.size))
      .Bind(4, g.created_ns)
      .BindText(5, g.origin)
      .Bind(6, int64_t{g.conflict})
      .Bind(7, g.version.SerializeAsString());
  if (st.Step() != SQLITE_DONE)
    return Fail(DbError(db_, path_, "store generation of " + EscapeName(g.path)));
  return sqlite3_last_insert_rowid(db_);
}

std::vector<Generation> StateStore::Generations(const std::string& path) {
  std::vector<Generation> out;
  Stmt st(
      Prepared("SELECT id, hash, size, created_ns, origin, conflict, version FROM generations "
               "WHERE path = ? ORDER BY id DESC"));
  st.BindText(1, path);
  while (st.Step() == SQLITE_ROW) {
    Generation g;
    g.id = st.Int(0);
    g.path = path;
    g.hash = st.Blob(1);
    g.size = static_cast<uint64_t>(st.Int(2));
    g.created_ns = st.Int(3);
    g.origin = st.Blob(4);
    g.conflict = st.Int(5) != 0;
    g.version.ParseFromString(st.Blob(6));
    out.push_back(std::move(g));
  }
  return out;
}

std::pair<std::string, int> StateStore::NewestGeneration(const std::string& path) {
  Stmt st(
      Prepared("SELECT (SELECT hash FROM generations WHERE path = ?1 ORDER BY id DESC LIMIT 1), "
               "(SELECT COUNT(*) FROM generations WHERE path = ?1)"));
  st.BindText(1, path);
  if (st.Step() != SQLITE_ROW) return {"", 0};
  return {st.Blob(0), static_cast<int>(st.Int(1))};
}

Result<std::vector<std::string>> StateStore::PruneGenerations(const std::string& path, int keep) {
  if (Status s = Writable(); !s.ok()) return s;
  if (NewestGeneration(path).second <= keep) return std::vector<std::string>();
  std::vector<Generation> all = Generations(path);
  std::vector<std::string> dropped_hashes;
  for (size_t i = static_cast<size_t>(keep); i < all.size(); ++i) {
    Stmt del(Prepared("DELETE FROM generations WHERE id = ?"));
    del.Bind(1, all[i].id);
    if (del.Step() != SQLITE_DONE)
      return Fail(DbError(db_, path_, "prune generations of " + EscapeName(path)));
    dropped_hashes.push_back(all[i].hash);
  }
  std::vector<std::string> unreferenced;
  for (const std::string& hash : dropped_hashes) {
    Stmt ref(Prepared("SELECT 1 FROM generations WHERE hash = ? LIMIT 1"));
    ref.Bind(1, hash);
    // Only a finished lookup means unreferenced: the caller deletes those.
    const int rc = ref.Step();
    if (rc == SQLITE_DONE) {
      unreferenced.push_back(hash);
    } else if (rc != SQLITE_ROW) {
      return DbError(db_, path_, "look up the generations of a backup of " + EscapeName(path));
    }
  }
  return unreferenced;
}

Status StateStore::MarkGenerationConflict(int64_t id, bool conflict) {
  if (Status s = Writable(); !s.ok()) return s;
  Stmt st(Prepared("UPDATE generations SET conflict = ? WHERE id = ?"));
  st.Bind(1, int64_t{conflict}).Bind(2, id);
  if (st.Step() != SQLITE_DONE) return Fail(DbError(db_, path_, "mark generation"));
  return Status();
}

Status StateStore::PutObject(const std::string& hash, std::string_view content) {
  if (Status s = Writable(); !s.ok()) return s;
  Stmt st(Prepared("INSERT OR IGNORE INTO objects (hash, content) VALUES (?, ?)"));
  st.Bind(1, hash).Bind(2, std::string(content));
  if (st.Step() != SQLITE_DONE) return Fail(DbError(db_, path_, "store backup content"));
  return Status();
}

Result<std::optional<std::string>> StateStore::GetObject(const std::string& hash) {
  Stmt st(Prepared("SELECT content FROM objects WHERE hash = ?"));
  st.Bind(1, hash);
  const int rc = st.Step();
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return DbError(db_, path_, "read backup content");
  return std::optional<std::string>(st.Blob(0));
}

Status StateStore::DeleteObject(const std::string& hash) {
  if (Status s = Writable(); !s.ok()) return s;
  Stmt st(Prepared("DELETE FROM objects WHERE hash = ?"));
  st.Bind(1, hash);
  if (st.Step() != SQLITE_DONE) return Fail(DbError(db_, path_, "delete backup content"));
  return Status();
}

Status StateStore::AddEvent(const EventRecord& e) {
  if (Status s = Writable(); !s.ok()) return s;
  Stmt st(Prepared("INSERT INTO events (time_ns, path, level, message) VALUES (?, ?, ?, ?)"));
  st.Bind(1, e.time_ns).BindText(2, e.path).BindText(3, e.level).BindText(4, e.message);
  if (st.Step() != SQLITE_DONE) return Fail(DbError(db_, path_, "log event"));
  if (++inserts_since_trim_ >= kTrimEvery) {
    inserts_since_trim_ = 0;
    Stmt trim(Prepared("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?"));
    trim.Bind(1, int64_t{kEventsKept});
    if (trim.Step() != SQLITE_DONE) return Fail(DbError(db_, path_, "trim the event log"));
  }
  return Status();
}

std::vector<EventRecord> StateStore::Events(const std::string& path, int limit) {
  std::vector<EventRecord> out;
  Stmt st(
      Prepared("SELECT time_ns, path, level, message FROM events WHERE (?1 = '' OR path = ?1) "
               "ORDER BY id DESC LIMIT ?2"));
  st.BindText(1, path).Bind(2, int64_t{std::min(limit, kEventsKept)});
  while (st.Step() == SQLITE_ROW) {
    out.push_back({st.Int(0), st.Blob(1), st.Blob(2), st.Blob(3)});
  }
  return out;
}

Status StateStore::AddActionRun(const ActionRun& r) {
  if (Status s = Writable(); !s.ok()) return s;
  Stmt st(Prepared(
      "INSERT INTO action_runs (path, command, started_ns, finished_ns, exit_code, output) "
      "VALUES (?, ?, ?, ?, ?, ?)"));
  st.BindText(1, r.path)
      .BindText(2, r.command)
      .Bind(3, r.started_ns)
      .Bind(4, r.finished_ns)
      .Bind(5, int64_t{r.exit_code})
      .BindText(6, r.output);
  if (st.Step() != SQLITE_DONE) return Fail(DbError(db_, path_, "log action run"));
  Stmt trim(Prepared("DELETE FROM action_runs WHERE id <= (SELECT MAX(id) FROM action_runs) - ?"));
  trim.Bind(1, int64_t{kActionRunsKept});
  if (trim.Step() != SQLITE_DONE) return Fail(DbError(db_, path_, "trim the action-run log"));
  return Status();
}

Status StateStore::PutActionReport(const wire::ActionReport& report) {
  if (Status s = Writable(); !s.ok()) return s;
  Stmt st(Prepared("INSERT OR REPLACE INTO action_reports (entry, report) VALUES (?, ?)"));
  st.BindText(1, report.entry()).Bind(2, report.SerializeAsString());
  if (st.Step() != SQLITE_DONE) return Fail(DbError(db_, path_, "keep an action report"));
  return Status();
}

Status StateStore::DeleteActionReport(const std::string& entry) {
  if (Status s = Writable(); !s.ok()) return s;
  Stmt st(Prepared("DELETE FROM action_reports WHERE entry = ?"));
  st.BindText(1, entry);
  if (st.Step() != SQLITE_DONE) return Fail(DbError(db_, path_, "drop an action report"));
  return Status();
}

std::vector<wire::ActionReport> StateStore::ActionReports() {
  std::vector<wire::ActionReport> out;
  Stmt st(Prepared("SELECT report FROM action_reports ORDER BY entry"));
  while (st.Step() == SQLITE_ROW) {
    wire::ActionReport report;
    if (report.ParseFromString(st.Blob(0))) out.push_back(std::move(report));
  }
  return out;
}

std::vector<ActionRun> StateStore::ActionRuns(const std::string& path, int limit) {
  std::vector<ActionRun> out;
  Stmt st(Prepared(
      "SELECT id, path, command, started_ns, finished_ns, exit_code, output FROM action_runs "
      "WHERE (?1 = '' OR path = ?1) ORDER BY id DESC LIMIT ?2"));
  st.BindText(1, path).Bind(2, int64_t{limit});
  while (st.Step() == SQLITE_ROW) {
    ActionRun r;
    r.id = st.Int(0);
    r.path = st.Blob(1);
    r.command = st.Blob(2);
    r.started_ns = st.Int(3);
    r.finished_ns = st.Int(4);
    r.exit_code = static_cast<int>(st.Int(5));
    r.output = st.Blob(6);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace syncr
