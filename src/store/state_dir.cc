#include "store/state_dir.h"

#include <dirent.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace syncr {
namespace {

constexpr mode_t kGroupOrOther = 077;

std::string Octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// `what` names the path for people ("state_dir /var/lib/syncr").
Status CannotFix(const std::string& what, const std::string& path, mode_t mode,
                 const std::string& want, int err) {
  return Status::WithCode(
      CodeOfErrno(err),
      what + " is mode " + Octal(mode) + " (group or others can read synced content kept there) " +
          "and cannot be made " + want + ": chmod: " + std::strerror(err) +
          ". Remedy: run `chmod " + want.substr(1) + " " + path +
          "` as its owner, or set [node] state_dir to a directory " + "that syncr's user owns",
      path);
}

// Takes the group and other bits off everything below `dir`; counts the
// entries it changed in `*fixed`.
Status PrivatizeBelow(const std::string& dir, int* fixed) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
  if (!d) return Status::Sys("opendir", dir, errno);
  while (true) {
    errno = 0;
    const dirent* entry = readdir(d.get());
    if (entry == nullptr) break;
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    const std::string path = dir + "/" + name;
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // removed meanwhile
      return Status::Sys("lstat", path, errno);
    }
    if (S_ISLNK(st.st_mode)) continue;  // a link has no mode of its own
    if ((st.st_mode & kGroupOrOther) != 0) {
      const mode_t want = st.st_mode & 0700;
      if (chmod(path.c_str(), want) != 0) {
        return CannotFix(path, path, st.st_mode, S_ISDIR(st.st_mode) ? "0700" : "0600", errno);
      }
      ++*fixed;
    }
    if (S_ISDIR(st.st_mode)) {
      if (Status s = PrivatizeBelow(path, fixed); !s.ok()) return s;
    }
  }
  if (errno != 0) return Status::Sys("readdir", dir, errno);
  return Status();
}

}  // namespace

Status MakeStateDirPrivate(const std::string& state_dir) {
  if (mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::Sys("mkdir", state_dir, errno);
  }
  struct stat st {};
  // stat, not lstat: a state_dir that is a symlink to another disk is fine.
  if (stat(state_dir.c_str(), &st) != 0) return Status::Sys("stat", state_dir, errno);
  if (!S_ISDIR(st.st_mode)) return Status::Sys("stat", state_dir, ENOTDIR);
  if ((st.st_mode & kGroupOrOther) != 0) {
    if (chmod(state_dir.c_str(), 0700) != 0) {
      return CannotFix("state_dir " + state_dir, state_dir, st.st_mode, "0700", errno);
    }
    spdlog::warn(
        "state_dir {} was mode {}: group or others could read the synced content kept there "
        "(state.db, backups); made it 0700",
        state_dir, Octal(st.st_mode));
  }
  int fixed = 0;
  if (Status s = PrivatizeBelow(state_dir, &fixed); !s.ok()) return s;
  if (fixed > 0) {
    spdlog::warn("made {} entries under state_dir {} private (files 0600, directories 0700)", fixed,
                 state_dir);
  }
  return Status();
}

}  // namespace syncr
