// PeerLink: the channel this node dials to one peer and pushes its versions
// on (docs/protocol.md). One link is one state machine, in the manner of
// OpenSMTPD's mta_session: an enum of states, one Enter() that logs
// "old -> new" and does the state's entry work, and a handler per message.
//
//   down --Dial--> handshake --Welcome--> catching up --Summary complete--> up
//     ^                |                       |                            |
//     +---- backoff ---+-----------------------+--- error, EOF, silence ----+
//
// It owns its transport child, its channel, its Outbox and every timer it
// arms (redial, handshake, keepalive, retry), and cancels them all in its
// destructor. A peer that sends nothing for kSilenceMs while the link is
// not down (it is pinged every kKeepaliveMs) is "not answering": the link
// goes down and redials. A path the peer could not apply (disk full,
// read-only) is kept with the peer's error for status and sent again with
// its own backoff (kRetryFailedMs doubling to kRetryFailedMaxMs); it is
// logged when it first fails and when its error changes, not at every
// retry. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "config/config.h"
#include "engine/node.h"
#include "loop/event_loop.h"
#include "net/channel.h"
#include "peer/outbox.h"
#include "status/status.h"
#include "store/journal.h"
#include "store/state_store.h"

namespace syncr {

class PeerLink {
 public:
  enum class State { kDown, kHandshake, kCatchingUp, kUp };
  static constexpr int64_t kBackoffFirstMs = 200;
  static constexpr int64_t kBackoffMaxMs = 30000;
  static constexpr int64_t kKeepaliveMs = 3000;
  static constexpr int64_t kSilenceMs = 10000;
  static constexpr int64_t kRetryFailedMs = 1000;
  static constexpr int64_t kRetryFailedMaxMs = 60000;
  /// A path that keeps failing with the same error is logged again this
  /// often, so the log still says it fails without a line per retry.
  static constexpr int64_t kStillFailingLogMs = 10 * 60 * 1000;

  struct Hooks {
    /// True while a scan is recording versions: sending waits for its commit.
    std::function<bool()> scanning;
    /// The content of `path` could not be read for sending: look again.
    std::function<void(const std::string& path)> rescan;
    std::function<void(const std::string& peer, const wire::FetchReply&)> fetch_reply;
    /// The link went down (waiters on it must fail).
    std::function<void(const std::string& peer, const std::string& why)> down;
  };

  PeerLink(EventLoop& loop, const Config& config, PeerConfig peer, StateStore& store, Node& node,
           Journal& journal, Hooks hooks);
  ~PeerLink();
  PeerLink(const PeerLink&) = delete;
  PeerLink& operator=(const PeerLink&) = delete;

  const std::string& name() const { return peer_.name; }
  const PeerConfig& peer_config() const { return peer_; }
  State state() const { return state_; }
  bool up() const { return state_ == State::kUp; }
  /// The peer answered our handshake (catching up or up).
  bool connected() const { return state_ == State::kCatchingUp || state_ == State::kUp; }
  pid_t child() const { return child_; }

  /// Dials now.
  void Start() { Dial(); }
  /// The peer's own channel reached us: it is back, so do not wait out the
  /// backoff before catching up with it.
  void RedialNow();
  /// Our version of `path` may be newer than what the peer holds: queue it
  /// and send it (after the current scan's commit).
  void Enqueue(const std::string& path);
  /// Sends what the queue and the window allow.
  void Pump();
  /// Sends a frame that is not part of the push (a FetchRequest); false if
  /// the link is not connected.
  bool SendOther(const wire::Frame& frame);
  /// Tells the peer what this node now holds (after applying what a third
  /// node sent). While the link is not connected this is kept and sent once
  /// it is, and what was sent on a channel that then broke is sent again on
  /// the next: a notice lost to a redial would leave the peer believing we
  /// lack those versions for ever.
  void Tell(const wire::Have& have);
  /// The peer sent us `path`: it syncs it now (its config changed), so an
  /// earlier refusal no longer holds and our version goes again.
  void PeerSyncs(const std::string& path);
  /// The transport child exited (reaped by the daemon).
  void OnChildExit();

  /// What status shows of this link.
  PeerSnapshot Snapshot() const;

  static const char* StateName(State s);

 private:
  void Enter(State next);
  void Dial();
  void Down(std::string why);  // by value: it may come from the channel it closes
  void OnReadable();
  void OnFrame(const wire::Frame& frame);
  void OnWelcome(const wire::Welcome& welcome);
  void MeasureSkew(int64_t peer_wall_ns, int64_t sent_ns);
  void OnSummary(const wire::Summary& summary);
  void OnAck(const wire::Ack& ack);
  void Queue(const std::string& path);
  void Flush();
  void Keepalive();
  void RetryLater(const std::string& path);
  void OnApplyFailed(const wire::Ack& ack);
  void OnActionReport(const wire::ActionReport& report);
  void OnApplied(const std::string& path);

  EventLoop& loop_;
  const Config& config_;
  PeerConfig peer_;
  StateStore& store_;
  Node& node_;
  Journal& journal_;
  Hooks hooks_;

  State state_ = State::kDown;
  pid_t child_ = -1;
  std::unique_ptr<Channel> channel_;
  int64_t backoff_ms_ = kBackoffFirstMs;
  EventLoop::TimerId redial_timer_ = 0;
  EventLoop::TimerId handshake_timer_ = 0;
  EventLoop::TimerId keepalive_timer_ = 0;
  EventLoop::TimerId retry_timer_ = 0;
  std::set<std::string> retry_;              ///< paths the peer failed to apply: sent again
  int64_t retry_delay_ms_ = kRetryFailedMs;  ///< the next retry's wait (backoff)
  /// A path the peer reported it could not apply, and how often in a row.
  struct ApplyFailure {
    std::string error;      ///< the peer's words (Ack.error), printable
    uint64_t attempts = 0;  ///< failed acks since it last applied
    int64_t logged_ms = 0;  ///< when the failure was last logged
  };
  /// Kept until the peer applies the path (or holds it, or refuses it): it
  /// outlives the channel, being the last the peer said about the path.
  std::map<std::string, ApplyFailure> failed_;
  int64_t since_ns_ = 0;              ///< up since, or down since
  int64_t last_heard_ms_ = 0;         ///< when the peer last sent anything
  uint64_t ping_nonce_ = 0;           ///< of the last Ping sent
  int64_t ping_sent_ns_ = 0;          ///< our wall clock as it was sent
  int64_t hello_sent_ns_ = 0;         ///< our wall clock as the Hello was sent
  uint64_t peer_max_file_bytes_ = 0;  ///< from its Welcome; 0: unknown
  int64_t clock_skew_ms_ = 0;         ///< its clock minus ours, at least (last Welcome or Pong)
  std::string last_error_;
  std::map<std::string, wire::ActionReport> action_reports_;  ///< its last run, by entry
  std::set<std::string> actions_pending_;                     ///< entries with a run to come there
  std::map<std::string, wire::VersionVector> summary_;        ///< pages received so far
  std::map<std::string, wire::VersionVector> untold_;         ///< Have not sent yet (see Tell)
  /// Have sent on the current channel: told again after a reconnect, since
  /// nothing acknowledges it. At most one entry per synced path.
  std::map<std::string, wire::VersionVector> told_;
  Outbox outbox_;
};

}  // namespace syncr
