// Daemon: one Syncr node. Wires the modules together on one EventLoop:
// inotify -> settle -> Node::ScanLocal -> push to peers + actions;
// peer Update -> path policy -> Node::ApplyRemote -> ack + actions;
// outgoing peer links (dial, handshake, catch-up, window, backoff);
// accepted connections (peer sessions or CLI control requests); signals.
// Decisions are not made here; see engine/decide.h. Not thread-safe.
#pragma once

#include <memory>

#include "config/config.h"

namespace syncr {

/// Runs a node in the foreground until SIGTERM/SIGINT. Returns the exit code
/// (0 clean stop, 1 runtime failure at start).
int RunDaemon(Config config);

}  // namespace syncr
