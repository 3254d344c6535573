// Clock: where the loop and the rooms on it read the time, so that tests can
// set it.
//
// Every timer deadline, backoff, settle window and timeout reads a Clock
// instead of the kernel, so a test drives them with a FakeClock in-process,
// in microseconds, with no sleep (STYLE 3). SystemClock reads the kernel
// through MonoMs()/WallNs() in common/util.h. A Clock is owned by whoever
// makes it (the process-wide SystemClock lives forever) and must outlive
// every EventLoop that reads it. SystemClock is stateless and thread-safe;
// FakeClock is not thread-safe.
#pragma once

#include <cstdint>

namespace syncr {

class Clock {
 public:
  virtual ~Clock() = default;
  /// Monotonic milliseconds, for timers, backoff and timeouts. Never goes
  /// back; unrelated to the wall clock.
  virtual int64_t MonoMs() const = 0;
  /// Wall clock, nanoseconds since the epoch, for version change times and
  /// logs. May jump (the administrator or NTP sets it).
  virtual int64_t WallNs() const = 0;
};

/// The kernel's clocks (CLOCK_MONOTONIC, CLOCK_REALTIME).
class SystemClock final : public Clock {
 public:
  /// The process-wide instance: what `EventLoop loop;` reads.
  static SystemClock& Instance();

  int64_t MonoMs() const override;
  int64_t WallNs() const override;
};

/// A clock that moves only when a test moves it. To let time pass on a loop
/// that reads it: `clock.Advance(ms); loop.RunDueTimers();`, or
/// AdvanceAndRunTimers() (loop/event_loop.h) to stop at every deadline on
/// the way.
class FakeClock final : public Clock {
 public:
  /// Starts at mono 1,000,000 ms (so that 0 is never a valid "now") and wall
  /// 2026-01-01 00:00:00 UTC.
  FakeClock() = default;

  int64_t MonoMs() const override { return mono_ms_; }
  int64_t WallNs() const override { return wall_ns_; }

  /// Lets `ms` pass on both clocks, as real time does (a negative `ms` is 0).
  void Advance(int64_t ms);
  /// Sets the wall clock alone, as a clock step does; the monotonic clock
  /// does not notice.
  void SetWallNs(int64_t wall_ns) { wall_ns_ = wall_ns; }

 private:
  int64_t mono_ms_ = 1'000'000;
  int64_t wall_ns_ = 1'767'225'600'000'000'000;
};

}  // namespace syncr
