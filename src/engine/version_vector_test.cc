#include "engine/version_vector.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "testing/testing.h"

namespace syncr {
namespace {

/// Builds a vector entry by entry, exactly as given (possibly not canonical),
/// as a peer could send it.
VersionVector RawVV(const std::vector<std::pair<std::string, uint64_t>>& counters) {
  VersionVector vv;
  for (const auto& [node, counter] : counters) {
    auto* e = vv.add_entries();
    e->set_node(node);
    e->set_counter(counter);
  }
  return vv;
}

TEST(VersionVectorCompare, EqualVectors) {
  EXPECT_EQ(Compare(VV({{"a", 2}, {"b", 1}}), VV({{"b", 1}, {"a", 2}})), Order::kEqual);
  EXPECT_EQ(Compare(VersionVector(), VersionVector()), Order::kEqual);
}

TEST(VersionVectorCompare, NewerAndOlder) {
  const VersionVector a = VV({{"a", 2}, {"b", 1}});
  const VersionVector b = VV({{"a", 1}, {"b", 1}});
  EXPECT_EQ(Compare(a, b), Order::kNewer);
  EXPECT_EQ(Compare(b, a), Order::kOlder);
}

TEST(VersionVectorCompare, Concurrent) {
  const VersionVector a = VV({{"a", 2}, {"b", 1}});
  const VersionVector b = VV({{"a", 1}, {"b", 2}});
  EXPECT_EQ(Compare(a, b), Order::kConcurrent);
  EXPECT_EQ(Compare(b, a), Order::kConcurrent);
}

TEST(VersionVectorCompare, MissingEntryCountsAsZero) {
  const VersionVector ab = VV({{"a", 1}, {"b", 1}});
  const VersionVector a = VV({{"a", 1}});
  EXPECT_EQ(Compare(ab, a), Order::kNewer);
  EXPECT_EQ(Compare(a, ab), Order::kOlder);
  EXPECT_EQ(Compare(a, VersionVector()), Order::kNewer);
  EXPECT_EQ(Compare(VersionVector(), a), Order::kOlder);
  // Disjoint nodes: each has seen something the other has not.
  EXPECT_EQ(Compare(VV({{"a", 1}}), VV({{"b", 1}})), Order::kConcurrent);
}

TEST(VersionVectorCompare, ZeroCounterEqualsMissingEntry) {
  // A peer may send an explicit zero; it must mean the same as no entry.
  const VersionVector with_zero = RawVV({{"a", 1}, {"b", 0}});
  const VersionVector without = RawVV({{"a", 1}});
  EXPECT_EQ(Compare(with_zero, without), Order::kEqual);
  EXPECT_EQ(Compare(without, with_zero), Order::kEqual);
  EXPECT_EQ(Compare(RawVV({{"z", 0}}), VersionVector()), Order::kEqual);
}

TEST(VersionVectorMerge, PointwiseMaximum) {
  const VersionVector m = Merge(VV({{"a", 3}, {"b", 1}}), VV({{"b", 4}, {"c", 2}}));
  EXPECT_EQ(Counter(m, "a"), 3u);
  EXPECT_EQ(Counter(m, "b"), 4u);
  EXPECT_EQ(Counter(m, "c"), 2u);
  EXPECT_EQ(m.entries_size(), 3);
}

TEST(VersionVectorMerge, DominatesBothInputs) {
  const VersionVector a = VV({{"a", 2}, {"b", 1}});
  const VersionVector b = VV({{"a", 1}, {"b", 2}});
  const VersionVector m = Merge(a, b);
  EXPECT_EQ(Compare(m, a), Order::kNewer);
  EXPECT_EQ(Compare(m, b), Order::kNewer);
  EXPECT_EQ(Merge(b, a).SerializeAsString(), m.SerializeAsString());
}

TEST(VersionVectorMerge, CanonicalizesNonCanonicalInput) {
  const VersionVector m = Merge(RawVV({{"b", 1}, {"a", 0}, {"b", 2}}), VersionVector());
  EXPECT_EQ(m.SerializeAsString(), VV({{"b", 2}}).SerializeAsString());
}

TEST(VersionVectorBump, IncrementsOnlyThatNode) {
  VersionVector vv = VV({{"a", 1}, {"b", 5}});
  Bump(&vv, "a");
  EXPECT_EQ(Counter(vv, "a"), 2u);
  EXPECT_EQ(Counter(vv, "b"), 5u);
  Bump(&vv, "c");
  EXPECT_EQ(Counter(vv, "c"), 1u);
  EXPECT_EQ(vv.entries_size(), 3);
}

TEST(VersionVectorBump, BumpedIsNewer) {
  const VersionVector before = VV({{"a", 1}, {"b", 1}});
  VersionVector after = before;
  Bump(&after, "b");
  EXPECT_EQ(Compare(after, before), Order::kNewer);
}

// Vectors arrive from peers and are stored as sent; a duplicate entry must not
// make a local change look older than what we already hold.
TEST(VersionVectorBump, BumpOfNonCanonicalInputIsNewer) {
  const VersionVector sent = RawVV({{"a", 1}, {"a", 5}});
  EXPECT_EQ(Counter(sent, "a"), 5u) << "Counter must agree with Compare, which takes the max";
  VersionVector bumped = sent;
  Bump(&bumped, "a");
  EXPECT_EQ(Compare(bumped, sent), Order::kNewer) << ToString(bumped);
}

TEST(VersionVectorCovers, EqualAndNewerCover) {
  const VersionVector old_vv = VV({{"a", 1}});
  const VersionVector new_vv = VV({{"a", 2}});
  EXPECT_TRUE(Covers(new_vv, old_vv));
  EXPECT_TRUE(Covers(new_vv, new_vv));
  EXPECT_FALSE(Covers(old_vv, new_vv));
  EXPECT_TRUE(Covers(old_vv, VersionVector()));
  EXPECT_FALSE(Covers(VersionVector(), old_vv));
}

TEST(VersionVectorCovers, ConcurrentDoesNotCover) {
  const VersionVector a = VV({{"a", 1}});
  const VersionVector b = VV({{"b", 1}});
  EXPECT_FALSE(Covers(a, b));
  EXPECT_FALSE(Covers(b, a));
}

TEST(VersionVectorCanonical, InsertionOrderDoesNotChangeBytes) {
  const VersionVector x = VV({{"c", 3}, {"a", 1}, {"b", 2}});
  const VersionVector y = VV({{"a", 1}, {"b", 2}, {"c", 3}});
  EXPECT_EQ(x.SerializeAsString(), y.SerializeAsString());
  ASSERT_EQ(x.entries_size(), 3);
  EXPECT_EQ(x.entries(0).node(), "a");
  EXPECT_EQ(x.entries(1).node(), "b");
  EXPECT_EQ(x.entries(2).node(), "c");
}

TEST(VersionVectorCanonical, BumpOrderDoesNotChangeBytes) {
  VersionVector x;
  Bump(&x, "b");
  Bump(&x, "a");
  VersionVector y;
  Bump(&y, "a");
  Bump(&y, "b");
  EXPECT_EQ(x.SerializeAsString(), y.SerializeAsString());
}

TEST(VersionVectorCanonical, ZeroCounterIsDropped) {
  VersionVector vv = VV({{"a", 1}, {"b", 2}});
  SetCounter(&vv, "b", 0);
  EXPECT_EQ(vv.entries_size(), 1);
  EXPECT_EQ(vv.SerializeAsString(), VV({{"a", 1}}).SerializeAsString());
  EXPECT_EQ(Counter(vv, "b"), 0u);
}

TEST(VersionVectorToString, Formats) {
  EXPECT_EQ(ToString(VV({{"b", 1}, {"a", 3}})), "a:3,b:1");
  EXPECT_EQ(ToString(VersionVector()), "-");
}

}  // namespace
}  // namespace syncr
