#include "watch/change_feed.h"

#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "common/escape.h"
#include "common/util.h"
#include "engine/path_policy.h"
#include "os/disk.h"
#include "os/temp_names.h"

namespace syncr {
namespace {

// The deepest directory that holds every one of `paths` (synced paths).
std::string CommonDir(const std::set<std::string>& paths) {
  std::string common = *paths.begin();
  for (const std::string& path : paths) {
    while (common != "/" && common != "." && path != common && path.rfind(common + "/", 0) != 0) {
      common = DirName(common);
    }
  }
  return common;
}

// `paths` without those below another one: a recursive scan of a directory
// covers its subdirectories.
std::vector<std::string> TopMost(const std::set<std::string>& paths) {
  std::vector<std::string> top;
  for (const std::string& path : paths) {
    bool covered = false;
    for (std::string up = path; !covered && up != "/" && up != ".";) {
      up = DirName(up);
      covered = paths.count(up) > 0;
    }
    if (!covered) top.push_back(path);
  }
  return top;
}

}  // namespace

ChangeFeed::ChangeFeed(EventLoop& loop, const Config& config, Listener listener,
                       InotifyWatcher::Calls calls)
    : loop_(loop), config_(config), listener_(std::move(listener)), watcher_(std::move(calls)) {}

ChangeFeed::~ChangeFeed() {
  for (auto& [path, pending] : scans_) loop_.Cancel(pending.timer);
  loop_.Cancel(retry_timer_);
  if (watcher_.ready()) loop_.Remove(watcher_.fd());
}

Status ChangeFeed::Init() {
  Status s = Open();
  if (s.ok() || s.err() != EMFILE) return s;
  // Degraded, not fatal: the directories wait for the retry (Watch keeps
  // them), and status says why.
  listener_.note("", spdlog::level::err,
                 "out of inotify instances (" + DescribeLimit(InotifyLimit::kInstances) +
                     "): nothing is watched until syncr can open one");
  ArmRetry();
  return Status();
}

Status ChangeFeed::Open() {
  if (Status s = watcher_.Init(); !s.ok()) return s;
  loop_.Add(watcher_.fd(), EPOLLIN, [this](uint32_t) { Drain(); });
  return Status();
}

Status ChangeFeed::WatchEntry(const SyncEntry& entry) {
  const std::string dir = DirName(config_.DiskPath(entry.path));
  if (Status s = PosixDisk().MakeDirs(dir); !s.ok()) return s;
  // Known before it is watched: a retry that watches it later rescans it.
  targets_[dir].names.insert(entry.path);
  if (Status s = Watch(dir); !s.ok() && failed_.count(dir)) {
    // Degraded, not fatal: status lists it, and it is retried.
    listener_.note(entry.path, spdlog::level::err, s.ToString());
  }
  return Status();
}

void ChangeFeed::ForgetEntry(const std::string& entry_path) {
  for (auto& [dir, target] : targets_) target.names.erase(entry_path);
  ForgetUnder(config_.DiskPath(entry_path));
}

Status ChangeFeed::WatchTree(const std::string& path) {
  const std::string disk = config_.DiskPath(path);
  if (watcher_.IsWatched(disk) && !targets_[disk].tree.empty()) return Status();
  Status s = Watch(disk);
  if (s.ok() || unwatched_.count(disk) || failed_.count(disk)) targets_[disk].tree = path;
  if (failed_.count(disk)) listener_.note(path, spdlog::level::err, s.ToString());
  return s;
}

Status ChangeFeed::Watch(const std::string& disk) {
  Status s = watcher_.IsWatched(disk) ? Status() : watcher_.WatchDirectory(disk);
  if (s.ok() || (s.err() != ENOSPC && watcher_.ready())) {
    unwatched_.erase(disk);
    failed_.erase(disk);
    // A directory that went away between its listing and its watch is no
    // degraded state: the event in its parent rescans it.
    if (!s.ok() && s.code() != Code::kNotFound) {
      failed_[disk] = s.ToString() + " (" + std::string(Remedy(s.code())) + ")";
      ArmRetry();
    }
    return s;
  }
  failed_.erase(disk);  // a limit now: counted on that line alone
  const InotifyLimit limit = watcher_.ready() ? InotifyLimit::kWatches : InotifyLimit::kInstances;
  const bool first = std::none_of(unwatched_.begin(), unwatched_.end(),
                                  [limit](const auto& u) { return u.second == limit; });
  unwatched_[disk] = limit;
  if (first && limit == InotifyLimit::kWatches) {
    // Logged once per episode, not once per directory: a large tree would
    // flood the log. status counts them.
    listener_.note("", spdlog::level::err,
                   "out of inotify watches (" + DescribeLimit(limit) + ") at " + EscapeName(disk) +
                       ": it and the directories that follow are not watched until the limit "
                       "is raised; syncr retries by itself, and on SIGHUP");
  }
  ArmRetry();
  return s;
}

void ChangeFeed::ArmRetry() {
  if (retry_timer_ != 0) return;
  retry_timer_ = loop_.After(retry_delay_ms_, [this] {
    retry_timer_ = 0;
    // If this try fails too, the next waits twice as long.
    retry_delay_ms_ = std::min(retry_delay_ms_ * 2, kMaxRetryMs);
    Retry();
  });
}

void ChangeFeed::RetryNow() {
  loop_.Cancel(retry_timer_);
  retry_timer_ = 0;
  retry_delay_ms_ = kFirstRetryMs;
  Retry();
}

// Watches exactly the directories that ran into a limit (never a walk of
// the tree), then rescans what they stand for: changes made while nobody
// watched made no event. Stops at the first that runs into the limit again:
// the rest would too.
void ChangeFeed::Retry() {
  if (!watcher_.ready() && !Open().ok()) {
    ArmRetry();
    return;
  }
  size_t rewatched = 0;
  std::set<std::string> rescan;
  auto retry = [&](const std::string& disk) {
    if (SyncedDirOf(disk).empty()) {  // its entry is no longer synced
      unwatched_.erase(disk);
      failed_.erase(disk);
      return true;
    }
    Status s = Watch(disk);
    if (unwatched_.count(disk)) return false;  // the limit again: the rest would be too
    if (!s.ok()) return true;  // gone (rescanned by its parent's event), or failed again
    ++rewatched;
    const Target& target = targets_[disk];
    rescan.insert(target.names.begin(), target.names.end());
    if (!target.tree.empty()) rescan.insert(target.tree);
    return true;
  };
  bool limited = false;
  for (auto it = unwatched_.begin(); it != unwatched_.end() && !limited;) {
    const std::string disk = it->first;
    ++it;  // Watch() erases or keeps `disk`, never another directory
    limited = !retry(disk);
  }
  std::vector<std::string> failed;
  for (const auto& [disk, why] : failed_) failed.push_back(disk);
  for (auto it = failed.begin(); it != failed.end() && !limited; ++it) limited = !retry(*it);
  for (const std::string& path : TopMost(rescan)) Schedule(path, config_.node.settle_ms, true);
  if (unwatched_.empty() && failed_.empty()) retry_delay_ms_ = kFirstRetryMs;
  if (rewatched == 0) return;
  listener_.note(
      "", unwatched_.empty() ? spdlog::level::info : spdlog::level::warn,
      "re-watched " + std::to_string(rewatched) + " directories, rescanning them; " +
          (unwatched_.empty() && failed_.empty()
               ? std::string("every synced directory is watched again")
               : std::to_string(unwatched_.size() + failed_.size()) + " still are not watched"));
}

std::string ChangeFeed::SyncedDirOf(const std::string& disk) const {
  auto it = targets_.find(disk);
  if (it == targets_.end()) return "";
  if (!it->second.tree.empty()) return it->second.tree;
  if (it->second.names.empty()) return "";
  return DirName(*it->second.names.begin());
}

std::vector<std::string> ChangeFeed::problems() const {
  std::vector<std::string> out;
  if (!failed_.empty()) {
    const size_t more = failed_.size() - 1;
    out.push_back(
        std::to_string(failed_.size()) +
        (failed_.size() == 1 ? " directory is" : " directories are") +
        " not watched (changes there are not seen): " + failed_.begin()->second +
        (more ? " (and " + std::to_string(more) + " more)" : "") +
        "; syncr tries again by itself, and on SIGHUP, and rescans each once it is watched");
  }
  for (InotifyLimit limit : {InotifyLimit::kWatches, InotifyLimit::kInstances}) {
    std::string line = LimitProblem(limit);
    if (!line.empty()) out.push_back(std::move(line));
  }
  return out;
}

// One line for every directory that ran into `limit`, or "" if none did.
std::string ChangeFeed::LimitProblem(InotifyLimit limit) const {
  std::set<std::string> dirs;
  for (const auto& [disk, why] : unwatched_) {
    if (why != limit) continue;
    std::string dir = SyncedDirOf(disk);
    if (!dir.empty()) dirs.insert(std::move(dir));
  }
  if (dirs.empty()) return "";
  const bool watches = limit == InotifyLimit::kWatches;
  const std::string n = std::to_string(dirs.size());
  return n + (dirs.size() == 1 ? " directory under " : " directories under ") +
         EscapeName(CommonDir(dirs)) + (dirs.size() == 1 ? " is" : " are") +
         " not watched (changes there are not seen): " +
         (watches ? "out of inotify watches (" : "out of inotify instances (") +
         DescribeLimit(limit) + "); raise " +
         (watches ? "fs.inotify.max_user_watches (and fs.inotify.max_user_instances)"
                  : "fs.inotify.max_user_instances (and fs.inotify.max_user_watches)") +
         " with sysctl, then send SIGHUP or wait: syncr retries by itself and rescans them";
}

// Drops the watches of `disk` and every directory below it; a directory
// that still names synced paths (a parent of file entries) keeps its watch
// for those names.
void ChangeFeed::ForgetUnder(const std::string& disk) {
  watcher_.UnwatchTree(disk);
  auto forget = [this](std::map<std::string, Target>::iterator it) {
    it->second.tree.clear();
    if (it->second.names.empty()) {
      unwatched_.erase(it->first);
      failed_.erase(it->first);
      return targets_.erase(it);
    }
    Watch(it->first);
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
  listener_.note("", spdlog::level::warn,
                 "watched directory " + EscapeName(dir) + " went away: rescanning");
  // Watch it again once it is back (made again here so it can be watched).
  if (PosixDisk().MakeDirs(dir).ok()) Watch(dir);
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
  if (!IsNotSynced(config_, path)) return path;
  // Left out by a config choice the admin may not know the reach of: said
  // once (issue 11: it used to leave no trace).
  if (beside_noted_.size() >= kMaxBesideNoted) beside_noted_.clear();  // bounded
  if (IsBesideBackupName(config_, path) && beside_noted_.insert(path).second) {
    listener_.note(path, spdlog::level::info, BesideSkipNote(config_, path));
  }
  return "";
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
