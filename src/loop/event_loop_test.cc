#include "loop/event_loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "common/fd.h"
#include "loop/clock.h"

namespace syncr {
namespace {

/// Both ends of a fresh socketpair.
struct SocketPair {
  UniqueFd here;
  UniqueFd there;
};

SocketPair MakeSocketPair() {
  int fds[2] = {-1, -1};
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

/// Makes `pair.here` readable.
void Poke(const SocketPair& pair) { ASSERT_EQ(write(pair.there.get(), "x", 1), 1); }

class EventLoopTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(loop_.Init().ok()); }

  FakeClock clock_;
  EventLoop loop_{clock_};
  std::vector<std::string> fired_;
};

TEST_F(EventLoopTest, AnIdleLoopArmsNoTimer) {
  EXPECT_EQ(loop_.pending_timers(), 0u);
  EXPECT_FALSE(loop_.next_deadline_ms().has_value());
}

TEST_F(EventLoopTest, DeadlinesAreReadFromTheLoopsClock) {
  EXPECT_EQ(&loop_.clock(), &clock_);
  loop_.After(250, [] {});
  EXPECT_EQ(loop_.pending_timers(), 1u);
  EXPECT_EQ(loop_.next_deadline_ms(), clock_.MonoMs() + 250);
}

TEST_F(EventLoopTest, TimersFireInDeadlineOrderWhenDue) {
  loop_.After(300, [this] { fired_.push_back("c"); });
  loop_.After(100, [this] { fired_.push_back("a"); });
  loop_.After(200, [this] { fired_.push_back("b1"); });
  loop_.After(200, [this] { fired_.push_back("b2"); });  // same deadline: in order of adding

  loop_.RunDueTimers();
  EXPECT_TRUE(fired_.empty());
  clock_.Advance(99);
  loop_.RunDueTimers();
  EXPECT_TRUE(fired_.empty());

  clock_.Advance(151);
  loop_.RunDueTimers();
  EXPECT_EQ(fired_, (std::vector<std::string>{"a", "b1", "b2"}));
  EXPECT_EQ(loop_.pending_timers(), 1u);
  EXPECT_EQ(loop_.next_deadline_ms(), clock_.MonoMs() + 50);

  clock_.Advance(50);
  loop_.RunDueTimers();
  EXPECT_EQ(fired_, (std::vector<std::string>{"a", "b1", "b2", "c"}));
  EXPECT_EQ(loop_.pending_timers(), 0u);
  EXPECT_FALSE(loop_.next_deadline_ms().has_value());
}

TEST_F(EventLoopTest, CancelFromInsideAnotherCallback) {
  EventLoop::TimerId second = 0;
  loop_.After(100, [&] {
    fired_.push_back("first");
    loop_.Cancel(second);
  });
  second = loop_.After(100, [this] { fired_.push_back("second"); });
  loop_.After(200, [this] { fired_.push_back("third"); });

  clock_.Advance(200);
  loop_.RunDueTimers();
  EXPECT_EQ(fired_, (std::vector<std::string>{"first", "third"}));
  EXPECT_EQ(loop_.pending_timers(), 0u);
}

TEST_F(EventLoopTest, CancellingAFiredOrUnknownTimerIsHarmless) {
  EventLoop::TimerId id = loop_.After(0, [this] { fired_.push_back("once"); });
  loop_.Cancel(id + 100);
  loop_.RunDueTimers();
  loop_.Cancel(id);
  loop_.Cancel(id);
  EXPECT_EQ(fired_, (std::vector<std::string>{"once"}));
  EXPECT_EQ(loop_.pending_timers(), 0u);
}

TEST_F(EventLoopTest, CancelOwnIdInsideItsCallbackIsHarmless) {
  EventLoop::TimerId self = 0;
  self = loop_.After(10, [&] {
    fired_.push_back("self");
    loop_.Cancel(self);
  });
  clock_.Advance(10);
  loop_.RunDueTimers();
  EXPECT_EQ(fired_, (std::vector<std::string>{"self"}));
}

TEST_F(EventLoopTest, ATimerAddedByACallbackFiresWhenDue) {
  loop_.After(100, [this] {
    fired_.push_back("outer");
    loop_.After(0, [this] { fired_.push_back("due now"); });
    loop_.After(50, [this] { fired_.push_back("later"); });
  });

  clock_.Advance(100);
  loop_.RunDueTimers();
  EXPECT_EQ(fired_, (std::vector<std::string>{"outer", "due now"}));
  EXPECT_EQ(loop_.pending_timers(), 1u);

  clock_.Advance(49);
  loop_.RunDueTimers();
  EXPECT_EQ(fired_.size(), 2u);
  clock_.Advance(1);
  loop_.RunDueTimers();
  EXPECT_EQ(fired_, (std::vector<std::string>{"outer", "due now", "later"}));
}

TEST_F(EventLoopTest, AdvanceAndRunTimersStopsAtEveryDeadline) {
  const int64_t start = clock_.MonoMs();
  std::vector<int64_t> seen;
  // A backoff that doubles: 100, then 200 after that, then 400 after that.
  std::function<void(int64_t)> arm = [&](int64_t delay) {
    loop_.After(delay, [&, delay] {
      seen.push_back(clock_.MonoMs() - start);
      arm(delay * 2);
    });
  };
  arm(100);

  AdvanceAndRunTimers(clock_, loop_, 1000);
  EXPECT_EQ(seen, (std::vector<int64_t>{100, 300, 700}));
  EXPECT_EQ(clock_.MonoMs(), start + 1000);
  EXPECT_EQ(loop_.next_deadline_ms(), start + 1500);
}

TEST_F(EventLoopTest, StopFromAnIoCallbackEndsRun) {
  SocketPair pair = MakeSocketPair();
  Poke(pair);
  loop_.Add(pair.here.get(), EPOLLIN, [this](uint32_t events) {
    EXPECT_TRUE(events & EPOLLIN);
    fired_.push_back("io");
    loop_.Stop();
  });
  loop_.After(3'600'000, [this] { fired_.push_back("an hour later"); });

  Status s = loop_.Run();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(fired_, (std::vector<std::string>{"io"}));
  EXPECT_EQ(loop_.pending_timers(), 1u);
}

TEST_F(EventLoopTest, StopFromATimerEndsRun) {
  loop_.After(0, [this] {
    fired_.push_back("stop");
    loop_.Stop();
  });
  loop_.After(0, [this] { fired_.push_back("after stop"); });

  EXPECT_TRUE(loop_.Run().ok());
  EXPECT_EQ(fired_, (std::vector<std::string>{"stop"}));
  EXPECT_EQ(loop_.pending_timers(), 1u);  // it waits for the next Run()
}

TEST_F(EventLoopTest, RemoveFromInsideItsOwnCallback) {
  SocketPair pair = MakeSocketPair();
  Poke(pair);
  const int fd = pair.here.get();
  int calls = 0;
  loop_.Add(fd, EPOLLIN, [this, fd, &calls](uint32_t) {
    loop_.Remove(fd);
    ++calls;  // the callback and what it captured outlive the Remove
    loop_.After(0, [this] { loop_.Stop(); });
  });
  ASSERT_TRUE(loop_.Run().ok());
  EXPECT_EQ(calls, 1);

  // Still readable, but no longer watched.
  loop_.After(0, [this] { loop_.Stop(); });
  ASSERT_TRUE(loop_.Run().ok());
  EXPECT_EQ(calls, 1);
}

TEST_F(EventLoopTest, ModifyChangesTheEventsOfTheSameWatch) {
  SocketPair pair = MakeSocketPair();
  uint32_t seen = 0;
  loop_.Add(pair.here.get(), EPOLLIN, [this, &seen](uint32_t events) {
    seen = events;
    loop_.Stop();
  });
  loop_.Modify(pair.here.get(), EPOLLOUT);  // nothing to read; room to write
  ASSERT_TRUE(loop_.Run().ok());
  EXPECT_TRUE(seen & EPOLLOUT);
}

// epoll_wait returns a batch of events. If a callback closes another
// watched descriptor and a new one gets its number within that batch, the
// closed one's event from the batch must not be delivered to the new watch.
TEST_F(EventLoopTest, AStaleEventNeverReachesANewDescriptorWithTheSameNumber) {
  SocketPair a = MakeSocketPair();
  SocketPair b = MakeSocketPair();
  Poke(a);
  Poke(b);
  SocketPair fresh;  // silent: nothing written, both ends open
  UniqueFd renumbered;
  int first_calls = 0;
  int new_watch_calls = 0;
  // Whichever of a and b is dispatched first closes the other and puts the
  // fresh socket under the other's number.
  auto replace = [&](SocketPair& other) {
    ++first_calls;
    if (renumbered.valid()) return;
    const int number = other.here.get();
    fresh = MakeSocketPair();
    loop_.Remove(number);
    other.here.Reset();
    renumbered.Reset(dup3(fresh.here.get(), number, O_CLOEXEC));
    ASSERT_EQ(renumbered.get(), number);
    loop_.Add(number, EPOLLIN, [&](uint32_t) { ++new_watch_calls; });
    loop_.After(0, [this] { loop_.Stop(); });  // after this batch
  };
  loop_.Add(a.here.get(), EPOLLIN, [&](uint32_t) { replace(b); });
  loop_.Add(b.here.get(), EPOLLIN, [&](uint32_t) { replace(a); });

  ASSERT_TRUE(loop_.Run().ok());
  EXPECT_EQ(first_calls, 1);
  EXPECT_EQ(new_watch_calls, 0);

  // The new watch still gets its own events.
  ASSERT_EQ(write(fresh.there.get(), "x", 1), 1);
  loop_.After(0, [this] { loop_.Stop(); });
  ASSERT_TRUE(loop_.Run().ok());
  EXPECT_EQ(new_watch_calls, 1);
}

TEST_F(EventLoopTest, ItsEpollDescriptorIsClosedOnExec) {
  // The loop's only descriptor is its epoll instance: find every one this
  // process has and require FD_CLOEXEC on each, so no child inherits it.
  int found = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(entry.path(), ec);
    if (ec || target != "anon_inode:[eventpoll]") continue;
    const int fd = std::stoi(entry.path().filename().string());
    EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC) << "fd " << fd;
    ++found;
  }
  EXPECT_GE(found, 1);
}

TEST(EventLoopFailureTest, RunReturnsTheEpollWaitError) {
  EventLoop loop;  // never Init(): there is no epoll descriptor to wait on
  Status s = loop.Run();
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.err(), EBADF);
  EXPECT_NE(s.ToString().find("epoll_wait"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace syncr
