// Spawn: the one place Syncr starts child processes (actions, transports).
// The child gets exactly the fds named here as 0/1/2; every other fd of the
// daemon is O_CLOEXEC, so no action inherits the inotify fd or a socket.
// Thread-compatible (the daemon is single-threaded, so fork is safe).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace syncr {

struct SpawnOptions {
  std::vector<std::string> argv;       ///< argv[0] is looked up in PATH
  std::vector<std::string> extra_env;  ///< "KEY=VALUE", added to the daemon's environment
  int stdin_fd = -1;                   ///< -1: /dev/null
  int stdout_fd = -1;                  ///< -1: /dev/null
  int stderr_fd = -1;                  ///< -1: inherit the daemon's stderr
  bool new_process_group = true;       ///< so a timeout can kill the whole group
};

Result<pid_t> Spawn(const SpawnOptions& options);

/// Splits a command on whitespace (no quoting): for the `ssh` destination.
std::vector<std::string> SplitWords(const std::string& s);

}  // namespace syncr
