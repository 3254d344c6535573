#include "watch/change_feed.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "loop/clock.h"
#include "loop/event_loop.h"
#include "os/temp_names.h"
#include "testing/testing.h"

namespace syncr {
namespace {

constexpr char kFile[] = "/etc/app.conf";
constexpr char kTree[] = "/etc/app.d";
constexpr int kSettleMs = 10;

using Scan = std::pair<std::string, bool>;  // path, recursive

/// A ChangeFeed over a real inotify fd on a TempDir root, on a FakeClock
/// loop. Inotify queues an event when the syscall that makes it returns, so
/// a test changes files, calls Drain(), and lets fake time pass.
class ChangeFeedTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    config_.node.name = "a";
    config_.node.root = dir_.path() + "/root";
    config_.node.settle_ms = kSettleMs;
    SyncEntry file;
    file.path = kFile;
    SyncEntry tree;
    tree.path = kTree;
    config_.sync = {file, tree};
    std::filesystem::create_directories(config_.DiskPath(kTree));

    ASSERT_TRUE(loop_.Init().ok());
    MakeFeed();
    ASSERT_TRUE(feed_->Init().ok());
    for (const SyncEntry& entry : config_.sync) ASSERT_TRUE(feed_->WatchEntry(entry).ok());
    ASSERT_TRUE(feed_->WatchTree(kTree).ok());
  }

  /// The feed, over inotify calls that behave as the kernel's until a test
  /// spends the budget it sets: then they fail as at a reached limit.
  void MakeFeed() {
    ChangeFeed::Listener listener;
    listener.scan = [this](const std::string& path, bool recursive) {
      scans_.emplace_back(path, recursive);
    };
    listener.rescan_all = [this] { ++rescans_; };
    listener.forget_stat = [this](const std::string& path) { forgotten_.push_back(path); };
    listener.note = [](const std::string&, spdlog::level::level_enum, const std::string&) {};
    InotifyWatcher::Calls calls{
        [this](int flags) {
          if (instances_left_ == 0) {
            errno = EMFILE;
            return -1;
          }
          return inotify_init1(flags);
        },
        [this](int fd, const char* path, uint32_t mask) {
          add_watch_at_.push_back(clock_.MonoMs());
          if (watches_left_ == 0) {
            errno = ENOSPC;
            return -1;
          }
          if (watches_left_ > 0) --watches_left_;
          if (refused_ == path) {
            errno = EACCES;
            return -1;
          }
          return inotify_add_watch(fd, path, mask);
        },
    };
    feed_ = std::make_unique<ChangeFeed>(loop_, config_, std::move(listener), std::move(calls));
  }

  /// Makes directories `names` in the tree, lets the scans their events ask
  /// for go by, then asks the feed to watch each (as a scan would).
  std::vector<std::string> MakeSubdirs(const std::vector<std::string>& names) {
    std::vector<std::string> paths;
    for (const std::string& name : names) {
      paths.push_back(std::string(kTree) + "/" + name);
      std::filesystem::create_directories(Disk(paths.back()));
    }
    feed_->Drain();
    Advance(kSettleMs);
    scans_.clear();
    for (const std::string& path : paths) feed_->WatchTree(path);
    return paths;
  }

  /// The feed's only problem line, or "" (and a failure) if there is not
  /// exactly one.
  std::string OnlyProblem() {
    std::vector<std::string> problems = feed_->problems();
    EXPECT_EQ(problems.size(), 1u) << testing::PrintToString(problems);
    return problems.size() == 1 ? problems[0] : "";
  }

  std::string Disk(const std::string& path) const { return config_.DiskPath(path); }

  /// Creates or truncates `path` and writes `content` (create, modify,
  /// close-write).
  void Write(const std::string& path, const std::string& content) {
    UniqueFd fd(open(Disk(path).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd.valid()) << path;
    ASSERT_EQ(write(fd.get(), content.data(), content.size()),
              static_cast<ssize_t>(content.size()));
  }

  /// Writes `content` to a new file beside `path` and renames it into
  /// place, as an apply does.
  void RenameInto(const std::string& path, const std::string& content) {
    const std::string temp = Disk(path) + ".staged";
    {
      UniqueFd fd(open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      ASSERT_TRUE(fd.valid()) << temp;
      ASSERT_EQ(write(fd.get(), content.data(), content.size()),
                static_cast<ssize_t>(content.size()));
    }
    ASSERT_EQ(rename(temp.c_str(), Disk(path).c_str()), 0) << path;
  }

  void Advance(int64_t ms) { AdvanceAndRunTimers(clock_, loop_, ms); }

  TempDir dir_;
  Config config_;
  FakeClock clock_;
  EventLoop loop_{clock_};
  std::unique_ptr<ChangeFeed> feed_;
  std::vector<Scan> scans_;
  std::vector<std::string> forgotten_;
  int rescans_ = 0;
  int watches_left_ = -1;              ///< -1: no limit
  int instances_left_ = -1;            ///< -1: no limit
  std::vector<int64_t> add_watch_at_;  ///< fake mono ms of each inotify_add_watch
  std::string refused_;                ///< a directory whose watch fails with EACCES
};

TEST_F(ChangeFeedTest, ACloseWriteSettlesAfterSettleMs) {
  Write(kFile, "v1\n");
  feed_->Drain();
  EXPECT_EQ(feed_->pending_scans(), 1u);
  EXPECT_FALSE(forgotten_.empty());
  Advance(kSettleMs - 1);
  EXPECT_TRUE(scans_.empty());
  Advance(1);
  EXPECT_EQ(scans_, (std::vector<Scan>{{kFile, false}}));
  EXPECT_EQ(feed_->pending_scans(), 0u);
  EXPECT_EQ(loop_.pending_timers(), 0u);
}

// SPEC 11: the events of our own temp files are not changes; those of a
// user's file that only looks like one are.
TEST_F(ChangeFeedTest, OnlyOurOwnTempNamesAreIgnored) {
  const std::string lookalike = std::string(kTree) + "/.syncr-user.abc123.tmp";
  Write(std::string(kTree) + "/" + NewTempName("f.conf"), "staged\n");
  Write(lookalike, "the user's\n");
  feed_->Drain();
  Advance(kSettleMs);
  EXPECT_EQ(scans_, (std::vector<Scan>{{lookalike, false}}));
}

TEST_F(ChangeFeedTest, ABareModifyWaitsForTheWriter) {
  Write(kFile, "v1\n");
  feed_->Drain();
  Advance(kSettleMs);
  scans_.clear();

  // A writer that keeps the file open: modify, and no close-write yet.
  UniqueFd writer(open(Disk(kFile).c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  ASSERT_TRUE(writer.valid());
  ASSERT_EQ(write(writer.get(), "more\n", 5), 5);
  ASSERT_EQ(chmod(Disk(kFile).c_str(), 0600), 0);  // no event shortens the wait meanwhile
  feed_->Drain();
  Advance(ChangeFeed::kWriterSettleMs - 1);
  EXPECT_TRUE(scans_.empty());
  Advance(1);
  EXPECT_EQ(scans_, (std::vector<Scan>{{kFile, false}}));
}

TEST_F(ChangeFeedTest, TheWritersCloseWriteShortensTheWait) {
  Write(kFile, "v1\n");
  feed_->Drain();
  Advance(kSettleMs);
  scans_.clear();

  UniqueFd writer(open(Disk(kFile).c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  ASSERT_TRUE(writer.valid());
  ASSERT_EQ(write(writer.get(), "more\n", 5), 5);
  feed_->Drain();
  Advance(100);
  EXPECT_TRUE(scans_.empty());
  writer.Reset();  // close-write
  feed_->Drain();
  Advance(kSettleMs);
  EXPECT_EQ(scans_, (std::vector<Scan>{{kFile, false}}));
}

TEST_F(ChangeFeedTest, EventsForOnePathCoalesceIntoOneScan) {
  Write(kFile, "v1\n");
  Write(kFile, "v2\n");
  ASSERT_EQ(chmod(Disk(kFile).c_str(), 0600), 0);
  feed_->Drain();
  EXPECT_EQ(feed_->pending_scans(), 1u);
  Advance(kSettleMs - 5);
  Write(kFile, "v3\n");  // a later event pushes the scan back
  feed_->Drain();
  Advance(kSettleMs - 1);
  EXPECT_TRUE(scans_.empty());
  Advance(1);
  Advance(10 * kSettleMs);
  EXPECT_EQ(scans_, (std::vector<Scan>{{kFile, false}}));
}

TEST_F(ChangeFeedTest, AnEventNotYetReadWhenTheScanIsDueDefersIt) {
  Write(kFile, "v1\n");
  feed_->Drain();
  Advance(kSettleMs - 1);
  Write(kFile, "v2\n");  // queued in the kernel, not read by anyone yet
  Advance(1);            // the due scan reads it first and waits again
  EXPECT_TRUE(scans_.empty());
  EXPECT_EQ(feed_->pending_scans(), 1u);
  Advance(kSettleMs);
  EXPECT_EQ(scans_, (std::vector<Scan>{{kFile, false}}));
}

TEST_F(ChangeFeedTest, PathsAreScannedEachOnce) {
  Write(kFile, "v1\n");
  Write("/etc/app.d/x.conf", "x\n");
  Write("/etc/unsynced.conf", "u\n");  // in a watched directory, but no synced name
  feed_->Drain();
  EXPECT_EQ(feed_->pending_scans(), 2u);
  Advance(kSettleMs);
  ASSERT_EQ(scans_.size(), 2u);
  EXPECT_EQ(std::count(scans_.begin(), scans_.end(), Scan{kFile, false}), 1);
  EXPECT_EQ(std::count(scans_.begin(), scans_.end(), Scan{"/etc/app.d/x.conf", false}), 1);
}

TEST_F(ChangeFeedTest, ExpectOwnRenameDropsExactlyOneMovedTo) {
  Write(kFile, "v1\n");
  feed_->Drain();
  Advance(kSettleMs);
  scans_.clear();
  forgotten_.clear();

  feed_->ExpectOwnRename(kFile);
  RenameInto(kFile, "ours\n");
  feed_->Drain();
  EXPECT_EQ(feed_->pending_scans(), 0u);
  EXPECT_TRUE(forgotten_.empty());

  // Counted: one expected rename drops one of two.
  feed_->ExpectOwnRename(kFile);
  RenameInto(kFile, "ours again\n");
  RenameInto(kFile, "someone else's\n");
  feed_->Drain();
  EXPECT_EQ(forgotten_, (std::vector<std::string>{kFile}));
  Advance(kSettleMs);
  EXPECT_EQ(scans_, (std::vector<Scan>{{kFile, false}}));
}

TEST_F(ChangeFeedTest, AnExpectedRenameThatDidNotComeIsForgottenByTheNextDrain) {
  feed_->ExpectOwnRename(kFile);
  feed_->Drain();  // nothing came: the expectation is dropped
  RenameInto(kFile, "someone else's\n");
  feed_->Drain();
  EXPECT_EQ(forgotten_, (std::vector<std::string>{kFile}));
  Advance(kSettleMs);
  EXPECT_EQ(scans_, (std::vector<Scan>{{kFile, false}}));
}

TEST_F(ChangeFeedTest, RecursiveSticksOnceAskedFor) {
  const std::string sub = std::string(kTree) + "/sub";
  ASSERT_EQ(mkdir(Disk(sub).c_str(), 0755), 0);  // a new directory: look below it too
  ASSERT_EQ(chmod(Disk(sub).c_str(), 0700), 0);  // a later, plain event for it
  feed_->Drain();
  Advance(kSettleMs);
  EXPECT_EQ(scans_, (std::vector<Scan>{{sub, true}}));

  // Once scanned, the next plain event asks for the path alone.
  scans_.clear();
  ASSERT_EQ(chmod(Disk(sub).c_str(), 0755), 0);
  feed_->Drain();
  Advance(kSettleMs);
  EXPECT_EQ(scans_, (std::vector<Scan>{{sub, false}}));

  scans_.clear();
  feed_->Schedule(kFile, kSettleMs, true);
  feed_->Schedule(kFile, kSettleMs, false);
  Advance(kSettleMs);
  EXPECT_EQ(scans_, (std::vector<Scan>{{kFile, true}}));
}

TEST_F(ChangeFeedTest, DestroyingTheFeedCancelsItsSettleTimers) {
  Write(kFile, "v1\n");
  Write("/etc/app.d/x.conf", "x\n");
  feed_->Drain();
  EXPECT_EQ(loop_.pending_timers(), 2u);
  feed_.reset();
  EXPECT_EQ(loop_.pending_timers(), 0u);
  EXPECT_EQ(rescans_, 0);
}

TEST_F(ChangeFeedTest, OutOfWatchesIsOneProblemLineNamingBothLimits) {
  EXPECT_TRUE(feed_->problems().empty());
  watches_left_ = 0;
  MakeSubdirs({"one", "two", "two/three"});
  EXPECT_EQ(feed_->unwatched(), 3u);
  const std::string line = OnlyProblem();
  EXPECT_NE(line.find("3 directories under /etc/app.d are not watched"), std::string::npos) << line;
  EXPECT_NE(line.find("out of inotify watches (fs.inotify.max_user_watches="), std::string::npos)
      << line;
  EXPECT_NE(line.find("raise fs.inotify.max_user_watches (and fs.inotify.max_user_instances)"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("SIGHUP"), std::string::npos) << line;
  EXPECT_NE(line.find("retries by itself"), std::string::npos) << line;
}

// A watch that fails for another reason than a limit is a problem line
// too, retried with the same backoff, and gone once the directory is
// watched (it used to stay in status until the daemon restarted).
TEST_F(ChangeFeedTest, AWatchRefusedForAnotherReasonIsRetriedAndItsLineGoes) {
  const std::string one = std::string(kTree) + "/one";
  refused_ = Disk(one);
  MakeSubdirs({"one"});
  const std::string line = OnlyProblem();
  EXPECT_NE(line.find("1 directory is not watched"), std::string::npos) << line;
  EXPECT_NE(line.find("Permission denied"), std::string::npos) << line;
  EXPECT_NE(line.find(refused_), std::string::npos) << line;

  Advance(ChangeFeed::kFirstRetryMs);  // refused again: kept, retried later
  EXPECT_EQ(feed_->problems().size(), 1u);
  EXPECT_TRUE(scans_.empty());

  refused_.clear();  // the operator fixed it
  Advance(2 * ChangeFeed::kFirstRetryMs);
  EXPECT_TRUE(feed_->problems().empty()) << testing::PrintToString(feed_->problems());
  Advance(kSettleMs);
  EXPECT_EQ(scans_, (std::vector<Scan>{{one, true}})) << "rescanned once watched";
  EXPECT_EQ(loop_.pending_timers(), 0u);
}

TEST_F(ChangeFeedTest, TheRetryBacksOffThenRewatchesAndRescansOnlyTheUnwatched) {
  watches_left_ = 0;
  // two/three is below two: two's recursive rescan covers it.
  const std::vector<std::string> dirs = MakeSubdirs({"one", "two", "two/three"});
  const std::string& one = dirs[0];
  const std::string& two = dirs[1];
  add_watch_at_.clear();
  const int64_t start = clock_.MonoMs();

  // 5 s, then doubling up to 5 min; each try stops at the first directory
  // still over the limit (one call), and nothing is scanned meanwhile.
  const std::vector<int64_t> expected = {5000, 15000, 35000, 75000, 155000, 315000, 615000, 915000};
  Advance(expected.back());
  std::vector<int64_t> tried;
  for (int64_t at : add_watch_at_) tried.push_back(at - start);
  EXPECT_EQ(tried, expected);
  EXPECT_TRUE(scans_.empty());
  EXPECT_EQ(feed_->unwatched(), 3u);

  // The limit is raised: the next try watches exactly the three, rescans
  // the top ones recursively, and arms no more timers.
  watches_left_ = -1;
  add_watch_at_.clear();
  Advance(ChangeFeed::kMaxRetryMs);
  EXPECT_EQ(add_watch_at_.size(), 3u);
  EXPECT_EQ(feed_->unwatched(), 0u);
  EXPECT_TRUE(feed_->problems().empty());
  Advance(kSettleMs);
  std::sort(scans_.begin(), scans_.end());
  EXPECT_EQ(scans_, (std::vector<Scan>{{one, true}, {two, true}}));
  EXPECT_EQ(loop_.pending_timers(), 0u);

  // And they are watched: an edit in one makes its own scan.
  scans_.clear();
  Write(one + "/x.conf", "x\n");
  feed_->Drain();
  Advance(kSettleMs);
  EXPECT_EQ(scans_, (std::vector<Scan>{{one + "/x.conf", false}}));
}

TEST_F(ChangeFeedTest, ARetryThatWatchesSomeKeepsTheRestAndTheirLine) {
  watches_left_ = 0;
  const std::string one = MakeSubdirs({"one", "two"})[0];
  watches_left_ = 1;
  Advance(ChangeFeed::kFirstRetryMs);
  EXPECT_EQ(feed_->unwatched(), 1u);
  EXPECT_NE(OnlyProblem().find("1 directory under /etc/app.d/two is not watched"),
            std::string::npos);
  Advance(kSettleMs);
  EXPECT_EQ(scans_, (std::vector<Scan>{{one, true}}));
}

TEST_F(ChangeFeedTest, RetryNowTriesAtOnceAndStartsTheBackoffOver) {
  watches_left_ = 0;
  MakeSubdirs({"one"});
  Advance(ChangeFeed::kFirstRetryMs + 10000);  // two tries: the next waits 20 s
  add_watch_at_.clear();
  const int64_t start = clock_.MonoMs();
  feed_->RetryNow();  // SIGHUP, limit not raised yet
  Advance(ChangeFeed::kFirstRetryMs);
  std::vector<int64_t> tried;
  for (int64_t at : add_watch_at_) tried.push_back(at - start);
  EXPECT_EQ(tried, (std::vector<int64_t>{0, ChangeFeed::kFirstRetryMs}));

  watches_left_ = -1;
  feed_->RetryNow();  // SIGHUP after the limit was raised: no waiting
  EXPECT_EQ(feed_->unwatched(), 0u);
  EXPECT_TRUE(feed_->problems().empty());
  Advance(kSettleMs);
  EXPECT_EQ(scans_, (std::vector<Scan>{{std::string(kTree) + "/one", true}}));
  EXPECT_EQ(loop_.pending_timers(), 0u);
}

TEST_F(ChangeFeedTest, OutOfInstancesStartsDegradedAndRecovers) {
  feed_.reset();
  instances_left_ = 0;
  MakeFeed();
  ASSERT_TRUE(feed_->Init().ok());  // not fatal
  for (const SyncEntry& entry : config_.sync) ASSERT_TRUE(feed_->WatchEntry(entry).ok());
  feed_->WatchTree(kTree);
  const std::string line = OnlyProblem();
  EXPECT_NE(line.find("2 directories under /etc are not watched"), std::string::npos) << line;
  EXPECT_NE(line.find("out of inotify instances (fs.inotify.max_user_instances="),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("raise fs.inotify.max_user_instances (and fs.inotify.max_user_watches)"),
            std::string::npos)
      << line;

  instances_left_ = -1;
  Advance(ChangeFeed::kFirstRetryMs);
  EXPECT_TRUE(feed_->problems().empty());
  Advance(kSettleMs);
  std::sort(scans_.begin(), scans_.end());
  EXPECT_EQ(scans_, (std::vector<Scan>{{kFile, true}, {kTree, true}}));

  scans_.clear();
  Write(kFile, "v1\n");
  feed_->Drain();
  Advance(kSettleMs);
  EXPECT_EQ(scans_, (std::vector<Scan>{{kFile, false}}));
}

TEST_F(ChangeFeedTest, AForgottenEntrysUnwatchedDirectoriesAreNotRetried) {
  watches_left_ = 0;
  MakeSubdirs({"one"});
  feed_->ForgetEntry(kTree);
  EXPECT_TRUE(feed_->problems().empty());
  EXPECT_EQ(feed_->unwatched(), 0u);
  add_watch_at_.clear();
  Advance(ChangeFeed::kMaxRetryMs);
  EXPECT_TRUE(add_watch_at_.empty());  // the armed try finds nothing left to try
  EXPECT_EQ(loop_.pending_timers(), 0u);
}

}  // namespace
}  // namespace syncr
