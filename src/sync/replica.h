// Replica: this node's copy of the synced paths, kept true to the disk. It
// owns the start-up and tree scans that turn "this path may have changed"
// into versions, and the batched apply of versions that peers sent, both
// through engine::Node (which owns the order of observe, decide, write,
// record, back up). It owns the confined disk, the backups and the Node.
// What it finds comes out through Listener; it never touches a socket or a
// child process. Not thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "engine/node.h"
#include "os/disk.h"
#include "store/backup_store.h"
#include "store/journal.h"
#include "store/state_store.h"
#include "watch/change_feed.h"

namespace syncr {

class Replica {
 public:
  struct Listener {
    /// A new local version (an edit, or with `baseline` set what the first
    /// scan found: it is sent, but runs no action).
    std::function<void(const Change& change, bool baseline)> local_change;
    /// A version from `peer` is now on this node's disk.
    std::function<void(const Change& change, const std::string& peer)> applied;
    /// A scan's versions are committed: what it queued may go on the wire.
    std::function<void()> committed;
  };

  /// How a peer's update ended, for its Ack.
  struct Outcome {
    std::string path;
    Status status;         ///< not ok: not applied (see refused)
    bool refused = false;  ///< this node does not sync the path: never retry
    wire::VersionVector now_have;
  };

  Replica(const Config& config, StateStore& store, Journal& journal, ChangeFeed& feed,
          Listener listener);

  /// Opens the intent log in state_dir (see IntentLog).
  Status Init();
  Node& node() { return *node_; }
  Disk& disk() { return *disk_; }
  /// The config's entries changed (reload): confine writes to the new ones.
  void Reconfine();

  /// Removes the temp files a daemon killed mid-write left beside `entry`:
  /// only names with this node's token (os/temp_names.h), never a user's
  /// look-alike.
  void RemoveStaleTemps(const SyncEntry& entry);
  /// The start-up scan: first the versions a crash kept us from recording
  /// are adopted (IntentLog); then what the scan finds is the baseline (no
  /// actions) or a local edit.
  void ScanAtStart();
  /// A reload added the entry `path`: what its first scan finds is a
  /// baseline, as at start.
  void AddEntry(const std::string& path);
  /// Looks at every synced path again (after lost events).
  void ScanAll();
  /// Brings the store up to date with `path` and, when `recursive` and it
  /// is a directory, everything below it.
  void ScanTree(const std::string& path, bool recursive);
  /// True while a scan is recording versions: sending waits for `committed`.
  bool scanning() const { return scanning_ > 0; }
  /// Paths this node could not read or apply, with why and the remedy,
  /// until a later scan or apply of the same path succeeds.
  std::map<std::string, std::string> failures() const;
  /// A failure that goes on with the same error is logged again this often
  /// (the sender retries it with a backoff; the log needs no line per try).
  static constexpr int64_t kStillFailingLogMs = 10 * 60 * 1000;

  /// Applies what `peer` sent, as one batch (one filesystem sync, one
  /// transaction); returns one outcome per update. `have` receives what
  /// this node now holds of them, for the other peers.
  std::vector<Outcome> Apply(const std::string& peer,
                             const std::vector<const wire::Update*>& updates, wire::Have* have);

 private:
  void ScanTreeNow(const std::string& path, bool recursive);
  void ScanTreeInto(const std::string& path, std::set<std::string>* seen);
  void ScanNow(const std::string& path, bool* writer_open = nullptr);
  void OnLocalChange(const Change& change);
  void ScanDone();
  bool Failed(const std::string& path, const std::string& what, const Status& why);
  std::vector<std::string> ConfinementBases() const;

  const Config& config_;
  StateStore& store_;
  Journal& journal_;
  ChangeFeed& feed_;
  Listener listener_;
  std::unique_ptr<Disk> disk_;
  std::unique_ptr<BackupStore> backups_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<IntentLog> intents_;
  int scanning_ = 0;  ///< scans in progress (nested)
  bool starting_ = false;
  bool baseline_scan_ = false;  ///< scanning an entry watched for the first time
  size_t baseline_paths_ = 0;
  struct Failure {
    std::string shown;      ///< what, why and the remedy, for status
    Status status;          ///< compared, not its text, to tell a new error
    int64_t logged_ms = 0;  ///< MonoMs of the last log line about it
  };
  std::map<std::string, Failure> failures_;
  std::set<std::string> beside_noted_;  ///< FILE.N-like names already logged
};

}  // namespace syncr
