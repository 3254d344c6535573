#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <map>
#include <set>

#include "common/fd.h"
#include "common/util.h"
#include "os/disk.h"
#include "os/temp_names.h"

namespace syncr {
namespace {

// Staged files synced one by one rather than with syncfs (SyncFilesystems).
constexpr size_t kFsyncEachUpTo = 8;

using Fd = UniqueFd;

FileInfo InfoFromStat(const struct stat& st) {
  FileInfo info;
  if (S_ISREG(st.st_mode)) {
    info.type = FileType::kFile;
  } else if (S_ISDIR(st.st_mode)) {
    info.type = FileType::kDirectory;
  } else if (S_ISLNK(st.st_mode)) {
    info.type = FileType::kSymlink;
  } else {
    info.type = FileType::kOther;
  }
  info.mode = st.st_mode & 07777;
  info.uid = st.st_uid;
  info.gid = st.st_gid;
  info.size = static_cast<uint64_t>(st.st_size);
  info.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  info.ctime_ns = int64_t{st.st_ctim.tv_sec} * 1000000000 + st.st_ctim.tv_nsec;
  info.ino = st.st_ino;
  info.dev = st.st_dev;
  return info;
}

timespec ToTimespec(int64_t ns) {
  timespec ts{};
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  return ts;
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Sys("write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status();
}

bool HasPrefix(const std::string& name, const std::vector<std::string>& prefixes) {
  for (const std::string& p : prefixes) {
    if (name.compare(0, p.size(), p) == 0) return true;
  }
  return false;
}

// Every xattr of an open file or directory; none where the filesystem has
// none. A failure to read them is an error, not "no xattrs": taken for
// absent, they would be removed on every peer.
Result<Xattrs> ReadXattrs(int fd, const std::string& path) {
  Xattrs out;
  std::string names(1024, '\0');
  ssize_t n;
  while ((n = flistxattr(fd, names.data(), names.size())) < 0 && errno == ERANGE) {
    names.resize(names.size() * 4);
  }
  if (n < 0 && errno == ENOTSUP) return out;
  if (n < 0) return Status::Sys("listxattr", path, errno);
  for (size_t at = 0; at < static_cast<size_t>(n);) {
    const std::string name(names.data() + at);
    at += name.size() + 1;
    std::string value(256, '\0');
    ssize_t v;
    while ((v = fgetxattr(fd, name.c_str(), value.data(), value.size())) < 0 && errno == ERANGE) {
      value.resize(value.size() * 4);
    }
    if (v < 0 && errno == ENODATA) continue;  // removed since the listing
    if (v < 0) return Status::Sys("getxattr " + name, path, errno);
    value.resize(static_cast<size_t>(v));
    out.emplace_back(name, std::move(value));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status ApplyXattrs(int fd, const WriteMeta& meta, const std::string& path) {
  if (meta.xattr_prefixes.empty()) return Status();
  Result<Xattrs> have = ReadXattrs(fd, path);
  if (!have.ok()) return have.status();
  for (const auto& [name, value] : *have) {
    if (!HasPrefix(name, meta.xattr_prefixes)) continue;
    bool wanted = false;
    for (const auto& w : meta.xattrs) wanted |= w.first == name;
    if (!wanted && fremovexattr(fd, name.c_str()) != 0 && errno != ENODATA) {
      return Status::Sys("removexattr " + name, path, errno);
    }
  }
  for (const auto& [name, value] : meta.xattrs) {
    if (!HasPrefix(name, meta.xattr_prefixes)) continue;
    if (fsetxattr(fd, name.c_str(), value.data(), value.size(), 0) != 0) {
      // A label the local policy refuses is not worth losing the file over.
      if (name.rfind("security.", 0) == 0 && (errno == EPERM || errno == ENOTSUP)) continue;
      return Status::Sys("setxattr " + name, path, errno);
    }
  }
  return Status();
}

Status ApplyMeta(int fd, const WriteMeta& meta, const std::string& path) {
  if (meta.uid || meta.gid) {
    if (fchown(fd, meta.uid.value_or(-1), meta.gid.value_or(-1)) != 0) {
      return Status::Sys("fchown", path, errno);
    }
  }
  if (Status s = ApplyXattrs(fd, meta, path); !s.ok()) return s;
  // After fchown: chown clears set-id bits, so the mode goes on last (and
  // after the ACL, whose mask entry it must win over).
  if (fchmod(fd, meta.mode & 07777) != 0) return Status::Sys("fchmod", path, errno);
  timespec times[2] = {{0, UTIME_OMIT}, ToTimespec(meta.mtime_ns)};
  if (futimens(fd, times) != 0) return Status::Sys("futimens", path, errno);
  return Status();
}

// A directory opened for *at() calls, and the last component of the path.
struct Parent {
  int dir = -1;  // owned by `owned`, or held by the disk (see Disk::Hold)
  Fd owned;
  std::string dir_path;  // for messages
  std::string name;

  void Own(Fd fd) {
    dir = fd.get();
    owned = std::move(fd);
  }
};

// openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: `rel` may not climb out
// of `base` nor pass through any symlink. -1 with errno ENOSYS where the
// kernel lacks it.
int OpenBeneath(int base, const std::string& rel) {
  open_how how{};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(syscall(SYS_openat2, base, rel.c_str(), &how, sizeof how));
}

class PosixDiskImpl final : public Disk {
 public:
  explicit PosixDiskImpl(std::vector<std::string> bases) { SetConfinement(std::move(bases)); }

  void SetConfinement(std::vector<std::string> bases) override {
    held_.clear();
    bases_ = std::move(bases);
    // Longest first, so the innermost base is the one a path is confined to.
    std::sort(bases_.begin(), bases_.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  }

  Result<FileInfo> Lstat(const std::string& path) override {
    Result<Parent> p = OpenParent(path, false);
    if (!p.ok()) return Missing(p.status()) ? Result<FileInfo>(FileInfo{}) : p.status();
    struct stat st {};
    if (fstatat(p->dir, p->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return FileInfo{};
      return Status::Sys("lstat", path, errno);
    }
    return InfoFromStat(st);
  }

  Result<Xattrs> GetXattrs(const std::string& path) override {
    Result<Parent> p = OpenParent(path, false);
    if (!p.ok()) return Missing(p.status()) ? Result<Xattrs>(Xattrs{}) : p.status();
    Fd fd(
        openat(p->dir, p->name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (fd.get() < 0) {
      if (errno == ELOOP || errno == ENOENT || errno == ENXIO) return Xattrs{};
      return Status::Sys("open", path, errno);
    }
    return ReadXattrs(fd.get(), path);
  }

  Result<Snapshot> Observe(const std::string& path, uint64_t max_bytes) override {
    Snapshot snap;
    Result<Parent> p = OpenParent(path, false);
    if (!p.ok()) return Missing(p.status()) ? Result<Snapshot>(snap) : p.status();
    const int dir = p->dir;
    const char* name = p->name.c_str();
    struct stat st {};
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return snap;  // kMissing
      return Status::Sys("lstat", path, errno);
    }
    snap.info = InfoFromStat(st);
    if (snap.info.type == FileType::kSymlink) {
      std::string target(PATH_MAX, '\0');
      ssize_t n = readlinkat(dir, name, target.data(), target.size());
      if (n < 0) return Status::Sys("readlink", path, errno);
      target.resize(static_cast<size_t>(n));
      snap.link_target = std::move(target);
      return snap;
    }
    if (snap.info.type == FileType::kDirectory) {
      // A directory we cannot open is an error: its xattrs are unknown, not none.
      Fd d(openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (d.get() < 0) {
        if (errno == ENOENT) return Snapshot{};  // removed since the lstat
        return Status::Sys("open", path, errno);
      }
      Result<Xattrs> xattrs = ReadXattrs(d.get(), path);
      if (!xattrs.ok()) return xattrs.status();
      snap.xattrs = std::move(*xattrs);
      return snap;
    }
    if (snap.info.type != FileType::kFile) return snap;

    // Read through one descriptor and take the metadata from it, so content
    // and metadata describe the same inode even if a rename races us.
    Fd fd(openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (fd.get() < 0) {
      if (errno == ENOENT) return Snapshot{};
      return Status::Sys("open", path, errno);
    }
    if (fstat(fd.get(), &st) != 0) return Status::Sys("fstat", path, errno);
    snap.info = InfoFromStat(st);
    if (snap.info.type != FileType::kFile) return snap;
    Result<Xattrs> xattrs = ReadXattrs(fd.get(), path);
    if (!xattrs.ok()) return xattrs.status();
    snap.xattrs = std::move(*xattrs);
    if (snap.info.size > max_bytes) return Status::TooBig(path, snap.info.size, max_bytes);
    snap.content.resize(snap.info.size);
    size_t have = 0;
    while (true) {
      if (have == snap.content.size()) snap.content.resize(have + 65536);  // grew while reading
      ssize_t n = read(fd.get(), snap.content.data() + have, snap.content.size() - have);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::Sys("read", path, errno);
      }
      if (n == 0) break;
      have += static_cast<size_t>(n);
      if (have > max_bytes) return Status::TooBig(path, have, max_bytes);  // grew while read
    }
    snap.content.resize(have);
    snap.info.size = have;
    return snap;
  }

  // The recipe, and why the order matters:
  //  1. write the content to a temp file in the target's own directory, so the
  //     rename below cannot cross a filesystem;
  //  2. put owner, mode and mtime on the temp file, so the file never appears
  //     under its real name with the wrong permissions;
  //  3. fsync the temp file before the rename, or a crash could leave the new
  //     name pointing at an empty inode;
  //  4. rename over the target: atomic, readers see the old or the new file;
  //  5. fsync the directory so the rename itself survives a crash.
  // On any failure the temp file is removed and the old file is untouched.
  // Every step is relative to the parent directory's descriptor, reached
  // without following a symlink (see OpenParent).
  Status ReplaceFile(const std::string& path, std::string_view content,
                     const WriteMeta& meta) override {
    return WriteViaTemp(path, content, meta, /*durable=*/true);
  }

  Status WriteUnsynced(const std::string& path, std::string_view content,
                       const WriteMeta& meta) override {
    return WriteViaTemp(path, content, meta, /*durable=*/false);
  }

  // Steps 1 and 2 of the recipe; the caller syncs many files at once.
  Result<std::string> StageFile(const std::string& path, std::string_view content,
                                const WriteMeta& meta, Xattrs* xattrs_after) override {
    Result<Parent> p = OpenParent(path, true);
    if (!p.ok()) return p.status();
    Result<std::string> temp = WriteTemp(*p, content, meta, xattrs_after);
    if (!temp.ok()) return temp.status();
    return DirName(path) + "/" + *temp;
  }

  Status SyncFilesystems(const std::vector<std::string>& paths) override {
    // A few files (an edit) are synced one by one: syncfs would also wait
    // for every other process's dirty data on that filesystem, which can
    // stall the loop for seconds on a busy disk. Many files (a catch-up)
    // share one syncfs per filesystem, which is then far cheaper.
    if (paths.size() <= kFsyncEachUpTo) {
      for (const std::string& path : paths) {
        Result<Parent> p = OpenParent(path, false);
        if (!p.ok()) return p.status();
        Fd fd(openat(p->dir, p->name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
        // The directory, not the staged file's random name: see WriteTemp.
        if (fd.get() < 0) return Status::Sys("open a file staged in", DirName(path), errno);
        if (fsync(fd.get()) != 0) {
          return Status::Sys("fsync a file staged in", DirName(path), errno);
        }
      }
      return Status();
    }
    std::set<dev_t> done;
    std::set<std::string> dirs;
    for (const std::string& path : paths) {
      if (!dirs.insert(DirName(path)).second) continue;  // one look per directory
      Result<Parent> p = OpenParent(path, false);
      if (!p.ok()) return p.status();
      struct stat st {};
      if (fstat(p->dir, &st) != 0) return Status::Sys("fstat", p->dir_path, errno);
      if (!done.insert(st.st_dev).second) continue;
      if (syncfs(p->dir) != 0) return Status::Sys("syncfs", p->dir_path, errno);
    }
    return Status();
  }

  Status CommitStaged(const std::string& temp, const std::string& path) override {
    Result<Parent> p = OpenParent(path, false);
    if (!p.ok()) return p.status();
    if (Status s = CheckHeldInPlace(*p); !s.ok()) return s;
    return RenameInto(*p, BaseName(temp));
  }

  Status SyncDirectory(const std::string& dir) override {
    Result<Parent> p = OpenParent(dir + "/.", false);
    if (!p.ok()) return p.status();
    if (fsync(p->dir) != 0) return Status::Sys("fsync", dir, errno);
    return Status();
  }

  void DiscardStaged(const std::string& temp) override {
    Result<Parent> p = OpenParent(temp, false);
    if (p.ok()) unlinkat(p->dir, p->name.c_str(), 0);
  }

  Status SetMeta(const std::string& path, const WriteMeta& meta) override {
    Result<Parent> p = OpenParent(path, false);
    if (!p.ok()) return p.status();
    Fd fd(openat(p->dir, p->name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (fd.get() < 0) return Status::Sys("open", path, errno);
    if (Status s = ApplyMeta(fd.get(), meta, path); !s.ok()) return s;
    if (fsync(fd.get()) != 0) return Status::Sys("fsync", path, errno);
    return Status();
  }

  Status Remove(const std::string& path) override {
    Result<Parent> p = OpenParent(path, false);
    if (!p.ok()) return Missing(p.status()) ? Status() : p.status();
    if (unlinkat(p->dir, p->name.c_str(), 0) != 0) {
      if (errno == ENOENT) return Status();
      return Status::Sys("unlink", path, errno);
    }
    if (fsync(p->dir) != 0) return Status::Sys("fsync", p->dir_path, errno);
    return Status();
  }

  Status EnsureDirectory(const std::string& path, const WriteMeta& meta) override {
    Result<Parent> p = OpenParent(path, true);
    if (!p.ok()) return p.status();
    const int dir = p->dir;
    const char* name = p->name.c_str();
    struct stat st {};
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
      if (unlinkat(dir, name, 0) != 0) return Status::Sys("unlink", path, errno);
    }
    if (mkdirat(dir, name, 0700) != 0 && errno != EEXIST) return Status::Sys("mkdir", path, errno);
    Fd fd(openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() < 0) return Status::Sys("open", path, errno);
    return ApplyMeta(fd.get(), meta, path);
  }

  Status ReplaceSymlink(const std::string& path, const std::string& target,
                        const WriteMeta& meta) override {
    Result<Parent> p = OpenParent(path, true);
    if (!p.ok()) return p.status();
    const int dir = p->dir;
    const std::string temp = NewTempName(p->name);
    if (symlinkat(target.c_str(), dir, temp.c_str()) != 0) {
      return Status::Sys("create a temp symlink for", path, errno);  // see WriteTemp
    }
    Status s;
    if ((meta.uid || meta.gid) && fchownat(dir, temp.c_str(), meta.uid.value_or(-1),
                                           meta.gid.value_or(-1), AT_SYMLINK_NOFOLLOW) != 0) {
      s = Status::Sys("lchown", path, errno);
    }
    timespec times[2] = {{0, UTIME_OMIT}, ToTimespec(meta.mtime_ns)};
    if (s.ok() && utimensat(dir, temp.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      s = Status::Sys("utimensat", path, errno);
    }
    if (s.ok()) s = RenameInto(*p, temp);
    if (!s.ok()) {
      unlinkat(dir, temp.c_str(), 0);
      return s;
    }
    if (fsync(dir) != 0) return Status::Sys("fsync", p->dir_path, errno);
    return Status();
  }

  Status RemoveDirectory(const std::string& path) override {
    Result<Parent> p = OpenParent(path, false);
    if (!p.ok()) return Missing(p.status()) ? Status() : p.status();
    ForgetHeldBelow(path);
    if (unlinkat(p->dir, p->name.c_str(), AT_REMOVEDIR) != 0) {
      if (errno == ENOENT) return Status();
      return Status::Sys("rmdir", path, errno);
    }
    if (fsync(p->dir) != 0) return Status::Sys("fsync", p->dir_path, errno);
    return Status();
  }

  bool OpenForWriting(const std::string& path) override {
    Result<Parent> p = OpenParent(path, false);
    if (!p.ok()) return false;
    Fd fd(
        openat(p->dir, p->name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    struct stat st {};
    if (fd.get() < 0 || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
    if (fcntl(fd.get(), F_SETLEASE, F_RDLCK) != 0) return errno == EAGAIN;
    fcntl(fd.get(), F_SETLEASE, F_UNLCK);
    return false;
  }

  Result<std::vector<std::pair<std::string, FileType>>> List(const std::string& dir) override {
    Result<Parent> p = OpenParent(dir, false);
    if (!p.ok()) return p.status();
    int fd = openat(p->dir, p->name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Status::Sys("opendir", dir, errno);
    DIR* d = fdopendir(fd);
    if (!d) {
      close(fd);
      return Status::Sys("opendir", dir, errno);
    }
    std::vector<std::pair<std::string, FileType>> out;
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st {};
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed since the listing
        // Any other failure is not "gone": a caller would take the name
        // for deleted.
        const int err = errno;
        closedir(d);
        return Status::Sys("lstat", dir + "/" + name, err);
      }
      out.emplace_back(name, InfoFromStat(st).type);
    }
    closedir(d);
    return out;
  }

  Status MakeDirs(const std::string& path) override {
    Result<Parent> p = OpenParent(path + "/.", true);
    return p.ok() ? Status() : p.status();
  }

 private:
  // Only "not found" means absent; any other failure to look is an error.
  static bool Missing(const Status& s) { return s.code() == Code::kNotFound; }

  // Opens the directory that holds `path`. Below a confinement base (the
  // directory that holds a sync entry) the walk never follows a symlink and
  // never leaves the base: openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)
  // where the kernel has it, else one openat(O_NOFOLLOW) per component. Each
  // step is relative to the descriptor of the step before, so a symlink
  // planted meanwhile is refused, not followed (no check-then-use race).
  // With `create`, missing directories on the way are made (mode 0755).
  Result<Parent> OpenParent(const std::string& path, bool create) {
    if (hold_depth_ == 0) return OpenParentNow(path, create);
    std::string dir_path = DirName(path);
    auto it = held_.find(dir_path);
    struct stat st {};
    if (it != held_.end() && (fstat(it->second.get(), &st) != 0 || st.st_nlink == 0)) {
      // Removed since (say, rm -rf and mkdir by a user): a lookup through it
      // would take every file for missing. Resolve the name again.
      held_.erase(it);
      it = held_.end();
    }
    if (it == held_.end()) {
      Result<Parent> p = OpenParentNow(path, create);
      if (!p.ok() || !p->owned.valid()) return p;
      if (held_.size() >= kMaxHeld) held_.clear();
      it = held_.emplace(std::move(dir_path), std::move(p->owned)).first;
    }
    Parent out;
    out.dir = it->second.get();
    out.dir_path = it->first;
    out.name = BaseName(path);
    return out;
  }

  void HoldDirectories(int delta) override {
    hold_depth_ += delta;
    if (hold_depth_ == 0) {
      held_.clear();
      checked_.clear();
    }
  }

  // Before a held directory first receives a file by rename, it must still
  // be the directory its name leads to beneath the base: one moved away
  // (even out of the base) while the batch was staged and synced must not
  // get the file. Checked once per directory and hold.
  Status CheckHeldInPlace(const Parent& p) {
    if (p.owned.valid() || checked_.count(p.dir_path)) return Status();
    Result<Parent> fresh = OpenParentNow(p.dir_path + "/.", false);
    struct stat held {
    }, now{};
    if (!fresh.ok() || fstat(p.dir, &held) != 0 || fstat(fresh->dir, &now) != 0 ||
        held.st_dev != now.st_dev || held.st_ino != now.st_ino) {
      ForgetHeldBelow(p.dir_path);
      return Status::Sys("rename into", p.dir_path, ESTALE);  // moved meanwhile: retried
    }
    checked_.insert(p.dir_path);
    return Status();
  }

  // A removed directory may be made again under the same name: a held
  // descriptor would name the old one. Forgets `dir` and what is below it.
  void ForgetHeldBelow(const std::string& dir) {
    held_.erase(dir);
    const std::string prefix = dir == "/" ? dir : dir + "/";
    for (auto it = held_.lower_bound(prefix);
         it != held_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
      it = held_.erase(it);
    }
  }

  Result<Parent> OpenParentNow(const std::string& path, bool create) {
    Parent out;
    out.name = BaseName(path);
    out.dir_path = DirName(path);
    const std::string* base = nullptr;
    for (const std::string& b : bases_) {
      if (b == "/" ||
          (out.dir_path.size() >= b.size() && out.dir_path.compare(0, b.size(), b) == 0 &&
           (out.dir_path.size() == b.size() || out.dir_path[b.size()] == '/'))) {
        base = &b;
        break;
      }
    }
    if (!base) {
      // Outside every synced entry (state_dir, the socket): a plain open.
      if (create) {
        if (Status s = MakeDirsPlain(out.dir_path); !s.ok()) return s;
      }
      out.Own(Fd(open(out.dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)));
      if (out.dir < 0) return Status::Sys("open", out.dir_path, errno);
      return out;
    }
    Fd base_fd(open(base->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!base_fd.valid()) {
      if (create && errno == ENOENT) {
        if (Status s = MakeDirsPlain(*base); !s.ok()) return s;
        base_fd.Reset(open(base->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      }
      if (!base_fd.valid()) return Status::Sys("open", *base, errno);
    }
    std::string rel = out.dir_path.size() > base->size()
                          ? out.dir_path.substr(*base == "/" ? 1 : base->size() + 1)
                          : std::string();
    if (rel.empty()) {
      out.Own(std::move(base_fd));
      return out;
    }
    int fd = OpenBeneath(base_fd.get(), rel);
    if (fd >= 0) {
      out.Own(Fd(fd));
      return out;
    }
    if (errno == ELOOP || errno == EXDEV) return Refused(out.dir_path);
    if (errno != ENOSYS && !(create && errno == ENOENT))
      return Status::Sys("open", out.dir_path, errno);
    // The walk: also what creates missing directories.
    Fd cur = std::move(base_fd);
    size_t start = 0;
    while (start < rel.size()) {
      size_t end = rel.find('/', start);
      if (end == std::string::npos) end = rel.size();
      const std::string comp = rel.substr(start, end - start);
      start = end + 1;
      if (comp.empty() || comp == "." || comp == "..") return Refused(out.dir_path);
      if (create && mkdirat(cur.get(), comp.c_str(), 0755) != 0 && errno != EEXIST) {
        return Status::Sys("mkdir", out.dir_path, errno);
      }
      Fd next(openat(cur.get(), comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next.valid()) {
        if (errno == ELOOP || errno == ENOTDIR) {
          struct stat st {};
          if (fstatat(cur.get(), comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
              S_ISLNK(st.st_mode)) {
            return Refused(out.dir_path);
          }
        }
        return Status::Sys("open", out.dir_path, errno);
      }
      cur = std::move(next);
    }
    out.Own(std::move(cur));
    return out;
  }

  static Status Refused(const std::string& dir) {
    return Status::Sys("refusing to follow a symlink or leave the synced tree at", dir, ELOOP);
  }

  static Status MakeDirsPlain(const std::string& path) {
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return Status();
      return Status::Sys("mkdir", path, ENOTDIR);
    }
    if (path != "/" && !path.empty()) {
      if (Status s = MakeDirsPlain(DirName(path)); !s.ok()) return s;
    }
    if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return Status::Sys("mkdir", path, errno);
    return Status();
  }

  static std::string TargetOf(const Parent& p) {
    return p.dir_path == "/" ? "/" + p.name : p.dir_path + "/" + p.name;
  }

  Result<std::string> WriteTemp(const Parent& p, std::string_view content, const WriteMeta& meta,
                                Xattrs* xattrs_after = nullptr) {
    const std::string temp = NewTempName(p.name);
    // Errors name the target, not the temp file's random name: the temp is
    // gone once we return, and the same failure retried must read the same
    // (the sender and we log a failure again only when its words change).
    const std::string shown = TargetOf(p);
    Fd fd(openat(p.dir, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) return Status::Sys("create a temp file for", shown, errno);
    Status s = WriteAll(fd.get(), content, shown);
    if (s.ok()) s = ApplyMeta(fd.get(), meta, shown);
    if (s.ok() && xattrs_after) {
      Result<Xattrs> xattrs = ReadXattrs(fd.get(), shown);
      if (xattrs.ok()) {
        *xattrs_after = std::move(*xattrs);
      } else {
        s = xattrs.status();
      }
    }
    if (s.ok() && close(fd.Release()) != 0) s = Status::Sys("close", shown, errno);
    if (!s.ok()) {
      unlinkat(p.dir, temp.c_str(), 0);
      return s;
    }
    return temp;
  }

  Status RenameInto(const Parent& p, const std::string& temp) {
    struct stat st {};
    if (fstatat(p.dir, p.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
      // A directory in the way must be empty.
      ForgetHeldBelow(p.dir_path == "/" ? "/" + p.name : p.dir_path + "/" + p.name);
      if (unlinkat(p.dir, p.name.c_str(), AT_REMOVEDIR) != 0) {
        return Status::Sys("rmdir", p.dir_path + "/" + p.name, errno);
      }
    }
    if (renameat(p.dir, temp.c_str(), p.dir, p.name.c_str()) != 0) {
      return Status::Sys("rename a temp file over", TargetOf(p), errno);  // see WriteTemp
    }
    return Status();
  }

  Status WriteViaTemp(const std::string& path, std::string_view content, const WriteMeta& meta,
                      bool durable) {
    Result<Parent> p = OpenParent(path, true);
    if (!p.ok()) return p.status();
    Result<std::string> temp = WriteTemp(*p, content, meta);
    if (!temp.ok()) return temp.status();
    Status s;
    if (durable) {
      Fd fd(openat(p->dir, temp->c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (fd.get() < 0 || fsync(fd.get()) != 0) s = Status::Sys("fsync", path, errno);
    }
    if (s.ok()) s = RenameInto(*p, *temp);
    if (!s.ok()) {
      unlinkat(p->dir, temp->c_str(), 0);
      return s;
    }
    if (durable && fsync(p->dir) != 0) return Status::Sys("fsync", p->dir_path, errno);
    return Status();
  }

  // At most this many held directories (descriptors), then they start over.
  static constexpr size_t kMaxHeld = 256;

  std::vector<std::string> bases_;
  int hold_depth_ = 0;
  std::map<std::string, Fd> held_;  // directory path -> descriptor, while held
  std::set<std::string> checked_;   // held directories found still in place (CommitStaged)
};

}  // namespace

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Disk& PosixDisk() {
  static PosixDiskImpl disk({});
  return disk;
}

std::unique_ptr<Disk> NewConfinedDisk(std::vector<std::string> bases) {
  return std::make_unique<PosixDiskImpl>(std::move(bases));
}

}  // namespace syncr
