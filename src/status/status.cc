#include "status/status.h"

#include <cstdlib>

#include "common/escape.h"
#include "common/util.h"
#include "engine/decide.h"
#include "engine/plan.h"

namespace syncr {

std::string ClockSkewProblem(const std::string& peer, int64_t skew_ms) {
  const int64_t s = (skew_ms < 0 ? -skew_ms : skew_ms) / 1000;
  return "the clock of " + peer + " is " + std::to_string(s) + " s " +
         (skew_ms > 0 ? "ahead of" : "behind") +
         " this node's: conflicts are decided by the later change, so keep the clocks "
         "synchronised (NTP, chrony)";
}

int64_t ClockSkewAtLeastMs(int64_t peer_wall_ns, int64_t our_sent_ns, int64_t our_read_ns) {
  if (peer_wall_ns == 0 || our_read_ns < our_sent_ns) return 0;  // unknown, or our clock stepped
  if (peer_wall_ns > our_read_ns) return (peer_wall_ns - our_read_ns) / 1000000;
  if (peer_wall_ns < our_sent_ns) return -((our_sent_ns - peer_wall_ns) / 1000000);
  return 0;  // within the round trip: no skew proven
}

std::string FailedActionsProblem(const std::string& node, const wire::ActionReport& report) {
  const wire::ActionResult* first = nullptr;
  int failed = 0;
  for (const wire::ActionResult& r : report.results()) {
    if (r.exit_code() == 0) continue;
    if (!first) first = &r;
    ++failed;
  }
  std::string what = "the actions failed";
  if (first) {
    what = "`" + Printable(first->command()) + "` " +
           (first->exit_code() < 0 ? std::string("was killed (timeout or signal)")
                                   : "exited " + std::to_string(first->exit_code())) +
           " at " + FormatTime(first->finished_ns());
    if (failed > 1) what += " (and " + std::to_string(failed - 1) + " more of the list)";
  }
  return "actions for " + report.entry() + " failed on " + node + ": " + what +
         "; see `syncr log " + report.entry() + "` on " + node +
         ", fix the cause; they run again at the entry's next change";
}

namespace {

/// The path problem for a version `peer` failed to apply (it is retried).
std::string ApplyFailedProblem(const std::string& peer, const std::string& error) {
  return peer + ": could not apply it: " + error + " (retried until it applies)";
}

/// A connected peer's row has no channel error to show: its LAST ERROR says
/// what it could not apply, so "pending" never comes without a reason.
std::string FailingSummary(const wire::PeerStatus& p) {
  if (p.failing().empty()) return "";
  std::string out = "could not apply " + p.failing(0).path() + ": " + p.failing(0).error();
  if (p.failing_size() > 1) out += " (and " + std::to_string(p.failing_size() - 1) + " more)";
  return out;
}

}  // namespace

wire::StatusReply BuildStatus(const Config& config, const StatusInput& input) {
  wire::StatusReply reply;
  reply.set_node(input.node);
  reply.set_started_ns(input.started_ns);
  bool in_sync = input.problems.empty();
  std::vector<const wire::Version*> files;
  for (const wire::Version& v : input.files) {
    if (config.FindEntry(v.path())) files.push_back(&v);
  }
  auto lacks = [](const PeerSnapshot& peer, const wire::Version& v) {
    if (v.kind() == wire::KIND_NONE) return false;
    auto it = peer.has.find(v.path());
    return PeerLacks(v, it == peer.has.end() ? nullptr : &it->second);
  };

  for (const PeerSnapshot& peer : input.peers) {
    wire::PeerStatus* p = reply.add_peers();
    p->set_name(peer.name);
    p->set_connected(peer.connected);
    p->set_since_ns(peer.since_ns);
    p->set_last_error(peer.last_error);
    p->set_transport(peer.transport);
    p->set_clock_skew_ms(peer.clock_skew_ms);
    if (std::abs(peer.clock_skew_ms) >= kClockSkewWarnMs) {
      reply.add_problems(ClockSkewProblem(peer.name, peer.clock_skew_ms));
      in_sync = false;
    }
    uint64_t pending = 0;
    for (const wire::Version* v : files) {
      if (!lacks(peer, *v) || peer.refused.count(v->path())) continue;
      ++pending;
      if (auto failed = peer.failed.find(v->path()); failed != peer.failed.end()) {
        wire::PathFailure* f = p->add_failing();
        f->set_path(EscapeName(v->path()));
        f->set_error(failed->second);
      }
    }
    p->set_pending(pending);
    if (peer.connected && peer.last_error.empty()) p->set_last_error(FailingSummary(*p));
    if (!peer.connected || pending > 0) in_sync = false;
  }
  for (const wire::Version* v : files) {
    wire::PathStatus* ps = reply.add_paths();
    ps->set_path(EscapeName(v->path()));
    const SyncEntry* entry = config.FindEntry(v->path());
    ps->set_entry(entry->path);
    *ps->mutable_version() = *v;
    ps->mutable_version()->clear_path();  // bytes: shown escaped in ps->path
    for (const PeerSnapshot& peer : input.peers) {
      if (!lacks(peer, *v)) continue;
      auto refused = peer.refused.find(v->path());
      if (refused == peer.refused.end()) {
        ps->add_pending_to(peer.name);
        auto failed = peer.failed.find(v->path());
        if (failed != peer.failed.end()) {
          ps->add_problems(ApplyFailedProblem(peer.name, failed->second));
        }
      } else {
        ps->add_refused_by(peer.name);
        if (!refused->second.empty()) ps->add_problems(peer.name + ": " + refused->second);
      }
    }
    ps->set_state(PathState(*v, ps->pending_to_size(), ps->refused_by_size()));
    if (StateBlocksSync(ps->state())) in_sync = false;
    if (auto problem = input.path_problems.find(v->path()); problem != input.path_problems.end()) {
      ps->add_problems(input.node + ": " + problem->second);
      in_sync = false;
    }
    auto last = input.last_action.find(entry->path);
    if (last != input.last_action.end()) *ps->mutable_last_action() = last->second;
    if (input.actions_running.count(entry->path)) ps->mutable_last_action()->set_running(true);
  }
  for (const std::string& p : input.problems) reply.add_problems(p);
  // SPEC 10: any failed command of an entry's last run, on any node, until
  // a later run there succeeds.
  auto failed_run = [&](const std::string& node, const wire::ActionReport& report) {
    if (report.ok() || !config.FindEntry(report.entry())) return;
    reply.add_problems(FailedActionsProblem(node, report));
    in_sync = false;
  };
  for (const auto& [entry, report] : input.action_reports) failed_run(input.node, report);
  for (const PeerSnapshot& peer : input.peers) {
    for (const auto& [entry, report] : peer.actions) failed_run(peer.name, report);
  }
  // A path this node failed on that it holds no version of (a new file it
  // could not apply) has no row: it is a node-wide problem.
  std::set<std::string> rows;
  if (!input.path_problems.empty()) {
    for (const wire::Version* v : files) rows.insert(v->path());
  }
  for (const auto& [path, why] : input.path_problems) {
    if (config.FindEntry(path) && !rows.count(path)) {
      reply.add_problems(EscapeName(path) + ": " + why);
      in_sync = false;
    }
  }
  reply.set_in_sync(in_sync);
  return reply;
}

wire::WaitReply JudgeWait(const StatusInput& input, const WaitTarget& target) {
  wire::WaitReply reply;
  for (const wire::Version& v : target.versions) {
    if (v.path() == target.path) reply.set_version(ToString(v.vv()));
  }
  bool done = true;
  bool failed = false;
  // One node, once it holds every target: its actions. `heard` says its
  // reports reach us now (this node, or a peer whose link is up: a peer
  // sends them before its Summary). Whatever the config here says, a run
  // to come or a failed one counts: the peer's config may have actions.
  auto judge = [&](const std::string& node, bool heard, bool pending,
                   const wire::ActionReport* last) {
    std::string waiting;
    if (!heard) {
      if (target.actions) waiting = "holds it; not connected, so its actions cannot be known";
    } else if (pending) {
      waiting = "holds it; its actions have not finished";
    } else if (last && !last->ok()) {
      failed = true;
      waiting = FailedActionsProblem(node, *last);
    }
    done = done && waiting.empty();
    const bool ran = last && !last->results().empty();
    reply.add_nodes(node + ": " +
                    (!waiting.empty()
                         ? waiting
                         : std::string(ran ? "holds it; actions succeeded" : "holds it")));
  };
  auto last_of = [&](const std::map<std::string, wire::ActionReport>& reports) {
    auto it = reports.find(target.entry);
    return it == reports.end() ? nullptr : &it->second;
  };
  judge(input.node, true, input.actions_pending.count(target.entry) > 0,
        last_of(input.action_reports));
  for (const PeerSnapshot& peer : input.peers) {
    std::string waiting;
    for (const wire::Version& v : target.versions) {
      if (auto refused = peer.refused.find(v.path()); refused != peer.refused.end()) {
        failed = true;
        waiting = "refuses " + EscapeName(v.path()) + ": " + refused->second;
        break;
      }
      auto has = peer.has.find(v.path());
      if (v.kind() == wire::KIND_NONE ||
          !PeerLacks(v, has == peer.has.end() ? nullptr : &has->second)) {
        continue;
      }
      waiting = "has not applied " + EscapeName(v.path()) + " yet";
      if (auto why = peer.failed.find(v.path()); why != peer.failed.end()) {
        waiting += ": it could not: " + why->second;
      } else if (!peer.connected) {
        waiting +=
            ": not connected" + (peer.last_error.empty() ? "" : " (" + peer.last_error + ")");
      }
      break;
    }
    if (!waiting.empty()) {
      done = false;
      reply.add_nodes(peer.name + ": " + waiting);
      continue;
    }
    judge(peer.name, peer.connected && peer.state == "up",
          peer.actions_pending.count(target.entry) > 0, last_of(peer.actions));
  }
  reply.set_done(done && !failed);
  reply.set_failed(failed);
  return reply;
}

}  // namespace syncr
