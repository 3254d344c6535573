#include "loop/clock.h"

#include <gtest/gtest.h>

#include "common/util.h"

namespace syncr {
namespace {

TEST(FakeClockTest, AdvanceMovesBothClocks) {
  FakeClock clock;
  const int64_t mono = clock.MonoMs();
  const int64_t wall = clock.WallNs();
  clock.Advance(1500);
  EXPECT_EQ(clock.MonoMs(), mono + 1500);
  EXPECT_EQ(clock.WallNs(), wall + int64_t{1500} * 1'000'000);
}

TEST(FakeClockTest, NeverGoesBack) {
  FakeClock clock;
  const int64_t mono = clock.MonoMs();
  clock.Advance(-10);
  EXPECT_EQ(clock.MonoMs(), mono);
}

TEST(FakeClockTest, AWallClockStepLeavesTheMonotonicClockAlone) {
  FakeClock clock;
  const int64_t mono = clock.MonoMs();
  clock.SetWallNs(0);
  EXPECT_EQ(clock.WallNs(), 0);
  EXPECT_EQ(clock.MonoMs(), mono);
}

TEST(SystemClockTest, ReadsTheKernelClocks) {
  const Clock& clock = SystemClock::Instance();
  const int64_t before = MonoMs();
  const int64_t mono = clock.MonoMs();
  EXPECT_LE(before, mono);
  EXPECT_LE(mono, MonoMs());
  EXPECT_NEAR(static_cast<double>(clock.WallNs()), static_cast<double>(WallNs()), 1e9);
}

}  // namespace
}  // namespace syncr
