#include "watch/inotify_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace syncr {
namespace {

// Close-write and rename-into-place are the ends of a save; create/delete and
// moves change existence; attrib catches chmod/chown; modify catches writers
// that keep the file open.
constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                           IN_ATTRIB | IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

// A /proc/sys number, or -1 when it cannot be read.
int64_t ReadSysctl(const std::string& path) {
  std::ifstream in(path);
  int64_t value = -1;
  if (!(in >> value)) return -1;
  return value;
}

}  // namespace

InotifyWatcher::Calls InotifyWatcher::KernelCalls() {
  return {
      [](int flags) { return inotify_init1(flags); },
      [](int fd, const char* path, uint32_t mask) { return inotify_add_watch(fd, path, mask); },
  };
}

Status InotifyWatcher::Init() {
  fd_.Reset(calls_.init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd_.valid()) return Status::Sys("inotify_init1", "", errno);
  return Status();
}

Status InotifyWatcher::WatchDirectory(const std::string& dir) {
  if (!fd_.valid()) return Status::WithCode(Code::kUnavailable, "no inotify instance", dir);
  int wd = calls_.add_watch(fd_.get(), dir.c_str(), kMask);
  if (wd < 0) return Status::Sys("inotify_add_watch", dir, errno);
  by_wd_[wd] = dir;
  by_dir_[dir] = wd;
  return Status();
}

void InotifyWatcher::UnwatchTree(const std::string& dir) {
  const std::string prefix = dir + "/";
  for (auto it = by_dir_.begin(); it != by_dir_.end();) {
    if (it->first == dir || it->first.compare(0, prefix.size(), prefix) == 0) {
      inotify_rm_watch(fd_.get(), it->second);
      by_wd_.erase(it->second);
      it = by_dir_.erase(it);
    } else {
      ++it;
    }
  }
}

std::vector<InotifyWatcher::Event> InotifyWatcher::ReadEvents() {
  std::vector<Event> out;
  alignas(inotify_event) char buf[64 * 1024];
  while (true) {
    ssize_t n = read(fd_.get(), buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: drained
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      Event e;
      e.mask = ev->mask;
      if (ev->mask & IN_Q_OVERFLOW) {
        e.overflow = true;
        out.push_back(std::move(e));
        continue;
      }
      auto it = by_wd_.find(ev->wd);
      if (it == by_wd_.end()) continue;
      e.dir = it->second;
      if (ev->len > 0) e.name = ev->name;
      if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
        e.dir_gone = true;
        if (ev->mask & IN_IGNORED) {
          by_dir_.erase(it->second);
          by_wd_.erase(it);
        }
      }
      out.push_back(std::move(e));
    }
  }
  return out;
}

std::string DescribeLimit(InotifyLimit limit) {
  const std::string kind = limit == InotifyLimit::kWatches ? "watches" : "instances";
  const int64_t global = ReadSysctl("/proc/sys/fs/inotify/max_user_" + kind);
  const int64_t own = ReadSysctl("/proc/sys/user/max_inotify_" + kind);
  std::string text = "fs.inotify.max_user_" + kind + "=" +
                     (global < 0 ? std::string("?") : std::to_string(global));
  // In the initial namespace both name the same limit; in a container the
  // namespace's own may be the lower one, and then it is the one to raise.
  if (own >= 0 && global >= 0 && own < global) {
    text += ", user.max_inotify_" + kind + "=" + std::to_string(own) + " in this user namespace";
  }
  return text;
}

}  // namespace syncr
