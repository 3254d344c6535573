// PathPolicy: which synced paths a node accepts from the wire (SPEC 9).
// A name from a peer is checked here before anything touches the disk.
// Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "config/config.h"

namespace syncr {

constexpr size_t kMaxPathBytes = 4096;

/// True for an absolute path with no empty, "." or ".." component, no NUL,
/// no trailing slash, at most kMaxPathBytes long. Any other byte is a
/// name's (newlines, escapes, bytes that are not UTF-8: SPEC 11).
bool IsCleanPath(const std::string& path);

/// True if `relpath` (relative to its entry) or any directory above it is
/// excluded: a file in an excluded directory is excluded too.
bool IsExcludedPath(const std::vector<std::string>& globs, const std::string& relpath);

/// True if this node does not sync `path`: outside every entry, excluded
/// (itself or a directory above it), a temp file of this node's own (its
/// token, os/temp_names.h: a user's look-alike is synced), a legacy
/// FILE.N backup when its entry keeps backups beside its files, or a path
/// that is not clean. The local watcher and the receiver ask the
/// same question.
bool IsNotSynced(const Config& config, const std::string& path);

/// True if `path` is left out because its entry has beside = true and its
/// name ends in .<digits> (FILE.N, but also libfoo.so.6).
bool IsBesideBackupName(const Config& config, const std::string& path);

/// How many such names a room remembers having logged (then it forgets
/// them all, and logs each once more): rotated names must not grow memory.
constexpr size_t kMaxBesideNoted = 10000;

/// The log line for such a path: what, why, and how to sync it.
std::string BesideSkipNote(const Config& config, const std::string& path);

/// Ok if `path` is clean, inside one of this node's sync entries, not
/// excluded there and not named like this node's own temp files (their
/// token); otherwise a kRefused error that says which rule refused it.
Status CheckSyncedPath(const Config& config, const std::string& path);

}  // namespace syncr
