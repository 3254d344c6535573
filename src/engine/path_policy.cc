#include "engine/path_policy.h"

namespace syncr {

bool IsCleanPath(const std::string& path) {
  if (path.empty() || path.size() > kMaxPathBytes || path[0] != '/') return false;
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

Status CheckSyncedPath(const Config& config, const std::string& path) {
  if (!IsCleanPath(path)) {
    return Status::Error("refused path '" + path.substr(0, 200) +
                         "': not a clean absolute path (empty, '.' or '..' component, NUL, "
                         "or too long)");
  }
  const SyncEntry* entry = config.FindEntry(path);
  if (!entry) return Status::Error("refused path " + path + ": not synced by this node's config");
  if (path != entry->path) {
    const std::string rel = path.substr(entry->path.size() + 1);
    if (IsExcluded(entry->exclude, rel)) {
      return Status::Error("refused path " + path + ": excluded by " + entry->path);
    }
  }
  return Status();
}

}  // namespace syncr
