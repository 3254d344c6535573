// Plan: the pure decisions the daemon's rooms used to make inline. In what
// order a peer receives what it lacks, in what order a batch of updates is
// applied, what state a path is in for `status`, and when and with what
// environment an entry's actions run. Functions of data only: no I/O, no
// clock (times are passed in). Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "net/proto/syncr.pb.h"

namespace syncr {

/// The paths of `ours` that a peer holding `peer_has` lacks, in the order
/// to send them: creations parents first (path order), then deletions
/// children first, so the receiver never meets a missing parent or a
/// non-empty directory it must remove. Paths no entry of `config` syncs,
/// and never-stored ones (KIND_NONE), are left out.
std::vector<std::string> CatchUpOrder(const std::vector<wire::Version>& ours,
                                      const std::map<std::string, wire::VersionVector>& peer_has,
                                      const Config& config);

/// Reorders a batch of updates for applying: everything but deletions first
/// (in the sender's order), then deletions deepest first.
void OrderForApply(std::vector<const wire::Update*>* updates);

/// The state `status` shows for a path: "missing" (never stored or
/// forgotten), "conflict", "pending" (a peer lacks it), "refused" (a peer
/// will not take it), "deleted" (every peer holds its deletion), "in sync".
std::string PathState(const wire::Version& version, size_t pending_to, size_t refused_by);

/// True when `state` (from PathState) keeps the node from being in sync on
/// its own (a pending path is counted through its peer instead).
bool StateBlocksSync(const std::string& state);

/// When to run a sync entry's actions for a burst of changes: a file entry
/// on the next turn of the loop, a directory entry after `quiet_ms` without
/// changes, but never later than `max_ms` after the burst's first change.
int64_t ActionDelayMs(bool tree, int64_t first_change_ms, int64_t now_ms, int64_t quiet_ms,
                      int64_t max_ms);

/// One change the actions of an entry are told about.
struct ActionChange {
  std::string path;
  std::string event;   ///< created, modified, deleted, metadata
  std::string origin;  ///< node where the change was made
  bool directory = false;
};

/// The command list and environment (SPEC 8) for one run of `entry`'s
/// actions over `changes` (oldest first, at least one): SYNCR_EVENT is the
/// common event or "modified" when they differ, SYNCR_ORIGIN the newest
/// change's origin, SYNCR_CHANGED (one path a line, escaped: common/escape.h) for a directory
/// entry.
struct ActionPlan {
  std::vector<std::string> env;
  std::string event;
  std::string origin;
  size_t changed = 0;  ///< distinct changed paths
  bool tree = false;
};
ActionPlan PlanActions(const Config& config, const SyncEntry& entry,
                       const std::vector<ActionChange>& changes);

}  // namespace syncr
