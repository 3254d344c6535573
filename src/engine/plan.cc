#include "engine/plan.h"

#include <algorithm>
#include <set>

#include "common/escape.h"
#include "engine/decide.h"

namespace syncr {

std::vector<std::string> CatchUpOrder(const std::vector<wire::Version>& ours,
                                      const std::map<std::string, wire::VersionVector>& peer_has,
                                      const Config& config) {
  std::vector<const wire::Version*> sorted;
  for (const wire::Version& v : ours) sorted.push_back(&v);
  std::sort(sorted.begin(), sorted.end(),
            [](const wire::Version* x, const wire::Version* y) { return x->path() < y->path(); });
  std::vector<std::string> sends;
  std::vector<std::string> deletions;
  for (const wire::Version* v : sorted) {
    if (v->kind() == wire::KIND_NONE || !config.FindEntry(v->path())) continue;
    auto it = peer_has.find(v->path());
    if (!PeerLacks(*v, it == peer_has.end() ? nullptr : &it->second)) continue;
    (v->kind() == wire::KIND_DELETED ? deletions : sends).push_back(v->path());
  }
  sends.insert(sends.end(), deletions.rbegin(), deletions.rend());
  return sends;
}

void OrderForApply(std::vector<const wire::Update*>* updates) {
  auto deleted = [](const wire::Update* u) { return u->version().kind() == wire::KIND_DELETED; };
  auto first_deletion =
      std::stable_partition(updates->begin(), updates->end(), [&](auto* u) { return !deleted(u); });
  std::stable_sort(first_deletion, updates->end(),
                   [](const wire::Update* x, const wire::Update* y) {
                     return x->version().path() > y->version().path();
                   });
}

std::string PathState(const wire::Version& version, size_t pending_to, size_t refused_by) {
  if (version.kind() == wire::KIND_NONE) return "missing";
  if (version.conflict()) return "conflict";
  if (pending_to > 0) return "pending";
  if (refused_by > 0) return "refused";
  // Every peer holds the deletion too: in sync, but not a file anyone has.
  if (version.kind() == wire::KIND_DELETED) return "deleted";
  return "in sync";
}

bool StateBlocksSync(const std::string& state) {
  return state == "missing" || state == "conflict" || state == "refused";
}

int64_t ActionDelayMs(bool tree, int64_t first_change_ms, int64_t now_ms, int64_t quiet_ms,
                      int64_t max_ms) {
  const int64_t delay = tree ? quiet_ms : 0;
  return std::min(delay, std::max<int64_t>(0, first_change_ms + max_ms - now_ms));
}

ActionPlan PlanActions(const Config& config, const SyncEntry& entry,
                       const std::vector<ActionChange>& changes) {
  ActionPlan plan;
  std::set<std::string> changed;
  plan.event = changes.front().event;
  for (const ActionChange& c : changes) {
    changed.insert(c.path);
    if (c.event != plan.event) plan.event = "modified";
  }
  const ActionChange& last = changes.back();
  plan.origin = last.origin;
  plan.changed = changed.size();
  plan.tree = changed.size() > 1 || *changed.begin() != entry.path || last.directory;
  plan.env = {"SYNCR_PATH=" + entry.path, "SYNCR_FILE=" + config.DiskPath(entry.path),
              "SYNCR_ORIGIN=" + plan.origin, "SYNCR_EVENT=" + plan.event,
              "SYNCR_NODE=" + config.node.name};
  if (plan.tree) {
    std::string list;
    // One a line, escaped: a newline in a name cannot split it (SPEC 11).
    for (const std::string& p : changed) list += EscapeName(p) + "\n";
    plan.env.push_back("SYNCR_CHANGED=" + list);
  }
  return plan;
}

}  // namespace syncr
