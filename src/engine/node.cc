#include "engine/node.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <set>

#include "common/escape.h"
#include "common/util.h"
#include "engine/path_policy.h"
#include "os/accounts.h"

namespace syncr {
namespace {

wire::Kind KindOf(FileType type) {
  switch (type) {
    case FileType::kFile:
      return wire::KIND_FILE;
    case FileType::kDirectory:
      return wire::KIND_DIRECTORY;
    case FileType::kSymlink:
      return wire::KIND_SYMLINK;
    default:
      return wire::KIND_NONE;
  }
}

bool Exists(const wire::Version* v) {
  return v && v->kind() != wire::KIND_NONE && v->kind() != wire::KIND_DELETED;
}

}  // namespace

Node::Node(const Config& config, Disk& disk, StateStore& store, BackupStore& backups)
    : config_(config), disk_(disk), store_(store), backups_(backups), is_root_(geteuid() == 0) {}

Result<Observed> Node::ObserveDisk(const std::string& path, std::string* content) {
  const std::string disk_path = config_.DiskPath(path);
  Result<Snapshot> snap = disk_.Observe(disk_path, config_.limits.max_file_bytes);
  if (!snap.ok()) return snap.status();
  Observed obs;
  if (snap->info.type == FileType::kOther) {
    return Status::Error(EscapeName(disk_path) +
                         ": not a regular file, directory or symlink; skipped");
  }
  obs.kind = KindOf(snap->info.type);
  if (obs.kind == wire::KIND_NONE) return obs;
  obs.mode = snap->info.mode;
  obs.uid = snap->info.uid;
  obs.gid = snap->info.gid;
  obs.mtime_ns = snap->info.mtime_ns;
  obs.ctime_ns = snap->info.ctime_ns;
  obs.size = snap->info.size;
  for (auto& [xname, value] : snap->xattrs) {
    if (ManagedXattr(xname)) obs.xattrs.emplace_back(xname, std::move(value));
  }
  if (obs.kind == wire::KIND_FILE) obs.hash = Sha256(snap->content);
  if (obs.kind == wire::KIND_SYMLINK) {
    obs.link_target = snap->link_target;
    obs.hash = Sha256(obs.link_target);
  }
  if (content) *content = std::move(snap->content);
  return obs;
}

bool Node::StatUnchanged(const std::string& path, const Result<FileInfo>& quick) const {
  if (!quick.ok() || quick->type == FileType::kMissing) return false;
  auto it = stat_cache_.find(path);
  if (it == stat_cache_.end()) return false;
  const FileInfo& was = it->second;
  const FileInfo& now = *quick;
  return was.type == now.type && was.ino == now.ino && was.dev == now.dev &&
         was.ctime_ns == now.ctime_ns && was.mtime_ns == now.mtime_ns && was.size == now.size &&
         was.mode == now.mode && was.uid == now.uid && was.gid == now.gid;
}

Result<std::optional<Change>> Node::ScanLocal(const std::string& path, bool* writer_open,
                                              bool baseline) {
  const std::string disk_path = config_.DiskPath(path);
  Result<FileInfo> quick = disk_.Lstat(disk_path);
  if (!quick.ok()) return quick.status();  // cannot look: an error, never a deletion
  if (StatUnchanged(path, quick)) return std::optional<Change>();
  if (writer_open && quick->type == FileType::kFile && disk_.OpenForWriting(disk_path)) {
    *writer_open = true;
    return std::optional<Change>();
  }
  Result<std::optional<wire::Version>> stored = store_.FindFile(path);
  if (!stored.ok()) return stored.status();  // unreadable is not "never seen"
  return ScanLocalWith(path, quick, &*stored, baseline);
}

// When the change a scan found was made (SPEC 6: an edit found by a
// start-up scan dates from the file, not from the scan, so the order in which
// daemons start never decides a conflict). New content dates from the
// file's mtime, as SPEC 6 says; a change of mode, owner or xattrs leaves the
// mtime alone, so it dates from the ctime (which moves with it and cannot be
// set from user space); a deletion from its directory's ctime, which moved
// when the name went. Never later than now (a clock stepped back).
int64_t Node::ChangeTime(const std::string& path, const wire::Version* before,
                         const Observed& obs) {
  const int64_t now = WallNs();
  int64_t at = obs.ctime_ns;
  if (obs.kind == wire::KIND_NONE) {
    Result<FileInfo> dir = disk_.Lstat(DirName(config_.DiskPath(path)));
    at = dir.ok() ? dir->ctime_ns : now;
  } else if (!before || before->kind() != obs.kind || before->hash() != obs.hash) {
    at = obs.mtime_ns;
  }
  return at > 0 && at < now ? at : now;
}

Result<std::optional<Change>> Node::ScanLocalWith(const std::string& path,
                                                  const Result<FileInfo>& quick,
                                                  std::optional<wire::Version>* stored_io,
                                                  bool baseline) {
  std::optional<wire::Version>& stored = *stored_io;
  if (quick.ok() && quick->type == FileType::kMissing && !Exists(stored ? &*stored : nullptr)) {
    implied_dirs_.erase(path);       // gone again: a user's mkdir later is an edit
    return std::optional<Change>();  // nothing there, and nothing known to have been
  }
  std::string content;
  Result<Observed> obs = ObserveDisk(path, &content);
  if (!obs.ok()) return obs.status();
  const wire::Version* before = stored ? &*stored : nullptr;
  if (!IsRealChange(before, *obs, is_root_)) {
    if (quick.ok()) stat_cache_[path] = *quick;
    return std::optional<Change>();
  }
  stat_cache_.erase(path);

  wire::Version v;
  v.set_path(path);
  if (stored) *v.mutable_vv() = stored->vv();
  Bump(v.mutable_vv(), name());
  v.set_origin(name());
  v.set_change_ns(ChangeTime(path, before, *obs));
  baseline = baseline_pending_.erase(path) > 0 || baseline;
  // A directory an apply made to hold a peer's file, where we knew of none
  // (or of its deletion): what we found, not an edit, so it never beats a
  // peer's real change to it (the peer that made the file re-created it,
  // or deleted it since). Without this, a relayed file arriving after its
  // directory's deletion made that directory a new one of ours, dated now.
  // After a restart the memory is gone, but the directory still holds what
  // the apply wrote: a file recorded as a peer's.
  const bool made_by_apply = implied_dirs_.erase(path) > 0;
  const bool implied = obs->kind == wire::KIND_DIRECTORY && !Exists(before) &&
                       (made_by_apply || HoldsPeerContent(path));
  v.set_baseline((baseline && !before) || implied);
  v.set_conflict(stored && stored->conflict());
  if (v.conflict()) {
    v.set_lost_hash(stored->lost_hash());
    v.set_lost_origin(stored->lost_origin());
  }
  if (obs->kind == wire::KIND_NONE) {
    v.set_kind(wire::KIND_DELETED);
  } else {
    v.set_kind(obs->kind);
    v.set_hash(obs->hash);
    v.set_link_target(obs->link_target);
    wire::Metadata* m = v.mutable_meta();
    m->set_mode(obs->mode);
    m->set_uid(obs->uid);
    m->set_gid(obs->gid);
    m->set_user(UserName(obs->uid));
    m->set_group(GroupName(obs->gid));
    m->set_mtime_ns(obs->mtime_ns);
    m->set_size(obs->size);
    for (const auto& [xname, value] : obs->xattrs) {
      wire::Xattr* x = m->add_xattrs();
      x->set_name(xname);
      x->set_value(value);
    }
  }

  // The version and its backup generation (generation 1 is always the
  // current content) are recorded together or not at all; then the next
  // scan finds the change again.
  StateStore::Batch batch(store_);
  Status s = store_.PutFile(v);
  if (s.ok() && v.kind() == wire::KIND_FILE) s = backups_.Record(v, content, false);
  if (s.ok()) s = batch.Commit();
  if (!s.ok()) {
    batch.Rollback();
    if (!store_.healthy()) ForgetStats();  // what they confirmed was rolled back too
    return s;
  }
  Change change{v, EventName(before, v), !stored};
  stored = std::move(v);
  return std::optional<Change>(std::move(change));
}

std::vector<std::string> Node::XattrPrefixes() const {
  std::vector<std::string> prefixes;
  if (config_.metadata.acls) prefixes.push_back("system.posix_acl_");
  if (config_.metadata.xattrs) {
    prefixes.insert(prefixes.end(), {"user.", "security.", "trusted."});
  }
  return prefixes;
}

bool Node::ManagedXattr(const std::string& name) const {
  for (const std::string& p : XattrPrefixes()) {
    if (name.compare(0, p.size(), p) == 0) return true;
  }
  return false;
}

WriteMeta Node::MetaFor(const wire::Version& remote) const {
  WriteMeta meta;
  meta.mode = remote.meta().mode() & 07777;
  meta.mtime_ns = remote.meta().mtime_ns();
  meta.xattr_prefixes = XattrPrefixes();
  for (const wire::Xattr& x : remote.meta().xattrs()) {
    if (ManagedXattr(x.name())) meta.xattrs.emplace_back(x.name(), x.value());
  }
  if (is_root_) {
    meta.uid = LookupUser(remote.meta().user()).value_or(remote.meta().uid());
    meta.gid = LookupGroup(remote.meta().group()).value_or(remote.meta().gid());
  }
  return meta;
}

Status Node::WriteToDisk(const wire::Update& update, const wire::Version* local,
                         wire::Version* stored) {
  const wire::Version& remote = update.version();
  const std::string disk_path = config_.DiskPath(remote.path());
  *stored = remote;
  const WriteMeta meta = MetaFor(remote);
  // What we store must describe our disk: the owner numbers we wrote.
  stored->mutable_meta()->set_uid(meta.uid.value_or(geteuid()));
  stored->mutable_meta()->set_gid(meta.gid.value_or(getegid()));
  switch (remote.kind()) {
    case wire::KIND_FILE: {
      if (local && local->kind() == wire::KIND_FILE && local->hash() == remote.hash()) {
        // Same content: a metadata-only change, no rewrite.
        return disk_.SetMeta(disk_path, meta);
      }
      if (update.content().size() > config_.limits.max_file_bytes) {
        return Status::TooBig(remote.path(), update.content().size(),
                              config_.limits.max_file_bytes);
      }
      if (Sha256(update.content()) != remote.hash()) {
        return Status::WithCode(Code::kCorrupt,
                                EscapeName(remote.path()) + ": content does not match its hash",
                                remote.path());
      }
      return disk_.ReplaceFile(disk_path, update.content(), meta);
    }
    case wire::KIND_DIRECTORY: {
      Status s = disk_.EnsureDirectory(disk_path, meta);
      if (s.ok() && watching_.directory_made) watching_.directory_made(remote.path());
      return s;
    }
    case wire::KIND_SYMLINK:
      if (Sha256(remote.link_target()) != remote.hash()) {
        return Status::WithCode(Code::kCorrupt,
                                EscapeName(remote.path()) + ": link target does not match its hash",
                                remote.path());
      }
      return disk_.ReplaceSymlink(disk_path, remote.link_target(), meta);
    case wire::KIND_DELETED: {
      // What is there decides how to remove it; a failure to look is an
      // error, not "no directory there".
      Result<FileInfo> there = disk_.Lstat(disk_path);
      if (!there.ok()) return there.status();
      if (there->type == FileType::kDirectory) {
        Status s = disk_.RemoveDirectory(disk_path);
        if (s.ok() || s.err() != ENOTEMPTY) return s;
        // Excluded or unsynced files keep a deleted directory alive here;
        // synced ones mean their own deletions have not arrived yet.
        Result<std::vector<std::pair<std::string, FileType>>> left = disk_.List(disk_path);
        if (!left.ok()) return left.status();
        for (const auto& [child, type] : *left) {
          if (!IsNotSynced(config_, remote.path() + "/" + child)) {
            return Status::WithCode(Code::kBusy,
                                    EscapeName(remote.path()) + " still holds " +
                                        EscapeName(child) + ": its deletion has not arrived yet",
                                    remote.path());
          }
        }
        return Status();
      }
      return disk_.Remove(disk_path);
    }
    default:
      return Status::Error(EscapeName(remote.path()) + ": unknown kind " +
                           std::to_string(remote.kind()));
  }
}

Result<ApplyOutcome> Node::ApplyRemote(const wire::Update& update) {
  std::vector<Result<ApplyOutcome>> out = ApplyBatch({&update});
  return std::move(out.front());
}

// A version that passed the decision and is being written.
struct Node::PendingApply {
  size_t index = 0;
  const wire::Update* update = nullptr;
  std::optional<wire::Version> local;
  wire::Version applied;
  bool conflict = false;
  bool over_baseline = false;            // replaces our baseline: vectors merge, no conflict
  std::string temp;                      // staged file content, committed after the shared sync
  Xattrs xattrs_after;                   // what the staged file holds (read back as it was staged)
  std::optional<FileInfo> renamed_stat;  // lstat right after the rename, where watched
};

Result<ApplyOutcome> Node::Decide(const wire::Update& update, std::optional<PendingApply>* write) {
  const wire::Version& remote = update.version();
  const std::string& path = remote.path();
  ApplyOutcome out;

  // A path below an entry is written only into a directory entry that is a
  // directory here (its own version comes first): a file entry has no
  // children, and a peer must not turn one into a directory.
  const SyncEntry* entry = config_.FindEntry(path);
  if (entry && entry->path != path && !batch_directory_entries_.count(entry->path)) {
    Result<FileInfo> root = disk_.Lstat(config_.DiskPath(entry->path));
    if (!root.ok()) return root.status();
    if (root->type != FileType::kDirectory) {
      return Status::Refused("refused path " + EscapeName(path) + ": " + EscapeName(entry->path) +
                             " is not a directory on this node");
    }
    batch_directory_entries_.insert(entry->path);
  }

  // Look at the disk first: a local edit still settling must become a
  // version before we decide, or the write below would destroy it.
  Result<std::optional<wire::Version>> found = store_.FindFile(path);
  if (!found.ok()) return found.status();
  std::optional<wire::Version> stored = std::move(*found);
  Result<FileInfo> quick = disk_.Lstat(config_.DiskPath(path));
  if (!StatUnchanged(path, quick)) {
    Result<std::optional<Change>> first = ScanLocalWith(path, quick, &stored);
    if (!first.ok()) return first.status();
    out.local_first = std::move(*first);
  }
  const wire::Version* local = stored ? &*stored : nullptr;
  out.decision = DecideRemote(local, remote);

  switch (out.decision) {
    case RemoteDecision::kIgnore:
      out.now_have = stored->vv();
      return out;

    case RemoteDecision::kMerge: {
      wire::Version merged = *stored;
      *merged.mutable_vv() = Merge(stored->vv(), remote.vv());
      if (Status s = store_.PutFile(merged); !s.ok()) return s;
      out.now_have = merged.vv();
      return out;
    }

    case RemoteDecision::kKeepOverBaseline: {
      // Our real change stands; the peer's baseline is simply older news.
      // The merged vector makes ours newer than it, so ours replaces it
      // there (where it stays as a backup generation).
      wire::Version kept = *stored;
      *kept.mutable_vv() = Merge(stored->vv(), remote.vv());
      if (Status s = store_.PutFile(kept); !s.ok()) return s;
      out.now_have = kept.vv();
      return out;
    }

    case RemoteDecision::kConflictKeepLocal: {
      wire::Version kept = *stored;
      *kept.mutable_vv() = Merge(stored->vv(), remote.vv());
      kept.set_conflict(true);
      kept.set_lost_hash(remote.hash());
      kept.set_lost_origin(remote.origin());
      if (remote.kind() == wire::KIND_FILE) {
        if (Status s = backups_.Record(remote, update.content(), true); !s.ok()) return s;
        // Generation 1 must stay the current content.
        if (kept.kind() == wire::KIND_FILE) {
          Result<std::string> current = ContentFor(kept);
          if (!current.ok()) return current.status();
          if (Status s = backups_.Record(kept, *current, false); !s.ok()) return s;
        }
      }
      if (Status s = store_.PutFile(kept); !s.ok()) return s;
      out.now_have = kept.vv();
      out.note = "conflict on " + EscapeName(path) + ": kept the change from " + kept.origin() +
                 ", the concurrent change from " + remote.origin() + " lost (kept as a backup)";
      return out;
    }

    case RemoteDecision::kApply:
    case RemoteDecision::kConflictTakeRemote:
    case RemoteDecision::kTakeOverBaseline:
      break;
  }

  // A version its origin has since deleted with a parent directory: write
  // nothing (the parent would come back and our next scan would call it a
  // new directory of ours) and store nothing. Not acknowledged as held
  // either (a file restored with an old mtime could be taken for obsolete,
  // and would then never arrive): a failure the sender retries, with its
  // backoff, until the origin's newer version of the path (its deletion, or
  // the directory made again) is what it sends.
  // A path that is on disk has all its parents: the common case costs no
  // walk up.
  std::vector<std::string> missing;
  const bool on_disk = quick.ok() && quick->type != FileType::kMissing;
  Result<bool> obsolete =
      on_disk ? Result<bool>(false) : DeletedWithParent(remote, entry, &missing);
  if (!obsolete.ok()) return obsolete.status();
  if (*obsolete) {
    return Status::WithCode(Code::kUnavailable,
                            "not written: " + remote.origin() +
                                " deleted a directory above it after making this version; "
                                "waiting for its newer version of the path",
                            path);
  }
  // The directories this write makes only to hold the peer's file: not an
  // edit of ours (see implied_dirs_).
  implied_dirs_.insert(missing.begin(), missing.end());

  if (out.decision == RemoteDecision::kApply && remote.conflict() && local &&
      !remote.lost_hash().empty() && local->hash() == remote.lost_hash() &&
      remote.hash() != local->hash()) {
    out.note = "conflict on " + EscapeName(path) + ": the change from " + remote.lost_origin() +
               " lost to the change from " + remote.origin() + " (kept as a backup)";
  }
  PendingApply p;
  p.update = &update;
  p.local = stored;
  p.conflict = out.decision == RemoteDecision::kConflictTakeRemote;
  p.over_baseline = out.decision == RemoteDecision::kTakeOverBaseline;
  if (p.conflict) {
    out.note = "conflict on " + EscapeName(path) + ": took the change from " + remote.origin() +
               ", the concurrent change from " + stored->origin() + " lost (kept as a backup)";
  }
  const bool rewrite =
      remote.kind() == wire::KIND_FILE &&
      !(local && local->kind() == wire::KIND_FILE && local->hash() == remote.hash());
  if (rewrite) {
    if (update.content().size() > config_.limits.max_file_bytes) {
      return Status::TooBig(path, update.content().size(), config_.limits.max_file_bytes);
    }
    if (Sha256(update.content()) != remote.hash()) {
      return Status::WithCode(Code::kCorrupt,
                              EscapeName(path) + ": content does not match its hash", path);
    }
    const WriteMeta meta = MetaFor(remote);
    Result<std::string> temp =
        disk_.StageFile(config_.DiskPath(path), update.content(), meta, &p.xattrs_after);
    if (!temp.ok()) return temp.status();
    p.temp = *temp;
    p.applied = remote;
    p.applied.mutable_meta()->set_uid(meta.uid.value_or(geteuid()));
    p.applied.mutable_meta()->set_gid(meta.gid.value_or(getegid()));
  } else {
    if (Status s = Intend(remote, p); !s.ok()) return s;
    if (Status s = WriteToDisk(update, local, &p.applied); !s.ok()) return s;
  }
  *write = std::move(p);
  return out;
}

Result<bool> Node::DeletedWithParent(const wire::Version& remote, const SyncEntry* entry,
                                     std::vector<std::string>* missing) {
  if (!entry || remote.kind() == wire::KIND_DELETED) return false;
  // Up from the parent while it is missing on disk (an existing parent is
  // re-created by nothing).
  std::string dir = remote.path();
  for (;;) {
    const size_t slash = dir.find_last_of('/');
    if (slash == std::string::npos || slash < entry->path.size()) return false;
    dir.resize(slash);
    Result<FileInfo> st = disk_.Lstat(config_.DiskPath(dir));
    if (!st.ok()) return st.status();
    if (st->type != FileType::kMissing) return false;
    Result<std::optional<wire::Version>> stored = store_.FindFile(dir);
    if (!stored.ok()) return stored.status();
    if (*stored && DeletedByLaterParent(**stored, remote)) return true;
    missing->push_back(dir);
  }
}

bool Node::HoldsPeerContent(const std::string& dir) {
  auto listed = disk_.List(config_.DiskPath(dir));
  if (!listed.ok()) return false;
  for (const auto& [name, type] : *listed) {
    Result<std::optional<wire::Version>> child = store_.FindFile(dir + "/" + name);
    if (child.ok() && *child && Exists(&**child) && (*child)->origin() != this->name()) return true;
  }
  return false;
}

bool Node::StagedBelow(const std::vector<PendingApply>& pending, const wire::Update& update) {
  if (update.version().kind() != wire::KIND_DELETED) return false;
  const std::string prefix = update.version().path() + "/";
  for (const PendingApply& p : pending) {
    if (!p.temp.empty() && p.applied.path().compare(0, prefix.size(), prefix) == 0) return true;
  }
  return false;
}

std::vector<Result<ApplyOutcome>> Node::ApplyBatch(
    const std::vector<const wire::Update*>& updates) {
  std::vector<Result<ApplyOutcome>> results;
  results.reserve(updates.size());
  std::vector<PendingApply> pending;
  std::set<std::string> in_batch;

  StateStore::Batch transaction(store_);
  Disk::Hold hold(disk_);
  batch_directory_entries_.clear();
  for (size_t i = 0; i < updates.size(); ++i) {
    // A path twice in one batch: finish the first before deciding the second.
    // Likewise a deletion below which something is staged: the staged temp
    // file would make the directory look as if it held files we do not
    // sync, and it would stay on this node, recorded as deleted.
    if (!in_batch.insert(updates[i]->version().path()).second ||
        StagedBelow(pending, *updates[i])) {
      FinishBatch(&pending, &results);
      in_batch = {updates[i]->version().path()};
      // No event has been read since the first was renamed into place: a
      // user's write right after it must not hide behind a trusted stat.
      stat_cache_.erase(updates[i]->version().path());
    }
    std::optional<PendingApply> write;
    // A decision that fails halfway (a conflict's loser kept, the version
    // not) leaves nothing of itself.
    StateStore::Batch one(store_);
    results.push_back(Decide(*updates[i], &write));
    if (results.back().ok()) {
      one.Commit();
    } else {
      one.Rollback();
    }
    if (write) {
      write->index = i;
      pending.push_back(std::move(*write));
    }
  }
  FinishBatch(&pending, &results);
  // Nothing is acknowledged that is not in the store: a failed commit, or a
  // write that failed the store meanwhile (rolling the whole transaction
  // back), fails every update of the batch.
  if (Status s = transaction.Commit(); !s.ok()) {
    for (Result<ApplyOutcome>& result : results) {
      if (result.ok()) result = s;
    }
    ForgetStats();  // the stats it trusted belong to versions that are not stored
  } else if (intents_ && !unrecorded_writes_) {
    // Everything the log announced is in the store, or was never written
    // (a failed apply leaves the old content): the log has served. After a
    // write that reached the disk but not the store (a failed directory
    // sync or record), the log is kept until the next start adopts it.
    if (Status s = intents_->Clear(); !s.ok()) spdlog::warn("{}", s.ToString());
  }
  return results;
}

// Makes the staged files of a batch durable with one filesystem sync, renames
// them into place, syncs each directory once, then records every applied
// version. Nothing is recorded (or acknowledged) that is not on disk.
void Node::FinishBatch(std::vector<PendingApply>* pending,
                       std::vector<Result<ApplyOutcome>>* results) {
  std::vector<std::string> staged;
  for (const PendingApply& p : *pending) {
    if (!p.temp.empty()) staged.push_back(p.temp);
  }
  const Status synced = staged.empty() ? Status() : disk_.SyncFilesystems(staged);
  std::set<std::string> dirs;
  for (PendingApply& p : *pending) {
    Result<ApplyOutcome>& result = (*results)[p.index];
    if (p.temp.empty()) continue;
    const std::string disk_path = config_.DiskPath(p.applied.path());
    Status s = synced;
    if (s.ok()) s = Intend(p.update->version(), p);
    if (s.ok()) s = disk_.CommitStaged(p.temp, disk_path);
    if (!s.ok()) {
      disk_.DiscardStaged(p.temp);
      result = s;
      continue;
    }
    // Taken at once: the shorter the gap after the rename, the less a
    // user's write can fall into it (see the trust below).
    if (watching_.watched && watching_.watched(DirName(disk_path))) {
      Result<FileInfo> now = disk_.Lstat(disk_path);
      if (now.ok() && now->type == FileType::kFile) p.renamed_stat = *now;
    }
    dirs.insert(DirName(disk_path));
  }
  for (const std::string& dir : dirs) {
    if (Status s = disk_.SyncDirectory(dir); !s.ok()) {
      for (PendingApply& p : *pending) {
        if (DirName(config_.DiskPath(p.applied.path())) == dir && (*results)[p.index].ok()) {
          (*results)[p.index] = s;
          unrecorded_writes_ = true;  // on disk, not recorded: see ApplyBatch
        }
      }
    }
  }
  for (PendingApply& p : *pending) {
    Result<ApplyOutcome>& result = (*results)[p.index];
    if (!result.ok()) continue;
    StateStore::Batch one(store_);  // the version with its backups, or nothing
    if (Status s = Record(p, &*result); !s.ok()) {
      one.Rollback();
      result = s;
      unrecorded_writes_ = true;  // on disk, not recorded: see ApplyBatch
      continue;
    }
    one.Commit();
    // The file we renamed into place is ours to trust by the stat taken
    // right after the rename, only where the daemon sees every later change
    // to it: then a user's write, even one between our rename and that stat,
    // makes an event after our own IN_MOVED_TO, and the daemon calls
    // ForgetStat before any scan of the path (it drains inotify before each
    // batch). Within a batch nothing is drained: a path that comes twice
    // forgets the stat before its second decision (ApplyBatch). Elsewhere
    // the next scan reads and hashes the file once.
    if (p.renamed_stat) {
      stat_cache_[p.applied.path()] = *p.renamed_stat;
      result->own_rename = true;
    }
  }
  pending->clear();
}

wire::Version Node::Destined(const wire::Version& remote, const PendingApply& p) const {
  wire::Version v = remote;
  const WriteMeta meta = MetaFor(remote);
  v.mutable_meta()->set_uid(meta.uid.value_or(geteuid()));
  v.mutable_meta()->set_gid(meta.gid.value_or(getegid()));
  if (p.over_baseline && p.local) *v.mutable_vv() = Merge(p.local->vv(), remote.vv());
  if (p.conflict && p.local) {
    *v.mutable_vv() = Merge(p.local->vv(), remote.vv());
    v.set_conflict(true);
    v.set_lost_hash(p.local->hash());
    v.set_lost_origin(p.local->origin());
  }
  return v;
}

Status Node::Intend(const wire::Version& remote, const PendingApply& p) {
  if (!intents_) return Status();
  return intents_->Record(Destined(remote, p));
}

Result<std::vector<Change>> Node::AdoptIntents() {
  std::vector<Change> adopted;
  if (!intents_ || intents_->empty()) return adopted;
  Result<std::vector<wire::Version>> pending = intents_->Pending();
  if (!pending.ok()) return pending.status();
  // Newest first: a batch may have written a path twice, and the crash may
  // have come before the second rename.
  std::map<std::string, std::vector<wire::Version>> by_path;
  for (wire::Version& v : *pending) by_path[v.path()].insert(by_path[v.path()].begin(), v);
  StateStore::Batch batch(store_);
  for (auto& [path, intents] : by_path) {
    Result<std::optional<wire::Version>> stored = store_.FindFile(path);
    if (!stored.ok()) return stored.status();
    std::string content;
    Result<Observed> obs = ObserveDisk(path, &content);
    if (!obs.ok()) continue;  // the scan will say why
    for (wire::Version& intent : intents) {
      if (*stored && Covers((*stored)->vv(), intent.vv())) break;  // recorded after all
      if (IsRealChange(&intent, *obs, is_root_)) continue;         // not what the disk holds
      intent.mutable_meta()->set_mtime_ns(obs->mtime_ns);
      if (Status s = store_.PutFile(intent); !s.ok()) return s;
      if (intent.kind() == wire::KIND_FILE) {
        if (Status s = backups_.Record(intent, content, false); !s.ok()) return s;
      }
      const wire::Version* before = *stored ? &**stored : nullptr;
      adopted.push_back(Change{intent, EventName(before, intent)});
      break;
    }
  }
  if (Status s = batch.Commit(); !s.ok()) return s;
  if (Status s = intents_->Clear(); !s.ok()) return s;
  return adopted;
}

Status Node::Record(PendingApply& p, ApplyOutcome* out) {
  const wire::Version& remote = p.update->version();
  implied_dirs_.erase(remote.path());  // it has a peer's version now
  const wire::Version* local = p.local ? &*p.local : nullptr;
  // Our current content lost a conflict: decided here, or by the peer that
  // sent a merged version naming our content as the loser.
  const bool we_lost =
      p.conflict || (remote.conflict() && local && local->kind() == wire::KIND_FILE &&
                     !remote.lost_hash().empty() && local->hash() == remote.lost_hash() &&
                     remote.hash() != local->hash());
  if (we_lost) {
    std::vector<Generation> gens = store_.Generations(remote.path());
    if (!gens.empty() && gens.front().hash == local->hash()) {
      if (Status s = store_.MarkGenerationConflict(gens.front().id, true); !s.ok()) return s;
    }
  }
  // A conflict we did not take part in: keep the losing content too, so it
  // is restorable on every node.
  const std::string& lost = p.update->lost_content();
  if (remote.conflict() && !lost.empty() && Sha256(lost) == remote.lost_hash() &&
      !backups_.ContentByHash(remote.path(), remote.lost_hash())) {
    wire::Version loser = remote;
    loser.set_hash(remote.lost_hash());
    loser.set_origin(remote.lost_origin());
    if (Status s = backups_.Record(loser, lost, true); !s.ok()) return s;
  }
  if (p.over_baseline) *p.applied.mutable_vv() = Merge(local->vv(), remote.vv());
  if (p.conflict) {
    *p.applied.mutable_vv() = Merge(local->vv(), remote.vv());
    p.applied.set_conflict(true);
    p.applied.set_lost_hash(local->hash());
    p.applied.set_lost_origin(local->origin());
  }
  if (p.applied.kind() == wire::KIND_FILE || p.applied.kind() == wire::KIND_DIRECTORY) {
    // Store the xattrs this disk really holds (a label the local policy
    // refused is absent), so that the echo scan finds no change. A staged
    // file's were read back from it; a rename does not change them.
    Result<Xattrs> there = p.temp.empty() ? disk_.GetXattrs(config_.DiskPath(p.applied.path()))
                                          : Result<Xattrs>(p.xattrs_after);
    if (there.ok()) {
      wire::Metadata* m = p.applied.mutable_meta();
      m->clear_xattrs();
      for (const auto& [xname, value] : *there) {
        if (!ManagedXattr(xname)) continue;
        wire::Xattr* x = m->add_xattrs();
        x->set_name(xname);
        x->set_value(value);
      }
    }
  }
  if (Status s = store_.PutFile(p.applied); !s.ok()) return s;
  stat_cache_.erase(p.applied.path());  // FinishBatch trusts what it may
  if (p.applied.kind() == wire::KIND_FILE) {
    if (Status s = backups_.Record(p.applied, p.update->content(), false); !s.ok()) return s;
  }
  out->now_have = p.applied.vv();
  if (!(local && SameState(*local, p.applied)) && (Exists(local) || Exists(&p.applied))) {
    out->applied = Change{p.applied, EventName(local, p.applied)};
  }
  return Status();
}

Result<std::string> Node::ContentFor(const wire::Version& version) {
  if (version.kind() != wire::KIND_FILE) return std::string();
  std::string content;
  Result<Observed> obs = ObserveDisk(version.path(), &content);
  if (obs.ok() && obs->kind == wire::KIND_FILE && obs->hash == version.hash()) return content;
  Result<std::string> kept = backups_.Content(version.path(), 1);
  if (kept.ok() && Sha256(*kept) == version.hash()) return kept;
  if (!obs.ok()) {
    // Not "gone": the disk could not be read, and say why.
    return Status::WithCode(
        obs.status().code(),
        EscapeName(version.path()) + ": the content of version " + ToString(version.vv()) +
            " is not in the backups, and the disk says: " + obs.status().ToString(),
        version.path());
  }
  return Status::WithCode(Code::kNotFound,
                          EscapeName(version.path()) + ": the content of version " +
                              ToString(version.vv()) + " is neither on disk nor in the backups",
                          version.path());
}

std::string Node::LostContentFor(const wire::Version& version) {
  if (!version.conflict() || version.lost_hash().empty()) return "";
  return backups_.ContentByHash(version.path(), version.lost_hash()).value_or("");
}

Result<Change> Node::Resolve(const std::string& path, const std::string& take) {
  Result<std::optional<wire::Version>> found = store_.FindFile(path);
  if (!found.ok()) return found.status();
  const std::optional<wire::Version>& stored = *found;
  if (!stored || !stored->conflict())
    return Status::Error("no conflict to resolve on " + EscapeName(path));
  wire::Version v = *stored;
  Bump(v.mutable_vv(), name());
  v.set_conflict(false);
  v.clear_lost_hash();
  v.clear_lost_origin();
  v.set_origin(name());
  v.set_change_ns(WallNs());
  std::string event = "metadata";
  std::optional<std::string> restored;  // the content put back, kept as generation 1
  if (!take.empty() && take != stored->origin()) {
    std::vector<Generation> gens = store_.Generations(path);
    int n = 0;
    for (size_t i = 0; i < gens.size() && n == 0; ++i) {
      if (gens[i].conflict && gens[i].origin == take) n = static_cast<int>(i) + 1;
    }
    if (n == 0) {
      return Status::WithCode(Code::kNotFound,
                              EscapeName(path) + ": no kept conflict version from " + take +
                                  " (see syncr history " + ShellWord(path) + ")",
                              path);
    }
    Result<std::string> content = backups_.Content(path, n);
    if (!content.ok()) return content.status();
    const wire::Version& loser = gens[static_cast<size_t>(n) - 1].version;
    WriteMeta meta = MetaFor(loser);
    meta.mtime_ns = WallNs();
    if (Status s = disk_.ReplaceFile(config_.DiskPath(path), *content, meta); !s.ok()) return s;
    v.set_kind(wire::KIND_FILE);
    v.set_hash(loser.hash());
    *v.mutable_meta() = loser.meta();
    v.mutable_meta()->set_mtime_ns(meta.mtime_ns);
    v.mutable_meta()->set_uid(meta.uid.value_or(geteuid()));
    v.mutable_meta()->set_gid(meta.gid.value_or(getegid()));
    restored = std::move(*content);
    event = "modified";
  }
  // The version and its backup generation together, or neither.
  StateStore::Batch batch(store_);
  Status s = restored ? backups_.Record(v, *restored, false) : Status();
  if (s.ok()) s = store_.PutFile(v);
  if (s.ok()) s = batch.Commit();
  if (!s.ok()) {
    batch.Rollback();
    return s;
  }
  stat_cache_.erase(path);
  return Change{v, event};
}

bool Node::ForgetIfMissingAtStart(const std::string& path) {
  Result<std::optional<wire::Version>> stored = store_.FindFile(path);
  if (!stored.ok() || !Exists(*stored ? &**stored : nullptr)) return false;
  Result<Observed> obs = ObserveDisk(path, nullptr);
  if (!obs.ok() || obs->kind != wire::KIND_NONE) return false;
  // Forget the row: catch-up from any peer then brings the file back.
  wire::Version forgotten;
  forgotten.set_path(path);
  forgotten.set_kind(wire::KIND_NONE);
  // A failed write is the store's sticky error (logged there); the path is
  // missing either way, and must not be taken for a deletion.
  store_.PutFile(forgotten);
  return true;
}

}  // namespace syncr
