#include "watch/change_feed.h"

#include <fcntl.h>
#include <gtest/gtest.h>
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
    ChangeFeed::Listener listener;
    listener.scan = [this](const std::string& path, bool recursive) {
      scans_.emplace_back(path, recursive);
    };
    listener.rescan_all = [this] { ++rescans_; };
    listener.forget_stat = [this](const std::string& path) { forgotten_.push_back(path); };
    listener.note = [](const std::string&, spdlog::level::level_enum, const std::string&) {};
    feed_ = std::make_unique<ChangeFeed>(loop_, config_, std::move(listener));
    ASSERT_TRUE(feed_->Init().ok());
    for (const SyncEntry& entry : config_.sync) ASSERT_TRUE(feed_->WatchEntry(entry).ok());
    ASSERT_TRUE(feed_->WatchTree(kTree).ok());
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

}  // namespace
}  // namespace syncr
