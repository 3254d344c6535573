// Disk: the one boundary between Syncr's policy and the filesystem.
//
// Every read, stat, durable replace, removal and metadata change that the
// engine makes goes through this interface, so tests can inject a fault
// (full disk, failed rename) and the policy code stays readable. PosixDisk is
// the real implementation. Paths are absolute on-disk paths (root + synced
// path). Not thread-safe; the daemon uses it from its one thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace syncr {

enum class FileType { kMissing, kFile, kDirectory, kSymlink, kOther };

struct FileInfo {
  FileType type = FileType::kMissing;
  uint32_t mode = 0;  ///< permission bits only (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;  ///< changes with any write, rename or chmod: the stat cache's key
  uint64_t ino = 0;
  uint64_t dev = 0;
};

using Xattrs = std::vector<std::pair<std::string, std::string>>;  ///< sorted by name

/// What a path holds right now, read consistently through one descriptor.
struct Snapshot {
  FileInfo info;
  std::string content;      ///< file content (files only)
  std::string link_target;  ///< symlinks only
  Xattrs xattrs;            ///< files and directories, where the filesystem has them
};

/// Metadata to put on a file as it is written.
struct WriteMeta {
  uint32_t mode = 0644;
  std::optional<uid_t> uid;  ///< unset: leave the owner alone (not root)
  std::optional<gid_t> gid;
  int64_t mtime_ns = 0;
  /// With set: make the xattrs whose names start with one of these prefixes
  /// exactly `xattrs` (removing the others with those prefixes).
  std::vector<std::string> xattr_prefixes;
  Xattrs xattrs;
};

class Disk {
 public:
  virtual ~Disk() = default;

  /// Lstat only. A missing path (Code::kNotFound) is ok with type kMissing;
  /// any other failure to look is an error, never kMissing.
  virtual Result<FileInfo> Lstat(const std::string& path) = 0;

  /// The xattrs of a file or directory (none for others or where unsupported;
  /// a failure to read them is an error, not "none").
  virtual Result<Xattrs> GetXattrs(const std::string& path) = 0;

  /// Lstat + content. A missing path is ok with type kMissing; any other
  /// failure (the content, the xattrs) is an error. Content larger than
  /// `max_bytes` is a kTooBig error naming the path and the limit.
  virtual Result<Snapshot> Observe(const std::string& path, uint64_t max_bytes) = 0;

  /// Durably replaces `path` with `content` and `meta`: a reader sees the old
  /// file or the new one, never a partial one. Creates missing parents.
  virtual Status ReplaceFile(const std::string& path, std::string_view content,
                             const WriteMeta& meta) = 0;

  /// The same as ReplaceFile in steps, so that a batch of files shares one
  /// sync: StageFile writes a temp file beside `path` (content and metadata,
  /// not synced; named as os/temp_names.h says) and returns its path; after SyncFilesystems (each
  /// staged file's fsync for a few files, one syncfs per filesystem that holds one of them for
  /// many), CommitStaged renames it over `path`; SyncDirectory then makes the renames durable.
  /// DiscardStaged removes a temp file that will not be committed. With
  /// `xattrs_after` set, StageFile also reports the xattrs the staged file
  /// ended up with (a label the local policy added or refused shows there).
  virtual Result<std::string> StageFile(const std::string& path, std::string_view content,
                                        const WriteMeta& meta, Xattrs* xattrs_after) = 0;
  virtual Status SyncFilesystems(const std::vector<std::string>& paths) = 0;
  virtual Status CommitStaged(const std::string& temp, const std::string& path) = 0;
  virtual Status SyncDirectory(const std::string& dir) = 0;
  virtual void DiscardStaged(const std::string& temp) = 0;

  /// Writes a file that can be re-derived (backup objects): atomic, not synced.
  virtual Status WriteUnsynced(const std::string& path, std::string_view content,
                               const WriteMeta& meta) = 0;

  /// Changes mode/owner/mtime of an existing file without rewriting it.
  virtual Status SetMeta(const std::string& path, const WriteMeta& meta) = 0;

  /// Removes a file or symlink; a missing path is ok. Syncs the directory.
  virtual Status Remove(const std::string& path) = 0;

  /// mkdir -p.
  virtual Status MakeDirs(const std::string& path) = 0;

  /// Makes `path` a directory with `meta` (creating it, or fixing the mode,
  /// owner and mtime of the one there). A file or symlink in the way is
  /// removed first.
  virtual Status EnsureDirectory(const std::string& path, const WriteMeta& meta) = 0;

  /// Atomically makes `path` a symlink to `target` (the link itself gets the
  /// owner and mtime; links have no mode).
  virtual Status ReplaceSymlink(const std::string& path, const std::string& target,
                                const WriteMeta& meta) = 0;

  /// Removes an empty directory; a missing one is ok. ENOTEMPTY is an error.
  virtual Status RemoveDirectory(const std::string& path) = 0;

  /// Replaces the confinement bases (see NewConfinedDisk) after a reload.
  virtual void SetConfinement(std::vector<std::string> bases) { (void)bases; }

  /// While at least one Hold is alive, a directory opened (beneath its base,
  /// as always) to reach a path stays open and serves the next path in it:
  /// a batch of 100 files in one directory resolves it once, not 800 times.
  /// Removing a directory forgets them all. Hold for one batch or one scan,
  /// never across a return to the event loop.
  class Hold {
   public:
    explicit Hold(Disk& disk) : disk_(disk) { disk_.HoldDirectories(+1); }
    ~Hold() { disk_.HoldDirectories(-1); }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

   private:
    Disk& disk_;
  };
  virtual void HoldDirectories(int delta) { (void)delta; }

  /// True when some process has the regular file at `path` open for writing
  /// right now (the kernel refuses a read lease then). False when nobody
  /// has, and where it cannot tell (not a regular file, not ours to lease,
  /// leases disabled). The caller must ignore SIGIO: a writer opening the
  /// file during the few microseconds we hold the lease breaks it by signal.
  virtual bool OpenForWriting(const std::string& path) {
    (void)path;
    return false;
  }

  /// The names in a directory (not "." or ".."), with their types from lstat.
  /// A name removed during the listing is left out; one that cannot be
  /// stat'ed makes the listing an error (it must not look deleted).
  virtual Result<std::vector<std::pair<std::string, FileType>>> List(const std::string& dir) = 0;
};

/// The real filesystem, unconfined (the CLI, state_dir).
Disk& PosixDisk();

/// The real filesystem, confined: below each of `bases` (absolute on-disk
/// directories: the directories that hold the sync entries), no operation
/// follows a symlink or leaves the base. SPEC 9; docs/security.md.
std::unique_ptr<Disk> NewConfinedDisk(std::vector<std::string> bases);

/// "/a/b/c" -> "/a/b"; "/a" -> "/".
std::string DirName(const std::string& path);
/// "/a/b/c" -> "c".
std::string BaseName(const std::string& path);

}  // namespace syncr
