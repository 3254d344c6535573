#include "engine/path_policy.h"

#include "common/escape.h"
#include "os/disk.h"
#include "os/temp_names.h"

namespace syncr {

bool IsCleanPath(const std::string& path) {
  if (path.empty() || path.size() > kMaxPathBytes || path[0] != '/') return false;
  // Any byte but NUL is a name's: newlines, escapes, not UTF-8 (SPEC 11).
  if (path.find('\0') != std::string::npos) return false;
  if (path.size() > 1 && path.back() == '/') return false;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string_view part(path.data() + start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

bool IsExcludedPath(const std::vector<std::string>& globs, const std::string& relpath) {
  for (size_t slash = relpath.find('/'); slash != std::string::npos;
       slash = relpath.find('/', slash + 1)) {
    if (IsExcluded(globs, relpath.substr(0, slash))) return true;
  }
  return IsExcluded(globs, relpath);
}

namespace {

// FILE.1 ... FILE.N are the legacy-layout backups, not synced files.
bool IsBesideName(const SyncEntry& entry, std::string_view name) {
  if (!entry.beside) return false;
  const size_t dot = name.find_last_of('.');
  return dot != std::string_view::npos && dot + 1 < name.size() &&
         name.find_first_not_of("0123456789", dot + 1) == std::string_view::npos;
}

}  // namespace

bool IsBesideBackupName(const Config& config, const std::string& path) {
  const SyncEntry* entry = config.FindEntry(path);
  if (!entry || path == entry->path) return false;
  return IsBesideName(*entry, std::string_view(path).substr(path.find_last_of('/') + 1));
}

std::string BesideSkipNote(const Config& config, const std::string& path) {
  const SyncEntry* entry = config.FindEntry(path);
  return "not synced: " + Printable(path) + " is named like a backup (FILE.N) and " +
         (entry ? entry->path : std::string("its entry")) +
         " keeps its backups beside its files (beside = true); set beside = false for it to "
         "sync such names";
}

bool IsNotSynced(const Config& config, const std::string& path) {
  const SyncEntry* entry = config.FindEntry(path);
  if (!entry) return true;
  if (path == entry->path) return false;
  const size_t slash = path.find_last_of('/');
  const std::string name = path.substr(slash + 1);
  if (IsSyncrTempName(name)) return true;
  if (IsBesideName(*entry, name)) return true;
  if (!IsCleanPath(path)) return true;
  return IsExcludedPath(entry->exclude, path.substr(entry->path.size() + 1));
}

Status CheckSyncedPath(const Config& config, const std::string& path) {
  if (!IsCleanPath(path)) {
    return Status::Refused("refused path '" + Printable(path) +
                           "': not a clean absolute path (empty, '.' or '..' component, a NUL, "
                           "or too long)");
  }
  const SyncEntry* entry = config.FindEntry(path);
  if (!entry) {
    return Status::Refused("refused path " + Printable(path) +
                           ": not synced by this node's config");
  }
  if (path != entry->path) {
    const std::string rel = path.substr(entry->path.size() + 1);
    if (IsExcludedPath(entry->exclude, rel)) {
      return Status::Refused("refused path " + Printable(path) + ": excluded by " +
                             EscapeName(entry->path));
    }
    if (IsSyncrTempName(BaseName(path))) {
      // Written here, it would pass for one of our own temp files: hidden
      // from the watcher and removed at the next start.
      return Status::Refused("refused path " + Printable(path) +
                             ": named like this node's own temp files (their token)");
    }
    if (IsBesideName(*entry, BaseName(path))) {
      // Written here, it would overwrite (or be rotated as) a backup
      // generation of its sibling: the configs disagree on beside.
      return Status::Refused("refused path " + Printable(path) +
                             ": named like a backup (FILE.N) and " + EscapeName(entry->path) +
                             " keeps its backups beside its files here (beside = true); make "
                             "beside the same on every node");
    }
  }
  return Status();
}

}  // namespace syncr
