// The fuzz targets' own statement of a clean absolute path, written apart
// from src/ on purpose: it is the reference that the real rules
// (engine/path_policy.h, config validation) are checked against, so it must
// not share their code. Shared by the targets so that they agree.
#pragma once

#include <cstddef>
#include <string_view>

/// True when `path` starts with '/' and every component after it is
/// non-empty and neither "." nor ".." (so "/" and "/a/" are not).
inline bool AbsoluteWithCleanComponents(std::string_view path) {
  if (path.empty() || path[0] != '/') return false;
  size_t start = 1;
  while (true) {
    const size_t end = path.find('/', start);
    const std::string_view part =
        path.substr(start, (end == std::string_view::npos ? path.size() : end) - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}
