// EventLoop: the daemon's single epoll loop with one-shot timers.
//
// Callbacks run on the loop's thread, one at a time. A callback may add or
// remove any fd or timer, including its own. An idle loop with no timer
// armed blocks in epoll_wait without a timeout (SPEC 10: no polling).
// Timer deadlines are read from the Clock the loop was given, which must
// outlive it. The loop owns its epoll descriptor, not the descriptors it
// watches. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
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
  Status Init();

  /// Calls `cb` when `fd` is ready for `events` (EPOLLIN / EPOLLOUT).
  void Add(int fd, uint32_t events, IoCallback cb);
  void Modify(int fd, uint32_t events);
  void Remove(int fd);

  /// Calls `cb` once, `delay_ms` from now.
  TimerId After(int64_t delay_ms, std::function<void()> cb);
  void Cancel(TimerId id);

  /// Runs until Stop().
  void Run();
  void Stop() { running_ = false; }

  /// The clock every deadline is read from, for the rooms on this loop.
  Clock& clock() const { return clock_; }

 private:
  struct Watch {
    IoCallback cb;
  };
  Clock& clock_;
  UniqueFd epoll_;
  std::unordered_map<int, std::shared_ptr<Watch>> watches_;
  std::map<std::pair<int64_t, TimerId>, std::function<void()>> timers_;
  std::unordered_map<TimerId, int64_t> timer_deadline_;
  TimerId next_timer_ = 1;
  bool running_ = false;
};

}  // namespace syncr
