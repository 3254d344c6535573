// Helpers shared by the unit tests (src/*_test.cc); never linked into syncr.
#pragma once

#include <sqlite3.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <utility>

#include "common/util.h"
#include "config/config.h"
#include "engine/version_vector.h"

namespace syncr {

/// A fresh directory under /tmp, removed with everything in it at scope end.
/// Declare it before anything that keeps files open in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/syncr-test-XXXXXX";
    if (mkdtemp(tmpl)) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) std::filesystem::remove_all(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// Empty if the directory could not be made.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// While alive, remembers the last SQLite connection opened in this process
/// (StateStore::Open's, say): a test reaches the store's own connection to
/// make its writes fail the way a full or read-only disk would (PRAGMA
/// max_page_count, PRAGMA query_only, a commit hook) with no hook in the
/// store. One at a time.
class SqliteConnections {
 public:
  SqliteConnections() {
    last_ = nullptr;
    sqlite3_auto_extension(reinterpret_cast<void (*)()>(&Opened));
  }
  ~SqliteConnections() { sqlite3_cancel_auto_extension(reinterpret_cast<void (*)()>(&Opened)); }
  SqliteConnections(const SqliteConnections&) = delete;
  SqliteConnections& operator=(const SqliteConnections&) = delete;

  /// The connection opened last, or null.
  sqlite3* last() const { return last_; }

 private:
  static int Opened(sqlite3* db, const char**, const sqlite3_api_routines*) {
    last_ = db;
    return SQLITE_OK;
  }
  static inline sqlite3* last_ = nullptr;
};

/// Runs `sql` on `db`; true if it worked.
inline bool Sql(sqlite3* db, const std::string& sql) {
  return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
}

/// From now on, a write to `db` that needs one more page fails with
/// SQLITE_FULL, as on a full disk (a large blob always does).
inline bool FillDatabase(sqlite3* db) { return Sql(db, "PRAGMA max_page_count = 1"); }

/// A file's bytes; "" when it cannot be read.
inline std::string ReadFile(const std::string& path) {
  Result<std::string> content = ReadWholeFile(path, path);
  return content.ok() ? std::move(*content) : std::string();
}

/// A vector built through SetCounter, in the given order.
inline VersionVector VV(std::initializer_list<std::pair<std::string, uint64_t>> counters) {
  VersionVector vv;
  for (const auto& [node, counter] : counters) SetCounter(&vv, node, counter);
  return vv;
}

/// A version of `path` with only its kind and vector set.
inline wire::Version V(const std::string& path, wire::Kind kind, const VersionVector& vv) {
  wire::Version v;
  v.set_path(path);
  v.set_kind(kind);
  *v.mutable_vv() = vv;
  return v;
}

/// Node "a"'s config with its root and state_dir under `dir`, and no entry.
inline Config NodeConfigIn(const std::string& dir) {
  Config config;
  config.node.name = "a";
  config.node.root = dir + "/root";
  config.node.state_dir = dir + "/state";
  return config;
}

/// Joins lines with '\n' so that element i is on line i + 1.
inline std::string Doc(std::initializer_list<const char*> lines) {
  std::string text;
  for (const char* line : lines) {
    text += line;
    text += '\n';
  }
  return text;
}

}  // namespace syncr
