// The engine's decisions, as pure functions of data: is what is on disk a
// new version, what to do with a version a peer sent, does a peer lack a
// version. No I/O here; unit tests drive these directly. Thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "engine/version_vector.h"
#include "net/proto/syncr.pb.h"

namespace syncr {

using wire::Version;

/// What a path holds on disk, in version terms (without a version vector).
struct Observed {
  wire::Kind kind = wire::KIND_NONE;  ///< KIND_NONE: nothing there
  std::string hash;                   ///< of the content or the link target
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_ns = 0;
  /// When the inode last changed (content, mode, owner, rename): when the
  /// edit happened, as far as the disk can tell. User space cannot set it.
  int64_t ctime_ns = 0;
  uint64_t size = 0;
  std::string link_target;
  std::vector<std::pair<std::string, std::string>> xattrs;  ///< managed ones, sorted
};

/// True when `meta` carries exactly `xattrs` (both sorted by name).
bool SameXattrs(const wire::Metadata& meta,
                const std::vector<std::pair<std::string, std::string>>& xattrs);

/// SPEC 2: a new version is made by a change of content, mode, owner or
/// existence; a close, an unchanged rewrite or an mtime alone is not one.
/// `stored` is nullptr for a path never seen. Owners count only when
/// `compare_owner` (the daemon runs as root and can set them).
bool IsRealChange(const Version* stored, const Observed& observed, bool compare_owner);

/// The SYNCR_EVENT of a change from `before` (may be nullptr) to `after`:
/// "created", "modified", "deleted" or "metadata".
std::string EventName(const Version* before, const Version& after);

enum class RemoteDecision {
  kIgnore,              ///< we hold this version or a newer one
  kApply,               ///< the remote version is newer: write it
  kMerge,               ///< concurrent but identical state: only merge the vectors
  kConflictTakeRemote,  ///< concurrent: the remote one wins the conflict rule
  kConflictKeepLocal,   ///< concurrent: ours wins; keep the remote as a backup
  kTakeOverBaseline,    ///< concurrent: the remote real change replaces our baseline (no conflict)
  kKeepOverBaseline,    ///< concurrent: our real change stands over the remote baseline
};

/// True when `child` (a version of a path below `parent_deletion`'s path)
/// is made obsolete by that deletion: the same node made both, the
/// deletion no earlier. That node's `rm -r` removed the child too, and its
/// deletion of the child is on its way; writing the child now would
/// re-create the directory its owner removed (issue 12). A child from
/// another node may be a creation the deleter never saw: not obsolete.
bool DeletedByLaterParent(const Version& parent_deletion, const Version& child);

/// What to do with `remote` given our `local` version (nullptr: none).
/// Concurrent versions with the same state merge. Otherwise a baseline
/// (what a node found when it first watched the path) never beats a real
/// change, and is replaced without a conflict; two real changes, or two
/// baselines, are a conflict decided by RemoteWinsConflict.
RemoteDecision DecideRemote(const Version* local, const Version& remote);

/// The conflict rule: the greater (change_ns, origin) wins. Deterministic and
/// the same on every node, so all nodes converge on one content.
bool RemoteWinsConflict(const Version& local, const Version& remote);

/// True when content, kind, mode and owner agree (vectors and mtimes aside).
bool SameState(const Version& a, const Version& b);

/// Does a peer that is known to hold `peer_has` (nullptr: unknown) lack `local`?
bool PeerLacks(const Version& local, const VersionVector* peer_has);

}  // namespace syncr
