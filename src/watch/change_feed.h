// ChangeFeed: turns inotify events into settled requests to look at a
// synced path. It owns which synced names each watched directory stands
// for (file entries and entry roots by name in their parent, and, inside a
// directory entry, the synced directory a watched one mirrors), the settle
// timers (a short quiet spell after a close-write or rename, a long one
// while an in-place writer has the file open), and the filter that drops
// the echo of our own renames. It never reads a file or touches the store:
// what it decides comes out through Listener. Overflow always becomes a
// rescan of everything, never silence. A directory it cannot watch because
// an inotify limit is reached (max_user_watches, max_user_instances) is kept
// with that cause, counted by problems() (one line per cause), and retried
// with backoff, exactly those directories and never a poll of the tree;
// once watched it is rescanned, so what changed meanwhile is found. A
// directory whose watch fails for another reason (permission, I/O) is kept
// the same way, with its error, and retried with the same backoff. Owns
// its timers and its inotify fd's place on the loop, and releases them when
// destroyed. Not thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "loop/event_loop.h"
#include "watch/inotify_watcher.h"

namespace syncr {

class ChangeFeed {
 public:
  /// How long a writer that keeps a file open is given after its last event.
  static constexpr int64_t kWriterSettleMs = 1000;
  /// Directories that ran into an inotify limit are tried again after this,
  /// doubling up to kMaxRetryMs: a raised limit is picked up within minutes
  /// with no signal, and a node left degraded wakes rarely.
  static constexpr int64_t kFirstRetryMs = 5000;
  static constexpr int64_t kMaxRetryMs = 300000;

  struct Listener {
    /// The path has been quiet long enough: look at it (and, when
    /// `recursive`, at everything below it) now.
    std::function<void(const std::string& path, bool recursive)> scan;
    /// Events were lost: look at every synced path again.
    std::function<void()> rescan_all;
    /// An event that is not our own came for `path`: a cached stat is stale.
    std::function<void(const std::string& path)> forget_stat;
    /// Something an operator should know (a watched directory went away).
    std::function<void(const std::string& path, spdlog::level::level_enum, const std::string&)>
        note;
  };

  /// `calls` are the kernel's, except in tests that make a limit run out.
  ChangeFeed(EventLoop& loop, const Config& config, Listener listener,
             InotifyWatcher::Calls calls = InotifyWatcher::KernelCalls());
  ~ChangeFeed();
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  /// Opens inotify and reads it whenever the loop finds it readable. Out of
  /// instances (EMFILE) is not fatal: every directory then waits for the
  /// retry, and problems() says so.
  Status Init();

  /// Watches the directory that holds `entry` (made if missing) for its
  /// name. A directory that cannot be made is an error; out of watches is
  /// kept in problems() and logged, retried, and the node goes on.
  Status WatchEntry(const SyncEntry& entry);
  /// `entry` is no longer synced: forget its name and its tree's watches.
  void ForgetEntry(const std::string& entry_path);
  /// Watches the synced directory `path` as part of a tree (idempotent).
  Status WatchTree(const std::string& path);
  /// True when every change to a name in `disk_dir` makes an event here.
  bool IsWatched(const std::string& disk_dir) const { return watcher_.IsWatched(disk_dir); }

  /// Reads every pending event now (the loop calls it when the fd is
  /// readable; a batch apply calls it first so that a pending local event
  /// is heard before anything is decided).
  void Drain();
  /// Looks at `path` after `delay_ms` of quiet (an earlier request for the
  /// same path is pushed back; `recursive` sticks once asked for).
  void Schedule(const std::string& path, int64_t delay_ms, bool recursive);
  /// A file found by listing while a writer had it open: wait for its
  /// close-write, or kWriterSettleMs of quiet.
  void AwaitWriter(const std::string& path);
  /// An apply renamed a file into place at `path`: the next IN_MOVED_TO for
  /// it is our own and needs no look (counted: a batch may write it twice).
  void ExpectOwnRename(const std::string& path) { ++own_renames_[path]; }

  /// Tries the directories that ran into an inotify limit now, and starts
  /// the backoff over (SIGHUP: the operator has just raised the limit).
  void RetryNow();

  /// Degraded states with the remedy: one line per inotify limit that left
  /// directories unwatched, and any other watch that failed.
  std::vector<std::string> problems() const;
  size_t pending_scans() const { return scans_.size(); }
  /// Directories waiting for a watch because an inotify limit was reached.
  size_t unwatched() const { return unwatched_.size(); }

 private:
  struct Target {
    std::set<std::string> names;  ///< synced paths named in this directory
    std::string tree;             ///< the synced directory it mirrors, if any
  };
  struct PendingScan {
    EventLoop::TimerId timer = 0;
    bool recursive = false;
  };
  Status Open();
  /// Adds the watch of `disk`. A limit reached is kept in unwatched_ (and
  /// the retry armed); any other failure is returned for the caller.
  Status Watch(const std::string& disk);
  void ArmRetry();
  void Retry();
  /// The synced path an unwatched directory stands for, or "" when no entry
  /// needs it any more.
  std::string SyncedDirOf(const std::string& disk) const;
  std::string LimitProblem(InotifyLimit limit) const;
  void OnEvent(const InotifyWatcher::Event& e);
  void OnDirectoryGone(std::map<std::string, Target>::iterator target);
  /// The synced path an event in a watched directory names, or "".
  std::string PathFor(const Target& target, const std::string& name) const;
  int64_t SettleDelay(const InotifyWatcher::Event& e) const;
  void ForgetUnder(const std::string& disk);

  EventLoop& loop_;
  const Config& config_;
  Listener listener_;
  InotifyWatcher watcher_;
  std::map<std::string, Target> targets_;  ///< by watched directory on disk
  std::map<std::string, PendingScan> scans_;
  std::set<std::string> writing_;  ///< paths an in-place writer has open
  /// Files an apply renamed into place since inotify was last read. What
  /// is left once the queue is drained was never coming, and is dropped.
  std::unordered_map<std::string, int> own_renames_;
  /// By on-disk directory: why its watch failed for a reason other than a
  /// limit (permission, I/O). Retried with the limits' backoff; gone once
  /// it is watched or no longer synced.
  std::map<std::string, std::string> failed_;
  /// By on-disk directory: the limit its watch ran into. Its target in
  /// targets_ says what to rescan once it is watched.
  std::map<std::string, InotifyLimit> unwatched_;
  EventLoop::TimerId retry_timer_ = 0;
  int64_t retry_delay_ms_ = kFirstRetryMs;
  mutable std::set<std::string> beside_noted_;  ///< FILE.N-like names already logged
};

}  // namespace syncr
