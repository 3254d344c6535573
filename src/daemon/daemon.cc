#include "daemon/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>

#include "actions/action_runner.h"
#include "common/log.h"
#include "common/util.h"
#include "engine/node.h"
#include "engine/path_policy.h"
#include "loop/event_loop.h"
#include "net/channel.h"
#include "os/subprocess.h"
#include "store/backup_store.h"
#include "store/state_store.h"
#include "watch/inotify_watcher.h"

namespace syncr {
namespace {

constexpr int64_t kBackoffFirstMs = 200;
constexpr int64_t kBackoffMaxMs = 30000;
constexpr int64_t kModifySettleMs = 1000;  // writer still has the file open
constexpr int64_t kRetryFailedMs = 1000;
constexpr size_t kSummaryPage = 1000;
constexpr uint64_t kFrameHeadroom = 1 << 20;
constexpr size_t kMaxBatchUpdates = 4096;
constexpr int64_t kBatchGatherMs = 3;
constexpr size_t kMaxQueuedReplyBytes = 16u << 20;  // acks a peer leaves unread
constexpr int64_t kActionBatchMs = 100;
constexpr int64_t kActionBatchMaxMs = 1000;
constexpr uint64_t kMaxBatchBytes = 64ull << 20;

// One outgoing channel to a peer: we dial, we push our versions, it acks.
struct PeerLink {
  PeerConfig config;
  enum class State { kDown, kHandshake, kUp } state = State::kDown;
  pid_t child = -1;
  std::unique_ptr<Channel> channel;
  int64_t backoff_ms = kBackoffFirstMs;
  EventLoop::TimerId redial_timer = 0;
  EventLoop::TimerId handshake_timer = 0;
  int64_t since_ns = 0;  // connected since, or down since
  std::string last_error;
  bool summary_complete = false;
  std::map<std::string, wire::VersionVector> summary;  // pages received so far
  std::deque<std::string> queue;                       // paths to consider sending
  std::set<std::string> queued;
  std::map<std::string, uint64_t> inflight;  // path -> bytes, awaiting ack
  std::set<std::string> requeue_after_ack;
  uint64_t inflight_bytes = 0;
  std::map<std::string, wire::VersionVector> refused;  // paths its config does not sync
};

// One accepted connection: a peer pushing to us, or a CLI request.
struct Session {
  uint64_t id = 0;
  std::unique_ptr<Channel> channel;
  std::string peer;  // set once a peer said Hello
  bool control = false;
  bool closing = false;
  EventLoop::TimerId handshake_timer = 0;
  std::deque<wire::Frame> pending;  // updates gathered for one batched apply
  uint64_t pending_bytes = 0;
  EventLoop::TimerId apply_timer = 0;
};

class DaemonImpl {
 public:
  explicit DaemonImpl(Config config) : config_(std::move(config)) {}
  int Run();

 private:
  // Start-up.
  Status Open();
  Status WatchEntries();
  void ScanAll(const char* why);
  void ScanTree(const std::string& path, bool recursive);
  void ScanTreeNow(const std::string& path, bool recursive);
  void ScanDone();
  void ScanTreeInto(const std::string& path, std::set<std::string>* seen);
  void WatchTree(const std::string& path);
  void ForgetWatchesUnder(const std::string& disk);
  bool Excluded(const std::string& path) const;
  void FlushActionBatch(const std::string& entry);
  Status Listen();

  // Local changes.
  void OnInotify();
  int64_t SettleDelay(const InotifyWatcher::Event& e);
  void ScheduleScan(const std::string& path, int64_t delay_ms, bool recursive);
  void ScanNow(const std::string& path, bool* writer_open = nullptr);  // see Node::ScanLocal
  void OnLocalChange(const Change& change);
  void RunActions(const Change& change);

  // Outgoing links.
  void Dial(PeerLink& link);
  void OnLinkReadable(PeerLink& link);
  void OnLinkFrame(PeerLink& link, const wire::Frame& frame);
  void LinkDown(PeerLink& link, std::string why);
  void Enqueue(PeerLink& link, const std::string& path);  // Queue, then Pump
  void Queue(PeerLink& link, const std::string& path);
  void Pump(PeerLink& link);
  void FlushChannel(Channel& channel, std::function<void(const std::string&)> on_error);

  // Accepted sessions.
  void OnAccept();
  void OnSessionReadable(uint64_t id);
  void OnSessionFrame(Session& session, const wire::Frame& frame);
  void OnUpdates(Session& session, const std::vector<const wire::Update*>& updates);
  void CloseSession(uint64_t id, std::string why);
  void ApplyPending(Session& session);
  void SendSummary(Session& session);
  wire::StatusReply BuildStatus();

  void OnSignal();
  void Reload();
  void KeepWatchdog(int64_t period_ms);
  void AddLink(const PeerConfig& peer);
  void RemoveLink(const std::string& name);
  std::vector<std::string> ConfinementBases() const;
  void Event(const std::string& path, spdlog::level::level_enum level, const std::string& msg);

  Config config_;
  EventLoop loop_;
  InotifyWatcher watcher_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Disk> disk_;
  std::unique_ptr<BackupStore> backups_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<ActionRunner> actions_;
  UniqueFd listen_fd_;
  UniqueFd signal_fd_;
  // What a watched directory (on disk) means: the synced paths named in it
  // (file entries and the roots of directory entries), and, inside a
  // directory entry, the synced directory it mirrors.
  struct WatchTarget {
    std::set<std::string> names;
    std::string tree;
  };
  std::map<std::string, WatchTarget> watch_targets_;
  struct PendingScan {
    EventLoop::TimerId timer = 0;
    bool recursive = false;
  };
  std::map<std::string, PendingScan> scan_timers_;
  std::set<std::string> writing_;  // paths an in-place writer has open (modify, no close yet)
  // Files an apply renamed into place since inotify was last read: the
  // first IN_MOVED_TO for each is our own and needs no scan (a count: a
  // path can be written twice in one batch). What is left once the queue
  // is drained was never coming, and is dropped.
  std::unordered_map<std::string, int> own_renames_;
  // Files the start-up scan put off because a writer had them open: still
  // baseline (no actions) when their scan comes.
  std::set<std::string> start_deferred_;
  int scanning_ = 0;  // scans in progress (nested): peers are pumped when the last ends
  // Directory entries' actions, gathered over a burst of changes.
  struct ActionBatch {
    std::vector<Change> changes;
    EventLoop::TimerId timer = 0;
    int64_t first_ms = 0;
  };
  std::map<std::string, ActionBatch> action_batches_;
  std::map<std::string, std::unique_ptr<PeerLink>> links_;
  std::map<uint64_t, std::unique_ptr<Session>> sessions_;
  uint64_t next_session_ = 1;
  std::map<std::string, wire::ActionResult> last_action_;
  std::vector<std::string> problems_;
  int64_t started_ns_ = WallNs();
  bool starting_ = false;  // the start-up scan is running
  size_t baseline_paths_ = 0;
  std::map<uint64_t, uint64_t> pending_fetches_;  // fetch id -> waiting control session
  uint64_t next_fetch_ = 1;
};

// ---------------------------------------------------------------- start-up

Status DaemonImpl::Open() {
  if (Status s = loop_.Init(); !s.ok()) return s;
  if (Status s = watcher_.Init(); !s.ok()) return s;
  Result<std::unique_ptr<StateStore>> store = StateStore::Open(config_.node.state_dir, false);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  // Everything written for a synced path goes through the confined disk:
  // below the directory that holds each entry, no symlink is followed.
  disk_ = NewConfinedDisk(ConfinementBases());
  backups_ = std::make_unique<BackupStore>(config_, *disk_, *store_);
  node_ = std::make_unique<Node>(config_, *disk_, *store_, *backups_);
  node_->SetWatching({
      [this](const std::string& disk_dir) { return watcher_.IsWatched(disk_dir); },
      // Watched before anything is written into it; its own IN_CREATE then
      // scans it for whatever came before the watch.
      [this](const std::string& path) { WatchTree(path); },
  });
  actions_ = std::make_unique<ActionRunner>(
      loop_,
      [this](const ActionRun& run) {
        store_->AddActionRun(run);
        wire::ActionResult& last = last_action_[run.path];
        last.set_started_ns(run.started_ns);
        last.set_finished_ns(run.finished_ns);
        last.set_exit_code(run.exit_code);
        last.set_command(run.command);
        std::string out = run.output;
        while (!out.empty() && out.back() == '\n') out.pop_back();
        auto level = run.exit_code == 0 ? spdlog::level::info : spdlog::level::warn;
        Event(run.path, level,
              "action finished on " + run.path + ": `" + run.command + "` exit " +
                  std::to_string(run.exit_code) + (out.empty() ? "" : ", output: " + out));
      },
      [this](const std::string& entry) {
        // Changes that arrived while the actions ran: one more run for them.
        auto it = action_batches_.find(entry);
        if (it != action_batches_.end() && !it->second.changes.empty()) FlushActionBatch(entry);
      });

  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&mask, sig);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGIO, SIG_IGN);  // a broken file lease (Disk::OpenForWriting) must not kill us
  signal_fd_.Reset(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_.valid()) return Status::Sys("signalfd", "", errno);
  loop_.Add(signal_fd_.get(), EPOLLIN, [this](uint32_t) { OnSignal(); });
  loop_.Add(watcher_.fd(), EPOLLIN, [this](uint32_t) { OnInotify(); });
  return Status();
}

Status DaemonImpl::WatchEntries() {
  for (const SyncEntry& entry : config_.sync) {
    const std::string disk_path = config_.DiskPath(entry.path);
    const std::string dir = DirName(disk_path);
    if (Status s = PosixDisk().MakeDirs(dir); !s.ok()) return s;
    if (!watcher_.IsWatched(dir)) {
      if (Status s = watcher_.WatchDirectory(dir); !s.ok()) {
        problems_.push_back(s.ToString());
        spdlog::error("{}", s.ToString());
        continue;
      }
    }
    watch_targets_[dir].names.insert(entry.path);
    // Temp files of this entry left by a daemon killed mid-write.
    Result<std::vector<std::pair<std::string, FileType>>> names = disk_->List(dir);
    const std::string prefix = ".syncr-" + BaseName(entry.path) + ".";
    if (!names.ok()) continue;
    for (const auto& [name, type] : *names) {
      if (type == FileType::kFile && IsSyncrTempName(name) && name.rfind(prefix, 0) == 0) {
        disk_->Remove(dir + "/" + name);
      }
    }
  }
  return Status();
}

void DaemonImpl::ScanAll(const char* why) {
  spdlog::debug("scanning every synced path ({})", why);
  ++scanning_;
  {
    StateStore::Batch batch(*store_);
    for (const SyncEntry& entry : config_.sync) {
      if (std::string(why) == "start" && node_->ForgetIfMissingAtStart(entry.path)) {
        Event(
            entry.path, spdlog::level::warn,
            entry.path + " is missing at start: not taken as a deletion; catch-up will restore it");
        continue;
      }
      ScanTree(entry.path, true);
    }
  }
  ScanDone();
}

// A scan's new versions go into one transaction, and what it queued for
// the peers is sent once that has committed: a version is never on the
// wire before it is in the store (a crash in between would make the next
// start give the same vector to other content).
void DaemonImpl::ScanDone() {
  if (--scanning_ > 0) return;
  for (auto& [name, link] : links_) Pump(*link);
}

bool DaemonImpl::Excluded(const std::string& path) const { return IsNotSynced(config_, path); }

// Drops the watches of `disk` and every directory below it; a directory
// that still names synced paths (a parent of file entries) keeps its watch
// for those names.
void DaemonImpl::ForgetWatchesUnder(const std::string& disk) {
  watcher_.UnwatchTree(disk);
  auto forget = [this](std::map<std::string, WatchTarget>::iterator it) {
    it->second.tree.clear();
    if (it->second.names.empty()) return watch_targets_.erase(it);
    if (!watcher_.IsWatched(it->first)) watcher_.WatchDirectory(it->first);
    return std::next(it);
  };
  if (auto it = watch_targets_.find(disk); it != watch_targets_.end()) forget(it);
  // Then what starts with "disk/" (in map order "disk-x" and "disk.bak"
  // come between the two).
  const std::string prefix = disk + "/";
  for (auto it = watch_targets_.lower_bound(prefix);
       it != watch_targets_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
    it = forget(it);
  }
}

void DaemonImpl::WatchTree(const std::string& path) {
  const std::string disk = config_.DiskPath(path);
  if (watcher_.IsWatched(disk) && !watch_targets_[disk].tree.empty()) return;
  if (Status s = watcher_.WatchDirectory(disk); !s.ok()) {
    if (std::find(problems_.begin(), problems_.end(), s.ToString()) == problems_.end()) {
      problems_.push_back(s.ToString());
    }
    Event(path, spdlog::level::err, s.ToString());
    return;
  }
  watch_targets_[disk].tree = path;
}

// Brings the store up to date with `path` and, for a directory, what is
// below it: new directories are watched before they are listed, so a file
// created in them meanwhile is seen by the listing or by its own event.
// Creations go parents first, deletions children first, so that a peer
// applying them in order never meets a missing parent or a non-empty
// directory it is told to remove.
void DaemonImpl::ScanTree(const std::string& path, bool recursive) {
  ++scanning_;
  {
    StateStore::Batch batch(*store_);
    Disk::Hold hold(*disk_);
    ScanTreeNow(path, recursive);
  }
  ScanDone();
}

void DaemonImpl::ScanTreeNow(const std::string& path, bool recursive) {
  Result<FileInfo> info = disk_->Lstat(config_.DiskPath(path));
  const bool is_dir = info.ok() && info->type == FileType::kDirectory;
  if (is_dir && !recursive) {
    ScanNow(path);
    return;
  }
  std::set<std::string> seen;
  if (is_dir) ScanTreeInto(path, &seen);
  std::vector<wire::Version> below = store_->FilesUnder(path);
  for (auto it = below.rbegin(); it != below.rend(); ++it) {
    if (seen.count(it->path()) || it->kind() == wire::KIND_DELETED ||
        it->kind() == wire::KIND_NONE) {
      continue;
    }
    ScanNow(it->path());  // gone from disk: a tombstone
  }
  if (!is_dir) ScanNow(path);
}

void DaemonImpl::ScanTreeInto(const std::string& path, std::set<std::string>* seen) {
  seen->insert(path);
  ScanNow(path);
  WatchTree(path);
  Result<std::vector<std::pair<std::string, FileType>>> names = disk_->List(config_.DiskPath(path));
  if (!names.ok()) {
    Event(path, spdlog::level::warn, "cannot list " + path + ": " + names.status().ToString());
    return;
  }
  std::sort(names->begin(), names->end());
  for (const auto& [name, type] : *names) {
    const std::string child = path + "/" + name;
    if (IsSyncrTempName(name) && type == FileType::kFile && starting_) {
      // Left by a daemon killed mid-write: never a file anybody wants.
      disk_->Remove(config_.DiskPath(child));
      continue;
    }
    if (Excluded(child)) continue;
    if (type == FileType::kOther) {
      if (seen->insert(child).second) {
        spdlog::info("skipping {}: devices, fifos and sockets are not synced", child);
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
      writing_.insert(child);
      if (starting_) start_deferred_.insert(child);
      ScheduleScan(child, kModifySettleMs, false);
    }
  }
}

Status DaemonImpl::Listen() {
  const std::string& path = config_.node.socket;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return Status::Error("socket path " + path + " is longer than " +
                         std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (Status s = PosixDisk().MakeDirs(DirName(path)); !s.ok()) return s;

  // A socket file left by a dead daemon is removed; a live one is an error.
  UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    return Status::Error("another syncr daemon is already listening on " + path);
  }
  unlink(path.c_str());

  listen_fd_.Reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listen_fd_.valid()) return Status::Sys("socket", path, errno);
  mode_t old = umask(0077);  // the socket is born 0600: no window for others
  int rc = bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  umask(old);
  if (rc != 0) return Status::Sys("bind", path, errno);
  chmod(path.c_str(), 0600);
  if (listen(listen_fd_.get(), 64) != 0) return Status::Sys("listen", path, errno);
  loop_.Add(listen_fd_.get(), EPOLLIN, [this](uint32_t) { OnAccept(); });
  return Status();
}

int DaemonImpl::Run() {
  InitLogging(config_.node.name, config_.node.log_level);
  Status s = Open();
  if (s.ok()) s = WatchEntries();
  if (!s.ok()) {
    spdlog::error("cannot start: {}", s.ToString());
    return 1;
  }
  // What the very first scan finds is the baseline, not a change: no actions
  // (installing Syncr on a running pair must not restart every service).
  starting_ = true;
  ScanAll("start");
  starting_ = false;
  if (baseline_paths_ > 0) {
    Event("", spdlog::level::info,
          "first scan: recorded " + std::to_string(baseline_paths_) +
              " paths as they are (no actions run for them)");
  }
  if (s = Listen(); !s.ok()) {
    spdlog::error("cannot start: {}", s.ToString());
    return 1;
  }
  for (const PeerConfig& peer : config_.peers) AddLink(peer);
  spdlog::info("ready: {} synced paths, {} peers, socket {}", config_.sync.size(),
               config_.peers.size(), config_.node.socket);
  sd_notify(0, "READY=1");
  // Only when systemd asks for it (WatchdogSec=): otherwise no timer at all.
  uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
    KeepWatchdog(static_cast<int64_t>(watchdog_usec / 2000));
  }
  loop_.Run();

  spdlog::info("stopping");
  sd_notify(0, "STOPPING=1");
  actions_->KillAll();
  for (auto& [name, link] : links_) {
    if (link->child > 0) kill(link->child, SIGTERM);
  }
  unlink(config_.node.socket.c_str());
  return 0;
}

// ----------------------------------------------------------- local changes

void DaemonImpl::OnInotify() {
  for (const InotifyWatcher::Event& e : watcher_.ReadEvents()) {
    if (e.overflow) {
      Event("", spdlog::level::warn, "inotify queue overflowed: rescanning every synced path");
      own_renames_.clear();
      node_->ForgetStats();
      ScanAll("overflow");
      continue;
    }
    auto target = watch_targets_.find(e.dir);
    if (target == watch_targets_.end()) continue;
    if (e.dir_gone) {
      if (!target->second.tree.empty()) {
        // Inside a synced tree: the event in the parent rescans it.
        if (!watcher_.IsWatched(e.dir)) watch_targets_.erase(target);
        continue;
      }
      Event("", spdlog::level::warn, "watched directory " + e.dir + " went away: rescanning");
      // Watch it again once it is back (made again here so it can be watched).
      if (!watcher_.IsWatched(e.dir) && PosixDisk().MakeDirs(e.dir).ok()) {
        watcher_.WatchDirectory(e.dir);
      }
      for (const std::string& path : target->second.names) {
        ScheduleScan(path, config_.node.settle_ms, true);
      }
      continue;
    }
    if (e.name.empty() || IsSyncrTempName(e.name)) continue;
    std::string path;
    for (const std::string& name : target->second.names) {
      if (BaseName(name) == e.name) path = name;
    }
    if (path.empty() && !target->second.tree.empty()) {
      path = target->second.tree + "/" + e.name;
      if (Excluded(path)) continue;
    }
    if (path.empty()) continue;
    const bool dir_moved =
        (e.mask & IN_ISDIR) && (e.mask & (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE));
    if ((e.mask & IN_ISDIR) && (e.mask & (IN_MOVED_FROM | IN_DELETE))) {
      // A moved directory's watch follows the inode to its new name: drop it.
      ForgetWatchesUnder(config_.DiskPath(path));
    }
    // An in-place writer is at work from its first modify until its
    // close-write (or until the name is replaced or removed): while it is,
    // no event shortens the wait, or a scan could read a half-written file.
    if (e.mask & IN_MODIFY) writing_.insert(path);
    if (e.mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE)) writing_.erase(path);
    if ((e.mask & IN_MOVED_TO) && !(e.mask & IN_ISDIR)) {
      auto own = own_renames_.find(path);
      if (own != own_renames_.end()) {
        if (--own->second == 0) own_renames_.erase(own);
        continue;  // the echo of our own apply
      }
    }
    node_->ForgetStat(path);
    ScheduleScan(path, writing_.count(path) ? kModifySettleMs : SettleDelay(e), dir_moved);
  }
  own_renames_.clear();
}

// How long to wait before looking at a path after event `e`. A save ends with
// close-write or a rename into place: settle briefly. A bare modify, or the
// create of a regular file, means a writer is still at work: its close-write
// will shorten the wait, and the long delay only serves writers that keep
// the file open.
int64_t DaemonImpl::SettleDelay(const InotifyWatcher::Event& e) {
  const uint32_t kinds = e.mask & ~IN_ISDIR;
  if (kinds == IN_MODIFY) return kModifySettleMs;
  if (kinds == IN_CREATE && !(e.mask & IN_ISDIR)) {
    struct stat st {};
    const std::string full = e.dir + "/" + e.name;
    if (lstat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return kModifySettleMs;
  }
  return config_.node.settle_ms;
}

void DaemonImpl::ScheduleScan(const std::string& path, int64_t delay_ms, bool recursive) {
  PendingScan& pending = scan_timers_[path];
  if (pending.timer) loop_.Cancel(pending.timer);
  pending.recursive |= recursive;
  pending.timer = loop_.After(delay_ms, [this, path] {
    const bool recursive = scan_timers_[path].recursive;
    scan_timers_.erase(path);
    // Events may be queued but not read yet (a writer that started just
    // now): read them first, and let a newer event's schedule win.
    OnInotify();
    if (scan_timers_.count(path)) {
      scan_timers_[path].recursive |= recursive;
      return;
    }
    ScanTree(path, recursive);
  });
}

void DaemonImpl::ScanNow(const std::string& path, bool* writer_open) {
  Result<std::optional<Change>> change = node_->ScanLocal(path, writer_open);
  if (!change.ok()) {
    Event(path, spdlog::level::warn, "cannot read " + path + ": " + change.status().ToString());
    return;
  }
  if (*change) OnLocalChange(**change);
}

void DaemonImpl::OnLocalChange(const Change& change) {
  const wire::Version& v = change.version;
  if (change.first_seen && (starting_ || start_deferred_.erase(v.path()))) {
    // The baseline of the first scan (a file put off because it was being
    // written is still part of it): counted, logged once at the end.
    ++baseline_paths_;
    for (auto& [name, link] : links_) Enqueue(*link, v.path());
    return;
  }
  Event(v.path(), spdlog::level::info,
        "local change " + change.event + " " + v.path() + " version " + ToString(v.vv()) +
            " hash " + ShortHash(v.hash()));
  for (auto& [name, link] : links_) Enqueue(*link, v.path());
  RunActions(change);
}

// Changes are gathered per sync entry: a file entry's run starts on the next
// turn of the loop, a directory entry's after a quiet kActionBatchMs (at most
// kActionBatchMaxMs after the first change), so ten files changed together
// make one `systemctl reload`. While an entry's actions run, changes wait
// and make exactly one more run, for the newest versions.
void DaemonImpl::RunActions(const Change& change) {
  const SyncEntry* entry = config_.FindEntry(change.version.path());
  if (!entry || entry->actions.empty()) return;
  ActionBatch& batch = action_batches_[entry->path];
  if (batch.changes.empty()) batch.first_ms = MonoMs();
  batch.changes.push_back(change);
  const bool tree =
      change.version.path() != entry->path || change.version.kind() == wire::KIND_DIRECTORY;
  int64_t delay = tree ? kActionBatchMs : 0;
  delay = std::min(delay, std::max<int64_t>(0, batch.first_ms + kActionBatchMaxMs - MonoMs()));
  if (batch.timer) loop_.Cancel(batch.timer);
  const std::string key = entry->path;
  batch.timer = loop_.After(delay, [this, key] {
    action_batches_[key].timer = 0;
    FlushActionBatch(key);
  });
}

void DaemonImpl::FlushActionBatch(const std::string& entry_path) {
  ActionBatch& batch = action_batches_[entry_path];
  if (batch.changes.empty() || batch.timer || actions_->Running(entry_path)) return;
  const SyncEntry* entry = config_.FindEntry(entry_path);
  if (!entry) {
    action_batches_.erase(entry_path);
    return;
  }
  std::set<std::string> changed;
  std::string event = batch.changes.front().event;
  for (const Change& c : batch.changes) {
    changed.insert(c.version.path());
    if (c.event != event) event = "modified";
  }
  const Change& last = batch.changes.back();
  ActionJob job;
  job.entry = entry->path;
  job.commands = entry->actions;
  job.timeout_s = entry->timeout_s;
  job.stop_on_error = entry->stop_on_error;
  job.env = {"SYNCR_PATH=" + entry->path, "SYNCR_FILE=" + config_.DiskPath(entry->path),
             "SYNCR_ORIGIN=" + last.version.origin(), "SYNCR_EVENT=" + event,
             "SYNCR_NODE=" + config_.node.name};
  const bool tree = changed.size() > 1 || *changed.begin() != entry->path ||
                    last.version.kind() == wire::KIND_DIRECTORY;
  if (tree) {
    std::string list;
    for (const std::string& p : changed) list += p + "\n";
    job.env.push_back("SYNCR_CHANGED=" + list);
  }
  Event(entry->path, spdlog::level::info,
        "actions for " + entry->path + " started (" + event + " from " + last.version.origin() +
            (tree ? ", " + std::to_string(changed.size()) + " changed paths" : "") + ")");
  action_batches_.erase(entry_path);
  actions_->Submit(std::move(job));
}

// ---------------------------------------------------------- outgoing links

void DaemonImpl::Dial(PeerLink& link) {
  link.redial_timer = 0;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    LinkDown(link, std::string("socketpair: ") + std::strerror(errno));
    return;
  }
  UniqueFd ours(fds[0]);
  UniqueFd theirs(fds[1]);
  SpawnOptions options;
  if (!link.config.exec.empty()) {
    options.argv = {"/bin/sh", "-c", link.config.exec};
  } else {
    options.argv = {"ssh", "-T", "-o", "BatchMode=yes"};
    for (std::string& w : SplitWords(link.config.ssh)) options.argv.push_back(std::move(w));
    options.argv.push_back("syncr");
    options.argv.push_back("connect");
  }
  options.stdin_fd = theirs.get();
  options.stdout_fd = theirs.get();
  Result<pid_t> pid = Spawn(options);
  if (!pid.ok()) {
    LinkDown(link, pid.status().ToString());
    return;
  }
  fcntl(ours.get(), F_SETFL, O_NONBLOCK);
  link.child = *pid;
  link.channel =
      std::make_unique<Channel>(std::move(ours), config_.limits.max_file_bytes + kFrameHeadroom);
  link.state = PeerLink::State::kHandshake;
  wire::Frame hello;
  hello.mutable_hello()->set_protocol(kProtocolVersion);
  hello.mutable_hello()->set_node(config_.node.name);
  link.channel->Send(hello);
  PeerLink* lp = &link;
  loop_.Add(link.channel->fd(), EPOLLIN | EPOLLOUT, [this, lp](uint32_t events) {
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      OnLinkReadable(*lp);
    } else if (lp->channel) {
      FlushChannel(*lp->channel, [this, lp](const std::string& e) { LinkDown(*lp, e); });
    }
  });
  link.handshake_timer = loop_.After(config_.limits.handshake_timeout_ms, [this, lp] {
    lp->handshake_timer = 0;
    if (lp->state == PeerLink::State::kHandshake) LinkDown(*lp, "no answer to the handshake");
  });
}

void DaemonImpl::FlushChannel(Channel& channel, std::function<void(const std::string&)> on_error) {
  if (!channel.Flush()) {
    on_error(channel.error());
    return;
  }
  loop_.Modify(channel.fd(), EPOLLIN | (channel.WantsWrite() ? uint32_t{EPOLLOUT} : 0u));
}

void DaemonImpl::OnLinkReadable(PeerLink& link) {
  if (!link.channel) return;
  const bool open = link.channel->ReadAvailable();
  wire::Frame frame;
  // Acknowledgements arrive by the hundred during catch-up: record them in
  // one transaction.
  StateStore::Batch batch(*store_);
  while (link.channel) {
    FrameDecoder::Next next = link.channel->Pop(&frame);
    if (next == FrameDecoder::Next::kNeedMore) break;
    if (next == FrameDecoder::Next::kError) {
      LinkDown(link, "bad data from peer: " + link.channel->error());
      return;
    }
    OnLinkFrame(link, frame);
  }
  if (!link.channel) return;
  if (!open) {
    LinkDown(link, link.channel->error());
    return;
  }
  Pump(link);  // flushes the channel
}

void DaemonImpl::OnLinkFrame(PeerLink& link, const wire::Frame& frame) {
  const std::string& peer = link.config.name;
  switch (frame.body_case()) {
    case wire::Frame::kWelcome:
      if (link.state != PeerLink::State::kHandshake || frame.welcome().node() != peer ||
          frame.welcome().protocol() != kProtocolVersion) {
        LinkDown(link, "unexpected welcome from '" + frame.welcome().node() + "' (protocol " +
                           std::to_string(frame.welcome().protocol()) + ")");
        return;
      }
      loop_.Cancel(link.handshake_timer);
      link.state = PeerLink::State::kUp;
      link.backoff_ms = kBackoffFirstMs;
      link.since_ns = WallNs();
      link.last_error.clear();
      link.summary.clear();
      link.summary_complete = false;
      Event("", spdlog::level::info, "connected to " + peer);
      return;
    case wire::Frame::kSummary: {
      if (link.state != PeerLink::State::kUp) break;
      for (const wire::Version& v : frame.summary().versions()) link.summary[v.path()] = v.vv();
      if (!frame.summary().complete()) return;
      // The peer's summary is the truth about what it holds: replace what we
      // remembered, then queue every path it lacks.
      {
        StateStore::Batch batch(*store_);
        std::map<std::string, wire::VersionVector> old = store_->AllPeerHas(peer);
        for (const auto& [path, vv] : old) {
          if (!link.summary.count(path)) store_->PutPeerHas(peer, path, wire::VersionVector());
        }
        for (const auto& [path, vv] : link.summary) store_->PutPeerHas(peer, path, vv);
      }
      link.summary_complete = true;
      // Creations parents first, deletions children first (see ScanTree).
      std::vector<std::string> sends;
      std::vector<std::string> deletions;
      for (const wire::Version& v : store_->AllFiles()) {
        if (v.kind() == wire::KIND_NONE || !config_.FindEntry(v.path())) continue;
        auto it = link.summary.find(v.path());
        if (PeerLacks(v, it == link.summary.end() ? nullptr : &it->second)) {
          (v.kind() == wire::KIND_DELETED ? deletions : sends).push_back(v.path());
        }
      }
      sends.insert(sends.end(), deletions.rbegin(), deletions.rend());
      const size_t lacking = sends.size();
      for (const std::string& path : sends) Queue(link, path);
      link.summary.clear();
      Event("", spdlog::level::info,
            "catch-up with " + peer + ": " + std::to_string(lacking) + " paths to send");
      Pump(link);
      return;
    }
    case wire::Frame::kAck: {
      const wire::Ack& ack = frame.ack();
      auto it = link.inflight.find(ack.path());
      if (it == link.inflight.end()) break;
      link.inflight_bytes -= it->second;
      link.inflight.erase(it);
      if (ack.ok()) {
        store_->PutPeerHas(peer, ack.path(), ack.vv());
        link.refused.erase(ack.path());
        spdlog::debug("{} acknowledged {} {}", peer, ack.path(), ToString(ack.vv()));
      } else if (ack.refused()) {
        // The peer's config does not sync it: retrying cannot help, and an
        // idle node must stay idle. Status shows it until the configs agree.
        if (!link.refused.count(ack.path())) {
          Event(ack.path(), spdlog::level::warn,
                peer + " refused " + Printable(ack.path()) + ": " + Printable(ack.error()) +
                    " (not retried; make the configs agree)");
        }
        std::optional<wire::Version> v = store_->GetFile(ack.path());
        link.refused[ack.path()] = v ? v->vv() : wire::VersionVector();
      } else {
        Event(ack.path(), spdlog::level::warn,
              peer + " could not apply " + ack.path() + ": " + ack.error() + " (retrying)");
        std::string path = ack.path();
        PeerLink* lp = &link;
        loop_.After(kRetryFailedMs, [this, lp, path] {
          if (lp->state == PeerLink::State::kUp) {
            Enqueue(*lp, path);
          }
        });
      }
      // OnLinkReadable pumps once after the acks it read: the window they
      // freed is filled in one go, not one file per ack.
      if (link.requeue_after_ack.erase(ack.path())) Queue(link, ack.path());
      return;
    }
    case wire::Frame::kFetchReply: {
      auto waiting = pending_fetches_.find(frame.fetch_reply().id());
      if (waiting == pending_fetches_.end()) return;
      auto session = sessions_.find(waiting->second);
      pending_fetches_.erase(waiting);
      if (session == sessions_.end()) return;
      wire::Frame out;
      out.mutable_reply()->set_ok(true);
      *out.mutable_reply()->mutable_fetch() = frame.fetch_reply();
      session->second->channel->Send(out);
      session->second->closing = true;
      const uint64_t sid = session->first;
      FlushChannel(*session->second->channel,
                   [this, sid](const std::string& e) { CloseSession(sid, e); });
      if (sessions_.count(sid) && !sessions_[sid]->channel->WantsWrite()) CloseSession(sid, "");
      return;
    }
    case wire::Frame::kError:
      LinkDown(link, peer + " said: " + frame.error().message());
      return;
    default:
      break;
  }
  LinkDown(link, "unexpected message " + std::to_string(frame.body_case()) + " from " + peer);
}

void DaemonImpl::LinkDown(PeerLink& link, std::string why) {
  const bool was_up = link.state == PeerLink::State::kUp;
  if (link.channel) {
    loop_.Remove(link.channel->fd());
    link.channel.reset();
  }
  if (link.child > 0) kill(link.child, SIGTERM);  // reaped through SIGCHLD
  link.child = -1;
  loop_.Cancel(link.handshake_timer);
  link.state = PeerLink::State::kDown;
  link.inflight.clear();
  link.inflight_bytes = 0;
  link.queue.clear();
  link.queued.clear();
  link.requeue_after_ack.clear();
  link.summary.clear();
  link.summary_complete = false;
  if (was_up || link.last_error != why) {
    Event("", spdlog::level::warn,
          (was_up ? "lost connection to " : "cannot connect to ") + link.config.name + ": " + why +
              "; retrying in " + std::to_string(link.backoff_ms) + " ms");
  }
  if (was_up) link.since_ns = WallNs();
  link.last_error = why;
  if (link.redial_timer) loop_.Cancel(link.redial_timer);
  PeerLink* lp = &link;
  link.redial_timer = loop_.After(link.backoff_ms, [this, lp] { Dial(*lp); });
  link.backoff_ms = std::min(link.backoff_ms * 2, kBackoffMaxMs);
}

void DaemonImpl::Enqueue(PeerLink& link, const std::string& path) {
  Queue(link, path);
  if (scanning_ == 0) Pump(link);  // else ScanDone pumps, after the commit
}

void DaemonImpl::Queue(PeerLink& link, const std::string& path) {
  if (link.state != PeerLink::State::kUp || !link.summary_complete) return;  // catch-up covers it
  if (link.inflight.count(path)) {
    link.requeue_after_ack.insert(path);
    return;
  }
  if (link.queued.insert(path).second) link.queue.push_back(path);
}

void DaemonImpl::Pump(PeerLink& link) {
  Disk::Hold hold(*disk_);
  while (link.channel && link.inflight_bytes < config_.limits.window_bytes && !link.queue.empty()) {
    std::string path = std::move(link.queue.front());
    link.queue.pop_front();
    link.queued.erase(path);
    std::optional<wire::Version> v = store_->GetFile(path);
    if (!v || v->kind() == wire::KIND_NONE) continue;
    std::optional<wire::VersionVector> has = store_->GetPeerHas(link.config.name, path);
    if (!PeerLacks(*v, has ? &*has : nullptr)) continue;
    auto refused = link.refused.find(path);
    if (refused != link.refused.end() && Covers(refused->second, v->vv())) continue;
    Result<std::string> content = node_->ContentFor(*v);
    if (!content.ok()) {
      Event(path, spdlog::level::warn, "cannot send " + path + ": " + content.status().ToString());
      ScheduleScan(path, config_.node.settle_ms, false);
      continue;
    }
    wire::Frame frame;
    *frame.mutable_update()->mutable_version() = *v;
    frame.mutable_update()->set_content(std::move(*content));
    frame.mutable_update()->set_lost_content(node_->LostContentFor(*v));
    const uint64_t bytes = frame.update().content().size() + 256;
    link.channel->Send(frame);
    link.inflight[path] = bytes;
    link.inflight_bytes += bytes;
    spdlog::debug("sent {} {} to {}", path, ToString(v->vv()), link.config.name);
  }
  if (link.channel) {
    PeerLink* lp = &link;
    FlushChannel(*link.channel, [this, lp](const std::string& e) { LinkDown(*lp, e); });
  }
}

// -------------------------------------------------------- accepted sessions

void DaemonImpl::OnAccept() {
  while (true) {
    int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    auto session = std::make_unique<Session>();
    session->id = next_session_++;
    session->channel =
        std::make_unique<Channel>(UniqueFd(fd), config_.limits.max_file_bytes + kFrameHeadroom);
    const uint64_t id = session->id;
    session->handshake_timer = loop_.After(config_.limits.handshake_timeout_ms, [this, id] {
      auto it = sessions_.find(id);
      if (it != sessions_.end() && it->second->peer.empty() && !it->second->control) {
        CloseSession(id, "no handshake within " +
                             std::to_string(config_.limits.handshake_timeout_ms) + " ms");
      }
    });
    loop_.Add(fd, EPOLLIN, [this, id](uint32_t events) {
      if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        OnSessionReadable(id);
        return;
      }
      auto it = sessions_.find(id);
      if (it == sessions_.end()) return;
      FlushChannel(*it->second->channel, [this, id](const std::string& e) { CloseSession(id, e); });
      if (it->second->closing && !it->second->channel->WantsWrite()) CloseSession(id, "");
    });
    sessions_[id] = std::move(session);
  }
}

void DaemonImpl::OnSessionReadable(uint64_t id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Session& session = *it->second;
  const bool open = session.channel->ReadAvailable();
  size_t new_updates = 0;
  while (sessions_.count(id) && !session.closing) {
    wire::Frame frame;
    FrameDecoder::Next next = session.channel->Pop(&frame);
    if (next == FrameDecoder::Next::kNeedMore) break;
    if (next == FrameDecoder::Next::kError) {
      ApplyPending(session);
      CloseSession(id, "bad data: " + session.channel->error());
      return;
    }
    if (!session.peer.empty() && frame.has_update()) {
      session.pending_bytes += frame.update().content().size();
      session.pending.push_back(std::move(frame));
      ++new_updates;
      if (session.pending.size() >= kMaxBatchUpdates || session.pending_bytes >= kMaxBatchBytes) {
        ApplyPending(session);
      }
      continue;
    }
    ApplyPending(session);
    OnSessionFrame(session, frame);
  }
  if (!sessions_.count(id)) return;
  // Updates that arrive together are applied together: one filesystem sync
  // and one transaction for the lot. A lone update (an edit) is applied at
  // once; a stream of them (catch-up, a burst) gathers for kBatchGatherMs.
  if (!session.pending.empty()) {
    if (new_updates <= 1 && !session.apply_timer) {
      ApplyPending(session);
    } else if (!session.apply_timer) {
      session.apply_timer = loop_.After(kBatchGatherMs, [this, id] {
        auto it = sessions_.find(id);
        if (it == sessions_.end()) return;
        it->second->apply_timer = 0;
        ApplyPending(*it->second);
        FlushChannel(*it->second->channel,
                     [this, id](const std::string& e) { CloseSession(id, e); });
      });
    }
  }
  if (!open) {
    std::string why = session.peer.empty() ? "" : session.channel->error();
    if (session.channel->buffered() > 0) {
      why = "the stream ended in the middle of a frame (" +
            std::to_string(session.channel->buffered()) + " bytes of a truncated frame)";
    }
    CloseSession(id, why);
    return;
  }
  if (session.channel->queued_bytes() > kMaxQueuedReplyBytes) {
    CloseSession(id, "it does not read our replies (" +
                         std::to_string(session.channel->queued_bytes()) + " bytes queued)");
    return;
  }
  FlushChannel(*session.channel, [this, id](const std::string& e) { CloseSession(id, e); });
  if (sessions_.count(id) && session.closing && !session.channel->WantsWrite()) {
    CloseSession(id, "");
  }
}

void DaemonImpl::ApplyPending(Session& session) {
  if (session.apply_timer) {
    loop_.Cancel(session.apply_timer);
    session.apply_timer = 0;
  }
  if (session.pending.empty()) return;
  // Hear of local edits first: a path with an event waiting must not be
  // judged by a stat the event makes stale (see Node::Watching).
  OnInotify();
  std::vector<const wire::Update*> batch;
  for (const wire::Frame& f : session.pending) batch.push_back(&f.update());
  const int64_t start = MonoMs();
  OnUpdates(session, batch);
  spdlog::debug("applied a batch of {} updates in {} ms", batch.size(), MonoMs() - start);
  session.pending.clear();
  session.pending_bytes = 0;
}

void DaemonImpl::CloseSession(uint64_t id, std::string why) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Session& session = *it->second;
  ApplyPending(session);
  if (!why.empty()) {
    const std::string who = session.peer.empty() ? "a local client" : "peer " + session.peer;
    Event("", spdlog::level::warn, "closed the connection from " + who + ": " + why);
  }
  loop_.Cancel(session.handshake_timer);
  loop_.Remove(session.channel->fd());
  sessions_.erase(it);
}

void DaemonImpl::OnSessionFrame(Session& session, const wire::Frame& frame) {
  auto refuse = [&](const std::string& message) {
    wire::Frame error;
    error.mutable_error()->set_message(message);
    session.channel->Send(error);
    session.closing = true;
    Event("", spdlog::level::warn, "refused a connection: " + message);
  };
  if (session.peer.empty() && !session.control) {
    switch (frame.body_case()) {
      case wire::Frame::kHello: {
        const wire::Hello& hello = frame.hello();
        if (hello.protocol() != kProtocolVersion) {
          refuse("protocol " + std::to_string(hello.protocol()) +
                 " is not spoken here (this node speaks " + std::to_string(kProtocolVersion) + ")");
          return;
        }
        if (!config_.FindPeer(hello.node())) {
          refuse("node '" + Printable(hello.node().substr(0, 100)) + "' is not a peer in " +
                 config_.source);
          return;
        }
        session.peer = hello.node();
        wire::Frame welcome;
        welcome.mutable_welcome()->set_protocol(kProtocolVersion);
        welcome.mutable_welcome()->set_node(config_.node.name);
        session.channel->Send(welcome);
        SendSummary(session);
        Event("", spdlog::level::info, "accepted channel from " + session.peer);
        // The peer is up again: our channel to it need not wait out its
        // backoff (up to kBackoffMaxMs) before catch-up starts.
        auto link = links_.find(session.peer);
        if (link != links_.end() && link->second->state == PeerLink::State::kDown &&
            link->second->redial_timer) {
          loop_.Cancel(link->second->redial_timer);
          link->second->backoff_ms = kBackoffFirstMs;
          Dial(*link->second);
        }
        return;
      }
      case wire::Frame::kControl: {
        session.control = true;
        wire::Frame reply;
        wire::ControlReply* r = reply.mutable_reply();
        if (frame.control().has_status()) {
          r->set_ok(true);
          *r->mutable_status() = BuildStatus();
        } else if (frame.control().has_fetch()) {
          const wire::FetchRequest& req = frame.control().fetch();
          auto link = links_.find(req.peer());
          if (link == links_.end() || link->second->state != PeerLink::State::kUp) {
            r->set_ok(false);
            r->set_error(link == links_.end() ? "no peer named '" + Printable(req.peer()) + "'"
                                              : "peer " + req.peer() + " is not connected");
          } else {
            // The reply comes back on the link; keep this session open for it.
            const uint64_t fetch_id = next_fetch_++;
            pending_fetches_[fetch_id] = session.id;
            wire::Frame ask;
            ask.mutable_fetch_request()->set_id(fetch_id);
            ask.mutable_fetch_request()->set_path(req.path());
            link->second->channel->Send(ask);
            PeerLink* lp = link->second.get();
            FlushChannel(*lp->channel, [this, lp](const std::string& e) { LinkDown(*lp, e); });
            return;
          }
        } else if (frame.control().has_resolve()) {
          const wire::ResolveRequest& req = frame.control().resolve();
          Result<Change> change = node_->Resolve(req.path(), req.take());
          r->set_ok(change.ok());
          if (!change.ok()) {
            r->set_error(change.status().ToString());
          } else {
            Event(req.path(), spdlog::level::info,
                  "conflict on " + req.path() + " resolved by the operator" +
                      (req.take().empty() ? ", keeping the current content"
                                          : ", taking the version from " + req.take()));
            OnLocalChange(*change);
          }
        } else {
          r->set_ok(false);
          r->set_error("this request is not supported by this daemon");
        }
        session.channel->Send(reply);
        session.closing = true;
        return;
      }
      default:
        refuse("expected a handshake");
        return;
    }
  }
  if (session.control) return;
  if (frame.body_case() == wire::Frame::kFetchRequest) {
    const wire::FetchRequest& req = frame.fetch_request();
    wire::Frame reply;
    wire::FetchReply* r = reply.mutable_fetch_reply();
    r->set_id(req.id());
    Status allowed = CheckSyncedPath(config_, req.path());
    std::optional<wire::Version> v = allowed.ok() ? store_->GetFile(req.path()) : std::nullopt;
    if (!allowed.ok()) {
      r->set_error(allowed.ToString());
    } else if (v && v->kind() == wire::KIND_FILE) {
      Result<std::string> content = node_->ContentFor(*v);
      r->set_found(content.ok());
      if (content.ok()) r->set_content(std::move(*content));
      if (!content.ok()) r->set_error(content.status().ToString());
      *r->mutable_version() = *v;
    }
    session.channel->Send(reply);
    return;
  }
  if (frame.body_case() == wire::Frame::kHave) {
    StateStore::Batch batch(*store_);
    for (const wire::Version& v : frame.have().versions()) {
      if (!IsCleanPath(v.path())) continue;
      std::optional<wire::VersionVector> had = store_->GetPeerHas(session.peer, v.path());
      store_->PutPeerHas(session.peer, v.path(), had ? Merge(*had, v.vv()) : v.vv());
    }
    return;
  }
  if (frame.body_case() == wire::Frame::kUpdate) {
    OnUpdates(session, {&frame.update()});
    return;
  }
  refuse("unexpected message " + std::to_string(frame.body_case()) + " from " + session.peer);
}

void DaemonImpl::SendSummary(Session& session) {
  std::vector<wire::Version> all = store_->AllFiles();
  wire::Frame page;
  for (const wire::Version& v : all) {
    if (v.kind() == wire::KIND_NONE || !config_.FindEntry(v.path())) continue;
    wire::Version* out = page.mutable_summary()->add_versions();
    out->set_path(v.path());
    out->set_kind(v.kind());
    *out->mutable_vv() = v.vv();
    if (page.summary().versions_size() >= static_cast<int>(kSummaryPage)) {
      session.channel->Send(page);
      page.Clear();
    }
  }
  page.mutable_summary()->set_complete(true);
  session.channel->Send(page);
}

void DaemonImpl::OnUpdates(Session& session, const std::vector<const wire::Update*>& updates) {
  auto ack = [&](const std::string& path, const Status& error, const wire::VersionVector* vv) {
    wire::Frame reply;
    reply.mutable_ack()->set_path(path);
    reply.mutable_ack()->set_ok(error.ok());
    if (!error.ok()) reply.mutable_ack()->set_error(error.ToString());
    if (!error.ok() && error.ToString().rfind("refused path", 0) == 0) {
      reply.mutable_ack()->set_refused(true);
    }
    if (vv) *reply.mutable_ack()->mutable_vv() = *vv;
    session.channel->Send(reply);
  };
  std::vector<const wire::Update*> allowed;
  for (const wire::Update* update : updates) {
    Status s = CheckSyncedPath(config_, update->version().path());
    if (!s.ok()) {
      Event("", spdlog::level::warn, "from " + session.peer + ": " + s.ToString());
      ack(update->version().path(), s, nullptr);
      continue;
    }
    allowed.push_back(update);
  }
  // Deletions after everything else and deepest first, so a directory's
  // tombstone finds it empty even if the sender's order was different.
  std::stable_partition(allowed.begin(), allowed.end(), [](const wire::Update* u) {
    return u->version().kind() != wire::KIND_DELETED;
  });
  auto first_deletion = std::find_if(allowed.begin(), allowed.end(), [](const wire::Update* u) {
    return u->version().kind() == wire::KIND_DELETED;
  });
  std::stable_sort(first_deletion, allowed.end(), [](const wire::Update* x, const wire::Update* y) {
    return x->version().path() > y->version().path();
  });
  // ApplyBatch commits what it wrote before returning; the peer knowledge
  // and events below go in one more transaction, before any ack is flushed.
  std::vector<Result<ApplyOutcome>> outcomes = node_->ApplyBatch(allowed);
  StateStore::Batch batch(*store_);
  wire::Frame have;
  for (size_t i = 0; i < allowed.size(); ++i) {
    const wire::Version& remote = allowed[i]->version();
    Result<ApplyOutcome>& outcome = outcomes[i];
    if (!outcome.ok()) {
      Event(remote.path(), spdlog::level::err,
            "cannot apply " + remote.path() + " from " + session.peer + ": " +
                outcome.status().ToString());
      ack(remote.path(), outcome.status(), nullptr);
      continue;
    }
    ack(remote.path(), Status(), &outcome->now_have);
    wire::Version* held = have.mutable_have()->add_versions();
    held->set_path(remote.path());
    *held->mutable_vv() = outcome->now_have;
    // The sender holds what it sent: never push it back (no echo).
    std::optional<wire::VersionVector> had = store_->GetPeerHas(session.peer, remote.path());
    store_->PutPeerHas(session.peer, remote.path(), had ? Merge(*had, remote.vv()) : remote.vv());

    if (outcome->own_rename) ++own_renames_[remote.path()];
    if (outcome->local_first) OnLocalChange(*outcome->local_first);
    if (!outcome->note.empty()) Event(remote.path(), spdlog::level::warn, outcome->note);
    if (outcome->applied) {
      const wire::Version& v = outcome->applied->version;
      Event(v.path(), spdlog::level::info,
            "applied " + outcome->applied->event + " " + v.path() + " from " + session.peer +
                " version " + ToString(v.vv()) + " hash " + ShortHash(v.hash()));
      RunActions(*outcome->applied);
    }
  }
  if (have.have().versions_size() > 0) {
    for (auto& [name, link] : links_) {
      if (name == session.peer || link->state != PeerLink::State::kUp) continue;
      link->channel->Send(have);
      PeerLink* lp = link.get();
      FlushChannel(*link->channel, [this, lp](const std::string& e) { LinkDown(*lp, e); });
    }
  }
}

wire::StatusReply DaemonImpl::BuildStatus() {
  wire::StatusReply reply;
  reply.set_node(config_.node.name);
  reply.set_started_ns(started_ns_);
  bool in_sync = problems_.empty();
  std::vector<wire::Version> files = store_->AllFiles();
  // Rows of entries removed from the config (SIGHUP) are history, not state.
  std::erase_if(files, [this](const wire::Version& v) { return !config_.FindEntry(v.path()); });
  std::map<std::string, std::map<std::string, wire::VersionVector>> peer_has;
  for (const auto& [name, link] : links_) peer_has[name] = store_->AllPeerHas(name);

  for (const auto& [name, link] : links_) {
    wire::PeerStatus* p = reply.add_peers();
    p->set_name(name);
    p->set_connected(link->state == PeerLink::State::kUp);
    p->set_since_ns(link->since_ns);
    p->set_last_error(link->last_error);
    p->set_transport(link->config.exec.empty() ? "ssh " + link->config.ssh
                                               : "exec " + link->config.exec);
    uint64_t pending = 0;
    for (const wire::Version& v : files) {
      if (v.kind() == wire::KIND_NONE) continue;
      auto it = peer_has[name].find(v.path());
      if (PeerLacks(v, it == peer_has[name].end() ? nullptr : &it->second) &&
          !link->refused.count(v.path())) {
        ++pending;
      }
    }
    p->set_pending(pending);
    if (!p->connected() || pending > 0) in_sync = false;
  }
  for (const wire::Version& v : files) {
    wire::PathStatus* ps = reply.add_paths();
    ps->set_path(v.path());
    const SyncEntry* entry = config_.FindEntry(v.path());
    ps->set_entry(entry ? entry->path : "");
    *ps->mutable_version() = v;
    for (const auto& [name, has] : peer_has) {
      auto it = has.find(v.path());
      if (v.kind() != wire::KIND_NONE && PeerLacks(v, it == has.end() ? nullptr : &it->second)) {
        if (links_.at(name)->refused.count(v.path())) {
          ps->add_refused_by(name);
        } else {
          ps->add_pending_to(name);
        }
      }
    }
    if (v.kind() == wire::KIND_NONE) {
      ps->set_state("missing");
      in_sync = false;
    } else if (v.conflict()) {
      ps->set_state("conflict");
      in_sync = false;
    } else if (ps->pending_to_size() > 0) {
      ps->set_state("pending");
    } else if (ps->refused_by_size() > 0) {
      ps->set_state("refused");
      in_sync = false;
    } else {
      ps->set_state("in sync");
    }
    if (entry) {
      auto last = last_action_.find(entry->path);
      if (last != last_action_.end()) *ps->mutable_last_action() = last->second;
      if (actions_->Running(entry->path)) ps->mutable_last_action()->set_running(true);
    }
  }
  for (const std::string& p : problems_) reply.add_problems(p);
  reply.set_in_sync(in_sync);
  return reply;
}

// ------------------------------------------------------------------ signals

void DaemonImpl::OnSignal() {
  signalfd_siginfo info{};
  while (read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
    switch (info.ssi_signo) {
      case SIGTERM:
      case SIGINT:
        loop_.Stop();
        break;
      case SIGHUP:
        Reload();
        break;
      case SIGCHLD: {
        int status = 0;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
          if (actions_->OnChildExit(pid, status)) continue;
          for (auto& [name, link] : links_) {
            if (link->child == pid) {
              link->child = -1;
              if (link->channel) LinkDown(*link, "transport command exited");
            }
          }
        }
        break;
      }
      default:
        break;
    }
  }
}

void DaemonImpl::KeepWatchdog(int64_t period_ms) {
  sd_notify(0, "WATCHDOG=1");
  loop_.After(std::max<int64_t>(period_ms, 100), [this, period_ms] { KeepWatchdog(period_ms); });
}

std::vector<std::string> DaemonImpl::ConfinementBases() const {
  std::vector<std::string> bases;
  for (const SyncEntry& entry : config_.sync) {
    bases.push_back(config_.DiskPath(DirName(entry.path)));
  }
  return bases;
}

void DaemonImpl::AddLink(const PeerConfig& peer) {
  auto link = std::make_unique<PeerLink>();
  link->config = peer;
  link->since_ns = WallNs();
  PeerLink& ref = *link;
  links_[peer.name] = std::move(link);
  Dial(ref);
}

void DaemonImpl::RemoveLink(const std::string& name) {
  auto it = links_.find(name);
  if (it == links_.end()) return;
  PeerLink& link = *it->second;
  if (link.channel) loop_.Remove(link.channel->fd());
  if (link.child > 0) kill(link.child, SIGTERM);
  loop_.Cancel(link.handshake_timer);
  loop_.Cancel(link.redial_timer);
  links_.erase(it);
  for (auto s = sessions_.begin(); s != sessions_.end();) {
    auto next = std::next(s);
    if (s->second->peer == name) CloseSession(s->first, "peer removed from the config");
    s = next;
  }
}

// SIGHUP: re-read the config without dropping state or the channels that
// stay. Sync entries and peers that were added or removed take effect; the
// node's name, root, state_dir and socket need a restart.
void DaemonImpl::Reload() {
  Result<Config> fresh = LoadConfig(config_.source);
  if (!fresh.ok()) {
    Event(
        "", spdlog::level::err,
        "SIGHUP: keeping the running config, the new one is invalid: " + fresh.status().ToString());
    return;
  }
  const NodeConfig& was = config_.node;
  const NodeConfig& now = fresh->node;
  if (now.name != was.name || now.root != was.root || now.state_dir != was.state_dir ||
      now.socket != was.socket) {
    Event("", spdlog::level::warn,
          "SIGHUP: [node] name, root, state_dir and socket changes need a restart; "
          "keeping the running ones");
  }
  fresh->node.name = was.name;
  fresh->node.root = was.root;
  fresh->node.state_dir = was.state_dir;
  fresh->node.socket = was.socket;

  std::set<std::string> old_entries;
  for (const SyncEntry& e : config_.sync) old_entries.insert(e.path);
  std::map<std::string, PeerConfig> old_peers;
  for (const PeerConfig& p : config_.peers) old_peers[p.name] = p;

  config_ = std::move(*fresh);
  disk_->SetConfinement(ConfinementBases());
  InitLogging(config_.node.name, config_.node.log_level);

  // Entries: forget the watches of removed ones, watch and scan new ones.
  std::set<std::string> new_entries;
  for (const SyncEntry& e : config_.sync) new_entries.insert(e.path);
  for (const std::string& path : old_entries) {
    if (new_entries.count(path)) continue;
    for (auto& [dir, target] : watch_targets_) target.names.erase(path);
    ForgetWatchesUnder(config_.DiskPath(path));
    Event(path, spdlog::level::info, "SIGHUP: no longer syncing " + path);
  }
  if (Status s = WatchEntries(); !s.ok()) Event("", spdlog::level::err, s.ToString());
  for (const std::string& path : new_entries) {
    if (old_entries.count(path)) continue;
    Event(path, spdlog::level::info, "SIGHUP: now syncing " + path);
    ScanTree(path, true);
    // Peers that are up learn of it now, not at their next reconnect.
    std::vector<wire::Version> below = store_->FilesUnder(path);
    std::optional<wire::Version> self = store_->GetFile(path);
    for (auto& [name, link] : links_) {
      if (self) Queue(*link, path);
      for (const wire::Version& v : below) Queue(*link, v.path());
      Pump(*link);
    }
  }

  // Peers: drop removed or changed ones, dial new ones.
  for (const auto& [name, peer] : old_peers) {
    const PeerConfig* p = config_.FindPeer(name);
    if (!p || p->ssh != peer.ssh || p->exec != peer.exec) {
      RemoveLink(name);
      Event("", spdlog::level::info, "SIGHUP: dropped peer " + name);
    }
  }
  for (const PeerConfig& p : config_.peers) {
    if (!links_.count(p.name)) AddLink(p);
  }
  Event("", spdlog::level::info,
        "SIGHUP: reloaded " + config_.source + ": " + std::to_string(config_.sync.size()) +
            " synced paths, " + std::to_string(config_.peers.size()) + " peers");
  sd_notify(0, "READY=1");
}

void DaemonImpl::Event(const std::string& path, spdlog::level::level_enum level,
                       const std::string& msg) {
  spdlog::log(level, "{}", msg);
  store_->AddEvent({WallNs(), path, spdlog::level::to_string_view(level).data(), msg});
}

}  // namespace

int RunDaemon(Config config) {
  DaemonImpl daemon(std::move(config));
  return daemon.Run();
}

}  // namespace syncr
