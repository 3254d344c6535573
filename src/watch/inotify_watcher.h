// InotifyWatcher: the OS watcher. It only turns kernel events into "this name
// in this directory may have changed"; settling, coalescing and rescans live
// above it, in the daemon. It watches directories, never a file's inode, so
// a rename-into-place save (vim, sed -i) never loses the watch.
// Queue overflow comes out as an event with `overflow` set: the caller must
// rescan, never ignore it. Running out of watches or instances is an
// error with the errno (ENOSPC, EMFILE) that the caller keeps and retries.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/fd.h"
#include "common/status.h"

namespace syncr {

class InotifyWatcher {
 public:
  struct Event {
    std::string dir;        ///< the watched directory (absolute on-disk path)
    std::string name;       ///< entry inside it; empty for the directory itself
    uint32_t mask = 0;      ///< IN_* bits
    bool overflow = false;  ///< the kernel dropped events: rescan everything
    bool dir_gone = false;  ///< the watched directory was deleted, moved or unmounted
  };

  /// The two calls that can run into a kernel limit. Tests pass ones that
  /// fail as the kernel does when a limit is reached (errno set, -1).
  struct Calls {
    std::function<int(int flags)> init1;
    std::function<int(int fd, const char* path, uint32_t mask)> add_watch;
  };
  /// The kernel's inotify_init1 and inotify_add_watch.
  static Calls KernelCalls();

  explicit InotifyWatcher(Calls calls = KernelCalls()) : calls_(std::move(calls)) {}

  /// Opens the inotify descriptor. EMFILE: out of inotify instances
  /// (fs.inotify.max_user_instances); it may be called again later.
  Status Init();
  bool ready() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }

  /// Watches `dir` (idempotent). Code kNoSpace (errno ENOSPC) means out of
  /// watches (fs.inotify.max_user_watches); kUnavailable, not initialised.
  Status WatchDirectory(const std::string& dir);
  bool IsWatched(const std::string& dir) const { return by_dir_.count(dir) > 0; }
  /// Stops watching `dir` and every watched directory below it (after a
  /// move, the kernel's watch would follow the inode to its new name).
  void UnwatchTree(const std::string& dir);
  size_t watch_count() const { return by_wd_.size(); }

  /// Reads every pending event without blocking.
  std::vector<Event> ReadEvents();

 private:
  Calls calls_;
  UniqueFd fd_;
  std::unordered_map<int, std::string> by_wd_;
  std::unordered_map<std::string, int> by_dir_;
};

/// The inotify limit a failure ran into; a watch limit is ENOSPC from
/// inotify_add_watch, an instance limit EMFILE from inotify_init1.
enum class InotifyLimit { kWatches, kInstances };

/// The limit as an operator reads it now: "fs.inotify.max_user_watches=8192",
/// plus this user namespace's own limit (user.max_inotify_watches) when that
/// is lower (a container).
std::string DescribeLimit(InotifyLimit limit);

}  // namespace syncr
