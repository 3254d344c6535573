// Outbox: what one peer is to be sent, as plain data. Paths queued in order
// (each at most once), the ones in flight with their size (the window),
// paths to look at again once their ack is in, and the paths the peer will
// not take, with why. It decides nothing about content: the link asks the
// store what a queued path holds when its turn comes. Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "net/proto/syncr.pb.h"

namespace syncr {

class Outbox {
 public:
  /// Queues `path` to be considered; one already in flight is looked at
  /// again when its ack comes.
  void Queue(const std::string& path);
  /// The next path to consider while fewer than `window` bytes are in
  /// flight, or nullopt.
  std::optional<std::string> Next(uint64_t window);
  void Sent(const std::string& path, uint64_t bytes);
  /// The ack for `path` came: frees its window share. False if it was not
  /// in flight (a stale or unknown ack).
  bool Acked(const std::string& path);
  /// Forgets the queue and the window (the channel is gone); what is
  /// refused stays, it is a fact about the peer.
  void Clear();

  /// The peer will not take `path` up to version `vv`, because `why`.
  void Refuse(const std::string& path, const wire::VersionVector& vv, std::string why);
  /// The peer may have changed its config or limits (it reconnected): what
  /// it refused is judged again.
  void ForgetRefusals() { refused_.clear(); }
  /// The peer took `path`: it is no longer refused.
  void Accepted(const std::string& path) { refused_.erase(path); }
  /// True when `vv` is covered by a refusal (sending it again cannot help).
  bool Refused(const std::string& path, const wire::VersionVector& vv) const;
  /// path -> why, for status.
  std::map<std::string, std::string> refusals() const;
  bool WasRefused(const std::string& path) const { return refused_.count(path) > 0; }

  bool idle() const { return queue_.empty() && inflight_.empty(); }
  size_t in_flight() const { return inflight_.size(); }
  uint64_t in_flight_bytes() const { return inflight_bytes_; }
  size_t queued() const { return queue_.size(); }

 private:
  struct Refusal {
    wire::VersionVector vv;
    std::string why;
  };
  std::deque<std::string> queue_;
  std::set<std::string> queued_;
  std::map<std::string, uint64_t> inflight_;  ///< path -> bytes, awaiting ack
  std::set<std::string> requeue_after_ack_;
  uint64_t inflight_bytes_ = 0;
  std::map<std::string, Refusal> refused_;
};

}  // namespace syncr
