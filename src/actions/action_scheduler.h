// ActionScheduler: decides when each sync entry's actions run (SPEC 8) and
// hands the runs to an ActionRunner. Changes are gathered per entry: a file
// entry's run starts on the next turn of the loop, a directory entry's
// after a quiet spell (see ActionDelayMs), so ten files changed together
// make one `systemctl reload`. While an entry's actions run, later changes
// wait and make exactly one more run, for the newest versions. It owns the
// gathering timers and cancels them when destroyed. Not thread-safe.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "actions/action_runner.h"
#include "config/config.h"
#include "engine/plan.h"
#include "loop/event_loop.h"
#include "store/journal.h"

namespace syncr {

class ActionScheduler {
 public:
  static constexpr int64_t kQuietMs = 100;
  static constexpr int64_t kMaxGatherMs = 1000;

  /// `on_report` is told each finished run of an entry's actions (every
  /// command's result), and, when a change is first handed to an entry, a
  /// report with only `pending` set: both go to the peers.
  ActionScheduler(EventLoop& loop, const Config& config, Journal& journal,
                  std::function<void(const wire::ActionReport&)> on_report = nullptr);
  ~ActionScheduler();
  ActionScheduler(const ActionScheduler&) = delete;
  ActionScheduler& operator=(const ActionScheduler&) = delete;

  /// A change landed on this node's disk: run its entry's actions soon.
  void OnChange(const ActionChange& change);
  /// Routes a reaped child to the runner; false if not one of ours.
  bool OnChildExit(pid_t pid, int wait_status) { return runner_.OnChildExit(pid, wait_status); }
  bool Running(const std::string& entry) const { return runner_.Running(entry); }
  std::set<std::string> RunningEntries() const;
  /// The last finished command of each entry.
  const std::map<std::string, wire::ActionResult>& last() const { return last_; }
  /// The last finished run of each entry: a failure of any command in it
  /// stays until a later run of the entry succeeds (SPEC 10). Kept in the
  /// store (Journal::KeepReport), so a restart does not forget it.
  const std::map<std::string, wire::ActionReport>& reports() const { return reports_; }
  /// Runs again the entries whose run was to come when the daemon last
  /// stopped (kept in the store): once, after the start-up scan.
  void ResumeInterrupted();
  /// A run of `entry` is gathering or running: its report is still to come.
  bool Pending(const std::string& entry) const;
  /// What a peer is told after its Summary: the last run of each entry,
  /// and which entries have a run to come (ActionReport.pending).
  std::vector<wire::ActionReport> ReportsForPeers() const;
  /// After a reload: the last run of an entry no longer synced, or that has
  /// no actions any more, can never be replaced by a later run, so it is
  /// dropped here and the peers are told it is cleared (an ok report).
  void ForgetStaleReports();
  /// Kills every running command (shutdown).
  void KillAll() { runner_.KillAll(); }

 private:
  struct Batch {
    std::vector<ActionChange> changes;
    EventLoop::TimerId timer = 0;
    int64_t first_ms = 0;
  };
  /// `entry` is a sync entry of the config with actions.
  bool HasActions(const std::string& entry) const;
  void Flush(const std::string& entry);
  void EndPending(const std::string& entry);
  void Keep(const std::string& entry, bool pending);
  void OnRun(const ActionRun& run);
  void OnJobDone(const std::string& entry);

  EventLoop& loop_;
  const Config& config_;
  Journal& journal_;
  ActionRunner runner_;
  std::map<std::string, Batch> batches_;
  std::map<std::string, wire::ActionResult> last_;
  std::map<std::string, wire::ActionReport> running_report_;  ///< the run not finished yet
  std::map<std::string, wire::ActionReport> reports_;
  /// Entries the peers were told have a run to come, until its report.
  std::set<std::string> told_pending_;
  std::set<std::string> interrupted_;  ///< a run was to come at the last stop
  std::function<void(const wire::ActionReport&)> on_report_;
};

}  // namespace syncr
