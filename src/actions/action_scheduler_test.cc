#include "actions/action_scheduler.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cerrno>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "loop/clock.h"
#include "loop/event_loop.h"
#include "store/journal.h"
#include "store/state_store.h"
#include "testing/testing.h"

namespace syncr {
namespace {

constexpr char kFile[] = "/etc/app.conf";
constexpr char kTree[] = "/etc/app.d";
constexpr char kFailing[] = "/etc/failing.conf";

/// An ActionScheduler on a FakeClock loop whose commands are real /bin/sh
/// runs. Each run appends "PATH|EVENT|ORIGIN|CHANGED" (CHANGED with ','
/// for newlines) to runs_file() and prints "ran". Nothing reaps children
/// here but Reap(), so each run stays "running" until the test reaps it.
class ActionSchedulerTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    config_ = NodeConfigIn(dir_.path());
    const std::string record =
        "echo \"$SYNCR_PATH|$SYNCR_EVENT|$SYNCR_ORIGIN|$(printf %s \"$SYNCR_CHANGED\" | tr '\\n' "
        ",)\" >> " +
        runs_file() + "; echo ran";
    SyncEntry file;
    file.path = kFile;
    file.actions = {record};
    SyncEntry tree;
    tree.path = kTree;
    tree.actions = {record};
    SyncEntry failing;
    failing.path = kFailing;
    failing.actions = {"echo oops >&2; exit 3", record};
    failing.stop_on_error = true;
    SyncEntry quiet;
    quiet.path = "/etc/quiet.conf";
    config_.sync = {file, tree, failing, quiet};

    Result<std::unique_ptr<StateStore>> store = StateStore::Open(config_.node.state_dir, false);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    journal_ = std::make_unique<Journal>(*store_);
    ASSERT_TRUE(loop_.Init().ok());
    scheduler_ = std::make_unique<ActionScheduler>(loop_, config_, *journal_);
  }

  void TearDown() override {
    // No test may leave a child behind for the next one.
    int status = 0;
    EXPECT_EQ(waitpid(-1, &status, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD);
  }

  std::string runs_file() const { return dir_.path() + "/runs"; }

  /// The lines the runs so far appended.
  std::vector<std::string> Runs() const {
    std::vector<std::string> lines;
    std::istringstream in(ReadFile(runs_file()));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  /// Waits for the running command to exit and hands it to the scheduler,
  /// as the daemon does on SIGCHLD.
  void Reap() {
    for (;;) {
      int status = 0;
      const pid_t pid = waitpid(-1, &status, 0);
      if (pid < 0 && errno == EINTR) continue;
      ASSERT_GT(pid, 0) << "no child to reap";
      if (scheduler_->OnChildExit(pid, status)) return;
    }
  }

  TempDir dir_;
  Config config_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Journal> journal_;
  FakeClock clock_;
  EventLoop loop_{clock_};
  std::unique_ptr<ActionScheduler> scheduler_;
};

TEST_F(ActionSchedulerTest, AFileEntrysChangeRunsOnTheNextTurn) {
  scheduler_->OnChange({kFile, "modified", "b"});
  EXPECT_FALSE(scheduler_->Running(kFile));
  EXPECT_EQ(loop_.next_deadline_ms(), clock_.MonoMs());

  loop_.RunDueTimers();
  EXPECT_TRUE(scheduler_->Running(kFile));
  EXPECT_EQ(scheduler_->RunningEntries(), (std::set<std::string>{kFile}));

  Reap();
  EXPECT_FALSE(scheduler_->Running(kFile));
  EXPECT_EQ(Runs(), (std::vector<std::string>{"/etc/app.conf|modified|b|"}));
  ASSERT_TRUE(scheduler_->last().count(kFile));
  EXPECT_EQ(scheduler_->last().at(kFile).exit_code(), 0);
  EXPECT_EQ(scheduler_->last().at(kFile).command(), config_.sync[0].actions[0]);
  const std::vector<ActionRun> kept = store_->ActionRuns(kFile, 10);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].output, "ran\n");  // read from the pipe when the child was reaped
  EXPECT_EQ(loop_.pending_timers(), 0u);
}

TEST_F(ActionSchedulerTest, AnEntryWithoutActionsOrAPathOutsideAnyEntryRunsNothing) {
  scheduler_->OnChange({"/etc/quiet.conf", "modified", "b"});
  scheduler_->OnChange({"/srv/elsewhere", "modified", "b"});
  EXPECT_EQ(loop_.pending_timers(), 0u);
  loop_.RunDueTimers();
  EXPECT_TRUE(scheduler_->RunningEntries().empty());
}

TEST_F(ActionSchedulerTest, AFailingCommandsOutputAndExitCodeAreReported) {
  scheduler_->OnChange({kFailing, "modified", "b"});
  loop_.RunDueTimers();
  Reap();
  EXPECT_FALSE(scheduler_->Running(kFailing));  // stop_on_error: the second never starts
  EXPECT_TRUE(Runs().empty());
  EXPECT_EQ(scheduler_->last().at(kFailing).exit_code(), 3);
  const std::vector<ActionRun> kept = store_->ActionRuns(kFailing, 10);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].output, "oops\n");
  EXPECT_EQ(kept[0].exit_code, 3);
}

// SPEC 10: a failed command followed by one that succeeds must not look
// like a good run. The run's report keeps every command's result and is not
// ok; it stays the entry's report until a later run succeeds.
TEST_F(ActionSchedulerTest, AFailureAnywhereInTheListMakesTheRunFailedUntilARunSucceeds) {
  const std::string flag = dir_.path() + "/fixed";
  config_.sync[0].actions = {"test -e " + flag, "echo second"};
  std::vector<wire::ActionReport> told;
  scheduler_ = std::make_unique<ActionScheduler>(loop_, config_, *journal_,
                                                 [&](const wire::ActionReport& r) {
                                                   if (!r.results().empty() || r.ok()) {
                                                     told.push_back(r);  // finished runs
                                                   }
                                                 });
  scheduler_->OnChange({kFile, "modified", "b"});
  loop_.RunDueTimers();
  Reap();
  Reap();  // no stop_on_error: the second command runs, and succeeds
  EXPECT_FALSE(scheduler_->Running(kFile));
  EXPECT_EQ(scheduler_->last().at(kFile).exit_code(), 0) << "the last command is the good one";
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].entry(), kFile);
  EXPECT_FALSE(told[0].ok());
  ASSERT_EQ(told[0].results_size(), 2);
  EXPECT_EQ(told[0].results(0).exit_code(), 1);
  EXPECT_EQ(told[0].results(0).command(), "test -e " + flag);
  EXPECT_EQ(told[0].results(1).exit_code(), 0);
  ASSERT_TRUE(scheduler_->reports().count(kFile));
  EXPECT_FALSE(scheduler_->reports().at(kFile).ok());

  std::ofstream(flag).close();
  scheduler_->OnChange({kFile, "modified", "b"});
  loop_.RunDueTimers();
  Reap();
  Reap();
  ASSERT_EQ(told.size(), 2u);
  EXPECT_TRUE(told[1].ok());
  EXPECT_TRUE(scheduler_->reports().at(kFile).ok());
}

// A failed run of an entry whose actions a reload removed could never be
// replaced by a later run: it is dropped, and the peers told it is cleared.
TEST_F(ActionSchedulerTest, AReloadThatRemovesAnEntrysActionsClearsItsFailedRun) {
  std::vector<wire::ActionReport> told;
  scheduler_ = std::make_unique<ActionScheduler>(loop_, config_, *journal_,
                                                 [&](const wire::ActionReport& r) {
                                                   if (!r.results().empty() || r.ok()) {
                                                     told.push_back(r);  // finished runs
                                                   }
                                                 });
  scheduler_->OnChange({kFailing, "modified", "b"});
  loop_.RunDueTimers();
  Reap();
  ASSERT_EQ(told.size(), 1u);
  ASSERT_FALSE(told[0].ok());
  scheduler_->ForgetStaleReports();  // nothing changed: kept
  EXPECT_EQ(told.size(), 1u);
  EXPECT_FALSE(scheduler_->reports().at(kFailing).ok());

  config_.sync[2].actions.clear();  // what the reload changed
  scheduler_->ForgetStaleReports();
  EXPECT_FALSE(scheduler_->reports().count(kFailing));
  EXPECT_TRUE(store_->ActionReports().empty()) << "and from the store";
  ASSERT_EQ(told.size(), 2u);
  EXPECT_EQ(told[1].entry(), kFailing);
  EXPECT_TRUE(told[1].ok());
}

// SPEC 10 across a restart: the last run of each entry is kept in the
// store, so a failure is still shown (and sent to the peers) by the next
// daemon; a kept run of an entry that no longer has actions is dropped.
TEST_F(ActionSchedulerTest, TheLastRunOfEachEntrySurvivesARestart) {
  scheduler_->OnChange({kFailing, "modified", "b"});
  loop_.RunDueTimers();
  Reap();
  ASSERT_FALSE(scheduler_->reports().at(kFailing).ok());

  scheduler_ = std::make_unique<ActionScheduler>(loop_, config_, *journal_);  // restarted
  ASSERT_TRUE(scheduler_->reports().count(kFailing));
  const wire::ActionReport& kept = scheduler_->reports().at(kFailing);
  EXPECT_FALSE(kept.ok());
  ASSERT_EQ(kept.results_size(), 1);  // stop_on_error: the second never ran
  EXPECT_EQ(kept.results(0).exit_code(), 3);
  EXPECT_EQ(scheduler_->last().at(kFailing).exit_code(), 3) << "status's LAST ACTION too";

  config_.sync[2].actions.clear();  // restarted with a config that dropped them
  scheduler_ = std::make_unique<ActionScheduler>(loop_, config_, *journal_);
  EXPECT_FALSE(scheduler_->reports().count(kFailing));
  EXPECT_TRUE(store_->ActionReports().empty()) << "dropped from the store as well";
}

// syncr wait (SPEC 12): a change handed to an entry's actions is told to
// the peers at once (pending), before the Ack of the version that made it;
// the run's report ends it, unless changes came meanwhile (one more run).
TEST_F(ActionSchedulerTest, PeersAreToldARunIsToComeUntilItsReport) {
  std::vector<wire::ActionReport> told;
  scheduler_ = std::make_unique<ActionScheduler>(
      loop_, config_, *journal_, [&](const wire::ActionReport& r) { told.push_back(r); });
  scheduler_->OnChange({kFile, "modified", "b"});
  ASSERT_EQ(told.size(), 1u);
  EXPECT_TRUE(told[0].pending());
  EXPECT_TRUE(told[0].results().empty());
  EXPECT_TRUE(scheduler_->Pending(kFile));
  scheduler_->OnChange({kFile, "modified", "b"});
  EXPECT_EQ(told.size(), 1u) << "told once until the report";

  loop_.RunDueTimers();                            // the run starts
  scheduler_->OnChange({kFile, "modified", "c"});  // arrives while it runs
  ASSERT_EQ(scheduler_->ReportsForPeers().size(), 1u);
  EXPECT_TRUE(scheduler_->ReportsForPeers()[0].pending());
  Reap();
  ASSERT_EQ(told.size(), 2u);
  EXPECT_TRUE(told[1].ok());
  EXPECT_TRUE(told[1].pending()) << "the change that came meanwhile makes one more run";
  loop_.RunDueTimers();
  Reap();
  ASSERT_EQ(told.size(), 3u);
  EXPECT_FALSE(told[2].pending());
  EXPECT_FALSE(scheduler_->Pending(kFile));
  ASSERT_EQ(scheduler_->ReportsForPeers().size(), 1u);
  EXPECT_FALSE(scheduler_->ReportsForPeers()[0].pending());
  EXPECT_FALSE(scheduler_->reports().at(kFile).pending()) << "kept without the flag";
}

// A stop between a change and its run (or during the run) does not lose
// the run: the next start runs the entry's actions again, once.
TEST_F(ActionSchedulerTest, ARunCutShortByAStopRunsAtTheNextStart) {
  scheduler_->OnChange({kFile, "modified", "b"});  // gathering: not run yet
  scheduler_ = std::make_unique<ActionScheduler>(loop_, config_, *journal_);  // restarted
  loop_.RunDueTimers();
  EXPECT_TRUE(Runs().empty()) << "nothing runs before ResumeInterrupted";
  scheduler_->ResumeInterrupted();
  loop_.RunDueTimers();
  Reap();
  EXPECT_EQ(Runs(), (std::vector<std::string>{"/etc/app.conf|modified|a|"}));
  EXPECT_FALSE(scheduler_->Pending(kFile));

  scheduler_ = std::make_unique<ActionScheduler>(loop_, config_, *journal_);  // again
  scheduler_->ResumeInterrupted();
  loop_.RunDueTimers();
  EXPECT_FALSE(scheduler_->Pending(kFile)) << "that run finished: nothing to resume";
}

// A reload that takes the entry's actions away while a change gathers: no
// run follows, and the peers are told so (they must not wait for it).
TEST_F(ActionSchedulerTest, APendingRunThatWillNotComeIsEnded) {
  std::vector<wire::ActionReport> told;
  scheduler_ = std::make_unique<ActionScheduler>(
      loop_, config_, *journal_, [&](const wire::ActionReport& r) { told.push_back(r); });
  scheduler_->OnChange({kFile, "modified", "b"});
  ASSERT_EQ(told.size(), 1u);
  ASSERT_TRUE(told[0].pending());
  config_.sync[0].actions.clear();
  loop_.RunDueTimers();
  ASSERT_EQ(told.size(), 2u);
  EXPECT_FALSE(told[1].pending());
  EXPECT_TRUE(told[1].ok());
  EXPECT_FALSE(scheduler_->Pending(kFile));
  EXPECT_TRUE(scheduler_->ReportsForPeers().empty());
  config_.sync[0].actions = {"true"};  // and back: told pending again
  scheduler_->OnChange({kFile, "modified", "b"});
  ASSERT_EQ(told.size(), 3u);
  EXPECT_TRUE(told[2].pending());
  loop_.RunDueTimers();
  Reap();
}

TEST_F(ActionSchedulerTest, ADirectoryEntrysBurstMakesOneRunAfterAQuietSpell) {
  scheduler_->OnChange({"/etc/app.d/x", "created", "b"});
  AdvanceAndRunTimers(clock_, loop_, 60);
  scheduler_->OnChange({"/etc/app.d/y", "deleted", "c"});  // the quiet spell starts again
  AdvanceAndRunTimers(clock_, loop_, ActionScheduler::kQuietMs - 1);
  EXPECT_FALSE(scheduler_->Running(kTree));

  AdvanceAndRunTimers(clock_, loop_, 1);
  EXPECT_TRUE(scheduler_->Running(kTree));
  Reap();
  EXPECT_EQ(Runs(), (std::vector<std::string>{"/etc/app.d|modified|c|/etc/app.d/x,/etc/app.d/y,"}));
  EXPECT_EQ(loop_.pending_timers(), 0u);
}

TEST_F(ActionSchedulerTest, ADirectoryEntrysBurstRunsNoLaterThanTheMaximumAfterItsFirstChange) {
  const int64_t first = clock_.MonoMs();
  // A change every 50 ms: never 100 ms of quiet.
  int changes = 0;
  while (!scheduler_->Running(kTree)) {
    ASSERT_LT(clock_.MonoMs() - first, ActionScheduler::kMaxGatherMs) << "no run yet";
    scheduler_->OnChange({"/etc/app.d/f" + std::to_string(changes++), "modified", "b"});
    AdvanceAndRunTimers(clock_, loop_, 50);
  }
  EXPECT_EQ(clock_.MonoMs() - first, ActionScheduler::kMaxGatherMs);
  EXPECT_EQ(changes, 20);
  Reap();
  const std::vector<std::string> runs = Runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].rfind("/etc/app.d|modified|b|/etc/app.d/f0,", 0), 0u) << runs[0];
  EXPECT_NE(runs[0].find(",/etc/app.d/f19,"), std::string::npos) << runs[0];
}

TEST_F(ActionSchedulerTest, ChangesWhileRunningMakeExactlyOneMoreRun) {
  scheduler_->OnChange({kFile, "modified", "b"});
  loop_.RunDueTimers();
  ASSERT_TRUE(scheduler_->Running(kFile));

  scheduler_->OnChange({kFile, "deleted", "c"});
  AdvanceAndRunTimers(clock_, loop_, 10);
  scheduler_->OnChange({kFile, "deleted", "d"});
  AdvanceAndRunTimers(clock_, loop_, 10);
  EXPECT_EQ(loop_.pending_timers(), 1u);  // only the first run's timeout: nothing new started

  Reap();  // the first run ends: the one more run starts at once
  EXPECT_TRUE(scheduler_->Running(kFile));
  Reap();
  EXPECT_FALSE(scheduler_->Running(kFile));
  AdvanceAndRunTimers(clock_, loop_, ActionScheduler::kMaxGatherMs);
  EXPECT_FALSE(scheduler_->Running(kFile));
  EXPECT_EQ(Runs(),
            (std::vector<std::string>{"/etc/app.conf|modified|b|", "/etc/app.conf|deleted|d|"}));
  EXPECT_EQ(loop_.pending_timers(), 0u);
}

TEST_F(ActionSchedulerTest, ADirectoryEntrysChangeWhileRunningStillWaitsForQuiet) {
  scheduler_->OnChange({"/etc/app.d/x", "created", "b"});
  AdvanceAndRunTimers(clock_, loop_, ActionScheduler::kQuietMs);
  ASSERT_TRUE(scheduler_->Running(kTree));

  // Quiet comes while the first run is still running: the batch waits for it.
  scheduler_->OnChange({"/etc/app.d/y", "created", "c"});
  AdvanceAndRunTimers(clock_, loop_, ActionScheduler::kQuietMs);
  Reap();
  EXPECT_TRUE(scheduler_->Running(kTree));

  // The run ends before the quiet spell does: the batch still waits for it.
  scheduler_->OnChange({"/etc/app.d/z", "created", "d"});
  AdvanceAndRunTimers(clock_, loop_, 10);
  Reap();
  EXPECT_FALSE(scheduler_->Running(kTree));
  AdvanceAndRunTimers(clock_, loop_, ActionScheduler::kQuietMs - 11);
  EXPECT_FALSE(scheduler_->Running(kTree));
  AdvanceAndRunTimers(clock_, loop_, 1);
  EXPECT_TRUE(scheduler_->Running(kTree));
  Reap();

  EXPECT_EQ(Runs(), (std::vector<std::string>{"/etc/app.d|created|b|/etc/app.d/x,",
                                              "/etc/app.d|created|c|/etc/app.d/y,",
                                              "/etc/app.d|created|d|/etc/app.d/z,"}));
  EXPECT_EQ(loop_.pending_timers(), 0u);
}

TEST_F(ActionSchedulerTest, DestroyingTheSchedulerCancelsItsGatheringTimers) {
  scheduler_->OnChange({"/etc/app.d/x", "created", "b"});
  scheduler_->OnChange({kFile, "modified", "b"});
  EXPECT_EQ(loop_.pending_timers(), 2u);
  scheduler_.reset();
  EXPECT_EQ(loop_.pending_timers(), 0u);
}

TEST_F(ActionSchedulerTest, DestroyingItWhileACommandRunsKillsItAndLeavesNothingOnTheLoop) {
  scheduler_->OnChange({kFile, "modified", "b"});
  loop_.RunDueTimers();
  ASSERT_TRUE(scheduler_->Running(kFile));
  ASSERT_EQ(loop_.pending_timers(), 1u);  // the command's timeout
  scheduler_.reset();
  EXPECT_EQ(loop_.pending_timers(), 0u);
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, 0)) < 0 && errno == EINTR) {
  }
  ASSERT_GT(pid, 0);  // reaped here so that TearDown finds no child left
}

}  // namespace
}  // namespace syncr
