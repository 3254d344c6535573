#include "engine/decide.h"

#include <functional>
#include <tuple>

namespace syncr {
namespace {

bool Exists(wire::Kind kind) { return kind != wire::KIND_NONE && kind != wire::KIND_DELETED; }

}  // namespace

bool SameXattrs(const wire::Metadata& meta,
                const std::vector<std::pair<std::string, std::string>>& xattrs) {
  if (static_cast<size_t>(meta.xattrs_size()) != xattrs.size()) return false;
  for (size_t i = 0; i < xattrs.size(); ++i) {
    const wire::Xattr& x = meta.xattrs(static_cast<int>(i));
    if (x.name() != xattrs[i].first || x.value() != xattrs[i].second) return false;
  }
  return true;
}

bool IsRealChange(const Version* stored, const Observed& observed, bool compare_owner) {
  const wire::Kind stored_kind = stored ? stored->kind() : wire::KIND_NONE;
  if (!Exists(stored_kind) || !Exists(observed.kind)) {
    return Exists(stored_kind) != Exists(observed.kind);
  }
  if (stored_kind != observed.kind) return true;
  if (stored->hash() != observed.hash) return true;
  if (observed.kind == wire::KIND_SYMLINK) return false;  // a link's mode means nothing
  if (stored->meta().mode() != observed.mode) return true;
  if (!SameXattrs(stored->meta(), observed.xattrs)) return true;
  if (compare_owner &&
      (stored->meta().uid() != observed.uid || stored->meta().gid() != observed.gid)) {
    return true;
  }
  return false;
}

std::string EventName(const Version* before, const Version& after) {
  const bool existed = before && Exists(before->kind());
  if (!Exists(after.kind())) return "deleted";
  if (!existed) return "created";
  if (before->kind() != after.kind() || before->hash() != after.hash()) return "modified";
  return "metadata";
}

bool SameState(const Version& a, const Version& b) {
  if (Exists(a.kind()) != Exists(b.kind())) return false;
  if (!Exists(a.kind())) return true;
  if (a.meta().xattrs_size() != b.meta().xattrs_size()) return false;
  for (int i = 0; i < a.meta().xattrs_size(); ++i) {
    if (a.meta().xattrs(i).name() != b.meta().xattrs(i).name() ||
        a.meta().xattrs(i).value() != b.meta().xattrs(i).value()) {
      return false;
    }
  }
  return a.kind() == b.kind() && a.hash() == b.hash() && a.meta().mode() == b.meta().mode() &&
         a.meta().uid() == b.meta().uid() && a.meta().gid() == b.meta().gid();
}

bool RemoteWinsConflict(const Version& local, const Version& remote) {
  return std::make_tuple(remote.change_ns(), std::cref(remote.origin())) >
         std::make_tuple(local.change_ns(), std::cref(local.origin()));
}

RemoteDecision DecideRemote(const Version* local, const Version& remote) {
  if (!local) return RemoteDecision::kApply;
  switch (Compare(remote.vv(), local->vv())) {
    case Order::kEqual:
    case Order::kOlder:
      return RemoteDecision::kIgnore;
    case Order::kNewer:
      return RemoteDecision::kApply;
    case Order::kConcurrent:
      break;
  }
  if (SameState(*local, remote)) return RemoteDecision::kMerge;
  if (local->baseline() && !remote.baseline()) return RemoteDecision::kTakeOverBaseline;
  if (!local->baseline() && remote.baseline()) return RemoteDecision::kKeepOverBaseline;
  return RemoteWinsConflict(*local, remote) ? RemoteDecision::kConflictTakeRemote
                                            : RemoteDecision::kConflictKeepLocal;
}

bool DeletedByLaterParent(const Version& parent_deletion, const Version& child) {
  return parent_deletion.kind() == wire::KIND_DELETED && Exists(child.kind()) &&
         parent_deletion.origin() == child.origin() &&
         parent_deletion.change_ns() >= child.change_ns();
}

bool PeerLacks(const Version& local, const VersionVector* peer_has) {
  if (!peer_has) return true;
  return !Covers(*peer_has, local.vv());
}

}  // namespace syncr
