// The client side of the daemon's unix socket: `syncr connect` (a byte
// bridge for a peer's transport) and the CLI's control requests.
#pragma once

#include <string>

#include "common/fd.h"
#include "common/status.h"
#include "net/proto/syncr.pb.h"

namespace syncr {

/// Connects to the daemon's socket; the error says what to check (is the
/// daemon running, do you have access).
Result<UniqueFd> ConnectLocal(const std::string& socket_path);

/// How long the CLI waits for its daemon's answer.
constexpr int kControlTimeoutS = 30;

/// Sends one control request and waits for the reply, at most
/// `timeout_s` (a wait's own timeout plus a margin, for `syncr wait`).
Result<wire::ControlReply> SendControl(const std::string& socket_path,
                                       const wire::ControlRequest& request,
                                       int timeout_s = kControlTimeoutS);

/// Copies stdin to the socket and the socket to stdout until either side
/// closes. Returns the exit code for `syncr connect`.
int BridgeStdio(const std::string& socket_path);

}  // namespace syncr
