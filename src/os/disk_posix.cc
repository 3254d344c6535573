#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <climits>
#include <random>
#include <set>

#include "common/fd.h"
#include "common/util.h"
#include "os/disk.h"

namespace syncr {
namespace {

constexpr std::string_view kTempPrefix = ".syncr-";
constexpr std::string_view kTempSuffix = ".tmp";

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

// Every xattr of an open file or directory; none where unsupported.
Xattrs ReadXattrs(int fd) {
  Xattrs out;
  std::string names(1024, '\0');
  ssize_t n;
  while ((n = flistxattr(fd, names.data(), names.size())) < 0 && errno == ERANGE) {
    names.resize(names.size() * 4);
  }
  if (n <= 0) return out;
  for (size_t at = 0; at < static_cast<size_t>(n);) {
    const std::string name(names.data() + at);
    at += name.size() + 1;
    std::string value(256, '\0');
    ssize_t v;
    while ((v = fgetxattr(fd, name.c_str(), value.data(), value.size())) < 0 && errno == ERANGE) {
      value.resize(value.size() * 4);
    }
    if (v < 0) continue;
    value.resize(static_cast<size_t>(v));
    out.emplace_back(name, std::move(value));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status ApplyXattrs(int fd, const WriteMeta& meta, const std::string& path) {
  if (meta.xattr_prefixes.empty()) return Status();
  for (const auto& [name, value] : ReadXattrs(fd)) {
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

Status SyncDir(const std::string& dir) {
  Fd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return Status::Sys("open", dir, errno);
  if (fsync(fd.get()) != 0) return Status::Sys("fsync", dir, errno);
  return Status();
}

std::string TempNameFor(const std::string& path) {
  static std::mt19937_64 rng{std::random_device{}()};
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(rng()));
  return DirName(path) + "/" + std::string(kTempPrefix) + BaseName(path) + "." + suffix +
         std::string(kTempSuffix);
}

class PosixDiskImpl final : public Disk {
 public:
  Result<FileInfo> Lstat(const std::string& path) override {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return FileInfo{};
      return Status::Sys("lstat", path, errno);
    }
    return InfoFromStat(st);
  }

  Result<Xattrs> GetXattrs(const std::string& path) override {
    Fd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (fd.get() < 0) {
      if (errno == ELOOP || errno == ENOENT || errno == ENXIO) return Xattrs{};
      return Status::Sys("open", path, errno);
    }
    return ReadXattrs(fd.get());
  }

  Result<Snapshot> Observe(const std::string& path, uint64_t max_bytes) override {
    Snapshot snap;
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return snap;  // kMissing
      return Status::Sys("lstat", path, errno);
    }
    snap.info = InfoFromStat(st);
    if (snap.info.type == FileType::kSymlink) {
      std::string target(PATH_MAX, '\0');
      ssize_t n = readlink(path.c_str(), target.data(), target.size());
      if (n < 0) return Status::Sys("readlink", path, errno);
      target.resize(static_cast<size_t>(n));
      snap.link_target = std::move(target);
      return snap;
    }
    if (snap.info.type == FileType::kDirectory) {
      Fd dir(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (dir.get() >= 0) snap.xattrs = ReadXattrs(dir.get());
      return snap;
    }
    if (snap.info.type != FileType::kFile) return snap;

    // Read through one descriptor and take the metadata from it, so content
    // and metadata describe the same inode even if a rename races us.
    Fd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (fd.get() < 0) {
      if (errno == ENOENT) return Snapshot{};
      return Status::Sys("open", path, errno);
    }
    if (fstat(fd.get(), &st) != 0) return Status::Sys("fstat", path, errno);
    snap.info = InfoFromStat(st);
    if (snap.info.type != FileType::kFile) return snap;
    snap.xattrs = ReadXattrs(fd.get());
    if (snap.info.size > max_bytes) {
      return Status::Error(path + ": " + std::to_string(snap.info.size) +
                           " bytes is more than max_file_bytes (" + std::to_string(max_bytes) +
                           ")");
    }
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
      if (have > max_bytes) return Status::Error(path + ": grew past max_file_bytes while read");
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
                                const WriteMeta& meta) override {
    if (Status s = MakeDirs(DirName(path)); !s.ok()) return s;
    const std::string temp = TempNameFor(path);
    Fd fd(open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) return Status::Sys("create", temp, errno);
    Status s = WriteAll(fd.get(), content, temp);
    if (s.ok()) s = ApplyMeta(fd.get(), meta, temp);
    if (s.ok() && close(fd.Release()) != 0) s = Status::Sys("close", temp, errno);
    if (!s.ok()) {
      unlink(temp.c_str());
      return s;
    }
    return temp;
  }

  Status SyncFilesystems(const std::vector<std::string>& paths) override {
    std::set<dev_t> done;
    for (const std::string& path : paths) {
      Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW));
      if (fd.get() < 0) return Status::Sys("open", path, errno);
      struct stat st {};
      if (fstat(fd.get(), &st) != 0) return Status::Sys("fstat", path, errno);
      if (!done.insert(st.st_dev).second) continue;
      if (syncfs(fd.get()) != 0) return Status::Sys("syncfs", path, errno);
    }
    return Status();
  }

  Status CommitStaged(const std::string& temp, const std::string& path) override {
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && rmdir(path.c_str()) != 0) {
      return Status::Sys("rmdir", path, errno);  // a directory in the way must be empty
    }
    if (rename(temp.c_str(), path.c_str()) != 0) {
      return Status::Sys("rename " + temp + " ->", path, errno);
    }
    return Status();
  }

  Status SyncDirectory(const std::string& dir) override { return SyncDir(dir); }

  void DiscardStaged(const std::string& temp) override { unlink(temp.c_str()); }

  Status WriteViaTemp(const std::string& path, std::string_view content, const WriteMeta& meta,
                      bool durable) {
    const std::string dir = DirName(path);
    if (Status s = MakeDirs(dir); !s.ok()) return s;
    const std::string temp = TempNameFor(path);
    Fd fd(open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) return Status::Sys("create", temp, errno);
    Status s = WriteAll(fd.get(), content, temp);
    if (s.ok()) s = ApplyMeta(fd.get(), meta, temp);
    if (s.ok() && durable && fsync(fd.get()) != 0) s = Status::Sys("fsync", temp, errno);
    if (s.ok() && close(fd.Release()) != 0) s = Status::Sys("close", temp, errno);
    if (s.ok()) s = CommitStaged(temp, path);
    if (!s.ok()) {
      unlink(temp.c_str());
      return s;
    }
    return durable ? SyncDir(dir) : Status();
  }

  Status SetMeta(const std::string& path, const WriteMeta& meta) override {
    Fd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (fd.get() < 0) return Status::Sys("open", path, errno);
    if (Status s = ApplyMeta(fd.get(), meta, path); !s.ok()) return s;
    if (fsync(fd.get()) != 0) return Status::Sys("fsync", path, errno);
    return Status();
  }

  Status Remove(const std::string& path) override {
    if (unlink(path.c_str()) != 0) {
      if (errno == ENOENT) return Status();
      return Status::Sys("unlink", path, errno);
    }
    return SyncDir(DirName(path));
  }

  Status EnsureDirectory(const std::string& path, const WriteMeta& meta) override {
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
      if (unlink(path.c_str()) != 0) return Status::Sys("unlink", path, errno);
    }
    if (Status s = MakeDirs(path); !s.ok()) return s;
    Fd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() < 0) return Status::Sys("open", path, errno);
    return ApplyMeta(fd.get(), meta, path);
  }

  Status ReplaceSymlink(const std::string& path, const std::string& target,
                        const WriteMeta& meta) override {
    const std::string dir = DirName(path);
    if (Status s = MakeDirs(dir); !s.ok()) return s;
    const std::string temp = TempNameFor(path);
    if (symlink(target.c_str(), temp.c_str()) != 0) return Status::Sys("symlink", temp, errno);
    Status s;
    if ((meta.uid || meta.gid) &&
        lchown(temp.c_str(), meta.uid.value_or(-1), meta.gid.value_or(-1)) != 0) {
      s = Status::Sys("lchown", temp, errno);
    }
    timespec times[2] = {{0, UTIME_OMIT}, ToTimespec(meta.mtime_ns)};
    if (s.ok() && utimensat(AT_FDCWD, temp.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      s = Status::Sys("utimensat", temp, errno);
    }
    struct stat st {};
    if (s.ok() && lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
        rmdir(path.c_str()) != 0) {
      s = Status::Sys("rmdir", path, errno);
    }
    if (s.ok() && rename(temp.c_str(), path.c_str()) != 0) {
      s = Status::Sys("rename " + temp + " ->", path, errno);
    }
    if (!s.ok()) {
      unlink(temp.c_str());
      return s;
    }
    return SyncDir(dir);
  }

  Status RemoveDirectory(const std::string& path) override {
    if (rmdir(path.c_str()) != 0) {
      if (errno == ENOENT) return Status();
      return Status::Sys("rmdir", path, errno);
    }
    return SyncDir(DirName(path));
  }

  Result<std::vector<std::pair<std::string, FileType>>> List(const std::string& dir) override {
    DIR* d = opendir(dir.c_str());
    if (!d) return Status::Sys("opendir", dir, errno);
    std::vector<std::pair<std::string, FileType>> out;
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st {};
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone
      out.emplace_back(name, InfoFromStat(st).type);
    }
    closedir(d);
    return out;
  }

  Status MakeDirs(const std::string& path) override {
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return Status();
      return Status::Sys("mkdir", path, ENOTDIR);
    }
    if (path != "/" && !path.empty()) {
      if (Status s = MakeDirs(DirName(path)); !s.ok()) return s;
    }
    if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return Status::Sys("mkdir", path, errno);
    return Status();
  }
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

bool IsSyncrTempName(std::string_view name) {
  return name.size() > kTempPrefix.size() + kTempSuffix.size() && name.starts_with(kTempPrefix) &&
         name.ends_with(kTempSuffix);
}

Disk& PosixDisk() {
  static PosixDiskImpl disk;
  return disk;
}

}  // namespace syncr
