#include "engine/plan.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "testing/testing.h"

namespace syncr {
namespace {

/// A directory entry /etc/app and a file entry /etc/hosts on node "a".
Config TwoEntries() {
  Config config;
  config.node.name = "a";
  config.node.root = "/srv/root/";
  SyncEntry tree;
  tree.path = "/etc/app";
  tree.actions = {"true"};
  SyncEntry file;
  file.path = "/etc/hosts";
  file.actions = {"true"};
  config.sync = {tree, file};
  return config;
}

/// The value of KEY in an env list of "KEY=VALUE", if present.
std::optional<std::string> EnvValue(const std::vector<std::string>& env, const std::string& key) {
  for (const std::string& kv : env) {
    if (kv.compare(0, key.size() + 1, key + "=") == 0) return kv.substr(key.size() + 1);
  }
  return std::nullopt;
}

TEST(CatchUpOrderTest, ParentsFirstThenDeletionsChildrenFirst) {
  const Config config = TwoEntries();
  // Shuffled on purpose: the order comes from the paths, not the store.
  const std::vector<wire::Version> ours = {
      V("/etc/app/old", wire::KIND_DELETED, VV({{"a", 2}})),
      V("/etc/app/b/c.conf", wire::KIND_FILE, VV({{"a", 1}})),
      V("/etc/app/old/x", wire::KIND_DELETED, VV({{"a", 2}})),
      V("/etc/app/b", wire::KIND_DIRECTORY, VV({{"a", 1}})),
      V("/etc/app", wire::KIND_DIRECTORY, VV({{"a", 1}})),
      V("/etc/app/a.conf", wire::KIND_FILE, VV({{"a", 1}})),
  };
  EXPECT_EQ(CatchUpOrder(ours, {}, config),
            (std::vector<std::string>{"/etc/app", "/etc/app/a.conf", "/etc/app/b",
                                      "/etc/app/b/c.conf", "/etc/app/old/x", "/etc/app/old"}));
}

TEST(CatchUpOrderTest, LeavesOutUnsyncedNeverStoredAndWhatThePeerHolds) {
  const Config config = TwoEntries();
  const std::vector<wire::Version> ours = {
      V("/etc/hosts", wire::KIND_FILE, VV({{"a", 3}})),           // peer holds it
      V("/etc/app/newer", wire::KIND_FILE, VV({{"a", 2}})),       // peer holds more
      V("/etc/app/stale", wire::KIND_FILE, VV({{"a", 2}})),       // peer holds less
      V("/etc/app/theirs", wire::KIND_FILE, VV({{"a", 1}})),      // concurrent
      V("/etc/app/none", wire::KIND_NONE, VV({{"a", 1}})),        // never stored
      V("/srv/unsynced", wire::KIND_FILE, VV({{"a", 1}})),        // no entry
      V("/etc/hosts.bak", wire::KIND_FILE, VV({{"a", 1}})),       // not below /etc/hosts
      V("/etc/app/deleted", wire::KIND_DELETED, VV({{"a", 4}})),  // peer holds the tombstone
  };
  const std::map<std::string, VersionVector> peer_has = {
      {"/etc/hosts", VV({{"a", 3}})},       {"/etc/app/newer", VV({{"a", 2}, {"b", 1}})},
      {"/etc/app/stale", VV({{"a", 1}})},   {"/etc/app/theirs", VV({{"b", 1}})},
      {"/etc/app/deleted", VV({{"a", 4}})},
  };
  EXPECT_EQ(CatchUpOrder(ours, peer_has, config),
            (std::vector<std::string>{"/etc/app/stale", "/etc/app/theirs"}));
}

TEST(CatchUpOrderTest, NothingToSendToAPeerThatHoldsEverything) {
  const Config config = TwoEntries();
  const std::vector<wire::Version> ours = {V("/etc/hosts", wire::KIND_FILE, VV({{"a", 1}}))};
  EXPECT_TRUE(CatchUpOrder(ours, {{"/etc/hosts", VV({{"a", 1}})}}, config).empty());
  EXPECT_TRUE(CatchUpOrder({}, {}, config).empty());
}

wire::Update U(const std::string& path, wire::Kind kind) {
  wire::Update u;
  *u.mutable_version() = V(path, kind, VV({{"b", 1}}));
  return u;
}

std::vector<std::string> Paths(const std::vector<const wire::Update*>& updates) {
  std::vector<std::string> out;
  for (const wire::Update* u : updates) out.push_back(u->version().path());
  return out;
}

TEST(OrderForApplyTest, EverythingElseInSendersOrderThenDeletionsDeepestFirst) {
  const std::vector<wire::Update> batch = {
      U("/etc/app/old", wire::KIND_DELETED),     U("/etc/app/z", wire::KIND_FILE),
      U("/etc/app/old/x/y", wire::KIND_DELETED), U("/etc/app/b", wire::KIND_DIRECTORY),
      U("/etc/app/old/x", wire::KIND_DELETED),   U("/etc/app/b/link", wire::KIND_SYMLINK),
  };
  std::vector<const wire::Update*> updates;
  for (const wire::Update& u : batch) updates.push_back(&u);
  OrderForApply(&updates);
  EXPECT_EQ(Paths(updates),
            (std::vector<std::string>{"/etc/app/z", "/etc/app/b", "/etc/app/b/link",
                                      "/etc/app/old/x/y", "/etc/app/old/x", "/etc/app/old"}));
}

TEST(OrderForApplyTest, EmptyAndDeletionFreeBatchesKeepTheirOrder) {
  std::vector<const wire::Update*> none;
  OrderForApply(&none);
  EXPECT_TRUE(none.empty());

  const wire::Update z = U("/z", wire::KIND_FILE);
  const wire::Update a = U("/a", wire::KIND_FILE);
  std::vector<const wire::Update*> updates = {&z, &a};
  OrderForApply(&updates);
  EXPECT_EQ(Paths(updates), (std::vector<std::string>{"/z", "/a"}));
}

TEST(PathStateTest, EachState) {
  wire::Version v = V("/etc/hosts", wire::KIND_FILE, VV({{"a", 1}}));
  EXPECT_EQ(PathState(v, 0, 0), "in sync");
  EXPECT_EQ(PathState(v, 2, 0), "pending");
  EXPECT_EQ(PathState(v, 0, 1), "refused");
  EXPECT_EQ(PathState(v, 1, 1), "pending");  // one peer can still take it

  v.set_conflict(true);
  EXPECT_EQ(PathState(v, 0, 0), "conflict");
  EXPECT_EQ(PathState(v, 1, 1), "conflict");

  v.set_kind(wire::KIND_NONE);
  EXPECT_EQ(PathState(v, 1, 1), "missing");

  wire::Version tombstone = V("/etc/hosts", wire::KIND_DELETED, VV({{"a", 2}}));
  EXPECT_EQ(PathState(tombstone, 0, 0), "deleted");  // a deletion that every peer holds
  EXPECT_EQ(PathState(tombstone, 1, 0), "pending");  // one that a peer still lacks
  EXPECT_FALSE(StateBlocksSync("deleted"));
}

TEST(PathStateTest, OnlyMissingConflictAndRefusedBlockSyncOnTheirOwn) {
  EXPECT_TRUE(StateBlocksSync("missing"));
  EXPECT_TRUE(StateBlocksSync("conflict"));
  EXPECT_TRUE(StateBlocksSync("refused"));
  EXPECT_FALSE(StateBlocksSync("pending"));  // counted through its peer
  EXPECT_FALSE(StateBlocksSync("in sync"));
}

TEST(ActionDelayMsTest, AFileEntryRunsOnTheNextTurn) {
  EXPECT_EQ(ActionDelayMs(false, 1000, 1000, 100, 1000), 0);
  EXPECT_EQ(ActionDelayMs(false, 1000, 1900, 100, 1000), 0);
}

TEST(ActionDelayMsTest, ADirectoryEntryWaitsForQuietCappedByMaxSinceTheFirstChange) {
  EXPECT_EQ(ActionDelayMs(true, 1000, 1000, 100, 1000), 100);
  EXPECT_EQ(ActionDelayMs(true, 1000, 1800, 100, 1000), 100);
  EXPECT_EQ(ActionDelayMs(true, 1000, 1950, 100, 1000), 50);  // the cap comes first
  EXPECT_EQ(ActionDelayMs(true, 1000, 2000, 100, 1000), 0);
  EXPECT_EQ(ActionDelayMs(true, 1000, 2500, 100, 1000), 0);  // late: now, never negative
}

TEST(PlanActionsTest, AFileEntrysEnvironment) {
  const Config config = TwoEntries();
  const ActionPlan plan = PlanActions(config, config.sync[1], {{"/etc/hosts", "created", "b"}});
  EXPECT_EQ(EnvValue(plan.env, "SYNCR_PATH"), "/etc/hosts");
  EXPECT_EQ(EnvValue(plan.env, "SYNCR_FILE"), "/srv/root/etc/hosts");
  EXPECT_EQ(EnvValue(plan.env, "SYNCR_ORIGIN"), "b");
  EXPECT_EQ(EnvValue(plan.env, "SYNCR_EVENT"), "created");
  EXPECT_EQ(EnvValue(plan.env, "SYNCR_NODE"), "a");
  EXPECT_EQ(EnvValue(plan.env, "SYNCR_CHANGED"), std::nullopt);  // trees only
  EXPECT_EQ(plan.event, "created");
  EXPECT_EQ(plan.origin, "b");
  EXPECT_EQ(plan.changed, 1u);
  EXPECT_FALSE(plan.tree);
}

TEST(PlanActionsTest, TheCommonEventOrModifiedWhenMixedAndTheNewestOrigin) {
  const Config config = TwoEntries();
  const SyncEntry& hosts = config.sync[1];
  ActionPlan same = PlanActions(config, hosts,
                                {{"/etc/hosts", "metadata", "b"}, {"/etc/hosts", "metadata", "c"}});
  EXPECT_EQ(same.event, "metadata");
  EXPECT_EQ(same.origin, "c");
  EXPECT_EQ(same.changed, 1u);
  EXPECT_FALSE(same.tree);

  ActionPlan mixed =
      PlanActions(config, hosts, {{"/etc/hosts", "deleted", "c"}, {"/etc/hosts", "created", "a"}});
  EXPECT_EQ(mixed.event, "modified");
  EXPECT_EQ(EnvValue(mixed.env, "SYNCR_EVENT"), "modified");
  EXPECT_EQ(EnvValue(mixed.env, "SYNCR_ORIGIN"), "a");
}

TEST(PlanActionsTest, ADirectoryEntryListsEachChangedPathOnce) {
  const Config config = TwoEntries();
  const ActionPlan plan = PlanActions(config, config.sync[0],
                                      {{"/etc/app/y", "created", "a"},
                                       {"/etc/app/x", "deleted", "b"},
                                       {"/etc/app/y", "modified", "c"}});
  EXPECT_TRUE(plan.tree);
  EXPECT_EQ(plan.changed, 2u);
  EXPECT_EQ(plan.event, "modified");
  EXPECT_EQ(plan.origin, "c");
  EXPECT_EQ(EnvValue(plan.env, "SYNCR_PATH"), "/etc/app");
  EXPECT_EQ(EnvValue(plan.env, "SYNCR_FILE"), "/srv/root/etc/app");
  EXPECT_EQ(EnvValue(plan.env, "SYNCR_CHANGED"), "/etc/app/x\n/etc/app/y\n");
}

TEST(PlanActionsTest, TheRootOfADirectoryEntryIsATree) {
  const Config config = TwoEntries();
  const ActionPlan plan =
      PlanActions(config, config.sync[0], {{"/etc/app", "metadata", "b", /*directory=*/true}});
  EXPECT_TRUE(plan.tree);
  EXPECT_EQ(plan.changed, 1u);
  EXPECT_EQ(EnvValue(plan.env, "SYNCR_CHANGED"), "/etc/app\n");
}

}  // namespace
}  // namespace syncr
