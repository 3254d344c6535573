#include "actions/action_scheduler.h"

#include "common/escape.h"

namespace syncr {

ActionScheduler::ActionScheduler(EventLoop& loop, const Config& config, Journal& journal,
                                 std::function<void(const wire::ActionReport&)> on_report)
    : loop_(loop),
      config_(config),
      journal_(journal),
      runner_(
          loop, [this](const ActionRun& run) { OnRun(run); },
          // Changes that arrived while the actions ran: one more run for them.
          [this](const std::string& entry) { Flush(entry); },
          [this](const std::string& entry) { OnJobDone(entry); }),
      on_report_(std::move(on_report)) {
  // The last runs before a restart: a failure there is still a failure,
  // and a run still to come then was cut short by the stop (Resume).
  for (wire::ActionReport& report : journal_.KeptReports()) {
    if (!HasActions(report.entry())) {
      journal_.DropReport(report.entry());
      continue;
    }
    if (report.pending()) interrupted_.insert(report.entry());
    report.clear_pending();
    if (report.results().empty()) continue;
    last_[report.entry()] = *report.results().rbegin();
    reports_[report.entry()] = std::move(report);
  }
}

void ActionScheduler::ResumeInterrupted() {
  for (const std::string& entry : interrupted_) {
    if (!HasActions(entry)) continue;
    journal_.Note(entry, spdlog::level::warn,
                  "actions for " + EscapeName(entry) +
                      " were cut short when syncr last stopped (a change had not had its run, "
                      "or its run had not finished): running them again");
    OnChange({entry, "modified", config_.node.name});
  }
  interrupted_.clear();
}

// What is kept across a restart: the last finished run, and whether a run
// was to come (so that a stop before it ran does not lose it).
void ActionScheduler::Keep(const std::string& entry, bool pending) {
  wire::ActionReport kept;
  if (auto it = reports_.find(entry); it != reports_.end()) kept = it->second;
  kept.set_entry(entry);
  kept.set_pending(pending);
  journal_.KeepReport(kept);
}

bool ActionScheduler::HasActions(const std::string& entry) const {
  const SyncEntry* e = config_.FindEntry(entry);
  return e && e->path == entry && !e->actions.empty();
}

ActionScheduler::~ActionScheduler() {
  for (auto& [entry, batch] : batches_) loop_.Cancel(batch.timer);
}

void ActionScheduler::OnChange(const ActionChange& change) {
  const SyncEntry* entry = config_.FindEntry(change.path);
  if (!entry || entry->actions.empty()) return;
  Batch& batch = batches_[entry->path];
  if (batch.changes.empty()) batch.first_ms = loop_.clock().MonoMs();
  batch.changes.push_back(change);
  if (told_pending_.insert(entry->path).second) {
    Keep(entry->path, true);
    // Before the Ack of the version that made this change: a peer waiting
    // for our actions (syncr wait) knows a report follows.
    wire::ActionReport pending;
    pending.set_entry(entry->path);
    pending.set_pending(true);
    if (on_report_) on_report_(pending);
  }
  const bool tree = change.path != entry->path || change.directory;
  const int64_t delay =
      ActionDelayMs(tree, batch.first_ms, loop_.clock().MonoMs(), kQuietMs, kMaxGatherMs);
  loop_.Cancel(batch.timer);
  const std::string key = entry->path;
  batch.timer = loop_.After(delay, [this, key] {
    batches_[key].timer = 0;
    Flush(key);
  });
}

void ActionScheduler::Flush(const std::string& entry_path) {
  auto it = batches_.find(entry_path);
  if (it == batches_.end()) return;
  Batch& batch = it->second;
  if (batch.changes.empty() || batch.timer || runner_.Running(entry_path)) return;
  const SyncEntry* entry = config_.FindEntry(entry_path);
  if (!entry || entry->path != entry_path || entry->actions.empty()) {
    batches_.erase(it);  // a reload took the entry or its actions away
    EndPending(entry_path);
    return;
  }
  ActionPlan plan = PlanActions(config_, *entry, batch.changes);
  ActionJob job;
  job.entry = entry->path;
  job.commands = entry->actions;
  job.timeout_s = entry->timeout_s;
  job.stop_on_error = entry->stop_on_error;
  job.env = std::move(plan.env);
  journal_.Note(entry->path, spdlog::level::info,
                "actions for " + EscapeName(entry->path) + " started (" + plan.event + " from " +
                    plan.origin +
                    (plan.tree ? ", " + std::to_string(plan.changed) + " changed paths" : "") +
                    ")");
  batches_.erase(it);
  runner_.Submit(std::move(job));
}

void ActionScheduler::OnRun(const ActionRun& run) {
  journal_.Ran(run);
  wire::ActionResult& last = last_[run.path];
  last.set_started_ns(run.started_ns);
  last.set_finished_ns(run.finished_ns);
  last.set_exit_code(run.exit_code);
  last.set_command(run.command);
  wire::ActionReport& report = running_report_[run.path];
  report.set_entry(run.path);
  *report.add_results() = last;
  std::string out = run.output;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  auto level = run.exit_code == 0 ? spdlog::level::info : spdlog::level::warn;
  journal_.Note(run.path, level,
                "action finished on " + EscapeName(run.path) + ": `" + run.command + "` exit " +
                    std::to_string(run.exit_code) +
                    (out.empty() ? "" : ", output: " + EscapeName(out)));
}

void ActionScheduler::ForgetStaleReports() {
  for (auto it = reports_.begin(); it != reports_.end();) {
    if (HasActions(it->first)) {
      ++it;
      continue;
    }
    wire::ActionReport cleared;
    cleared.set_entry(it->first);
    cleared.set_ok(true);
    journal_.DropReport(it->first);
    it = reports_.erase(it);
    if (on_report_) on_report_(cleared);
  }
}

void ActionScheduler::OnJobDone(const std::string& entry) {
  auto it = running_report_.find(entry);
  if (it == running_report_.end()) return;
  wire::ActionReport report = std::move(it->second);
  running_report_.erase(it);
  bool ok = true;
  for (const wire::ActionResult& r : report.results()) ok = ok && r.exit_code() == 0;
  report.set_ok(ok);
  reports_[entry] = report;
  report.set_pending(Pending(entry));  // changes that came while it ran: one more run
  Keep(entry, report.pending());
  if (!report.pending()) told_pending_.erase(entry);
  if (on_report_) on_report_(report);
}

// No run follows what the peers were told is to come: they must not wait
// for it. The entry (or its actions) is gone, so an ok report clears it.
void ActionScheduler::EndPending(const std::string& entry) {
  if (!told_pending_.erase(entry)) return;
  journal_.DropReport(entry);
  if (!on_report_) return;
  wire::ActionReport ended;
  ended.set_entry(entry);
  ended.set_ok(true);
  on_report_(ended);
}

bool ActionScheduler::Pending(const std::string& entry) const {
  auto it = batches_.find(entry);
  return runner_.Running(entry) || (it != batches_.end() && !it->second.changes.empty());
}

std::vector<wire::ActionReport> ActionScheduler::ReportsForPeers() const {
  std::vector<wire::ActionReport> out;
  for (const auto& [entry, report] : reports_) {
    out.push_back(report);
    out.back().set_pending(Pending(entry));
  }
  for (const std::string& entry : told_pending_) {
    if (reports_.count(entry) || !Pending(entry)) continue;
    out.emplace_back();
    out.back().set_entry(entry);
    out.back().set_pending(true);
  }
  return out;
}

std::set<std::string> ActionScheduler::RunningEntries() const {
  std::set<std::string> out;
  for (const SyncEntry& e : config_.sync) {
    if (runner_.Running(e.path)) out.insert(e.path);
  }
  return out;
}

}  // namespace syncr
