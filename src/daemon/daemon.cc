#include "daemon/daemon.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <set>

#include "actions/action_scheduler.h"
#include "common/escape.h"
#include "common/log.h"
#include "common/util.h"
#include "control/control.h"
#include "engine/path_policy.h"
#include "loop/event_loop.h"
#include "os/temp_names.h"
#include "peer/inbound.h"
#include "peer/peer_link.h"
#include "status/status.h"
#include "store/journal.h"
#include "store/state_store.h"
#include "store/temp_token.h"
#include "sync/replica.h"
#include "watch/change_feed.h"

namespace syncr {
namespace {

// The daemon wires the rooms together on one loop. It makes no decision of
// its own: it routes what one room reports to the rooms that act on it.
//
//   ChangeFeed --scan--> Replica --local change--> PeerLinks (send)
//                                \---------------> ActionScheduler (run)
//   Inbound --updates--> Replica --applied------> ActionScheduler
//   Inbound --control--> Control --fetch--------> PeerLinks
class DaemonImpl {
 public:
  explicit DaemonImpl(Config config) : config_(std::move(config)) {}
  int Run();

 private:
  Status Open();
  Status InstallSignals();
  void Build();
  void OnSignal();
  void OnChildExit(pid_t pid, int wait_status);
  void Reload();
  void KeepWatchdog(int64_t period_ms);
  void AddLink(const PeerConfig& peer);
  void ForEachLink(const std::function<void(PeerLink&)>& fn);
  wire::StatusReply StatusReply();
  std::string Resolve(const wire::ResolveRequest& request);
  Result<Control::WaitJudge> StartWait(const std::string& path);
  /// The snapshots JudgeWait needs: what each peer holds of `target`, its
  /// reports and runs to come, and ours (cheap: judged every tick).
  StatusInput WaitInput(const WaitTarget& target);

  // Routes between rooms.
  void OnLocalChange(const Change& change, bool baseline);
  void OnApplied(const Change& change);
  void OnBatchApplied(const std::string& from, const wire::Frame& have);
  void RunActionsFor(const Change& change);

  Config config_;
  EventLoop loop_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<ChangeFeed> feed_;
  std::unique_ptr<Replica> replica_;
  std::unique_ptr<ActionScheduler> actions_;
  std::unique_ptr<Control> control_;
  std::unique_ptr<Inbound> inbound_;
  std::map<std::string, std::unique_ptr<PeerLink>> links_;
  UniqueFd signal_fd_;
  int64_t started_ns_ = WallNs();
};

Status DaemonImpl::Open() {
  if (Status s = loop_.Init(); !s.ok()) return s;
  Result<std::unique_ptr<StateStore>> store = StateStore::Open(config_.node.state_dir, false);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  // Before the first temp file: a temp a kill -9 leaves must carry the
  // token the next start reads back, or it could not be told from a
  // user's file (SPEC 11) and would stay forever.
  Result<std::string> token = LoadTempToken(config_.node.state_dir, /*create=*/true);
  if (!token.ok()) return token.status();
  SetTempToken(std::move(*token));
  Build();
  if (Status s = replica_->Init(); !s.ok()) return s;
  if (Status s = feed_->Init(); !s.ok()) return s;
  return InstallSignals();
}

// Rooms are made in dependency order and destroyed in reverse: nothing is
// called back after the room it would reach is gone.
void DaemonImpl::Build() {
  journal_ = std::make_unique<Journal>(*store_);
  feed_ = std::make_unique<ChangeFeed>(
      loop_, config_,
      ChangeFeed::Listener{
          [this](const std::string& path, bool recursive) { replica_->ScanTree(path, recursive); },
          [this] { replica_->ScanAll(); },
          [this](const std::string& path) { replica_->node().ForgetStat(path); },
          [this](const std::string& path, spdlog::level::level_enum level,
                 const std::string& message) { journal_->Note(path, level, message); },
      });
  replica_ = std::make_unique<Replica>(
      config_, *store_, *journal_, *feed_,
      Replica::Listener{
          [this](const Change& change, bool baseline) { OnLocalChange(change, baseline); },
          [this](const Change& change, const std::string&) { OnApplied(change); },
          [this] { ForEachLink([](PeerLink& link) { link.Pump(); }); },
      });
  actions_ = std::make_unique<ActionScheduler>(loop_, config_, *journal_,
                                               [this](const wire::ActionReport& report) {
                                                 wire::Frame frame;
                                                 *frame.mutable_action_report() = report;
                                                 inbound_->Broadcast(frame);
                                               });
  control_ = std::make_unique<Control>(
      loop_, Control::Hooks{
                 [this] { return StatusReply(); },
                 [this](const wire::ResolveRequest& request) { return Resolve(request); },
                 [this](const std::string& peer, const wire::Frame& frame) -> std::string {
                   auto it = links_.find(peer);
                   if (it == links_.end()) return "no peer named '" + Printable(peer) + "'";
                   if (!it->second->SendOther(frame)) return "peer " + peer + " is not connected";
                   return "";
                 },
                 [this](uint64_t id, const wire::Frame& reply) { inbound_->Reply(id, reply); },
                 [this](const std::string& path) { return StartWait(path); },
             });
  inbound_ = std::make_unique<Inbound>(
      loop_, config_, *store_, *replica_, *journal_,
      Inbound::Hooks{
          [this](const std::string& peer) {
            if (auto it = links_.find(peer); it != links_.end()) it->second->RedialNow();
          },
          [this](const std::string& from, const wire::Frame& have) { OnBatchApplied(from, have); },
          [this](uint64_t id, const wire::ControlRequest& request) {
            control_->Handle(id, request);
          },
          [this] { return actions_->ReportsForPeers(); },
          [this](uint64_t id) { control_->OnSessionGone(id); },
      });
}

// The signals the loop reads from its signalfd. Blocked first thing in Run:
// a SIGTERM that arrives while the store opens or the first scan runs waits
// for the loop instead of killing the daemon half-started.
static sigset_t LoopSignals() {
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&mask, sig);
  return mask;
}

Status DaemonImpl::InstallSignals() {
  sigset_t mask = LoopSignals();
  signal_fd_.Reset(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_.valid()) return Status::Sys("signalfd", "", errno);
  loop_.Add(signal_fd_.get(), EPOLLIN, [this](uint32_t) { OnSignal(); });
  return Status();
}

int DaemonImpl::Run() {
  sigset_t mask = LoopSignals();
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGIO, SIG_IGN);  // a broken file lease (Disk::OpenForWriting) must not kill us
  InitLogging(config_.node.name, config_.node.log_level);
  syncr::Status s = Open();
  for (const SyncEntry& entry : config_.sync) {
    if (!s.ok()) break;
    s = feed_->WatchEntry(entry);
    if (s.ok()) replica_->RemoveStaleTemps(entry);
  }
  if (!s.ok()) {
    spdlog::error("cannot start: {}", s.ToString());
    return 1;
  }
  replica_->ScanAtStart();
  actions_->ResumeInterrupted();
  if (s = inbound_->Listen(); !s.ok()) {
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
  syncr::Status ended = loop_.Run();

  spdlog::info("stopping");
  sd_notify(0, "STOPPING=1");
  actions_->KillAll();
  links_.clear();  // each link ends its transport child
  unlink(config_.node.socket.c_str());
  if (!ended.ok()) {
    // The loop cannot go on (epoll failed): exit non-zero so that systemd
    // restarts us.
    spdlog::error("event loop failed: {}", ended.ToString());
    return 1;
  }
  return 0;
}

void DaemonImpl::AddLink(const PeerConfig& peer) {
  auto link = std::make_unique<PeerLink>(
      loop_, config_, peer, *store_, replica_->node(), *journal_,
      PeerLink::Hooks{
          [this] { return replica_->scanning(); },
          [this](const std::string& path) { feed_->Schedule(path, config_.node.settle_ms, false); },
          [this](const std::string& from, const wire::FetchReply& reply) {
            control_->OnFetchReply(from, reply);
          },
          [this](const std::string& name, const std::string& why) {
            control_->OnLinkDown(name, why);
          },
      });
  PeerLink& ref = *link;
  links_[peer.name] = std::move(link);
  ref.Start();
}

void DaemonImpl::ForEachLink(const std::function<void(PeerLink&)>& fn) {
  for (auto& [name, link] : links_) fn(*link);
}

void DaemonImpl::OnLocalChange(const Change& change, bool baseline) {
  ForEachLink([&](PeerLink& link) { link.Enqueue(change.version.path()); });
  if (!baseline) RunActionsFor(change);
}

void DaemonImpl::OnApplied(const Change& change) { RunActionsFor(change); }

// After a batch from `from`: the other peers learn what we now hold; and
// `from` evidently syncs those paths, so what it refused before goes again.
void DaemonImpl::OnBatchApplied(const std::string& from, const wire::Frame& have) {
  ForEachLink([&](PeerLink& link) {
    if (link.name() != from) {
      link.Tell(have.have());
      return;
    }
    for (const wire::Version& v : have.have().versions()) link.PeerSyncs(v.path());
  });
}

void DaemonImpl::RunActionsFor(const Change& change) {
  actions_->OnChange({change.version.path(), change.event, change.version.origin(),
                      change.version.kind() == wire::KIND_DIRECTORY});
}

std::string DaemonImpl::Resolve(const wire::ResolveRequest& request) {
  Result<Change> change = replica_->node().Resolve(request.path(), request.take());
  if (!change.ok()) return change.status().ToString();
  journal_->Note(
      request.path(), spdlog::level::info,
      "conflict on " + EscapeName(request.path()) + " resolved by the operator" +
          (request.take().empty() ? ", keeping the current content"
                                  : ", taking the version from " + Printable(request.take())));
  OnLocalChange(*change, false);
  return "";
}

// syncr wait (SPEC 12). The scan first: a save made just before the
// request, still settling in the watcher, is recorded (and sent) now.
Result<Control::WaitJudge> DaemonImpl::StartWait(const std::string& path) {
  const SyncEntry* entry = config_.FindEntry(path);
  if (!entry || IsNotSynced(config_, path)) {
    return syncr::Status::Error(EscapeName(path) + " is not synced by " + config_.source);
  }
  replica_->ScanTree(path, true);
  WaitTarget target;
  target.path = path;
  target.entry = entry->path;
  target.actions = !entry->actions.empty();
  if (std::optional<wire::Version> v = store_->GetFile(path)) target.versions.push_back(*v);
  for (wire::Version& v : store_->FilesUnder(path)) target.versions.push_back(std::move(v));
  if (target.versions.empty()) {
    return syncr::Status::Error(EscapeName(path) + " has no version on this node (no such file?)");
  }
  return Control::WaitJudge(
      [this, target = std::move(target)] { return JudgeWait(WaitInput(target), target); });
}

StatusInput DaemonImpl::WaitInput(const WaitTarget& target) {
  StatusInput in;
  in.node = config_.node.name;
  for (auto& [name, link] : links_) {
    PeerSnapshot peer = link->Snapshot();
    if (target.versions.size() > 64) {
      peer.has = store_->PeerHasUnder(name, target.path);  // one read, not one per path
    } else {
      for (const wire::Version& v : target.versions) {
        if (auto has = store_->GetPeerHas(name, v.path())) peer.has[v.path()] = *has;
      }
    }
    in.peers.push_back(std::move(peer));
  }
  in.action_reports = actions_->reports();
  if (actions_->Pending(target.entry)) in.actions_pending.insert(target.entry);
  return in;
}

wire::StatusReply DaemonImpl::StatusReply() {
  StatusInput in;
  in.node = config_.node.name;
  in.started_ns = started_ns_;
  in.files = store_->AllFiles();
  for (auto& [name, link] : links_) {
    PeerSnapshot peer = link->Snapshot();
    peer.has = store_->AllPeerHas(name);
    in.peers.push_back(std::move(peer));
  }
  in.last_action = actions_->last();
  in.action_reports = actions_->reports();
  in.actions_running = actions_->RunningEntries();
  in.problems = feed_->problems();
  if (!store_->healthy()) {
    const syncr::Status& e = store_->sticky_error();
    in.problems.push_back("state database " + store_->path() + " failed (" +
                          std::string(CodeName(e.code())) + "): " + e.ToString() + " (" +
                          std::string(Remedy(e.code())) + " in " + config_.node.state_dir +
                          ", then restart syncr); nothing is recorded or acknowledged until then");
  }
  in.path_problems = replica_->failures();
  return BuildStatus(config_, in);
}

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
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) OnChildExit(pid, status);
        break;
      }
      default:
        break;
    }
  }
}

void DaemonImpl::OnChildExit(pid_t pid, int wait_status) {
  if (actions_->OnChildExit(pid, wait_status)) return;
  for (auto& [name, link] : links_) {
    if (link->child() == pid) link->OnChildExit();
  }
}

void DaemonImpl::KeepWatchdog(int64_t period_ms) {
  sd_notify(0, "WATCHDOG=1");
  loop_.After(std::max<int64_t>(period_ms, 100), [this, period_ms] { KeepWatchdog(period_ms); });
}

// SIGHUP: re-read the config without dropping state or the channels that
// stay. Sync entries and peers that were added or removed take effect; the
// node's name, root, state_dir and socket need a restart.
void DaemonImpl::Reload() {
  Result<Config> fresh = LoadConfig(config_.source);
  if (!fresh.ok()) {
    journal_->Note(
        "", spdlog::level::err,
        "SIGHUP: keeping the running config, the new one is invalid: " + fresh.status().ToString());
    return;
  }
  const NodeConfig& was = config_.node;
  const NodeConfig& now = fresh->node;
  if (now.name != was.name || now.root != was.root || now.state_dir != was.state_dir ||
      now.socket != was.socket) {
    journal_->Note("", spdlog::level::warn,
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

  config_ = std::move(*fresh);  // every room holds a reference to config_
  replica_->Reconfine();
  InitLogging(config_.node.name, config_.node.log_level);

  // Entries: forget the watches of removed ones, watch and scan new ones.
  std::set<std::string> new_entries;
  for (const SyncEntry& e : config_.sync) new_entries.insert(e.path);
  for (const std::string& path : old_entries) {
    if (new_entries.count(path)) continue;
    feed_->ForgetEntry(path);
    journal_->Note(path, spdlog::level::info, "SIGHUP: no longer syncing " + EscapeName(path));
  }
  // Directories an inotify limit left unwatched: the operator may just have
  // raised it. Watched and rescanned now, not at the next retry; before
  // WatchEntry, which would watch a kept entry's directory without a rescan.
  feed_->RetryNow();
  actions_->ForgetStaleReports();
  for (const SyncEntry& entry : config_.sync) {
    if (syncr::Status s = feed_->WatchEntry(entry); !s.ok()) {
      journal_->Note(entry.path, spdlog::level::err, s.ToString());
    }
  }
  for (const std::string& path : new_entries) {
    if (old_entries.count(path)) continue;
    journal_->Note(path, spdlog::level::info, "SIGHUP: now syncing " + EscapeName(path));
    replica_->AddEntry(path);
    // Peers that are up learn of it now, not at their next reconnect.
    std::vector<std::string> paths;
    if (store_->GetFile(path)) paths.push_back(path);
    for (const wire::Version& v : store_->FilesUnder(path)) paths.push_back(v.path());
    ForEachLink([&](PeerLink& link) {
      for (const std::string& p : paths) link.Enqueue(p);
    });
  }

  // Peers: drop removed or changed ones, dial new ones.
  for (const auto& [name, peer] : old_peers) {
    const PeerConfig* p = config_.FindPeer(name);
    if (!p || p->ssh != peer.ssh || p->exec != peer.exec) {
      links_.erase(name);  // the link cancels its own timers and ends its child
      inbound_->DropPeer(name);
      control_->OnLinkDown(name, "peer removed from the config");
      journal_->Note("", spdlog::level::info, "SIGHUP: dropped peer " + name);
    }
  }
  for (const PeerConfig& p : config_.peers) {
    if (!links_.count(p.name)) AddLink(p);
  }
  journal_->Note("", spdlog::level::info,
                 "SIGHUP: reloaded " + config_.source + ": " + std::to_string(config_.sync.size()) +
                     " synced paths, " + std::to_string(config_.peers.size()) + " peers");
  sd_notify(0, "READY=1");
}

}  // namespace

int RunDaemon(Config config) {
  DaemonImpl daemon(std::move(config));
  return daemon.Run();
}

}  // namespace syncr
