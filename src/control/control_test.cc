#include "control/control.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "loop/clock.h"
#include "loop/event_loop.h"
#include "testing/testing.h"

namespace syncr {
namespace {

/// A Control on a FakeClock loop whose hooks record what it does. Peers
/// "b" and "c" are connected; any other name is not.
class ControlTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(loop_.Init().ok());
    Control::Hooks hooks;
    hooks.status = [] {
      wire::StatusReply status;
      status.set_node("a");
      status.set_in_sync(true);
      return status;
    };
    hooks.resolve = [this](const wire::ResolveRequest& request) {
      resolved_.push_back(request);
      return request.path() == "/etc/hosts" ? "" : "no conflict on " + request.path();
    };
    hooks.send_to_peer = [this](const std::string& peer, const wire::Frame& frame) {
      if (!connected_.count(peer)) return "peer " + peer + " is not connected";
      sent_.emplace_back(peer, frame);
      return std::string();
    };
    hooks.reply = [this](uint64_t session, const wire::Frame& frame) {
      ASSERT_TRUE(frame.has_reply());
      replies_.emplace_back(session, frame.reply());
    };
    control_ = std::make_unique<Control>(loop_, std::move(hooks));
  }

  void Fetch(uint64_t session, const std::string& peer, const std::string& path) {
    wire::ControlRequest request;
    request.mutable_fetch()->set_peer(peer);
    request.mutable_fetch()->set_path(path);
    control_->Handle(session, request);
  }

  /// The id of the FetchRequest the last Fetch sent to a peer.
  uint64_t LastFetchId() const {
    EXPECT_FALSE(sent_.empty());
    return sent_.empty() ? 0 : sent_.back().second.fetch_request().id();
  }

  static wire::FetchReply Found(uint64_t id, const std::string& content) {
    wire::FetchReply reply;
    reply.set_id(id);
    reply.set_found(true);
    reply.set_content(content);
    return reply;
  }

  FakeClock clock_;
  EventLoop loop_{clock_};
  std::set<std::string> connected_ = {"b", "c"};
  std::vector<wire::ResolveRequest> resolved_;
  std::vector<std::pair<std::string, wire::Frame>> sent_;
  std::vector<std::pair<uint64_t, wire::ControlReply>> replies_;
  std::unique_ptr<Control> control_;
};

TEST_F(ControlTest, StatusRepliesWithTheReport) {
  wire::ControlRequest request;
  request.mutable_status();
  control_->Handle(5, request);
  ASSERT_EQ(replies_.size(), 1u);
  EXPECT_EQ(replies_[0].first, 5u);
  EXPECT_TRUE(replies_[0].second.ok());
  EXPECT_EQ(replies_[0].second.status().node(), "a");
  EXPECT_TRUE(replies_[0].second.status().in_sync());
}

TEST_F(ControlTest, ResolveRepliesOkOrTheError) {
  wire::ControlRequest request;
  request.mutable_resolve()->set_path("/etc/hosts");
  request.mutable_resolve()->set_take("b");
  control_->Handle(1, request);
  request.mutable_resolve()->set_path("/etc/other");
  control_->Handle(2, request);

  ASSERT_EQ(resolved_.size(), 2u);
  EXPECT_EQ(resolved_[0].take(), "b");
  ASSERT_EQ(replies_.size(), 2u);
  EXPECT_EQ(replies_[0].first, 1u);
  EXPECT_TRUE(replies_[0].second.ok());
  EXPECT_EQ(replies_[0].second.error(), "");
  EXPECT_EQ(replies_[1].first, 2u);
  EXPECT_FALSE(replies_[1].second.ok());
  EXPECT_EQ(replies_[1].second.error(), "no conflict on /etc/other");
}

TEST_F(ControlTest, AnUnknownRequestIsRefused) {
  control_->Handle(3, wire::ControlRequest());
  ASSERT_EQ(replies_.size(), 1u);
  EXPECT_FALSE(replies_[0].second.ok());
  EXPECT_NE(replies_[0].second.error().find("not supported"), std::string::npos);
}

TEST_F(ControlTest, AFetchFromAPeerThatIsNotConnectedFailsAtOnce) {
  Fetch(9, "nobody", "/etc/hosts");
  ASSERT_EQ(replies_.size(), 1u);
  EXPECT_EQ(replies_[0].first, 9u);
  EXPECT_FALSE(replies_[0].second.ok());
  EXPECT_EQ(replies_[0].second.error(), "peer nobody is not connected");
  EXPECT_EQ(control_->waiting(), 0u);
  EXPECT_EQ(loop_.pending_timers(), 0u);
}

TEST_F(ControlTest, AFetchIsAnsweredByTheReplyOfItsPeerOnly) {
  Fetch(7, "b", "/etc/hosts");
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].first, "b");
  EXPECT_EQ(sent_[0].second.fetch_request().path(), "/etc/hosts");
  const uint64_t id = LastFetchId();
  EXPECT_TRUE(replies_.empty());
  EXPECT_EQ(control_->waiting(), 1u);
  EXPECT_EQ(loop_.pending_timers(), 1u);

  control_->OnFetchReply("c", Found(id, "from c"));       // the wrong peer
  control_->OnFetchReply("b", Found(id + 1, "unknown"));  // no such fetch
  EXPECT_TRUE(replies_.empty());
  EXPECT_EQ(control_->waiting(), 1u);

  control_->OnFetchReply("b", Found(id, "127.0.0.1 localhost\n"));
  ASSERT_EQ(replies_.size(), 1u);
  EXPECT_EQ(replies_[0].first, 7u);
  EXPECT_TRUE(replies_[0].second.ok());
  EXPECT_TRUE(replies_[0].second.fetch().found());
  EXPECT_EQ(replies_[0].second.fetch().content(), "127.0.0.1 localhost\n");
  EXPECT_EQ(control_->waiting(), 0u);
  EXPECT_EQ(loop_.pending_timers(), 0u);

  control_->OnFetchReply("b", Found(id, "again"));  // answered already
  EXPECT_EQ(replies_.size(), 1u);
}

TEST_F(ControlTest, TheLossOfAPeerFailsOnlyTheFetchesWaitingOnIt) {
  Fetch(1, "b", "/etc/hosts");
  const uint64_t on_b = LastFetchId();
  Fetch(2, "c", "/etc/hosts");
  Fetch(3, "c", "/etc/app/x.conf");
  EXPECT_EQ(control_->waiting(), 3u);

  control_->OnLinkDown("c", "transport command exited");
  ASSERT_EQ(replies_.size(), 2u);
  for (const auto& [session, reply] : replies_) {
    EXPECT_TRUE(session == 2 || session == 3) << session;
    EXPECT_FALSE(reply.ok());
    EXPECT_EQ(reply.error(),
              "lost the connection to peer c while waiting: transport command exited");
  }
  EXPECT_EQ(control_->waiting(), 1u);
  EXPECT_EQ(loop_.pending_timers(), 1u);

  control_->OnLinkDown("d", "whatever");  // waits on nobody
  EXPECT_EQ(replies_.size(), 2u);
  control_->OnFetchReply("b", Found(on_b, "x"));
  ASSERT_EQ(replies_.size(), 3u);
  EXPECT_EQ(replies_[2].first, 1u);
  EXPECT_TRUE(replies_[2].second.ok());
}

TEST_F(ControlTest, AFetchFailsAfterTheTimeout) {
  Fetch(4, "b", "/etc/hosts");
  const uint64_t id = LastFetchId();
  AdvanceAndRunTimers(clock_, loop_, Control::kFetchTimeoutMs - 1);
  EXPECT_TRUE(replies_.empty());
  EXPECT_EQ(control_->waiting(), 1u);

  AdvanceAndRunTimers(clock_, loop_, 1);
  ASSERT_EQ(replies_.size(), 1u);
  EXPECT_EQ(replies_[0].first, 4u);
  EXPECT_FALSE(replies_[0].second.ok());
  EXPECT_EQ(replies_[0].second.error(), "peer b did not answer within 15 s");
  EXPECT_EQ(control_->waiting(), 0u);
  EXPECT_EQ(loop_.pending_timers(), 0u);

  control_->OnFetchReply("b", Found(id, "late"));  // the session is answered
  control_->OnLinkDown("b", "EOF");
  EXPECT_EQ(replies_.size(), 1u);
}

TEST_F(ControlTest, EachFetchHasItsOwnDeadline) {
  Fetch(1, "b", "/etc/hosts");
  AdvanceAndRunTimers(clock_, loop_, 5000);
  Fetch(2, "b", "/etc/hosts");
  EXPECT_NE(sent_[0].second.fetch_request().id(), sent_[1].second.fetch_request().id());

  AdvanceAndRunTimers(clock_, loop_, Control::kFetchTimeoutMs - 5000);
  ASSERT_EQ(replies_.size(), 1u);
  EXPECT_EQ(replies_[0].first, 1u);
  AdvanceAndRunTimers(clock_, loop_, 5000);
  ASSERT_EQ(replies_.size(), 2u);
  EXPECT_EQ(replies_[1].first, 2u);
}

TEST_F(ControlTest, DestroyingControlCancelsTheWaitersTimers) {
  Fetch(1, "b", "/etc/hosts");
  Fetch(2, "c", "/etc/hosts");
  EXPECT_EQ(loop_.pending_timers(), 2u);
  control_.reset();
  EXPECT_EQ(loop_.pending_timers(), 0u);
  AdvanceAndRunTimers(clock_, loop_, Control::kFetchTimeoutMs);  // nothing left to fire
  EXPECT_TRUE(replies_.empty());
}

// syncr wait: judged at once, again every kWaitTickMs while it lasts, and
// answered when done, failed, or at its deadline; a path the hook refuses
// is answered at once; no timer is left once no wait is.
TEST_F(ControlTest, AWaitIsJudgedEachTickUntilDoneFailedOrItsDeadline) {
  int judged = 0;
  bool done = false;
  control_ = std::make_unique<Control>(loop_, [&] {
    Control::Hooks hooks;
    hooks.reply = [this](uint64_t session, const wire::Frame& frame) {
      replies_.emplace_back(session, frame.reply());
    };
    hooks.wait = [&](const std::string& path) -> Result<Control::WaitJudge> {
      if (path != "/etc/hosts") return Status::Error(path + " is not synced");
      return Control::WaitJudge([&] {
        ++judged;
        wire::WaitReply w;
        w.set_done(done);
        w.add_nodes(done ? "b: holds it" : "b: has not applied /etc/hosts yet");
        return w;
      });
    };
    return hooks;
  }());
  auto wait = [&](uint64_t session, const std::string& path, uint32_t timeout_ms) {
    wire::ControlRequest request;
    request.mutable_wait()->set_path(path);
    request.mutable_wait()->set_timeout_ms(timeout_ms);
    control_->Handle(session, request);
  };

  wait(1, "/etc/other", 1000);
  ASSERT_EQ(replies_.size(), 1u);
  EXPECT_FALSE(replies_[0].second.ok());
  EXPECT_EQ(replies_[0].second.error(), "/etc/other is not synced");

  wait(2, "/etc/hosts", 1000);
  EXPECT_EQ(judged, 1);
  EXPECT_EQ(control_->waiting(), 1u);
  AdvanceAndRunTimers(clock_, loop_, Control::kWaitTickMs);
  EXPECT_EQ(judged, 2);
  done = true;
  AdvanceAndRunTimers(clock_, loop_, Control::kWaitTickMs);
  ASSERT_EQ(replies_.size(), 2u);
  EXPECT_EQ(replies_[1].first, 2u);
  EXPECT_TRUE(replies_[1].second.ok());
  EXPECT_EQ(replies_[1].second.wait().nodes(0), "b: holds it");
  EXPECT_EQ(loop_.pending_timers(), 0u);

  done = false;
  wait(3, "/etc/hosts", 1000);
  AdvanceAndRunTimers(clock_, loop_, 999);
  EXPECT_EQ(replies_.size(), 2u);
  AdvanceAndRunTimers(clock_, loop_, Control::kWaitTickMs);
  ASSERT_EQ(replies_.size(), 3u);
  EXPECT_FALSE(replies_[2].second.ok());
  EXPECT_EQ(replies_[2].second.error(), "not done after 1 s");
  EXPECT_EQ(replies_[2].second.wait().nodes(0), "b: has not applied /etc/hosts yet");
  EXPECT_EQ(control_->waiting(), 0u);
  EXPECT_EQ(loop_.pending_timers(), 0u);

  // A CLI that gives up (Ctrl-C) takes its wait with it: no more judging.
  wait(4, "/etc/hosts", 60000);
  EXPECT_EQ(control_->waiting(), 1u);
  control_->OnSessionGone(4);
  EXPECT_EQ(control_->waiting(), 0u);
  EXPECT_EQ(loop_.pending_timers(), 0u);
  const int before = judged;
  AdvanceAndRunTimers(clock_, loop_, 1000);
  EXPECT_EQ(judged, before);
  EXPECT_EQ(replies_.size(), 3u);
}

}  // namespace
}  // namespace syncr
