// PathPolicy: which synced paths a node accepts from the wire (SPEC 9).
// A name from a peer is checked here before anything touches the disk.
// Pure; thread-safe.
#pragma once

#include <string>

#include "common/status.h"
#include "config/config.h"

namespace syncr {

constexpr size_t kMaxPathBytes = 4096;

/// True for an absolute path with no empty, "." or ".." component, no NUL,
/// no trailing slash, at most kMaxPathBytes long.
bool IsCleanPath(const std::string& path);

/// Ok if `path` is clean, inside one of this node's sync entries and not
/// excluded there; otherwise an error that says which rule refused it.
Status CheckSyncedPath(const Config& config, const std::string& path);

}  // namespace syncr
