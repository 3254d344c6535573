// ActionRunner: runs each synced path's commands (SPEC 8) beside
// replication. One path's runs never overlap; a change that arrives while
// they run makes exactly one more run, for the newest version. Commands run
// in order with /bin/sh -c and a timeout (SIGTERM, then SIGKILL to the
// whole process group). Output (stdout and stderr, bounded) and exit code
// are reported through the callback. Driven by the daemon's EventLoop; the
// daemon forwards child exits to OnChildExit. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "loop/event_loop.h"
#include "store/state_store.h"

namespace syncr {

struct ActionJob {
  std::string entry;  ///< the sync entry's path: runs are serialised per entry
  std::vector<std::string> commands;
  int timeout_s = 60;
  bool stop_on_error = false;
  std::vector<std::string> env;  ///< SYNCR_* as "KEY=VALUE"
};

class ActionRunner {
 public:
  /// `on_run` is called once per finished command (exit_code -1: killed);
  /// `on_job_done` when an entry's job has run its last command (before a
  /// queued job starts); `on_idle` when an entry's job has finished and
  /// nothing is queued.
  ActionRunner(EventLoop& loop, std::function<void(const ActionRun&)> on_run,
               std::function<void(const std::string& entry)> on_idle,
               std::function<void(const std::string& entry)> on_job_done = nullptr)
      : loop_(loop),
        on_run_(std::move(on_run)),
        on_idle_(std::move(on_idle)),
        on_job_done_(std::move(on_job_done)) {}
  /// Kills what still runs (its children are reaped by whoever reaps
  /// SIGCHLD) and releases the loop's timers and watches.
  ~ActionRunner();
  ActionRunner(const ActionRunner&) = delete;
  ActionRunner& operator=(const ActionRunner&) = delete;

  /// Starts `job` now, or, if the entry's actions are running, queues it as
  /// the one more run (replacing any job queued before it).
  void Submit(ActionJob job);
  /// Routes a reaped child; false if the pid is not one of ours.
  bool OnChildExit(pid_t pid, int wait_status);
  bool Running(const std::string& entry) const { return running_.count(entry) > 0; }
  /// Kills every running command (daemon shutdown).
  void KillAll();

 private:
  struct Run {
    ActionJob job;
    size_t next = 0;  ///< index of the command to start next
    pid_t pid = -1;
    UniqueFd out;
    std::string output;
    int64_t started_ns = 0;
    EventLoop::TimerId timer = 0;
    bool timed_out = false;
  };

  void StartNext(const std::string& entry);
  void Finish(const std::string& entry, int exit_code);
  void Drain(Run& run);

  EventLoop& loop_;
  std::function<void(const ActionRun&)> on_run_;
  std::function<void(const std::string&)> on_idle_;
  std::function<void(const std::string&)> on_job_done_;
  std::map<std::string, std::unique_ptr<Run>> running_;
  std::map<std::string, ActionJob> queued_;
  std::map<pid_t, std::string> by_pid_;
};

}  // namespace syncr
