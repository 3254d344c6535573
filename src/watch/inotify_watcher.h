// InotifyWatcher: the OS watcher. It only turns kernel events into "this name
// in this directory may have changed"; settling, coalescing and rescans live
// above it, in the daemon. It watches directories, never a file's inode, so
// a rename-into-place save (vim, sed -i) never loses the watch.
// Queue overflow comes out as an event with `overflow` set: the caller must
// rescan, never ignore it. Not thread-safe.
#pragma once

#include <cstdint>
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

  Status Init();
  int fd() const { return fd_.get(); }

  /// Watches `dir` (idempotent). ENOSPC here means out of watches
  /// (fs.inotify.max_user_watches): the message says so, with the remedy.
  Status WatchDirectory(const std::string& dir);
  bool IsWatched(const std::string& dir) const { return by_dir_.count(dir) > 0; }
  /// Stops watching `dir` and every watched directory below it (after a
  /// move, the kernel's watch would follow the inode to its new name).
  void UnwatchTree(const std::string& dir);
  size_t watch_count() const { return by_wd_.size(); }

  /// Reads every pending event without blocking.
  std::vector<Event> ReadEvents();

 private:
  UniqueFd fd_;
  std::unordered_map<int, std::string> by_wd_;
  std::unordered_map<std::string, int> by_dir_;
};

}  // namespace syncr
