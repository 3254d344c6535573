#include "peer/outbox.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "testing/testing.h"

namespace syncr {
namespace {

constexpr uint64_t kWindow = 1000;

TEST(OutboxTest, APathIsQueuedOnceInOrder) {
  Outbox outbox;
  EXPECT_TRUE(outbox.idle());
  outbox.Queue("/a");
  outbox.Queue("/b");
  outbox.Queue("/a");
  EXPECT_EQ(outbox.queued(), 2u);
  EXPECT_FALSE(outbox.idle());
  EXPECT_EQ(outbox.Next(kWindow), "/a");
  EXPECT_EQ(outbox.Next(kWindow), "/b");
  EXPECT_EQ(outbox.Next(kWindow), std::nullopt);
  EXPECT_TRUE(outbox.idle());

  outbox.Queue("/a");  // taken off the queue: it may come again
  EXPECT_EQ(outbox.Next(kWindow), "/a");
}

TEST(OutboxTest, NothingMoreWhileTheWindowIsFull) {
  Outbox outbox;
  outbox.Queue("/a");
  outbox.Queue("/b");
  outbox.Queue("/c");
  ASSERT_EQ(outbox.Next(kWindow), "/a");
  outbox.Sent("/a", 600);
  ASSERT_EQ(outbox.Next(kWindow), "/b");  // 600 < 1000: room for one more
  outbox.Sent("/b", 400);
  EXPECT_EQ(outbox.in_flight(), 2u);
  EXPECT_EQ(outbox.in_flight_bytes(), 1000u);
  EXPECT_EQ(outbox.Next(kWindow), std::nullopt);
  EXPECT_EQ(outbox.queued(), 1u);

  EXPECT_TRUE(outbox.Acked("/b"));
  EXPECT_EQ(outbox.in_flight_bytes(), 600u);
  EXPECT_EQ(outbox.Next(kWindow), "/c");
  EXPECT_EQ(outbox.in_flight(), 1u);
}

TEST(OutboxTest, AStaleOrUnknownAckIsRejected) {
  Outbox outbox;
  EXPECT_FALSE(outbox.Acked("/never"));
  outbox.Queue("/a");
  ASSERT_EQ(outbox.Next(kWindow), "/a");
  outbox.Sent("/a", 10);
  EXPECT_TRUE(outbox.Acked("/a"));
  EXPECT_FALSE(outbox.Acked("/a"));
  EXPECT_EQ(outbox.in_flight_bytes(), 0u);
  EXPECT_TRUE(outbox.idle());
}

TEST(OutboxTest, APathQueuedWhileInFlightIsQueuedAgainAfterItsAck) {
  Outbox outbox;
  outbox.Queue("/a");
  ASSERT_EQ(outbox.Next(kWindow), "/a");
  outbox.Sent("/a", 10);
  outbox.Queue("/a");  // changed again while the peer applies the old one
  outbox.Queue("/a");
  EXPECT_EQ(outbox.queued(), 0u);
  EXPECT_EQ(outbox.Next(kWindow), std::nullopt);

  EXPECT_TRUE(outbox.Acked("/a"));
  EXPECT_EQ(outbox.queued(), 1u);
  EXPECT_EQ(outbox.Next(kWindow), "/a");
  outbox.Sent("/a", 10);
  EXPECT_TRUE(outbox.Acked("/a"));  // this time nothing was queued meanwhile
  EXPECT_EQ(outbox.queued(), 0u);
  EXPECT_TRUE(outbox.idle());
}

TEST(OutboxTest, ClearForgetsQueueAndWindowButKeepsRefusals) {
  Outbox outbox;
  outbox.Refuse("/x", VV({{"a", 2}}), "its config does not sync this path");
  outbox.Queue("/a");
  outbox.Queue("/b");
  ASSERT_EQ(outbox.Next(kWindow), "/a");
  outbox.Sent("/a", 100);
  outbox.Queue("/a");  // would be queued again after its ack

  outbox.Clear();
  EXPECT_TRUE(outbox.idle());
  EXPECT_EQ(outbox.queued(), 0u);
  EXPECT_EQ(outbox.in_flight(), 0u);
  EXPECT_EQ(outbox.in_flight_bytes(), 0u);
  EXPECT_FALSE(outbox.Acked("/a"));  // the old channel's ack means nothing now
  EXPECT_EQ(outbox.queued(), 0u);
  EXPECT_EQ(outbox.Next(kWindow), std::nullopt);

  EXPECT_TRUE(outbox.WasRefused("/x"));
  EXPECT_TRUE(outbox.Refused("/x", VV({{"a", 2}})));
  EXPECT_EQ(outbox.refusals(),
            (std::map<std::string, std::string>{{"/x", "its config does not sync this path"}}));
}

TEST(OutboxTest, ARefusalCoversTheRefusedVersionAndOlderOnes) {
  Outbox outbox;
  outbox.Refuse("/x", VV({{"a", 2}, {"b", 1}}), "too big");
  EXPECT_TRUE(outbox.Refused("/x", VV({{"a", 2}, {"b", 1}})));
  EXPECT_TRUE(outbox.Refused("/x", VV({{"a", 1}})));
  EXPECT_FALSE(outbox.Refused("/x", VV({{"a", 3}, {"b", 1}})));  // newer: try again
  EXPECT_FALSE(outbox.Refused("/x", VV({{"a", 2}, {"c", 1}})));  // concurrent
  EXPECT_FALSE(outbox.Refused("/y", VV({{"a", 1}})));
  EXPECT_FALSE(outbox.WasRefused("/y"));

  outbox.Refuse("/x", VV({{"a", 3}, {"b", 1}}), "still too big");  // replaces
  EXPECT_TRUE(outbox.Refused("/x", VV({{"a", 3}, {"b", 1}})));
  EXPECT_EQ(outbox.refusals().at("/x"), "still too big");
}

TEST(OutboxTest, AcceptedEndsARefusal) {
  Outbox outbox;
  outbox.Refuse("/x", VV({{"a", 2}}), "too big");
  outbox.Accepted("/x");
  EXPECT_FALSE(outbox.WasRefused("/x"));
  EXPECT_FALSE(outbox.Refused("/x", VV({{"a", 1}})));
  EXPECT_TRUE(outbox.refusals().empty());
}

}  // namespace
}  // namespace syncr
