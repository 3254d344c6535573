// EventLoop: the daemon's single epoll loop with one-shot timers.
//
// Callbacks run on the loop's thread, one at a time. A callback may add or
// remove any fd or timer, including its own. An idle loop with no timer
// armed blocks in epoll_wait without a timeout (SPEC 10: no polling).
// Timer deadlines are read from the Clock the loop was given, which must
// outlive it. The loop owns its epoll descriptor, not the descriptors it
// watches. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>

#include "common/fd.h"
#include "common/status.h"
#include "loop/clock.h"

namespace syncr {

class EventLoop {
 public:
  using IoCallback = std::function<void(uint32_t epoll_events)>;
  using TimerId = uint64_t;

  /// Timers read `clock`; the default is the kernel's.
  explicit EventLoop(Clock& clock = SystemClock::Instance());
  /// Opens the epoll descriptor; once, before anything else.
  Status Init();

  /// Calls `cb` when `fd` is ready for `events` (EPOLLIN / EPOLLOUT;
  /// level-triggered). Adding a watched fd again replaces its callback.
  void Add(int fd, uint32_t events, IoCallback cb);
  /// Changes what a watched fd waits for; an unwatched fd is ignored.
  void Modify(int fd, uint32_t events);
  /// Stops watching `fd`; call it before closing `fd`. No event for this
  /// watch is delivered afterwards, even one already returned by epoll.
  void Remove(int fd);

  /// Calls `cb` once, `delay_ms` from now. Timers with the same deadline
  /// fire in the order they were added.
  TimerId After(int64_t delay_ms, std::function<void()> cb);
  /// Forgets a timer; a timer that has fired or was cancelled is ignored.
  void Cancel(TimerId id);

  /// Runs until Stop() (ok) or until epoll_wait fails with anything but
  /// EINTR: the loop cannot wait any more and returns that error.
  Status Run();
  /// Makes Run() return once the callback that calls it returns; events
  /// and timers not yet dispatched wait for the next Run().
  void Stop() { running_ = false; }

  /// The clock every deadline is read from, for the rooms on this loop.
  Clock& clock() const { return clock_; }

  /// Fires, in deadline order, every timer due at clock().MonoMs(),
  /// including those a callback adds that are already due. Run() does this
  /// after each epoll_wait; a test with a FakeClock calls it directly:
  /// `clock.Advance(ms); loop.RunDueTimers();`.
  void RunDueTimers();
  /// Timers armed and not yet fired or cancelled ("an idle room arms none").
  size_t pending_timers() const { return timers_.size(); }
  /// The earliest deadline (clock().MonoMs() time), if a timer is armed.
  std::optional<int64_t> next_deadline_ms() const;

 private:
  /// One Add(). Its generation is in the epoll data beside the fd, so an
  /// event that epoll_wait returned for an earlier watch of the same fd
  /// number (removed, closed and reused by a callback of the same batch)
  /// is recognised and dropped.
  struct Watch {
    uint32_t generation;
    IoCallback cb;
  };

  /// Fires the earliest timer if it is due at `now`; false if none is.
  bool FireNextTimer(int64_t now);

  Clock& clock_;
  UniqueFd epoll_;
  std::unordered_map<int, std::shared_ptr<Watch>> watches_;
  std::map<std::pair<int64_t, TimerId>, std::function<void()>> timers_;
  std::unordered_map<TimerId, int64_t> timer_deadline_;
  uint32_t next_generation_ = 1;  // wraps after 2^32 Add()s: harmless
  TimerId next_timer_ = 1;
  bool running_ = false;
};

/// For tests: lets `ms` pass on `clock` (the clock `loop` reads) as real
/// time would, stopping at each deadline on the way to fire what is due
/// then, so that a timer a callback arms fires at its own deadline.
void AdvanceAndRunTimers(FakeClock& clock, EventLoop& loop, int64_t ms);

}  // namespace syncr
