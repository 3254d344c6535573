// StateDir: keeps the daemon's state_dir private to the daemon's user.
//
// state.db (and its -wal and -shm), intents.log and the backup objects hold
// the content of synced files, some of them secrets (mode 0600 at their
// source): nothing under state_dir may be readable by group or others,
// whatever the umask and however the directory was made (docs/security.md,
// "Local secrecy"). Owns only the modes of state_dir and of what is below
// it; the files themselves belong to StateStore, IntentLog and BackupStore,
// which create theirs 0600 (directories 0700). Not thread-safe: call it
// before anything is opened there.
#pragma once

#include <string>

#include "common/status.h"

namespace syncr {

/// Creates `state_dir` (0700) if it is missing. If it is group- or
/// world-accessible, makes it 0700 and logs a warning naming the old mode;
/// then takes the group and other bits off every file (0644 -> 0600) and
/// directory (0755 -> 0700) below it, and logs how many it fixed. Symlinks
/// are left alone. An error naming the path and the remedy when a mode
/// cannot be changed: the daemon must not run with its state readable.
Status MakeStateDirPrivate(const std::string& state_dir);

}  // namespace syncr
