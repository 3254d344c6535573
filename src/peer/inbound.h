// Inbound: the connections others open to this node's unix socket. Each is
// a session that becomes, by its first frame, either a peer pushing its
// versions to us (Hello) or a CLI request (ControlRequest). For a peer it
// answers the handshake (Welcome, with the largest file we accept), sends
// our Summary, gathers the Updates that arrive together and applies them as
// one batch through the Replica, then acks each; it serves FetchRequests,
// records Have, answers Ping. A control request goes to the control room,
// which answers through Reply(). Owns every session's channel and timers
// and releases them in its destructor. Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "common/fd.h"
#include "config/config.h"
#include "loop/event_loop.h"
#include "net/channel.h"
#include "store/journal.h"
#include "store/state_store.h"
#include "sync/replica.h"

namespace syncr {

class Inbound {
 public:
  /// A peer's channel stays open this long without a frame (it pings every
  /// PeerLink::kKeepaliveMs while up).
  static constexpr int64_t kSilenceMs = 15000;

  struct Hooks {
    /// A peer completed its handshake: it is up again.
    std::function<void(const std::string& peer)> peer_arrived;
    /// After applying a batch from `from`: tell the other peers what we hold.
    std::function<void(const std::string& from, const wire::Frame& have)> have;
    /// A CLI request on session `id`; the answer goes through Reply(id, ...).
    std::function<void(uint64_t id, const wire::ControlRequest& request)> control;
    /// This node's last run of each entry's actions, and the runs to come,
    /// told to a peer before its Summary (may be empty).
    std::function<std::vector<wire::ActionReport>()> action_reports;
    /// A CLI's session `id` closed before its answer (it gave up): nothing
    /// is to be done for it any more.
    std::function<void(uint64_t id)> control_gone;
  };

  Inbound(EventLoop& loop, const Config& config, StateStore& store, Replica& replica,
          Journal& journal, Hooks hooks);
  ~Inbound();
  Inbound(const Inbound&) = delete;
  Inbound& operator=(const Inbound&) = delete;

  /// Binds the socket (mode 0600; a stale one is replaced, a live one is an
  /// error) and starts accepting.
  Status Listen();
  /// Answers control session `id` and closes it once the answer is out.
  /// Nothing happens if the session is gone.
  void Reply(uint64_t id, const wire::Frame& frame);
  /// Sends `frame` on every peer session (not to the CLI's).
  void Broadcast(const wire::Frame& frame);
  /// Closes every session of `peer` (removed from the config).
  void DropPeer(const std::string& peer);

 private:
  struct Session {
    uint64_t id = 0;
    std::unique_ptr<Channel> channel;
    std::string peer;  ///< set once a peer said Hello
    bool control = false;
    bool closing = false;
    EventLoop::TimerId handshake_timer = 0;
    EventLoop::TimerId silence_timer = 0;
    std::deque<wire::Frame> pending;  ///< updates gathered for one batched apply
    uint64_t pending_bytes = 0;
    EventLoop::TimerId apply_timer = 0;
  };

  void OnAccept();
  void OnReadable(uint64_t id);
  void OnWritable(uint64_t id);
  void OnFrame(Session& session, const wire::Frame& frame);
  void OnHello(Session& session, const wire::Hello& hello);
  void OnFetch(Session& session, const wire::FetchRequest& request);
  void OnHave(Session& session, const wire::Have& have);
  void Refuse(Session& session, const std::string& message);
  void ApplyPending(Session& session);
  void SendSummary(Session& session);
  void ArmSilence(Session& session);
  void Flush(uint64_t id);
  void Close(uint64_t id, std::string why);  // by value: it may come from the channel it closes

  EventLoop& loop_;
  const Config& config_;
  StateStore& store_;
  Replica& replica_;
  Journal& journal_;
  Hooks hooks_;
  UniqueFd listen_fd_;
  std::map<uint64_t, std::unique_ptr<Session>> sessions_;
  std::set<uint64_t> to_flush_;  ///< sessions a Broadcast queued frames on
  EventLoop::TimerId flush_timer_ = 0;
  uint64_t next_id_ = 1;
};

}  // namespace syncr
