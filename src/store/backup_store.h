// BackupStore: the kept generations of each synced file (SPEC 7).
//
// Generation 1 is the current content, 2 the one before, and so on up to
// [backup] generations. Metadata lives in StateStore's generations table;
// contents are content-addressed: small ones in state.db's objects table,
// large ones under state_dir/objects/ab/<sha256>; or,
// with [backup] beside = true, beside the file as FILE.1 ... FILE.N (the
// legacy layout). Not thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "os/disk.h"
#include "store/state_store.h"

namespace syncr {

class BackupStore {
 public:
  BackupStore(const Config& config, Disk& disk, StateStore& store)
      : config_(config), disk_(disk), store_(store) {}

  /// Records `content` of `version` as the new generation 1 and drops the
  /// generations past the configured count. `conflict` marks the losing side
  /// of a conflict. A content equal to the current generation 1 is not
  /// recorded again unless it is a conflict loser.
  Status Record(const wire::Version& version, std::string_view content, bool conflict);

  /// The content of generation `n` (1 = newest) of `path`.
  Result<std::string> Content(const std::string& path, int n);

  /// The kept content of `path` whose SHA-256 is `hash`, if any generation has it.
  std::optional<std::string> ContentByHash(const std::string& path, const std::string& hash);

 private:
  std::string ObjectPath(const std::string& raw_hash) const;
  Status MakeObjectDirectory(const std::string& object);
  std::string BesidePath(const std::string& path, int n) const;
  /// Whether `path`'s entry keeps its backups beside its files.
  bool Beside(const std::string& path) const;
  Status RotateBeside(const std::string& path, std::string_view content,
                      const wire::Version& version);

  const Config& config_;
  Disk& disk_;
  StateStore& store_;
};

}  // namespace syncr
