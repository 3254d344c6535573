// Control: answers the CLI's requests on the daemon's socket (status,
// resolve, fetch for `diff --peer`, wait). A request that needs a peer's
// answer waits here, in one place, as a Waiter with a deadline;
// waiters are failed together when the link they wait on goes down (as
// watchman's CookieSync aborts the cookies of a dead root), so no CLI
// hangs on a peer that died. A `syncr wait` is judged again every
// kWaitTickMs while it lasts (only while a CLI waits: an idle node has no
// such timer), and answered when done, failed or at its deadline. Owns the
// waiters' timers. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "loop/event_loop.h"
#include "net/proto/syncr.pb.h"

namespace syncr {

class Control {
 public:
  /// How long a fetch waits for the peer before it is failed.
  static constexpr int64_t kFetchTimeoutMs = 15000;
  /// How often a `syncr wait` is judged again, and how long it may wait.
  static constexpr int64_t kWaitTickMs = 50;
  static constexpr uint32_t kMaxWaitMs = 3600 * 1000;

  /// Judges a wait at this moment (status/JudgeWait over fresh snapshots).
  using WaitJudge = std::function<wire::WaitReply()>;

  struct Hooks {
    std::function<wire::StatusReply()> status;
    /// Resolves a conflict; returns "" or the error.
    std::function<std::string(const wire::ResolveRequest&)> resolve;
    /// Sends `frame` to `peer`'s link; "" or why it cannot (no such peer,
    /// not connected).
    std::function<std::string(const std::string& peer, const wire::Frame& frame)> send_to_peer;
    /// Answers session `id` and closes it.
    std::function<void(uint64_t id, const wire::Frame& reply)> reply;
    /// Starts a wait for `path` (scans it first): its judge, or why not.
    std::function<Result<WaitJudge>(const std::string& path)> wait;
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
  /// The CLI of `session` went away: its waits are dropped.
  void OnSessionGone(uint64_t session);

  size_t waiting() const { return waiters_.size() + waits_.size(); }

 private:
  struct Waiter {
    uint64_t session = 0;
    std::string peer;
    EventLoop::TimerId timer = 0;
  };
  struct Wait {
    uint64_t session = 0;
    WaitJudge judge;
    int64_t deadline_ms = 0;
    uint32_t timeout_ms = 0;
  };
  void Fetch(uint64_t session, const wire::FetchRequest& request);
  void StartWait(uint64_t session, const wire::WaitRequest& request);
  /// Judges every wait; answers those done, failed or out of time.
  void JudgeWaits();
  void Fail(uint64_t session, const std::string& error);

  EventLoop& loop_;
  Hooks hooks_;
  std::map<uint64_t, Waiter> waiters_;  ///< by fetch id
  uint64_t next_fetch_ = 1;
  std::vector<Wait> waits_;
  EventLoop::TimerId wait_timer_ = 0;
};

}  // namespace syncr
