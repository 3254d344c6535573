// Status: builds the reply of `syncr status` from snapshots of the rooms,
// as a pure function. It owns the one rule of what "in sync" means
// (SPEC 10): every synced path on every peer, no conflict, nothing refused,
// no problem. It reads nothing itself, so the rule is unit-tested without a
// daemon. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "net/proto/syncr.pb.h"

namespace syncr {

/// What one outgoing peer link looks like at the moment of the request.
struct PeerSnapshot {
  std::string name;
  bool connected = false;
  std::string state;  ///< the link's state machine, e.g. "up", "handshake"
  int64_t since_ns = 0;
  std::string last_error;
  std::string transport;
  std::map<std::string, wire::VersionVector> has;     ///< what the peer is known to hold
  std::map<std::string, std::string> refused;         ///< path -> why it will not take it
  std::map<std::string, wire::ActionReport> actions;  ///< its last run of each entry's actions
  std::set<std::string> actions_pending;  ///< entries with a run to come there (not reported yet)
  /// path -> the error the peer gave when it last failed to apply it (it
  /// is retried); shown only while the peer still lacks the path.
  std::map<std::string, std::string> failed;
  int64_t clock_skew_ms = 0;  ///< its clock minus ours, at least (ClockSkewAtLeastMs)
};

/// A skew this large can make the conflict rule (the later change wins)
/// pick the earlier edit: status and the log say so.
constexpr int64_t kClockSkewWarnMs = 2000;

/// The skew a round trip proves: the peer's wall clock `peer_wall_ns`, read
/// somewhere between our sending at `our_sent_ns` and our reading its answer
/// at `our_read_ns` (our wall clock), minus ours. The round trip's whole
/// length is doubt, not skew: a loop busy for 6 s (or a frozen peer) before
/// reading an answer proves nothing about the clocks. Positive: the peer is
/// ahead by at least that; 0: nothing proven.
int64_t ClockSkewAtLeastMs(int64_t peer_wall_ns, int64_t our_sent_ns, int64_t our_read_ns);

/// "the clock of NODE is 3600 s ahead of this node's: ..." with the remedy.
std::string ClockSkewProblem(const std::string& peer, int64_t skew_ms);

/// "actions for ENTRY failed on NODE: `CMD` exit N ..." with the remedy,
/// for a run whose report is not ok.
std::string FailedActionsProblem(const std::string& node, const wire::ActionReport& report);

struct StatusInput {
  std::string node;
  int64_t started_ns = 0;
  std::vector<wire::Version> files;  ///< every stored version
  std::vector<PeerSnapshot> peers;
  std::map<std::string, wire::ActionResult> last_action;  ///< by sync entry
  std::set<std::string> actions_running;                  ///< sync entries
  std::set<std::string> actions_pending;  ///< entries with a run gathering or running
  std::map<std::string, wire::ActionReport> action_reports;  ///< our last run, by entry
  std::vector<std::string> problems;                         ///< node-wide, with remedy
  std::map<std::string, std::string> path_problems;          ///< path -> why, with remedy
};

/// The reply; `config` says which stored paths are still synced (rows of
/// entries removed by a reload are history, not state).
wire::StatusReply BuildStatus(const Config& config, const StatusInput& input);

/// What `syncr wait PATH` waits for (SPEC 12): the versions this node holds
/// of PATH and everything below it, once it has scanned PATH for the
/// request (so a save made just before counts).
struct WaitTarget {
  std::string path;
  std::string entry;     ///< its sync entry
  bool actions = false;  ///< the entry has actions here
  std::vector<wire::Version> versions;
};

/// `syncr wait` at this moment. Done when every node holds every target
/// version and, if the entry has actions, has no run of them to come and
/// its last run succeeded; failed as soon as a node refuses a target or
/// its last run (after it got the version) failed; otherwise still
/// waiting. One line per node, this one first, says where it stands.
wire::WaitReply JudgeWait(const StatusInput& input, const WaitTarget& target);

}  // namespace syncr
