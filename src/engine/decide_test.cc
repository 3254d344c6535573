#include "engine/decide.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "testing/testing.h"

namespace syncr {
namespace {

/// A stored file version with the given content hash and metadata.
Version FileVersion(const std::string& hash, uint32_t mode = 0644, uint32_t uid = 0,
                    uint32_t gid = 0) {
  Version v;
  v.set_path("/etc/hosts");
  v.set_kind(wire::KIND_FILE);
  v.set_hash(hash);
  v.mutable_meta()->set_mode(mode);
  v.mutable_meta()->set_uid(uid);
  v.mutable_meta()->set_gid(gid);
  v.mutable_meta()->set_mtime_ns(1000);
  return v;
}

/// What the disk shows when it holds exactly `v`.
Observed ObservedOf(const Version& v) {
  Observed o;
  o.kind = v.kind();
  o.hash = v.hash();
  o.mode = v.meta().mode();
  o.uid = v.meta().uid();
  o.gid = v.meta().gid();
  o.mtime_ns = v.meta().mtime_ns();
  o.link_target = v.link_target();
  return o;
}

Version Deleted() {
  Version v;
  v.set_path("/etc/hosts");
  v.set_kind(wire::KIND_DELETED);
  return v;
}

// ---- IsRealChange ----

TEST(DecideIsRealChange, NeverSeenAndMissingIsNoChange) {
  EXPECT_FALSE(IsRealChange(nullptr, Observed{}, false));
  EXPECT_FALSE(IsRealChange(nullptr, Observed{}, true));
}

TEST(DecideIsRealChange, TombstoneAndMissingIsNoChange) {
  const Version tomb = Deleted();
  EXPECT_FALSE(IsRealChange(&tomb, Observed{}, true));
}

TEST(DecideIsRealChange, CreatedIsChange) {
  EXPECT_TRUE(IsRealChange(nullptr, ObservedOf(FileVersion("h1")), false));
  const Version tomb = Deleted();
  EXPECT_TRUE(IsRealChange(&tomb, ObservedOf(FileVersion("h1")), false));
}

TEST(DecideIsRealChange, DeletedIsChange) {
  const Version stored = FileVersion("h1");
  EXPECT_TRUE(IsRealChange(&stored, Observed{}, false));
}

TEST(DecideIsRealChange, UnchangedIsNoChange) {
  const Version stored = FileVersion("h1");
  EXPECT_FALSE(IsRealChange(&stored, ObservedOf(stored), true));
}

TEST(DecideIsRealChange, ContentChangeIsChange) {
  const Version stored = FileVersion("h1");
  Observed o = ObservedOf(stored);
  o.hash = "h2";
  EXPECT_TRUE(IsRealChange(&stored, o, false));
}

TEST(DecideIsRealChange, ModeChangeIsChange) {
  const Version stored = FileVersion("h1", 0644);
  Observed o = ObservedOf(stored);
  o.mode = 0600;
  EXPECT_TRUE(IsRealChange(&stored, o, false));
}

TEST(DecideIsRealChange, OwnerChangeCountsOnlyWithCompareOwner) {
  const Version stored = FileVersion("h1", 0644, 1000, 1000);
  Observed uid_changed = ObservedOf(stored);
  uid_changed.uid = 1001;
  EXPECT_FALSE(IsRealChange(&stored, uid_changed, false));
  EXPECT_TRUE(IsRealChange(&stored, uid_changed, true));
  Observed gid_changed = ObservedOf(stored);
  gid_changed.gid = 1001;
  EXPECT_FALSE(IsRealChange(&stored, gid_changed, false));
  EXPECT_TRUE(IsRealChange(&stored, gid_changed, true));
}

TEST(DecideIsRealChange, MtimeOnlyIsNoChange) {
  const Version stored = FileVersion("h1");
  Observed o = ObservedOf(stored);
  o.mtime_ns = stored.meta().mtime_ns() + 5'000'000'000;
  EXPECT_FALSE(IsRealChange(&stored, o, true));
}

TEST(DecideIsRealChange, KindChangeIsChange) {
  const Version stored = FileVersion("h1");
  Observed o = ObservedOf(stored);
  o.kind = wire::KIND_SYMLINK;
  EXPECT_TRUE(IsRealChange(&stored, o, false));
}

TEST(DecideIsRealChange, SymlinkTargetChangeIsChange) {
  Version stored;
  stored.set_kind(wire::KIND_SYMLINK);
  stored.set_link_target("/a");
  stored.set_hash("hash-of-/a");
  Observed same = ObservedOf(stored);
  EXPECT_FALSE(IsRealChange(&stored, same, true));
  Observed retargeted = same;
  retargeted.link_target = "/b";
  retargeted.hash = "hash-of-/b";
  EXPECT_TRUE(IsRealChange(&stored, retargeted, true));
}

TEST(DecideIsRealChange, SymlinkModeIsIgnored) {
  Version stored;
  stored.set_kind(wire::KIND_SYMLINK);
  stored.set_hash("hash-of-/a");
  stored.mutable_meta()->set_mode(0777);
  Observed o = ObservedOf(stored);
  o.mode = 0755;
  EXPECT_FALSE(IsRealChange(&stored, o, false));
}

// ---- EventName ----

TEST(DecideEventName, Names) {
  const Version v1 = FileVersion("h1", 0644);
  const Version v2 = FileVersion("h2", 0644);
  const Version v1_mode = FileVersion("h1", 0600);
  const Version tomb = Deleted();
  EXPECT_EQ(EventName(nullptr, v1), "created");
  EXPECT_EQ(EventName(&tomb, v1), "created");
  EXPECT_EQ(EventName(&v1, v2), "modified");
  EXPECT_EQ(EventName(&v1, v1_mode), "metadata");
  EXPECT_EQ(EventName(&v1, tomb), "deleted");
}

// ---- DecideRemote ----

Version At(const Version& base, VersionVector vv, int64_t change_ns, const std::string& origin) {
  Version v = base;
  *v.mutable_vv() = std::move(vv);
  v.set_change_ns(change_ns);
  v.set_origin(origin);
  return v;
}

TEST(DecideRemote, NoLocalApplies) {
  const Version remote = At(FileVersion("h1"), VV({{"b", 1}}), 10, "b");
  EXPECT_EQ(DecideRemote(nullptr, remote), RemoteDecision::kApply);
}

TEST(DecideRemote, EqualIsIgnored) {
  const Version local = At(FileVersion("h1"), VV({{"a", 1}}), 10, "a");
  EXPECT_EQ(DecideRemote(&local, local), RemoteDecision::kIgnore);
}

TEST(DecideRemote, OlderIsIgnored) {
  const Version local = At(FileVersion("h2"), VV({{"a", 2}}), 20, "a");
  const Version remote = At(FileVersion("h1"), VV({{"a", 1}}), 10, "a");
  EXPECT_EQ(DecideRemote(&local, remote), RemoteDecision::kIgnore);
}

TEST(DecideRemote, NewerApplies) {
  const Version local = At(FileVersion("h1"), VV({{"a", 1}}), 10, "a");
  // Newer even with an earlier clock: vectors decide, not change_ns.
  const Version remote = At(FileVersion("h2"), VV({{"a", 1}, {"b", 1}}), 5, "b");
  EXPECT_EQ(DecideRemote(&local, remote), RemoteDecision::kApply);
}

TEST(DecideRemote, ConcurrentSameStateMerges) {
  const Version local = At(FileVersion("h1"), VV({{"a", 1}}), 10, "a");
  Version remote = At(FileVersion("h1"), VV({{"b", 1}}), 20, "b");
  remote.mutable_meta()->set_mtime_ns(999);  // mtimes do not matter
  EXPECT_EQ(DecideRemote(&local, remote), RemoteDecision::kMerge);
}

TEST(DecideRemote, ConcurrentDifferentContentConflicts) {
  const Version local = At(FileVersion("h1"), VV({{"a", 1}}), 10, "a");
  const Version remote = At(FileVersion("h2"), VV({{"b", 1}}), 20, "b");
  EXPECT_EQ(DecideRemote(&local, remote), RemoteDecision::kConflictTakeRemote);
  EXPECT_EQ(DecideRemote(&remote, local), RemoteDecision::kConflictKeepLocal);
}

TEST(DecideRemote, ConcurrentDifferentModeConflicts) {
  const Version local = At(FileVersion("h1", 0644), VV({{"a", 1}}), 10, "a");
  const Version remote = At(FileVersion("h1", 0600), VV({{"b", 1}}), 20, "b");
  EXPECT_EQ(DecideRemote(&local, remote), RemoteDecision::kConflictTakeRemote);
}

TEST(DecideRemote, ConcurrentDeleteAgainstEditConflicts) {
  const Version local = At(FileVersion("h1"), VV({{"a", 1}}), 10, "a");
  const Version remote = At(Deleted(), VV({{"b", 1}}), 5, "b");
  EXPECT_EQ(DecideRemote(&local, remote), RemoteDecision::kConflictKeepLocal);
  EXPECT_EQ(DecideRemote(&remote, local), RemoteDecision::kConflictTakeRemote);
}

TEST(DecideRemote, ConcurrentDeletesMerge) {
  const Version local = At(Deleted(), VV({{"a", 1}}), 10, "a");
  const Version remote = At(Deleted(), VV({{"b", 1}}), 20, "b");
  EXPECT_EQ(DecideRemote(&local, remote), RemoteDecision::kMerge);
}

// SPEC 6: what a node found when it first watched a path never beats a real
// change, whatever the clocks say, and gives way without a conflict.
TEST(DecideRemote, ARealChangeReplacesABaselineWithoutConflict) {
  Version local = At(FileVersion("old"), VV({{"b", 1}}), 900, "b");
  local.set_baseline(true);
  const Version remote = At(FileVersion("edited"), VV({{"a", 2}}), 100, "a");
  EXPECT_EQ(DecideRemote(&local, remote), RemoteDecision::kTakeOverBaseline);
}

TEST(DecideRemote, ABaselineNeverBeatsARealChange) {
  const Version local = At(FileVersion("edited"), VV({{"a", 2}}), 100, "a");
  Version remote = At(FileVersion("old"), VV({{"b", 1}}), 900, "b");
  remote.set_baseline(true);
  EXPECT_EQ(DecideRemote(&local, remote), RemoteDecision::kKeepOverBaseline);
}

TEST(DecideRemote, TwoDifferentBaselinesAreARealConflictTheLaterWins) {
  Version local = At(FileVersion("mine"), VV({{"b", 1}}), 100, "b");
  Version remote = At(FileVersion("theirs"), VV({{"a", 1}}), 200, "a");
  local.set_baseline(true);
  remote.set_baseline(true);
  EXPECT_EQ(DecideRemote(&local, remote), RemoteDecision::kConflictTakeRemote);
  EXPECT_EQ(DecideRemote(&remote, local), RemoteDecision::kConflictKeepLocal);
}

TEST(DecideRemote, EqualBaselinesMerge) {
  Version local = At(FileVersion("same"), VV({{"b", 1}}), 100, "b");
  Version remote = At(FileVersion("same"), VV({{"a", 1}}), 200, "a");
  local.set_baseline(true);
  remote.set_baseline(true);
  EXPECT_EQ(DecideRemote(&local, remote), RemoteDecision::kMerge);
}

TEST(DecideRemote, ClockTieBrokenByGreaterOrigin) {
  const Version from_a = At(FileVersion("h1"), VV({{"a", 1}}), 10, "a");
  const Version from_b = At(FileVersion("h2"), VV({{"b", 1}}), 10, "b");
  EXPECT_EQ(DecideRemote(&from_a, from_b), RemoteDecision::kConflictTakeRemote);
  EXPECT_EQ(DecideRemote(&from_b, from_a), RemoteDecision::kConflictKeepLocal);
}

// For every pair of concurrent, differing versions, exactly one side wins and
// both nodes agree on which: the rule is symmetric and deterministic.
TEST(DecideRemote, ConflictRuleIsSymmetric) {
  struct Side {
    int64_t change_ns;
    const char* origin;
  };
  const std::vector<Side> sides = {{5, "a"}, {5, "b"}, {7, "a"}, {7, "b"}, {9, "aa"}, {-1, "z"}};
  for (size_t i = 0; i < sides.size(); ++i) {
    for (size_t j = 0; j < sides.size(); ++j) {
      if (i == j) continue;
      const Version x = At(FileVersion("hx"), VV({{"x", 1}}), sides[i].change_ns, sides[i].origin);
      const Version y = At(FileVersion("hy"), VV({{"y", 1}}), sides[j].change_ns, sides[j].origin);
      const RemoteDecision at_x = DecideRemote(&x, y);  // x local, y arrives
      const RemoteDecision at_y = DecideRemote(&y, x);  // y local, x arrives
      SCOPED_TRACE(testing::Message()
                   << "x=(" << sides[i].change_ns << "," << sides[i].origin << ") y=("
                   << sides[j].change_ns << "," << sides[j].origin << ")");
      const bool y_wins_at_x = at_x == RemoteDecision::kConflictTakeRemote;
      const bool y_wins_at_y = at_y == RemoteDecision::kConflictKeepLocal;
      ASSERT_TRUE(at_x == RemoteDecision::kConflictTakeRemote ||
                  at_x == RemoteDecision::kConflictKeepLocal);
      ASSERT_TRUE(at_y == RemoteDecision::kConflictTakeRemote ||
                  at_y == RemoteDecision::kConflictKeepLocal);
      EXPECT_EQ(y_wins_at_x, y_wins_at_y);
      const bool y_greater = std::make_pair(sides[j].change_ns, std::string(sides[j].origin)) >
                             std::make_pair(sides[i].change_ns, std::string(sides[i].origin));
      EXPECT_EQ(y_wins_at_x, y_greater);
      EXPECT_EQ(RemoteWinsConflict(x, y), !RemoteWinsConflict(y, x));
    }
  }
}

// ---- SameState ----

TEST(DecideSameState, IgnoresVectorsAndMtime) {
  Version a = At(FileVersion("h1"), VV({{"a", 1}}), 10, "a");
  Version b = At(FileVersion("h1"), VV({{"b", 7}}), 99, "b");
  b.mutable_meta()->set_mtime_ns(12345);
  EXPECT_TRUE(SameState(a, b));
  b.mutable_meta()->set_gid(5);
  EXPECT_FALSE(SameState(a, b));
}

// ---- PeerLacks ----

TEST(DecidePeerLacks, UnknownPeerLacks) {
  const Version local = At(FileVersion("h1"), VV({{"a", 1}}), 10, "a");
  EXPECT_TRUE(PeerLacks(local, nullptr));
}

TEST(DecidePeerLacks, PeerWithEqualOrNewerHasIt) {
  const Version local = At(FileVersion("h1"), VV({{"a", 1}}), 10, "a");
  const VersionVector same = VV({{"a", 1}});
  const VersionVector newer = VV({{"a", 1}, {"b", 1}});
  EXPECT_FALSE(PeerLacks(local, &same));
  EXPECT_FALSE(PeerLacks(local, &newer));
}

TEST(DecidePeerLacks, PeerWithOlderOrConcurrentLacks) {
  const Version local = At(FileVersion("h1"), VV({{"a", 2}}), 10, "a");
  const VersionVector older = VV({{"a", 1}});
  const VersionVector concurrent = VV({{"a", 1}, {"b", 1}});
  const VersionVector empty;
  EXPECT_TRUE(PeerLacks(local, &older));
  EXPECT_TRUE(PeerLacks(local, &concurrent));
  EXPECT_TRUE(PeerLacks(local, &empty));
}

TEST(DeletedByLaterParentTest, OnlyTheSameOriginsLaterDeletionMakesAChildObsolete) {
  wire::Version parent;
  parent.set_kind(wire::KIND_DELETED);
  parent.set_origin("a");
  parent.set_change_ns(200);
  wire::Version child;
  child.set_kind(wire::KIND_FILE);
  child.set_origin("a");
  child.set_change_ns(150);
  EXPECT_TRUE(DeletedByLaterParent(parent, child));
  child.set_change_ns(200);
  EXPECT_TRUE(DeletedByLaterParent(parent, child));
  child.set_change_ns(250);  // made again after the rm -r
  EXPECT_FALSE(DeletedByLaterParent(parent, child));
  child.set_change_ns(150);
  child.set_origin("c");  // a may never have seen it
  EXPECT_FALSE(DeletedByLaterParent(parent, child));
  child.set_origin("a");
  child.set_kind(wire::KIND_DELETED);  // a deletion re-creates nothing
  EXPECT_FALSE(DeletedByLaterParent(parent, child));
  child.set_kind(wire::KIND_FILE);
  parent.set_kind(wire::KIND_DIRECTORY);  // the parent is there
  EXPECT_FALSE(DeletedByLaterParent(parent, child));
}

}  // namespace
}  // namespace syncr
