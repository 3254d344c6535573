// Control: answers the CLI's requests on the daemon's socket (status,
// resolve, fetch for `diff --peer`, and later wait). A request that needs
// a peer's answer waits here, in one place, as a Waiter with a deadline;
// waiters are failed together when the link they wait on goes down (as
// watchman's CookieSync aborts the cookies of a dead root), so no CLI
// hangs on a peer that died. Owns the waiters' timers. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "loop/event_loop.h"
#include "net/proto/syncr.pb.h"

namespace syncr {

class Control {
 public:
  /// How long a fetch waits for the peer before it is failed.
  static constexpr int64_t kFetchTimeoutMs = 15000;

  struct Hooks {
    std::function<wire::StatusReply()> status;
    /// Resolves a conflict; returns "" or the error.
    std::function<std::string(const wire::ResolveRequest&)> resolve;
    /// Sends `frame` to `peer`'s link; "" or why it cannot (no such peer,
    /// not connected).
    std::function<std::string(const std::string& peer, const wire::Frame& frame)> send_to_peer;
    /// Answers session `id` and closes it.
    std::function<void(uint64_t id, const wire::Frame& reply)> reply;
  };

  Control(EventLoop& loop, Hooks hooks) : loop_(loop), hooks_(std::move(hooks)) {}
  ~Control();
  Control(const Control&) = delete;
  Control& operator=(const Control&) = delete;

  void Handle(uint64_t session, const wire::ControlRequest& request);
  /// A peer answered a fetch.
  void OnFetchReply(const std::string& peer, const wire::FetchReply& reply);
  /// The link to `peer` went down: fail everything waiting on it.
  void OnLinkDown(const std::string& peer, const std::string& why);

  size_t waiting() const { return waiters_.size(); }

 private:
  struct Waiter {
    uint64_t session = 0;
    std::string peer;
    EventLoop::TimerId timer = 0;
  };
  void Fetch(uint64_t session, const wire::FetchRequest& request);
  void Fail(uint64_t session, const std::string& error);

  EventLoop& loop_;
  Hooks hooks_;
  std::map<uint64_t, Waiter> waiters_;  ///< by fetch id
  uint64_t next_fetch_ = 1;
};

}  // namespace syncr
