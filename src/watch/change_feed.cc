#include "watch/change_feed.h"

#include <sys/inotify.h>
#include <sys/stat.h>

#include <algorithm>

#include "common/util.h"
#include "engine/path_policy.h"
#include "os/disk.h"
#include "os/temp_names.h"

namespace syncr {

ChangeFeed::ChangeFeed(EventLoop& loop, const Config& config, Listener listener)
    : loop_(loop), config_(config), listener_(std::move(listener)) {}

ChangeFeed::~ChangeFeed() {
  for (auto& [path, pending] : scans_) loop_.Cancel(pending.timer);
}

Status ChangeFeed::Init() { return watcher_.Init(); }

Status ChangeFeed::WatchEntry(const SyncEntry& entry) {
  const std::string dir = DirName(config_.DiskPath(entry.path));
  if (Status s = PosixDisk().MakeDirs(dir); !s.ok()) return s;
  if (!watcher_.IsWatched(dir)) {
    if (Status s = watcher_.WatchDirectory(dir); !s.ok()) {
      // Degraded, not fatal: status lists it with the remedy.
      AddProblem(s);
      listener_.note(entry.path, spdlog::level::err, s.ToString());
      return Status();
    }
  }
  targets_[dir].names.insert(entry.path);
  return Status();
}

void ChangeFeed::ForgetEntry(const std::string& entry_path) {
  for (auto& [dir, target] : targets_) target.names.erase(entry_path);
  ForgetUnder(config_.DiskPath(entry_path));
}

Status ChangeFeed::WatchTree(const std::string& path) {
  const std::string disk = config_.DiskPath(path);
  if (watcher_.IsWatched(disk) && !targets_[disk].tree.empty()) return Status();
  if (Status s = watcher_.WatchDirectory(disk); !s.ok()) {
    AddProblem(s);
    listener_.note(path, spdlog::level::err, s.ToString());
    return s;
  }
  targets_[disk].tree = path;
  return Status();
}

void ChangeFeed::AddProblem(const Status& s) {
  // A directory that went away between its listing and its watch is no
  // degraded state: the event in its parent rescans it.
  if (s.code() == Code::kNotFound) return;
  if (std::find(problems_.begin(), problems_.end(), s.ToString()) == problems_.end()) {
    problems_.push_back(s.ToString());
  }
}

// Drops the watches of `disk` and every directory below it; a directory
// that still names synced paths (a parent of file entries) keeps its watch
// for those names.
void ChangeFeed::ForgetUnder(const std::string& disk) {
  watcher_.UnwatchTree(disk);
  auto forget = [this](std::map<std::string, Target>::iterator it) {
    it->second.tree.clear();
    if (it->second.names.empty()) return targets_.erase(it);
    if (!watcher_.IsWatched(it->first)) watcher_.WatchDirectory(it->first);
    return std::next(it);
  };
  if (auto it = targets_.find(disk); it != targets_.end()) forget(it);
  // Then what starts with "disk/" (in map order "disk-x" and "disk.bak"
  // come between the two).
  const std::string prefix = disk + "/";
  for (auto it = targets_.lower_bound(prefix);
       it != targets_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
    it = forget(it);
  }
}

void ChangeFeed::Drain() {
  for (const InotifyWatcher::Event& e : watcher_.ReadEvents()) OnEvent(e);
  own_renames_.clear();
}

void ChangeFeed::OnEvent(const InotifyWatcher::Event& e) {
  if (e.overflow) {
    listener_.note("", spdlog::level::warn,
                   "inotify queue overflowed: rescanning every synced path");
    own_renames_.clear();
    listener_.rescan_all();
    return;
  }
  auto target = targets_.find(e.dir);
  if (target == targets_.end()) return;
  if (e.dir_gone) {
    OnDirectoryGone(target);
    return;
  }
  if (e.name.empty() || IsSyncrTempName(e.name)) return;
  const std::string path = PathFor(target->second, e.name);
  if (path.empty()) return;
  const bool dir_moved =
      (e.mask & IN_ISDIR) && (e.mask & (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE));
  if ((e.mask & IN_ISDIR) && (e.mask & (IN_MOVED_FROM | IN_DELETE))) {
    // A moved directory's watch follows the inode to its new name: drop it.
    ForgetUnder(config_.DiskPath(path));
  }
  // An in-place writer is at work from its first modify until its
  // close-write (or until the name is replaced or removed): while it is,
  // no event shortens the wait, or a scan could read a half-written file.
  if (e.mask & IN_MODIFY) writing_.insert(path);
  if (e.mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE)) writing_.erase(path);
  if ((e.mask & IN_MOVED_TO) && !(e.mask & IN_ISDIR)) {
    auto own = own_renames_.find(path);
    if (own != own_renames_.end()) {
      if (--own->second == 0) own_renames_.erase(own);
      return;  // the echo of our own apply
    }
  }
  listener_.forget_stat(path);
  Schedule(path, writing_.count(path) ? kWriterSettleMs : SettleDelay(e), dir_moved);
}

void ChangeFeed::OnDirectoryGone(std::map<std::string, Target>::iterator target) {
  const std::string dir = target->first;
  if (!target->second.tree.empty()) {
    // Inside a synced tree: the event in the parent rescans it.
    if (!watcher_.IsWatched(dir)) targets_.erase(target);
    return;
  }
  listener_.note("", spdlog::level::warn, "watched directory " + dir + " went away: rescanning");
  // Watch it again once it is back (made again here so it can be watched).
  if (!watcher_.IsWatched(dir) && PosixDisk().MakeDirs(dir).ok()) watcher_.WatchDirectory(dir);
  for (const std::string& path : target->second.names) {
    Schedule(path, config_.node.settle_ms, true);
  }
}

std::string ChangeFeed::PathFor(const Target& target, const std::string& name) const {
  for (const std::string& synced : target.names) {
    if (BaseName(synced) == name) return synced;
  }
  if (target.tree.empty()) return "";
  std::string path = target.tree + "/" + name;
  return IsNotSynced(config_, path) ? "" : path;
}

// How long to wait before looking at a path after event `e`. A save ends with
// close-write or a rename into place: settle briefly. A bare modify, or the
// create of a regular file, means a writer is still at work: its close-write
// will shorten the wait, and the long delay only serves writers that keep
// the file open.
int64_t ChangeFeed::SettleDelay(const InotifyWatcher::Event& e) const {
  const uint32_t kinds = e.mask & ~IN_ISDIR;
  if (kinds == IN_MODIFY) return kWriterSettleMs;
  if (kinds == IN_CREATE && !(e.mask & IN_ISDIR)) {
    struct stat st {};
    const std::string full = e.dir + "/" + e.name;
    if (lstat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return kWriterSettleMs;
  }
  return config_.node.settle_ms;
}

void ChangeFeed::AwaitWriter(const std::string& path) {
  writing_.insert(path);
  Schedule(path, kWriterSettleMs, false);
}

void ChangeFeed::Schedule(const std::string& path, int64_t delay_ms, bool recursive) {
  PendingScan& pending = scans_[path];
  loop_.Cancel(pending.timer);
  pending.recursive |= recursive;
  pending.timer = loop_.After(delay_ms, [this, path] {
    const bool recursive = scans_[path].recursive;
    scans_.erase(path);
    // Events may be queued but not read yet (a writer that started just
    // now): read them first, and let a newer event's schedule win.
    Drain();
    if (auto again = scans_.find(path); again != scans_.end()) {
      again->second.recursive |= recursive;
      return;
    }
    listener_.scan(path, recursive);
  });
}

}  // namespace syncr
