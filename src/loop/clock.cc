#include "loop/clock.h"

#include <algorithm>

#include "common/util.h"

namespace syncr {

SystemClock& SystemClock::Instance() {
  static SystemClock clock;
  return clock;
}

int64_t SystemClock::MonoMs() const { return syncr::MonoMs(); }

int64_t SystemClock::WallNs() const { return syncr::WallNs(); }

void FakeClock::Advance(int64_t ms) {
  ms = std::max<int64_t>(ms, 0);  // a monotonic clock never goes back
  mono_ms_ += ms;
  wall_ns_ += ms * 1'000'000;
}

}  // namespace syncr
