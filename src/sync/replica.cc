#include "sync/replica.h"

#include <algorithm>

#include "common/escape.h"
#include "common/util.h"
#include "engine/path_policy.h"
#include "engine/plan.h"
#include "engine/version_vector.h"
#include "os/temp_names.h"

namespace syncr {
namespace {

// A refusal (this node does not sync the path as the peer thinks) is never
// retried by the sender; any other failure is.
bool IsRefusal(const Status& s) { return s.code() == Code::kRefused || s.code() == Code::kTooBig; }

// A temp file of ours that a kill left: a staged file, or the link that
// Disk::ReplaceSymlink makes before its rename. Only a name with this
// node's token (os/temp_names.h): a user's look-alike is never ours to
// delete (SPEC 11).
bool IsOurLeftover(const std::string& name, FileType type) {
  return (type == FileType::kFile || type == FileType::kSymlink) && IsSyncrTempName(name);
}

}  // namespace

Replica::Replica(const Config& config, StateStore& store, Journal& journal, ChangeFeed& feed,
                 Listener listener)
    : config_(config),
      store_(store),
      journal_(journal),
      feed_(feed),
      listener_(std::move(listener)),
      // Everything written for a synced path goes through the confined disk:
      // below the directory that holds each entry, no symlink is followed.
      disk_(NewConfinedDisk(ConfinementBases())),
      backups_(std::make_unique<BackupStore>(config_, *disk_, store_)),
      node_(std::make_unique<Node>(config_, *disk_, store_, *backups_)) {
  node_->SetWatching({
      [this](const std::string& disk_dir) { return feed_.IsWatched(disk_dir); },
      // Watched before anything is written into it; its own IN_CREATE then
      // scans it for whatever came before the watch.
      [this](const std::string& path) { feed_.WatchTree(path); },
  });
}

std::vector<std::string> Replica::ConfinementBases() const {
  std::vector<std::string> bases;
  for (const SyncEntry& entry : config_.sync) {
    bases.push_back(config_.DiskPath(DirName(entry.path)));
  }
  return bases;
}

Status Replica::Init() {
  Result<std::unique_ptr<IntentLog>> log = IntentLog::Open(config_.node.state_dir);
  if (!log.ok()) return log.status();
  intents_ = std::move(*log);
  node_->SetIntentLog(intents_.get());
  return Status();
}

void Replica::Reconfine() { disk_->SetConfinement(ConfinementBases()); }

void Replica::RemoveStaleTemps(const SyncEntry& entry) {
  const std::string dir = DirName(config_.DiskPath(entry.path));
  Result<std::vector<std::pair<std::string, FileType>>> names = disk_->List(dir);
  if (!names.ok()) return;
  const std::string prefix = ".syncr-" + BaseName(entry.path) + ".";
  for (const auto& [name, type] : *names) {
    if (IsOurLeftover(name, type) && name.rfind(prefix, 0) == 0) {
      disk_->Remove(dir + "/" + name);
    }
  }
}

// What the very first scan finds is the baseline, not a change: no actions
// (installing Syncr on a running pair must not restart every service).
void Replica::ScanAtStart() {
  // A peer's version that was on its way to disk when we were killed is
  // that version, not a local edit (issue 12).
  Result<std::vector<Change>> adopted = node_->AdoptIntents();
  if (!adopted.ok()) {
    journal_.Note("", spdlog::level::err,
                  "cannot read back the versions being applied when syncr last stopped: " +
                      adopted.status().ToString() + "; the scan will date what it finds by ctime");
  } else {
    for (const Change& change : *adopted) {
      const std::string& path = change.version.path();
      journal_.Note(path, spdlog::level::info,
                    "recovered " + EscapeName(path) + ": it holds the version from " +
                        change.version.origin() +
                        " this node was applying when it stopped; its actions run now");
      // The crash may have come before the actions ran: run them (a
      // reload twice is harmless; a service left on its old config is not).
      listener_.applied(change, change.version.origin());
    }
  }
  starting_ = true;
  ++scanning_;
  {
    StateStore::Batch batch(store_);
    for (const SyncEntry& entry : config_.sync) {
      if (node_->ForgetIfMissingAtStart(entry.path)) {
        journal_.Note(
            entry.path, spdlog::level::warn,
            EscapeName(entry.path) +
                " is missing at start: not taken as a deletion; catch-up will restore it");
        continue;
      }
      // Only an entry this store has never seen is a first watch (SPEC 6):
      // what appeared in a known entry while we were stopped is an edit.
      baseline_scan_ = !store_.GetFile(entry.path) && store_.FilesUnder(entry.path).empty();
      ScanTree(entry.path, true);
      baseline_scan_ = false;
    }
  }
  ScanDone();
  starting_ = false;
  if (baseline_paths_ > 0) {
    journal_.Note("", spdlog::level::info,
                  "first scan: recorded " + std::to_string(baseline_paths_) +
                      " paths as they are (no actions run for them)");
  }
}

void Replica::AddEntry(const std::string& path) {
  baseline_scan_ = true;
  ScanTree(path, true);
  baseline_scan_ = false;
}

void Replica::ScanAll() {
  spdlog::debug("scanning every synced path");
  node_->ForgetStats();
  ++scanning_;
  {
    StateStore::Batch batch(store_);
    for (const SyncEntry& entry : config_.sync) ScanTree(entry.path, true);
  }
  ScanDone();
}

// A scan's new versions go into one transaction, and what it queued for
// the peers is sent once that has committed: a version is never on the
// wire before it is in the store (a crash in between would make the next
// start give the same vector to other content).
void Replica::ScanDone() {
  if (--scanning_ > 0) return;
  listener_.committed();
}

// New directories are watched before they are listed, so a file created
// in them meanwhile is seen by the listing or by its own event. Creations
// go parents first, deletions children first, so that a peer applying them
// in order never meets a missing parent or a non-empty directory it is
// told to remove.
void Replica::ScanTree(const std::string& path, bool recursive) {
  ++scanning_;
  {
    StateStore::Batch batch(store_);
    Disk::Hold hold(*disk_);
    ScanTreeNow(path, recursive);
  }
  ScanDone();
}

void Replica::ScanTreeNow(const std::string& path, bool recursive) {
  Result<FileInfo> info = disk_->Lstat(config_.DiskPath(path));
  if (info.ok() && info->type == FileType::kOther) {
    // Devices, fifos and sockets are not synced (SPEC 11): one log line, not
    // a failure.
    spdlog::info("skipping {}: devices, fifos and sockets are not synced", EscapeName(path));
    failures_.erase(path);
    return;
  }
  const bool is_dir = info.ok() && info->type == FileType::kDirectory;
  if (is_dir && !recursive) {
    ScanNow(path);
    return;
  }
  std::set<std::string> seen;
  if (is_dir) ScanTreeInto(path, &seen);
  std::vector<wire::Version> below = store_.FilesUnder(path);
  for (auto it = below.rbegin(); it != below.rend(); ++it) {
    if (seen.count(it->path()) || it->kind() == wire::KIND_DELETED ||
        it->kind() == wire::KIND_NONE) {
      continue;
    }
    ScanNow(it->path());  // gone from disk: a tombstone
  }
  if (!is_dir) ScanNow(path);
}

void Replica::ScanTreeInto(const std::string& path, std::set<std::string>* seen) {
  seen->insert(path);
  ScanNow(path);
  feed_.WatchTree(path);
  Result<std::vector<std::pair<std::string, FileType>>> names = disk_->List(config_.DiskPath(path));
  if (!names.ok()) {
    journal_.Note(path, spdlog::level::warn,
                  "cannot list " + EscapeName(path) + ": " + names.status().ToString());
    return;
  }
  std::sort(names->begin(), names->end());
  for (const auto& [name, type] : *names) {
    const std::string child = path + "/" + name;
    if (starting_ && IsOurLeftover(name, type)) {
      // Ours (it carries our token), left by a daemon killed mid-write: never
      // a file anybody wants. A look-alike without the token is a user's
      // file, scanned and replicated below like any other.
      disk_->Remove(config_.DiskPath(child));
      continue;
    }
    if (IsNotSynced(config_, child)) {
      if (beside_noted_.size() >= kMaxBesideNoted) beside_noted_.clear();  // bounded
      if (IsBesideBackupName(config_, child) && beside_noted_.insert(child).second) {
        journal_.Note(child, spdlog::level::info, BesideSkipNote(config_, child));
      }
      continue;
    }
    if (type == FileType::kOther) {
      if (seen->insert(child).second) {
        spdlog::info("skipping {}: devices, fifos and sockets are not synced", EscapeName(child));
      }
      continue;
    }
    if (type == FileType::kDirectory) {
      ScanTreeInto(child, seen);
      continue;
    }
    seen->insert(child);
    bool writer_open = false;
    ScanNow(child, &writer_open);
    if (writer_open) {
      // Found by listing (say, in a directory made a moment ago) while a
      // writer still has it open: no event told us of that writer, so wait
      // as for one (its close-write, now watched, ends the wait) rather
      // than send what it has written so far.
      if (baseline_scan_) node_->KeepBaseline(child);
      feed_.AwaitWriter(child);
    }
  }
}

// Kept for status until the path next scans or applies cleanly: "nothing
// silent" (SPEC 10). True when it is worth a log line: a new failure, another
// error than last time, or the same one kStillFailingLogMs after it was last
// logged. A peer retries a failed update (with a backoff): one line per try
// would say nothing new.
bool Replica::Failed(const std::string& path, const std::string& what, const Status& why) {
  std::string remedy(Remedy(why.code()));
  auto [it, fresh] = failures_.try_emplace(path);
  Failure& failure = it->second;
  failure.shown = what + ": " + why.ToString() + (remedy.empty() ? "" : " (" + remedy + ")");
  const int64_t now = MonoMs();
  const bool log =
      fresh || !(failure.status == why) || now - failure.logged_ms >= kStillFailingLogMs;
  failure.status = why;
  if (log) failure.logged_ms = now;
  return log;
}

std::map<std::string, std::string> Replica::failures() const {
  std::map<std::string, std::string> out;
  for (const auto& [path, failure] : failures_) out[path] = failure.shown;
  return out;
}

void Replica::ScanNow(const std::string& path, bool* writer_open) {
  // The first look at a path of an entry watched for the first time (a
  // first start, or a reload that added it) is a baseline (SPEC 6).
  Result<std::optional<Change>> change = node_->ScanLocal(path, writer_open, baseline_scan_);
  if (!change.ok()) {
    if (Failed(path, "cannot read it", change.status())) {
      journal_.Note(path, spdlog::level::warn,
                    "cannot read " + EscapeName(path) + ": " + change.status().ToString());
    }
    return;
  }
  failures_.erase(path);
  if (*change) OnLocalChange(**change);
}

void Replica::OnLocalChange(const Change& change) {
  const wire::Version& v = change.version;
  if (v.baseline()) {
    // A baseline is sent to the peers but runs no action: installing Syncr
    // on a running pair, or adding an entry, must not restart a service.
    // Counted, logged once at the end of the start-up scan.
    ++baseline_paths_;
    listener_.local_change(change, true);
    return;
  }
  journal_.Note(v.path(), spdlog::level::info,
                "local change " + change.event + " " + EscapeName(v.path()) + " version " +
                    ToString(v.vv()) + " hash " + ShortHash(v.hash()));
  listener_.local_change(change, false);
}

std::vector<Replica::Outcome> Replica::Apply(const std::string& peer,
                                             const std::vector<const wire::Update*>& updates,
                                             wire::Have* have) {
  // Hear of local edits first: a path with an event waiting must not be
  // judged by a stat the event makes stale (see Node::Watching).
  feed_.Drain();
  std::vector<Outcome> outcomes;
  std::vector<const wire::Update*> allowed;
  for (const wire::Update* update : updates) {
    Status s = CheckSyncedPath(config_, update->version().path());
    if (!s.ok()) {
      journal_.Note("", spdlog::level::warn, "from " + peer + ": " + s.ToString());
      outcomes.push_back({update->version().path(), s, true, {}});
      continue;
    }
    allowed.push_back(update);
  }
  OrderForApply(&allowed);
  // ApplyBatch commits what it wrote before returning; the peer knowledge
  // and events below go in one more transaction, before any ack is sent.
  std::vector<Result<ApplyOutcome>> results = node_->ApplyBatch(allowed);
  StateStore::Batch batch(store_);
  for (size_t i = 0; i < allowed.size(); ++i) {
    const wire::Version& remote = allowed[i]->version();
    Result<ApplyOutcome>& result = results[i];
    // The sender holds what it sent, whether or not we could apply it: never
    // push it back (no echo), and never count it as lacking that version
    // (if the same version reaches us through a third node, nothing else
    // would tell us).
    std::optional<wire::VersionVector> had = store_.GetPeerHas(peer, remote.path());
    store_.PutPeerHas(peer, remote.path(), had ? Merge(*had, remote.vv()) : remote.vv());
    if (!result.ok()) {
      if (Failed(remote.path(), "cannot apply the version from " + peer, result.status())) {
        journal_.Note(remote.path(), spdlog::level::err,
                      "cannot apply " + EscapeName(remote.path()) + " from " + peer + ": " +
                          result.status().ToString() + " (logged again if the error changes)");
      } else {
        spdlog::debug("cannot apply {} from {} again: {}", EscapeName(remote.path()), peer,
                      result.status().ToString());
      }
      outcomes.push_back({remote.path(), result.status(), IsRefusal(result.status()), {}});
      continue;
    }
    failures_.erase(remote.path());
    outcomes.push_back({remote.path(), Status(), false, result->now_have});
    wire::Version* held = have->add_versions();
    held->set_path(remote.path());
    *held->mutable_vv() = result->now_have;

    if (result->own_rename) feed_.ExpectOwnRename(remote.path());
    if (result->local_first) OnLocalChange(*result->local_first);
    if (!result->note.empty()) journal_.Note(remote.path(), spdlog::level::warn, result->note);
    if (result->applied) {
      const wire::Version& v = result->applied->version;
      journal_.Note(v.path(), spdlog::level::info,
                    "applied " + result->applied->event + " " + EscapeName(v.path()) + " from " +
                        peer + " version " + ToString(v.vv()) + " hash " + ShortHash(v.hash()));
      listener_.applied(*result->applied, peer);
    }
  }
  return outcomes;
}

}  // namespace syncr
