#include "status/status.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "testing/testing.h"

namespace syncr {
namespace {

std::vector<std::string> Strings(const google::protobuf::RepeatedPtrField<std::string>& field) {
  return {field.begin(), field.end()};
}

/// Node "a" syncs /etc/hosts and the tree /etc/app to peers "b" and "c";
/// its store still holds a row of /srv/old, an entry a reload removed.
class BuildStatusTest : public testing::Test {
 protected:
  BuildStatusTest() {
    SyncEntry hosts;
    hosts.path = "/etc/hosts";
    SyncEntry app;
    app.path = "/etc/app";
    config_.node.name = "a";
    config_.sync = {hosts, app};

    input_.node = "a";
    input_.started_ns = 42;
    input_.files = {V("/etc/hosts", wire::KIND_FILE, VV({{"a", 2}})),
                    V("/etc/app/x.conf", wire::KIND_FILE, VV({{"a", 1}, {"b", 1}})),
                    V("/srv/old", wire::KIND_FILE, VV({{"a", 7}}))};
    input_.peers = {Holding("b"), Holding("c")};
  }

  /// A connected peer that holds every synced version (not /srv/old).
  PeerSnapshot Holding(const std::string& name) const {
    PeerSnapshot peer;
    peer.name = name;
    peer.connected = true;
    peer.state = "up";
    for (const wire::Version& v : input_.files) {
      if (config_.FindEntry(v.path())) peer.has[v.path()] = v.vv();
    }
    return peer;
  }

  const wire::PathStatus* Row(const wire::StatusReply& reply, const std::string& path) const {
    for (const wire::PathStatus& ps : reply.paths()) {
      if (ps.path() == path) return &ps;
    }
    return nullptr;
  }

  Config config_;
  StatusInput input_;
};

TEST_F(BuildStatusTest, InSyncWhenEveryPeerIsConnectedAndHoldsEveryPath) {
  const wire::StatusReply reply = BuildStatus(config_, input_);
  EXPECT_TRUE(reply.in_sync());
  EXPECT_EQ(reply.node(), "a");
  EXPECT_EQ(reply.started_ns(), 42);
  ASSERT_EQ(reply.peers_size(), 2);
  for (const wire::PeerStatus& p : reply.peers()) {
    EXPECT_TRUE(p.connected()) << p.name();
    EXPECT_EQ(p.pending(), 0u) << p.name();
  }
  ASSERT_EQ(reply.paths_size(), 2);
  for (const wire::PathStatus& ps : reply.paths()) {
    EXPECT_EQ(ps.state(), "in sync") << ps.path();
    EXPECT_EQ(ps.pending_to_size(), 0) << ps.path();
  }
  EXPECT_EQ(Row(reply, "/etc/app/x.conf")->entry(), "/etc/app");
  EXPECT_EQ(Row(reply, "/etc/hosts")->version().vv().SerializeAsString(),
            VV({{"a", 2}}).SerializeAsString());
}

TEST_F(BuildStatusTest, AHolderThatIsNotConnectedIsNotInSync) {
  input_.peers[1].connected = false;
  input_.peers[1].state = "down";
  input_.peers[1].last_error = "no answer to the handshake";
  const wire::StatusReply reply = BuildStatus(config_, input_);
  EXPECT_FALSE(reply.in_sync());
  EXPECT_FALSE(reply.peers(1).connected());
  EXPECT_EQ(reply.peers(1).last_error(), "no answer to the handshake");
  EXPECT_EQ(reply.peers(1).pending(), 0u);  // it holds everything: nothing pending
}

// SPEC 10: a failed command anywhere in an entry's last run, on this node
// or a peer, keeps status from "in sync" and names the command and node.
TEST_F(BuildStatusTest, AFailedActionOnAnyNodeIsAProblemUntilARunSucceeds) {
  ASSERT_TRUE(BuildStatus(config_, input_).in_sync());
  const std::string entry = config_.sync[0].path;
  wire::ActionReport run;
  run.set_entry(entry);
  wire::ActionResult* bad = run.add_results();
  bad->set_command("systemctl restart app");
  bad->set_exit_code(1);
  run.add_results()->set_command("logger done");  // the last one succeeded
  run.set_ok(false);
  input_.peers[1].actions[entry] = run;
  wire::StatusReply reply = BuildStatus(config_, input_);
  EXPECT_FALSE(reply.in_sync());
  ASSERT_EQ(reply.problems_size(), 1);
  EXPECT_NE(reply.problems(0).find("actions for " + entry + " failed on " + input_.peers[1].name +
                                   ": `systemctl restart app` exited 1"),
            std::string::npos)
      << reply.problems(0);
  EXPECT_NE(reply.problems(0).find("syncr log"), std::string::npos) << reply.problems(0);

  input_.action_reports[entry] = run;  // and here
  EXPECT_EQ(BuildStatus(config_, input_).problems_size(), 2);

  run.set_ok(true);  // a later run succeeded everywhere
  run.mutable_results(0)->set_exit_code(0);
  input_.peers[1].actions[entry] = run;
  input_.action_reports[entry] = run;
  EXPECT_TRUE(BuildStatus(config_, input_).in_sync());
}

TEST(ClockSkewAtLeastMsTest, OnlyWhatLiesOutsideTheRoundTripIsSkew) {
  const int64_t s = 1'000'000'000;  // one second in ns
  const int64_t sent = 1000 * s;
  EXPECT_EQ(ClockSkewAtLeastMs(sent + 2 * s, sent, sent + 8 * s), 0);  // inside: unknown
  EXPECT_EQ(ClockSkewAtLeastMs(sent + 9 * s, sent, sent + 8 * s), 1000);
  EXPECT_EQ(ClockSkewAtLeastMs(sent - 3 * s, sent, sent + 8 * s), -3000);
  EXPECT_EQ(ClockSkewAtLeastMs(0, sent, sent), 0);                  // an old peer: no clock sent
  EXPECT_EQ(ClockSkewAtLeastMs(sent - 60 * s, sent, sent - s), 0);  // our clock stepped back
}

TEST_F(BuildStatusTest, AClockSkewBeyondTheLimitIsAProblemWithItsRemedy) {
  input_.peers[0].clock_skew_ms = kClockSkewWarnMs - 1;  // within: fine
  input_.peers[1].clock_skew_ms = -3600 * 1000;          // an hour behind
  const wire::StatusReply reply = BuildStatus(config_, input_);
  EXPECT_FALSE(reply.in_sync());
  EXPECT_EQ(reply.peers(1).clock_skew_ms(), -3600 * 1000);
  ASSERT_EQ(reply.problems_size(), 1);
  EXPECT_EQ(reply.problems(0),
            "the clock of c is 3600 s behind this node's: conflicts are decided by the later "
            "change, so keep the clocks synchronised (NTP, chrony)");
}

TEST_F(BuildStatusTest, PendingIsCountedPerPeer) {
  input_.peers[0].has["/etc/hosts"] = VV({{"a", 1}});  // b holds an older one
  input_.peers[1].has.clear();                         // c holds nothing known
  const wire::StatusReply reply = BuildStatus(config_, input_);
  EXPECT_FALSE(reply.in_sync());
  EXPECT_EQ(reply.peers(0).pending(), 1u);
  EXPECT_EQ(reply.peers(1).pending(), 2u);  // /srv/old is not counted
  const wire::PathStatus* hosts = Row(reply, "/etc/hosts");
  EXPECT_EQ(hosts->state(), "pending");
  EXPECT_EQ(Strings(hosts->pending_to()), (std::vector<std::string>{"b", "c"}));
  const wire::PathStatus* x = Row(reply, "/etc/app/x.conf");
  EXPECT_EQ(x->state(), "pending");
  EXPECT_EQ(Strings(x->pending_to()), (std::vector<std::string>{"c"}));
}

TEST_F(BuildStatusTest, AConflictIsNotInSyncEvenWhenEveryPeerHoldsIt) {
  input_.files[0].set_conflict(true);
  const wire::StatusReply reply = BuildStatus(config_, input_);
  EXPECT_FALSE(reply.in_sync());
  EXPECT_EQ(Row(reply, "/etc/hosts")->state(), "conflict");
  EXPECT_EQ(reply.peers(0).pending(), 0u);
}

TEST_F(BuildStatusTest, AMissingPathIsNotInSyncAndNotPending) {
  input_.files.push_back(V("/etc/app/gone", wire::KIND_NONE, VV({})));
  const wire::StatusReply reply = BuildStatus(config_, input_);
  EXPECT_FALSE(reply.in_sync());
  EXPECT_EQ(Row(reply, "/etc/app/gone")->state(), "missing");
  EXPECT_EQ(Row(reply, "/etc/app/gone")->pending_to_size(), 0);
  EXPECT_EQ(reply.peers(0).pending(), 0u);
  EXPECT_EQ(reply.peers(1).pending(), 0u);
}

TEST_F(BuildStatusTest, ARefusedPathIsListedWithItsReasonButNotPending) {
  input_.peers[0].has.erase("/etc/app/x.conf");
  input_.peers[0].refused["/etc/app/x.conf"] = "its config does not sync this path: outside";
  const wire::StatusReply reply = BuildStatus(config_, input_);
  EXPECT_FALSE(reply.in_sync());
  EXPECT_EQ(reply.peers(0).pending(), 0u);
  const wire::PathStatus* x = Row(reply, "/etc/app/x.conf");
  EXPECT_EQ(x->state(), "refused");
  EXPECT_EQ(Strings(x->refused_by()), (std::vector<std::string>{"b"}));
  EXPECT_EQ(x->pending_to_size(), 0);
  EXPECT_EQ(Strings(x->problems()),
            (std::vector<std::string>{"b: its config does not sync this path: outside"}));
  EXPECT_EQ(Row(reply, "/etc/hosts")->state(), "in sync");
}

TEST_F(BuildStatusTest, ARefusalOfAVersionThePeerNowHoldsIsNoLongerShown) {
  // The refusal is remembered, but the peer holds the version: nothing lacks.
  input_.peers[0].refused["/etc/hosts"] = "too big";
  const wire::StatusReply reply = BuildStatus(config_, input_);
  EXPECT_TRUE(reply.in_sync());
  EXPECT_EQ(Row(reply, "/etc/hosts")->refused_by_size(), 0);
}

// Issue 11: the origin of a version a peer cannot write (its disk is full)
// says so on the path and on the peer, not just "pending" with no reason.
TEST_F(BuildStatusTest, APathThePeerFailedToApplyIsPendingWithThePeersError) {
  const std::string error = "write /b/etc/hosts: No space left on device (free space)";
  input_.peers[0].has["/etc/hosts"] = VV({{"a", 1}});  // it holds the previous version
  input_.peers[0].failed["/etc/hosts"] = error;
  const wire::StatusReply reply = BuildStatus(config_, input_);
  EXPECT_FALSE(reply.in_sync());
  const wire::PathStatus* hosts = Row(reply, "/etc/hosts");
  EXPECT_EQ(hosts->state(), "pending");
  EXPECT_EQ(Strings(hosts->pending_to()), (std::vector<std::string>{"b"}));
  EXPECT_EQ(Strings(hosts->problems()),
            (std::vector<std::string>{"b: could not apply it: " + error +
                                      " (retried until it applies)"}));
  const wire::PeerStatus& b = reply.peers(0);
  EXPECT_EQ(b.pending(), 1u);
  ASSERT_EQ(b.failing_size(), 1);
  EXPECT_EQ(b.failing(0).path(), "/etc/hosts");
  EXPECT_EQ(b.failing(0).error(), error);
  EXPECT_EQ(b.last_error(), "could not apply /etc/hosts: " + error);
  EXPECT_EQ(reply.peers(1).failing_size(), 0);
  EXPECT_EQ(reply.peers(1).last_error(), "");
}

TEST_F(BuildStatusTest, AFailureOfAVersionThePeerNowHoldsIsNoLongerShown) {
  input_.peers[0].failed["/etc/hosts"] = "No space left on device";
  const wire::StatusReply reply = BuildStatus(config_, input_);
  EXPECT_TRUE(reply.in_sync());
  EXPECT_EQ(Row(reply, "/etc/hosts")->problems_size(), 0);
  EXPECT_EQ(reply.peers(0).failing_size(), 0);
  EXPECT_EQ(reply.peers(0).last_error(), "");
}

TEST_F(BuildStatusTest, ADisconnectedPeerKeepsItsChannelErrorAndListsWhatItFailed) {
  input_.peers[0].connected = false;
  input_.peers[0].last_error = "transport command exited";
  input_.peers[0].has.clear();
  input_.peers[0].failed["/etc/hosts"] = "Read-only file system";
  input_.peers[0].failed["/etc/app/x.conf"] = "Read-only file system";
  const wire::StatusReply reply = BuildStatus(config_, input_);
  EXPECT_FALSE(reply.in_sync());
  EXPECT_EQ(reply.peers(0).last_error(), "transport command exited");
  EXPECT_EQ(reply.peers(0).failing_size(), 2);
}

TEST_F(BuildStatusTest, SeveralFailedPathsAreCountedInTheLastError) {
  input_.peers[0].has.clear();
  input_.peers[0].failed["/etc/hosts"] = "Read-only file system";
  input_.peers[0].failed["/etc/app/x.conf"] = "Read-only file system";
  const wire::StatusReply reply = BuildStatus(config_, input_);
  EXPECT_EQ(reply.peers(0).last_error(),
            "could not apply /etc/hosts: Read-only file system (and 1 more)");
}

TEST_F(BuildStatusTest, ANodeWideProblemIsNotInSync) {
  input_.problems = {"out of inotify watches (raise fs.inotify.max_user_watches)"};
  const wire::StatusReply reply = BuildStatus(config_, input_);
  EXPECT_FALSE(reply.in_sync());
  EXPECT_EQ(Strings(reply.problems()), input_.problems);
}

TEST_F(BuildStatusTest, RowsOfEntriesNoLongerInTheConfigAreLeftOut) {
  // No peer holds /srv/old: it is history, not a pending path.
  const wire::StatusReply reply = BuildStatus(config_, input_);
  EXPECT_EQ(Row(reply, "/srv/old"), nullptr);
  EXPECT_EQ(reply.peers(0).pending(), 0u);
  EXPECT_TRUE(reply.in_sync());
}

TEST_F(BuildStatusTest, RunningActionsAreFlaggedOnTheirEntrysPaths) {
  wire::ActionResult last;
  last.set_command("systemctl reload app");
  last.set_exit_code(0);
  input_.last_action["/etc/app"] = last;
  input_.last_action["/etc/hosts"] = last;
  input_.actions_running = {"/etc/app"};
  const wire::StatusReply reply = BuildStatus(config_, input_);
  const wire::PathStatus* x = Row(reply, "/etc/app/x.conf");
  EXPECT_TRUE(x->last_action().running());
  EXPECT_EQ(x->last_action().command(), "systemctl reload app");
  EXPECT_FALSE(Row(reply, "/etc/hosts")->last_action().running());
  EXPECT_EQ(Row(reply, "/etc/hosts")->last_action().command(), "systemctl reload app");
  EXPECT_TRUE(reply.in_sync());  // running actions are not a sync problem
}

TEST_F(BuildStatusTest, ARunningFirstActionIsFlaggedWithoutALastResult) {
  input_.actions_running = {"/etc/hosts"};
  const wire::StatusReply reply = BuildStatus(config_, input_);
  EXPECT_TRUE(Row(reply, "/etc/hosts")->last_action().running());
  EXPECT_FALSE(Row(reply, "/etc/app/x.conf")->has_last_action());
}

// ---- syncr wait (SPEC 12)

/// a waits for /etc/hosts (version a:2, its entry has actions) on b and c,
/// both connected and holding it, with no run to come and none failed.
class JudgeWaitTest : public BuildStatusTest {
 protected:
  JudgeWaitTest() {
    target_.path = "/etc/hosts";
    target_.entry = "/etc/hosts";
    target_.actions = true;
    target_.versions = {input_.files[0]};
  }

  wire::ActionReport Report(bool ok) const {
    wire::ActionReport r;
    r.set_entry("/etc/hosts");
    r.set_ok(ok);
    wire::ActionResult* result = r.add_results();
    result->set_command("systemctl restart x");
    result->set_exit_code(ok ? 0 : 1);
    return r;
  }

  WaitTarget target_;
};

TEST_F(JudgeWaitTest, DoneWhenEveryNodeHoldsItAndNoRunIsToCome) {
  wire::WaitReply w = JudgeWait(input_, target_);
  EXPECT_TRUE(w.done());
  EXPECT_FALSE(w.failed());
  EXPECT_EQ(w.version(), "a:2");
  EXPECT_EQ(Strings(w.nodes()),
            (std::vector<std::string>{"a: holds it", "b: holds it", "c: holds it"}))
      << "no run known anywhere";
  input_.action_reports["/etc/hosts"] = Report(true);
  input_.peers[0].actions["/etc/hosts"] = Report(true);
  w = JudgeWait(input_, target_);
  EXPECT_TRUE(w.done());
  EXPECT_EQ(w.nodes(0), "a: holds it; actions succeeded");
  EXPECT_EQ(w.nodes(1), "b: holds it; actions succeeded");
}

TEST_F(JudgeWaitTest, APeerThatLacksItOrHasARunToComeIsWaitedFor) {
  input_.peers[0].has.erase("/etc/hosts");
  input_.peers[1].actions_pending.insert("/etc/hosts");
  wire::WaitReply w = JudgeWait(input_, target_);
  EXPECT_FALSE(w.done());
  EXPECT_FALSE(w.failed());
  EXPECT_EQ(w.nodes(1), "b: has not applied /etc/hosts yet");
  EXPECT_EQ(w.nodes(2), "c: holds it; its actions have not finished");

  input_.actions_pending.insert("/etc/hosts");  // ours too
  EXPECT_EQ(JudgeWait(input_, target_).nodes(0), "a: holds it; its actions have not finished");

  // A run to come beats an older failed run: the new one may succeed.
  input_.peers[1].actions["/etc/hosts"] = Report(false);
  w = JudgeWait(input_, target_);
  EXPECT_FALSE(w.failed());
  EXPECT_EQ(w.nodes(2), "c: holds it; its actions have not finished");
}

TEST_F(JudgeWaitTest, AnOlderVersionHeldIsWaitedForAndADisconnectedPeerSaysSo) {
  input_.peers[0].has["/etc/hosts"] = VV({{"a", 1}});
  input_.peers[0].connected = false;
  input_.peers[0].last_error = "connection refused";
  wire::WaitReply w = JudgeWait(input_, target_);
  EXPECT_FALSE(w.done());
  EXPECT_EQ(w.nodes(1), "b: has not applied /etc/hosts yet: not connected (connection refused)");
}

TEST_F(JudgeWaitTest, AFailedRunOrARefusalEndsTheWait) {
  input_.peers[1].actions["/etc/hosts"] = Report(false);
  wire::WaitReply w = JudgeWait(input_, target_);
  EXPECT_FALSE(w.done());
  EXPECT_TRUE(w.failed());
  EXPECT_NE(w.nodes(2).find("actions for /etc/hosts failed on c"), std::string::npos) << w.nodes(2);

  input_.peers[1].actions["/etc/hosts"] = Report(true);
  input_.peers[0].refused["/etc/hosts"] = "not synced by b's config";
  input_.peers[0].has.erase("/etc/hosts");
  w = JudgeWait(input_, target_);
  EXPECT_TRUE(w.failed());
  EXPECT_EQ(w.nodes(1), "b: refuses /etc/hosts: not synced by b's config");
}

TEST_F(JudgeWaitTest, OurOwnFailedRunFailsTheWait) {
  input_.action_reports["/etc/hosts"] = Report(false);
  wire::WaitReply w = JudgeWait(input_, target_);
  EXPECT_TRUE(w.failed());
  EXPECT_NE(w.nodes(0).find("actions for /etc/hosts failed on a"), std::string::npos);
}

// Its reports reach us only while its link is up (they come before its
// Summary): a peer not up holds the version, but its actions are unknown.
TEST_F(JudgeWaitTest, APeerWhoseLinkIsNotUpCannotBeDoneWithActions) {
  input_.peers[0].connected = false;
  input_.peers[0].state = "down";
  input_.peers[1].state = "catching up";
  wire::WaitReply w = JudgeWait(input_, target_);
  EXPECT_FALSE(w.done());
  EXPECT_EQ(w.nodes(1), "b: holds it; not connected, so its actions cannot be known");
  EXPECT_EQ(w.nodes(2), "c: holds it; not connected, so its actions cannot be known");
  target_.actions = false;  // and the entry has none here: holding it is enough
  EXPECT_TRUE(JudgeWait(input_, target_).done());
}

// The peer's config may have actions where ours has none: a run to come
// or a failed run there still counts.
TEST_F(JudgeWaitTest, APeersRunCountsEvenWithoutActionsHere) {
  target_.actions = false;
  input_.peers[0].actions_pending.insert("/etc/hosts");
  EXPECT_FALSE(JudgeWait(input_, target_).done());
  input_.peers[0].actions_pending.clear();
  input_.peers[0].actions["/etc/hosts"] = Report(false);
  EXPECT_TRUE(JudgeWait(input_, target_).failed());
}

// A directory: every version below it, a deletion included, must be held.
TEST_F(JudgeWaitTest, EveryVersionOfADirectoryDeletionsIncludedIsWaitedFor) {
  target_.path = "/etc/app";
  target_.entry = "/etc/app";
  target_.actions = false;
  wire::Version dir = V("/etc/app", wire::KIND_DIRECTORY, VV({{"a", 1}}));
  wire::Version gone = V("/etc/app/old.conf", wire::KIND_DELETED, VV({{"a", 3}}));
  target_.versions = {dir, input_.files[1], gone};
  for (PeerSnapshot& peer : input_.peers) {
    peer.has["/etc/app"] = dir.vv();
    peer.has["/etc/app/old.conf"] = VV({{"a", 2}});  // still the file
  }
  wire::WaitReply w = JudgeWait(input_, target_);
  EXPECT_FALSE(w.done());
  EXPECT_EQ(w.nodes(1), "b: has not applied /etc/app/old.conf yet");
  EXPECT_EQ(w.version(), "a:1");
  for (PeerSnapshot& peer : input_.peers) peer.has["/etc/app/old.conf"] = gone.vv();
  EXPECT_TRUE(JudgeWait(input_, target_).done());
}

}  // namespace
}  // namespace syncr
