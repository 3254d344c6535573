#include "engine/node.h"

#include <unistd.h>

#include "common/util.h"
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
    return Status::Error(disk_path + ": not a regular file, directory or symlink; skipped");
  }
  obs.kind = KindOf(snap->info.type);
  if (obs.kind == wire::KIND_NONE) return obs;
  obs.mode = snap->info.mode;
  obs.uid = snap->info.uid;
  obs.gid = snap->info.gid;
  obs.mtime_ns = snap->info.mtime_ns;
  obs.size = snap->info.size;
  if (obs.kind == wire::KIND_FILE) obs.hash = Sha256(snap->content);
  if (obs.kind == wire::KIND_SYMLINK) {
    obs.link_target = snap->link_target;
    obs.hash = Sha256(obs.link_target);
  }
  if (content) *content = std::move(snap->content);
  return obs;
}

Result<std::optional<Change>> Node::ScanLocal(const std::string& path) {
  std::optional<wire::Version> stored = store_.GetFile(path);
  std::string content;
  Result<Observed> obs = ObserveDisk(path, &content);
  if (!obs.ok()) return obs.status();
  const wire::Version* before = stored ? &*stored : nullptr;
  if (!IsRealChange(before, *obs, is_root_)) return std::optional<Change>();

  wire::Version v;
  v.set_path(path);
  if (stored) *v.mutable_vv() = stored->vv();
  Bump(v.mutable_vv(), name());
  v.set_origin(name());
  v.set_change_ns(WallNs());
  v.set_conflict(stored && stored->conflict());
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
  }

  StateStore::Batch batch(store_);
  if (Status s = store_.PutFile(v); !s.ok()) return s;
  if (v.kind() == wire::KIND_FILE) {
    if (Status s = backups_.Record(v, content, false); !s.ok()) return s;
  }
  return std::optional<Change>(Change{v, EventName(before, v)});
}

Status Node::WriteToDisk(const wire::Update& update, wire::Version* stored) {
  const wire::Version& remote = update.version();
  const std::string disk_path = config_.DiskPath(remote.path());
  *stored = remote;
  switch (remote.kind()) {
    case wire::KIND_FILE: {
      if (update.content().size() > config_.limits.max_file_bytes) {
        return Status::Error(remote.path() + ": " + std::to_string(update.content().size()) +
                             " bytes is more than max_file_bytes");
      }
      if (Sha256(update.content()) != remote.hash()) {
        return Status::Error(remote.path() + ": content does not match its hash");
      }
      WriteMeta meta;
      meta.mode = remote.meta().mode() & 07777;
      meta.mtime_ns = remote.meta().mtime_ns();
      if (is_root_) {
        meta.uid = LookupUser(remote.meta().user()).value_or(remote.meta().uid());
        meta.gid = LookupGroup(remote.meta().group()).value_or(remote.meta().gid());
      }
      if (Status s = disk_.ReplaceFile(disk_path, update.content(), meta); !s.ok()) return s;
      stored->mutable_meta()->set_uid(meta.uid.value_or(geteuid()));
      stored->mutable_meta()->set_gid(meta.gid.value_or(getegid()));
      return Status();
    }
    case wire::KIND_DELETED:
      return disk_.Remove(disk_path);
    default:
      return Status::Error(remote.path() + ": kind " + wire::Kind_Name(remote.kind()) +
                           " is not supported by this node yet");
  }
}

Result<ApplyOutcome> Node::ApplyRemote(const wire::Update& update) {
  const wire::Version& remote = update.version();
  const std::string& path = remote.path();
  ApplyOutcome out;

  // Look at the disk first: a local edit still settling must become a
  // version before we decide, or the write below would destroy it.
  Result<std::optional<Change>> first = ScanLocal(path);
  if (!first.ok()) return first.status();
  out.local_first = std::move(*first);

  std::optional<wire::Version> stored = store_.GetFile(path);
  const wire::Version* local = stored ? &*stored : nullptr;
  out.decision = DecideRemote(local, remote);

  StateStore::Batch batch(store_);
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

    case RemoteDecision::kConflictKeepLocal: {
      wire::Version kept = *stored;
      *kept.mutable_vv() = Merge(stored->vv(), remote.vv());
      kept.set_conflict(true);
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
      out.note = "conflict on " + path + ": kept the change from " + kept.origin() +
                 ", the concurrent change from " + remote.origin() + " lost (kept as a backup)";
      return out;
    }

    case RemoteDecision::kApply:
    case RemoteDecision::kConflictTakeRemote:
      break;
  }

  const bool conflict = out.decision == RemoteDecision::kConflictTakeRemote;
  if (conflict) {
    std::vector<Generation> gens = store_.Generations(path);
    if (!gens.empty()) store_.MarkGenerationConflict(gens.front().id, true);
    out.note = "conflict on " + path + ": took the change from " + remote.origin() +
               ", the concurrent change from " + stored->origin() + " lost (kept as a backup)";
  }
  wire::Version applied;
  if (Status s = WriteToDisk(update, &applied); !s.ok()) return s;
  if (conflict) {
    *applied.mutable_vv() = Merge(stored->vv(), remote.vv());
    applied.set_conflict(true);
  }
  if (Status s = store_.PutFile(applied); !s.ok()) return s;
  if (applied.kind() == wire::KIND_FILE) {
    if (Status s = backups_.Record(applied, update.content(), false); !s.ok()) return s;
  }
  out.now_have = applied.vv();
  if (!(local && SameState(*local, applied)) && (Exists(local) || Exists(&applied))) {
    out.applied = Change{applied, EventName(local, applied)};
  }
  return out;
}

Result<std::string> Node::ContentFor(const wire::Version& version) {
  if (version.kind() != wire::KIND_FILE) return std::string();
  std::string content;
  Result<Observed> obs = ObserveDisk(version.path(), &content);
  if (obs.ok() && obs->kind == wire::KIND_FILE && obs->hash == version.hash()) return content;
  Result<std::string> kept = backups_.Content(version.path(), 1);
  if (kept.ok() && Sha256(*kept) == version.hash()) return kept;
  return Status::Error(version.path() + ": the content of version " + ToString(version.vv()) +
                       " is neither on disk nor in the backups");
}

bool Node::ForgetIfMissingAtStart(const std::string& path) {
  std::optional<wire::Version> stored = store_.GetFile(path);
  if (!Exists(stored ? &*stored : nullptr)) return false;
  Result<Observed> obs = ObserveDisk(path, nullptr);
  if (!obs.ok() || obs->kind != wire::KIND_NONE) return false;
  // Forget the row: catch-up from any peer then brings the file back.
  wire::Version forgotten;
  forgotten.set_path(path);
  forgotten.set_kind(wire::KIND_NONE);
  store_.PutFile(forgotten);
  return true;
}

}  // namespace syncr
