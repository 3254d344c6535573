// IntentLog: the versions this node is about to write to disk for a peer,
// kept in state_dir/intents.log until the store has recorded them. A daemon
// killed between putting a peer's version on disk and recording it would
// otherwise find, at its next start, a disk that differs from its store and
// take the difference for a local edit of its own, which could then beat the
// origin's later real edit (issue 12). With the log, start-up knows that
// what it finds is the version it was applying and adopts it.
//
// Each record is appended with write(2) before the disk is touched, so it
// survives the process being killed at any point (it is in the page cache);
// it is not fsynced, so a power loss may forget it, and then the start-up
// scan dates the change by the file (the origin's mtime the apply set, or
// the ctime of a metadata apply), which never beats a later real edit. Format: a 4-byte big-endian
// length and a serialized wire::Version, repeated; a torn last record is ignored. Not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/status.h"
#include "net/proto/syncr.pb.h"

namespace syncr {

class IntentLog {
 public:
  /// Opens (creating, mode 0600) state_dir/intents.log.
  static Result<std::unique_ptr<IntentLog>> Open(const std::string& state_dir);

  /// Appends `version`: this node is about to put it on disk.
  Status Record(const wire::Version& version);
  /// Everything recorded is now in the store: forget it.
  Status Clear();
  /// What was recorded and not cleared, oldest first (a crash left it).
  Result<std::vector<wire::Version>> Pending() const;
  bool empty() const { return bytes_ == 0; }

 private:
  IntentLog(UniqueFd fd, std::string path, uint64_t bytes)
      : fd_(std::move(fd)), path_(std::move(path)), bytes_(bytes) {}
  UniqueFd fd_;
  std::string path_;
  uint64_t bytes_ = 0;
};

}  // namespace syncr
