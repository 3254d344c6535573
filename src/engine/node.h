// Node: turns what the disk holds into versions and versions from peers into
// what the disk holds. It owns the order of a change (observe, decide, write,
// record, back up) and asks the pure functions in decide.h at each step. It
// knows nothing of sockets, inotify or children: the daemon calls it and
// acts on what it returns (push to peers, start actions, ack).
// Not thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "engine/decide.h"
#include "os/disk.h"
#include "store/backup_store.h"
#include "store/intent_log.h"
#include "store/state_store.h"

namespace syncr {

/// A change that landed on this node's disk or store, for the actions.
struct Change {
  wire::Version version;
  std::string event;        ///< SYNCR_EVENT
  bool first_seen = false;  ///< the store had no record of the path before
};

struct ApplyOutcome {
  RemoteDecision decision = RemoteDecision::kIgnore;
  std::optional<Change> local_first;  ///< a local edit found just before applying
  std::optional<Change> applied;      ///< the disk changed: run the actions
  /// A file was renamed into place in a watched directory: one IN_MOVED_TO
  /// for the path is this apply's own (see Node::Watching).
  bool own_rename = false;
  wire::VersionVector now_have;  ///< what we hold now, for the ack
  std::string note;              ///< for the log (conflicts)
};

class Node {
 public:
  Node(const Config& config, Disk& disk, StateStore& store, BackupStore& backups);

  const std::string& name() const { return config_.node.name; }

  /// Looks at `path` on disk; a real change becomes a new local version,
  /// stored and backed up (both or neither), and is returned. Unchanged:
  /// nullopt. A path that cannot be looked at, or a stored version that
  /// cannot be read, is an error: never a deletion or a new path. With
  /// `writer_open` set, a regular file that some process has open for
  /// writing (Disk::OpenForWriting) is not read yet: nullopt, and
  /// *writer_open becomes true.
  /// With `baseline`, a path the store has never seen becomes a baseline
  /// version (the first scan of a start or of an entry a reload added).
  Result<std::optional<Change>> ScanLocal(const std::string& path, bool* writer_open = nullptr,
                                          bool baseline = false);

  /// What the daemon's watches tell the node. Without it (tests, the CLI)
  /// every write of ours is confirmed by reading it back at the next scan.
  struct Watching {
    /// True when every change to a name in `disk_dir` from now on makes an
    /// event that reaches the daemon, which then calls ForgetStat for it.
    /// A file this node renames into such a directory is trusted by its
    /// stat: a scan skips reading and hashing it until an event says
    /// otherwise.
    std::function<bool(const std::string& disk_dir)> watched;
    /// Called as soon as an apply made a directory, before anything is
    /// written into it, so that it can be watched first.
    std::function<void(const std::string& path)> directory_made;
  };
  void SetWatching(Watching watching) { watching_ = std::move(watching); }
  /// Where the versions being written for peers are recorded before the
  /// disk is touched (see IntentLog). Without one (tests), a crash in the
  /// middle of an apply is recovered by the start-up scan alone.
  void SetIntentLog(IntentLog* intents) { intents_ = intents; }
  /// Start-up, before the first scan: a version the log says we were
  /// writing, that the disk now holds exactly, is the peer's version that a
  /// crash kept us from recording: record it (no new local version, no
  /// conflict). Anything else on disk is left to the scan. Clears the log.
  /// Returns the changes adopted: their actions may not have run.
  Result<std::vector<Change>> AdoptIntents();
  /// `path` was put off by a baseline scan (a writer had it open): when it is
  /// first read, by its own scan or before an apply, it is still a baseline.
  void KeepBaseline(const std::string& path) { baseline_pending_.insert(path); }
  /// An event that is not our own came for `path`: look at it again.
  void ForgetStat(const std::string& path) { stat_cache_.erase(path); }
  /// Events were lost (inotify overflow): look at everything again.
  void ForgetStats() { stat_cache_.clear(); }

  /// Applies a version a peer sent. The path must already be validated.
  Result<ApplyOutcome> ApplyRemote(const wire::Update& update);

  /// Applies several versions as one batch: the new file contents share one
  /// filesystem sync and one database transaction, committed before it
  /// returns. Results are in order. If that commit fails (or a write failed
  /// the store meanwhile) every result is an error: nothing is acknowledged
  /// that is not in the store. Call it outside any StateStore::Batch.
  std::vector<Result<ApplyOutcome>> ApplyBatch(const std::vector<const wire::Update*>& updates);

  /// The content to send for `version`: from disk if it still matches,
  /// otherwise generation 1 of the backups (which always holds it).
  Result<std::string> ContentFor(const wire::Version& version);

  /// The losing content a conflict version names (empty if not kept here).
  std::string LostContentFor(const wire::Version& version);

  /// Acknowledges the conflict on `path`: keeps the current content, or with
  /// `take` set puts back the losing content that came from node `take`. Either
  /// way a new version without the conflict mark is made; it replicates and
  /// clears the conflict on every node.
  Result<Change> Resolve(const std::string& path, const std::string& take);

  /// A path the store knows but that is missing at start is not a deletion
  /// (a node that came up empty must not wipe its peers): forget our claim
  /// to it so that catch-up brings it back. Returns true if it was missing.
  bool ForgetIfMissingAtStart(const std::string& path);

 private:
  Result<Observed> ObserveDisk(const std::string& path, std::string* content);
  int64_t ChangeTime(const std::string& path, const wire::Version* before, const Observed& obs);
  /// ScanLocal past the stat cache, with the path's lstat and its stored
  /// version already read; a change also replaces `*stored`.
  Result<std::optional<Change>> ScanLocalWith(const std::string& path,
                                              const Result<FileInfo>& quick,
                                              std::optional<wire::Version>* stored,
                                              bool baseline = false);
  struct PendingApply;
  Result<ApplyOutcome> Decide(const wire::Update& update, std::optional<PendingApply>* write);
  void FinishBatch(std::vector<PendingApply>* pending, std::vector<Result<ApplyOutcome>>* results);
  /// True when `update` deletes a directory below which `pending` has a
  /// staged (not yet renamed) file.
  /// True when a parent of `remote`'s path, missing here, is stored as
  /// deleted by the same node after it made `remote` (DeletedByLaterParent).
  /// The parents of `remote`'s path missing here go to `*missing`
  /// (nearest first).
  Result<bool> DeletedWithParent(const wire::Version& remote, const SyncEntry* entry,
                                 std::vector<std::string>* missing);
  /// True when directory `dir` holds a path whose stored version a peer made
  /// (an apply wrote it): see implied_dirs_.
  bool HoldsPeerContent(const std::string& dir);
  static bool StagedBelow(const std::vector<PendingApply>& pending, const wire::Update& update);
  Status Record(PendingApply& p, ApplyOutcome* out);
  WriteMeta MetaFor(const wire::Version& remote) const;
  /// The version `p` will be stored as, as far as it is known before the
  /// disk is written (for the intent log).
  wire::Version Destined(const wire::Version& remote, const PendingApply& p) const;
  /// Records in the intent log that `p`'s version is about to go on disk.
  Status Intend(const wire::Version& remote, const PendingApply& p);
  /// The xattr namespaces this node replicates ([metadata] acls, xattrs).
  std::vector<std::string> XattrPrefixes() const;
  bool ManagedXattr(const std::string& name) const;
  Status WriteToDisk(const wire::Update& update, const wire::Version* local, wire::Version* stored);

  /// Stat of each path when its stored version was last confirmed against
  /// the disk by reading it. ctime changes on every write, rename, chmod and
  /// xattr change and cannot be set from user space, so an equal stat means
  /// unchanged content: the scan skips the read and hash (repeated events).
  bool StatUnchanged(const std::string& path, const Result<FileInfo>& quick) const;

  std::unordered_map<std::string, FileInfo> stat_cache_;
  Watching watching_;
  IntentLog* intents_ = nullptr;
  std::set<std::string> baseline_pending_;  ///< see KeepBaseline
  /// Directories an apply created only to hold a peer's file: their scan
  /// makes a baseline version (in memory: after a crash the scan dates the
  /// directory by its ctime instead).
  std::set<std::string> implied_dirs_;
  /// A peer's version reached the disk but not the store since start: the
  /// intent log is kept for the next start to adopt.
  bool unrecorded_writes_ = false;
  /// Directory entries seen to be directories here during this batch: their
  /// children need not look again (a batch of 4,096 paths in one tree).
  std::set<std::string> batch_directory_entries_;
  const Config& config_;
  Disk& disk_;
  StateStore& store_;
  BackupStore& backups_;
  bool is_root_;
};

}  // namespace syncr
