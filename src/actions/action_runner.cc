#include "actions/action_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "common/util.h"
#include "os/subprocess.h"

namespace syncr {
namespace {

constexpr size_t kMaxOutput = 64 * 1024;
constexpr int64_t kKillGraceMs = 2000;

}  // namespace

void ActionRunner::Submit(ActionJob job) {
  if (job.commands.empty()) return;
  const std::string entry = job.entry;
  if (running_.count(entry)) {
    queued_[entry] = std::move(job);
    return;
  }
  auto run = std::make_unique<Run>();
  run->job = std::move(job);
  running_[entry] = std::move(run);
  StartNext(entry);
}

void ActionRunner::StartNext(const std::string& entry) {
  Run& run = *running_.at(entry);
  while (run.next < run.job.commands.size()) {
    const std::string& command = run.job.commands[run.next++];
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      on_run_({0, entry, command, WallNs(), WallNs(), -1, "cannot create a pipe"});
      continue;
    }
    UniqueFd read_end(fds[0]);
    UniqueFd write_end(fds[1]);
    SpawnOptions options;
    options.argv = {"/bin/sh", "-c", command};
    options.extra_env = run.job.env;
    options.stdout_fd = write_end.get();
    options.stderr_fd = write_end.get();
    Result<pid_t> pid = Spawn(options);
    if (!pid.ok()) {
      on_run_({0, entry, command, WallNs(), WallNs(), -1, pid.status().ToString()});
      continue;
    }
    run.pid = *pid;
    run.out = std::move(read_end);
    run.output.clear();
    run.timed_out = false;
    run.started_ns = WallNs();
    by_pid_[run.pid] = entry;
    loop_.Add(run.out.get(), EPOLLIN, [this, entry](uint32_t) {
      auto it = running_.find(entry);
      if (it != running_.end()) Drain(*it->second);
    });
    pid_t child = run.pid;
    run.timer = loop_.After(int64_t{run.job.timeout_s} * 1000, [this, entry, child] {
      auto it = running_.find(entry);
      if (it == running_.end() || it->second->pid != child) return;
      it->second->timed_out = true;
      kill(-child, SIGTERM);
      it->second->timer = loop_.After(kKillGraceMs, [child] { kill(-child, SIGKILL); });
    });
    return;
  }
  // All commands done: one more run if changes arrived meanwhile.
  running_.erase(entry);
  if (on_job_done_) on_job_done_(entry);
  auto q = queued_.find(entry);
  if (q != queued_.end()) {
    ActionJob next = std::move(q->second);
    queued_.erase(q);
    Submit(std::move(next));
    return;
  }
  if (on_idle_) on_idle_(entry);
}

void ActionRunner::Drain(Run& run) {
  char buf[8192];
  while (run.out.valid()) {
    ssize_t n = read(run.out.get(), buf, sizeof buf);
    if (n > 0) {
      if (run.output.size() < kMaxOutput) {
        run.output.append(buf, std::min(static_cast<size_t>(n), kMaxOutput - run.output.size()));
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {  // EOF: every writer closed
      loop_.Remove(run.out.get());
      run.out.Reset();
    }
    break;
  }
}

bool ActionRunner::OnChildExit(pid_t pid, int wait_status) {
  auto it = by_pid_.find(pid);
  if (it == by_pid_.end()) return false;
  const std::string entry = it->second;
  by_pid_.erase(it);
  int code = -1;
  if (WIFEXITED(wait_status)) code = WEXITSTATUS(wait_status);
  Finish(entry, code);
  return true;
}

void ActionRunner::Finish(const std::string& entry, int exit_code) {
  Run& run = *running_.at(entry);
  loop_.Cancel(run.timer);
  // The shell has exited; take what it wrote. A background child that keeps
  // the pipe open does not hold the run up.
  if (run.out.valid()) {
    Drain(run);
    if (run.out.valid()) {
      loop_.Remove(run.out.get());
      run.out.Reset();
    }
  }
  if (run.timed_out) {
    run.output +=
        "\n[syncr: killed after the timeout of " + std::to_string(run.job.timeout_s) + " s]";
    exit_code = -1;
  }
  ActionRun record;
  record.path = entry;
  record.command = run.job.commands[run.next - 1];
  record.started_ns = run.started_ns;
  record.finished_ns = WallNs();
  record.exit_code = exit_code;
  record.output = run.output;
  run.pid = -1;
  on_run_(record);
  if (exit_code != 0 && run.job.stop_on_error) run.next = run.job.commands.size();
  StartNext(entry);
}

// Whatever still runs is killed, and the loop keeps no timer or watch that
// points at this runner.
ActionRunner::~ActionRunner() {
  for (auto& [entry, run] : running_) {
    loop_.Cancel(run->timer);
    if (run->out.valid()) loop_.Remove(run->out.get());
    if (run->pid > 0) kill(-run->pid, SIGKILL);
  }
}

void ActionRunner::KillAll() {
  for (auto& [pid, entry] : by_pid_) kill(-pid, SIGKILL);
}

}  // namespace syncr
