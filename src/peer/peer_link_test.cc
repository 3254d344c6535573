#include "peer/peer_link.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "loop/clock.h"
#include "loop/event_loop.h"
#include "net/frame.h"
#include "os/disk.h"
#include "store/backup_store.h"
#include "testing/testing.h"

namespace syncr {
namespace {

// The transport of a link whose peer answers: a child that connects to the
// test's unix socket and hands over its stdin (the link's channel) with
// SCM_RIGHTS, then waits. The test then speaks for the peer on that
// descriptor in-process: what it writes is readable by the link at once and
// what the link flushes is readable by the test at once, so no step waits
// on the child.
constexpr char kHandOver[] =
    "exec /usr/bin/python3 -c 'import socket, sys\n"
    "s = socket.socket(socket.AF_UNIX)\n"
    "s.connect(sys.argv[1])\n"
    "socket.send_fds(s, [b\"x\"], [0])\n"
    "s.recv(1)' ";

/// Node "a" dialing peer "b", on a FakeClock loop.
class PeerLinkTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    config_ = NodeConfigIn(dir_.path());
    SyncEntry hosts;
    hosts.path = "/etc/hosts";
    config_.sync = {hosts};
    Result<std::unique_ptr<StateStore>> store = StateStore::Open(config_.node.state_dir, false);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    backups_ = std::make_unique<BackupStore>(config_, PosixDisk(), *store_);
    node_ = std::make_unique<Node>(config_, PosixDisk(), *store_, *backups_);
    journal_ = std::make_unique<Journal>(*store_);
    ASSERT_TRUE(loop_.Init().ok());
  }

  void TearDown() override {
    DestroyLink();
    int status = 0;
    EXPECT_EQ(waitpid(-1, &status, WNOHANG), -1) << "a transport child was left behind";
  }

  void MakeLink(const std::string& exec) {
    PeerConfig peer;
    peer.name = "b";
    peer.exec = exec;
    PeerLink::Hooks hooks;
    hooks.scanning = [] { return false; };
    hooks.rescan = [](const std::string&) {};
    hooks.fetch_reply = [](const std::string&, const wire::FetchReply&) {};
    hooks.down = [this](const std::string& peer, const std::string& why) {
      downs_.push_back(peer + ": " + why);
    };
    link_ = std::make_unique<PeerLink>(loop_, config_, peer, *store_, *node_, *journal_,
                                       std::move(hooks));
  }

  /// Destroys the link (it sends SIGTERM to its child) and reaps the child.
  void DestroyLink() {
    if (!link_) return;
    const pid_t child = link_->child();
    link_.reset();
    if (child > 0) Reap(child);
    EXPECT_EQ(loop_.pending_timers(), 0u) << "the link left a timer armed";
  }

  /// Waits for `pid`, which the link has sent SIGTERM, to exit.
  static void Reap(pid_t pid) {
    int status = 0;
    pid_t got;
    do {
      got = waitpid(pid, &status, 0);
    } while (got < 0 && errno == EINTR);
    ASSERT_EQ(got, pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << "status " << status;
  }

  int64_t RedialDelay() const {
    EXPECT_TRUE(loop_.next_deadline_ms().has_value());
    return loop_.next_deadline_ms().value_or(0) - clock_.MonoMs();
  }

  void Advance(int64_t ms) { AdvanceAndRunTimers(clock_, loop_, ms); }

  // ---- a peer that answers (see kHandOver)

  /// Listens on a unix socket and makes a link whose transport hands its
  /// channel to the test.
  void MakeAnsweringLink() {
    const std::string path = dir_.path() + "/peer.sock";
    listener_.Reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(listener_.valid());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(path.size(), sizeof addr.sun_path);
    std::strcpy(addr.sun_path, path.c_str());
    ASSERT_EQ(bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(listener_.get(), 4), 0);
    MakeLink(kHandOver + path);
  }

  /// Takes the channel the transport child hands over (a real wait for the
  /// child, bounded, not fake time).
  void AcceptPeer() {
    pollfd pfd{listener_.get(), POLLIN, 0};
    ASSERT_EQ(poll(&pfd, 1, 10000), 1) << "the transport child never connected";
    handover_.Reset(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(handover_.valid());
    char byte;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ASSERT_EQ(recvmsg(handover_.get(), &msg, MSG_CMSG_CLOEXEC), 1);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    ASSERT_NE(cmsg, nullptr);
    ASSERT_EQ(cmsg->cmsg_type, SCM_RIGHTS);
    int fd = -1;
    std::memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
    peer_.Reset(fd);
  }

  /// Runs the loop once over what is ready now: the link reads what the
  /// peer wrote, or flushes what it has queued.
  void DispatchIo() {
    loop_.After(0, [this] { loop_.Stop(); });
    ASSERT_TRUE(loop_.Run().ok());
  }

  void SendToLink(const wire::Frame& frame) {
    std::string bytes;
    AppendFrame(frame, &bytes);
    ASSERT_EQ(send(peer_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
    DispatchIo();
  }

  /// Every frame the link has sent the peer so far.
  std::vector<wire::Frame> Received() {
    char buf[4096];
    for (;;) {
      const ssize_t n = recv(peer_.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      decoder_.Feed(std::string_view(buf, static_cast<size_t>(n)));
    }
    std::vector<wire::Frame> frames;
    wire::Frame frame;
    while (decoder_.Pop(&frame) == FrameDecoder::Next::kFrame) frames.push_back(frame);
    return frames;
  }

  /// Dials and takes the peer through Welcome and a complete Summary.
  void BringUp() {
    MakeAnsweringLink();
    link_->Start();
    AcceptPeer();
    DispatchIo();  // the Hello goes out
    std::vector<wire::Frame> hello = Received();
    ASSERT_EQ(hello.size(), 1u);
    ASSERT_TRUE(hello[0].has_hello());
    wire::Frame welcome;
    welcome.mutable_welcome()->set_protocol(kProtocolVersion);
    welcome.mutable_welcome()->set_node("b");
    SendToLink(welcome);
    wire::Frame summary;
    summary.mutable_summary()->set_complete(true);
    SendToLink(summary);
    ASSERT_EQ(link_->state(), PeerLink::State::kUp);
  }

  /// Stores a version of `path` (a directory: no content to read) and
  /// queues it for the peer.
  void Offer(const std::string& path, const wire::VersionVector& vv) {
    wire::Version v;
    v.set_path(path);
    v.set_kind(wire::KIND_DIRECTORY);
    *v.mutable_vv() = vv;
    ASSERT_TRUE(store_->PutFile(v).ok());
    link_->Enqueue(path);
  }

  static wire::Frame Ack(const std::string& path, bool ok, const std::string& error = "") {
    wire::Frame frame;
    frame.mutable_ack()->set_path(path);
    frame.mutable_ack()->set_ok(ok);
    frame.mutable_ack()->set_error(error);
    return frame;
  }

  /// Lets `ms` pass as a peer that answers every Ping would; the paths of
  /// the Updates the link sent meanwhile.
  std::vector<std::string> AdvanceAnswering(int64_t ms) {
    std::vector<std::string> updates;
    while (ms > 0) {
      const int64_t step = std::min<int64_t>(ms, 1000);
      Advance(step);
      ms -= step;
      for (const wire::Frame& f : Received()) {
        if (f.has_ping()) SendToLink(Pong(f.ping().nonce()));
        if (f.has_update()) updates.push_back(f.update().version().path());
      }
    }
    return updates;
  }

  /// The events the journal kept for `path` that contain `text`.
  size_t Logged(const std::string& path, const std::string& text) {
    size_t n = 0;
    for (const EventRecord& e : store_->Events(path, 1000)) {
      if (e.message.find(text) != std::string::npos) ++n;
    }
    return n;
  }

  static wire::Frame Pong(uint64_t nonce) {
    wire::Frame pong;
    pong.mutable_pong()->set_nonce(nonce);
    return pong;
  }

  TempDir dir_;
  Config config_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<BackupStore> backups_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<Journal> journal_;
  FakeClock clock_;
  EventLoop loop_{clock_};
  std::vector<std::string> downs_;
  UniqueFd listener_;
  UniqueFd handover_;
  UniqueFd peer_;  ///< the peer's end of the link's channel
  FrameDecoder decoder_{1 << 20};
  std::unique_ptr<PeerLink> link_;  // last: destroyed (and its child reaped) first
};

TEST_F(PeerLinkTest, APeerThatNeverAnswersTheHandshakeIsRedialedWithBackoff) {
  MakeLink("exec sleep 30");
  const int64_t timeout = config_.limits.handshake_timeout_ms;
  link_->Start();
  EXPECT_EQ(link_->state(), PeerLink::State::kHandshake);
  pid_t child = link_->child();
  ASSERT_GT(child, 0);

  Advance(timeout - 1);
  EXPECT_EQ(link_->state(), PeerLink::State::kHandshake);
  Advance(1);
  EXPECT_EQ(link_->state(), PeerLink::State::kDown);
  EXPECT_EQ(link_->child(), -1);
  Reap(child);
  EXPECT_EQ(link_->Snapshot().last_error, "no answer to the handshake");
  EXPECT_FALSE(link_->Snapshot().connected);
  EXPECT_EQ(downs_, (std::vector<std::string>{"b: no answer to the handshake"}));

  for (int64_t expected : {200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000}) {
    ASSERT_EQ(RedialDelay(), expected);
    Advance(expected - 1);
    EXPECT_EQ(link_->state(), PeerLink::State::kDown) << expected;
    Advance(1);
    ASSERT_EQ(link_->state(), PeerLink::State::kHandshake) << expected;
    child = link_->child();
    ASSERT_GT(child, 0);
    Advance(timeout);
    ASSERT_EQ(link_->state(), PeerLink::State::kDown) << expected;
    Reap(child);
  }
  EXPECT_EQ(downs_.size(), 11u);
}

TEST_F(PeerLinkTest, RedialNowWhileDownDialsAtOnceAndResetsTheBackoff) {
  MakeLink("exec sleep 30");
  const int64_t timeout = config_.limits.handshake_timeout_ms;
  link_->Start();
  for (int i = 0; i < 4; ++i) {  // down after 4 failed dials: the next wait is 1600
    const pid_t child = link_->child();
    Advance(timeout);
    Reap(child);
    if (i < 3) Advance(RedialDelay());
  }
  ASSERT_EQ(link_->state(), PeerLink::State::kDown);
  ASSERT_EQ(RedialDelay(), 1600);

  link_->RedialNow();
  EXPECT_EQ(link_->state(), PeerLink::State::kHandshake);
  const pid_t child = link_->child();
  ASSERT_GT(child, 0);
  EXPECT_EQ(loop_.pending_timers(), 1u);  // the handshake's; the old redial is gone

  link_->RedialNow();  // not down: nothing happens
  EXPECT_EQ(link_->child(), child);

  Advance(timeout);
  ASSERT_EQ(link_->state(), PeerLink::State::kDown);
  Reap(child);
  EXPECT_EQ(RedialDelay(), 200);
}

TEST_F(PeerLinkTest, HandshakeThenCatchingUpThenUpAfterTheCompleteSummary) {
  MakeAnsweringLink();
  link_->Start();
  EXPECT_EQ(link_->state(), PeerLink::State::kHandshake);
  AcceptPeer();
  DispatchIo();
  std::vector<wire::Frame> sent = Received();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].hello().node(), "a");
  EXPECT_EQ(sent[0].hello().protocol(), kProtocolVersion);

  wire::Frame welcome;
  welcome.mutable_welcome()->set_protocol(kProtocolVersion);
  welcome.mutable_welcome()->set_node("b");
  SendToLink(welcome);
  EXPECT_EQ(link_->state(), PeerLink::State::kCatchingUp);
  EXPECT_TRUE(link_->connected());
  EXPECT_FALSE(link_->up());

  wire::Frame page;
  wire::Version* held = page.mutable_summary()->add_versions();
  held->set_path("/etc/hosts");
  *held->mutable_vv() = VV({{"a", 1}});
  SendToLink(page);  // not complete yet
  EXPECT_EQ(link_->state(), PeerLink::State::kCatchingUp);

  wire::Frame last;
  last.mutable_summary()->set_complete(true);
  SendToLink(last);
  EXPECT_EQ(link_->state(), PeerLink::State::kUp);
  EXPECT_TRUE(link_->Snapshot().connected);
  EXPECT_EQ(link_->Snapshot().state, "up");
  EXPECT_EQ(link_->Snapshot().last_error, "");
  std::optional<wire::VersionVector> has = store_->GetPeerHas("b", "/etc/hosts");
  ASSERT_TRUE(has.has_value());
  EXPECT_EQ(Counter(*has, "a"), 1u);
  EXPECT_TRUE(downs_.empty());
}

TEST_F(PeerLinkTest, APeerThatKeepsAnsweringStaysUpWithAPingEveryKeepalive) {
  BringUp();
  for (uint64_t nonce = 1; nonce <= 10; ++nonce) {
    Advance(PeerLink::kKeepaliveMs - 1);
    EXPECT_TRUE(Received().empty());
    Advance(1);
    std::vector<wire::Frame> sent = Received();
    ASSERT_EQ(sent.size(), 1u) << nonce;
    ASSERT_TRUE(sent[0].has_ping());
    EXPECT_EQ(sent[0].ping().nonce(), nonce);
    SendToLink(Pong(nonce));
  }
  EXPECT_EQ(link_->state(), PeerLink::State::kUp);  // 30 s up, never quiet for long
  EXPECT_TRUE(downs_.empty());
}

// A Welcome read 6 s after the Hello (our loop was busy, a soak on a loaded
// machine) proves nothing about the clocks; a Pong read promptly proves an
// hour; the next Pong, with the clock set right, clears it.
TEST_F(PeerLinkTest, ClockSkewIsWhatARoundTripProvesMeasuredAgainByEveryPong) {
  MakeAnsweringLink();
  link_->Start();
  AcceptPeer();
  DispatchIo();
  ASSERT_EQ(Received().size(), 1u);  // the Hello
  const int64_t hello_sent_ns = clock_.WallNs();
  clock_.Advance(6000);  // busy: the answer, sent at once, waits unread
  wire::Frame welcome;
  welcome.mutable_welcome()->set_protocol(kProtocolVersion);
  welcome.mutable_welcome()->set_node("b");
  welcome.mutable_welcome()->set_wall_ns(hello_sent_ns + 1'000'000);
  SendToLink(welcome);
  wire::Frame summary;
  summary.mutable_summary()->set_complete(true);
  SendToLink(summary);
  ASSERT_EQ(link_->state(), PeerLink::State::kUp);
  EXPECT_EQ(link_->Snapshot().clock_skew_ms, 0);

  Advance(PeerLink::kKeepaliveMs);
  ASSERT_EQ(Received().size(), 1u);  // Ping 1
  wire::Frame pong = Pong(1);
  pong.mutable_pong()->set_wall_ns(clock_.WallNs() + 3600LL * 1'000'000'000);
  SendToLink(pong);
  EXPECT_EQ(link_->Snapshot().clock_skew_ms, 3600 * 1000);

  pong.mutable_pong()->set_nonce(7);  // answers no Ping of ours: ignored
  pong.mutable_pong()->set_wall_ns(clock_.WallNs());
  SendToLink(pong);
  EXPECT_EQ(link_->Snapshot().clock_skew_ms, 3600 * 1000);

  Advance(PeerLink::kKeepaliveMs);
  ASSERT_EQ(Received().size(), 1u);  // Ping 2
  pong = Pong(2);
  pong.mutable_pong()->set_wall_ns(clock_.WallNs() - 3LL * 1'000'000'000);  // 3 s behind
  SendToLink(pong);
  EXPECT_EQ(link_->Snapshot().clock_skew_ms, -3000);
  Advance(PeerLink::kKeepaliveMs);
  ASSERT_EQ(Received().size(), 1u);  // Ping 3
  pong = Pong(3);
  pong.mutable_pong()->set_wall_ns(clock_.WallNs());  // set right
  SendToLink(pong);
  EXPECT_EQ(link_->Snapshot().clock_skew_ms, 0);
}

TEST_F(PeerLinkTest, APeerSilentForTheSilenceLimitIsNotAnswering) {
  BringUp();
  Advance(PeerLink::kKeepaliveMs);
  ASSERT_EQ(Received().size(), 1u);
  SendToLink(Pong(1));  // the last the peer says
  const int64_t last_heard = clock_.MonoMs();

  Advance(PeerLink::kSilenceMs - 1);
  EXPECT_EQ(link_->state(), PeerLink::State::kUp);
  std::vector<wire::Frame> pings = Received();
  EXPECT_EQ(pings.size(), 3u);  // pinged every keepalive meanwhile
  for (const wire::Frame& f : pings) EXPECT_TRUE(f.has_ping());

  // Found at the first keepalive tick once it has been silent that long.
  const pid_t child = link_->child();
  ASSERT_TRUE(loop_.next_deadline_ms().has_value());
  const int64_t tick = *loop_.next_deadline_ms();
  EXPECT_LE(tick - last_heard, PeerLink::kSilenceMs + PeerLink::kKeepaliveMs);
  Advance(tick - clock_.MonoMs() - 1);
  EXPECT_EQ(link_->state(), PeerLink::State::kUp);
  Advance(1);
  EXPECT_EQ(link_->state(), PeerLink::State::kDown);
  EXPECT_NE(link_->Snapshot().last_error.find("not answering"), std::string::npos)
      << link_->Snapshot().last_error;
  ASSERT_EQ(downs_.size(), 1u);
  EXPECT_NE(downs_[0].find("not answering"), std::string::npos) << downs_[0];
  Reap(child);
  EXPECT_EQ(RedialDelay(), PeerLink::kBackoffFirstMs);  // the backoff was reset when it came up
}

// Issue 12: a Have is never acknowledged, so one sent just before the channel
// broke may be lost; the next channel carries it again, or the peer would
// list the path as pending to us for ever.
TEST_F(PeerLinkTest, WhatWasToldIsToldAgainOnTheNextChannel) {
  BringUp();
  wire::Have have;
  wire::Version* v = have.add_versions();
  v->set_path("/etc/hosts");
  *v->mutable_vv() = VV({{"c", 3}});
  link_->Tell(have);
  DispatchIo();
  std::vector<wire::Frame> told = Received();
  ASSERT_EQ(told.size(), 1u);
  ASSERT_TRUE(told[0].has_have());

  wire::Frame error;  // the channel breaks, the Have perhaps unread
  error.mutable_error()->set_message("gone");
  const pid_t child = link_->child();
  SendToLink(error);
  ASSERT_EQ(link_->state(), PeerLink::State::kDown);
  Reap(child);

  Advance(PeerLink::kBackoffFirstMs);  // redial
  AcceptPeer();
  DispatchIo();
  ASSERT_EQ(Received().size(), 1u);  // the Hello
  wire::Frame welcome;
  welcome.mutable_welcome()->set_protocol(kProtocolVersion);
  welcome.mutable_welcome()->set_node("b");
  SendToLink(welcome);
  std::vector<wire::Frame> again = Received();
  ASSERT_EQ(again.size(), 1u);
  ASSERT_TRUE(again[0].has_have());
  ASSERT_EQ(again[0].have().versions_size(), 1);
  EXPECT_EQ(again[0].have().versions(0).path(), "/etc/hosts");
  EXPECT_EQ(ToString(again[0].have().versions(0).vv()), ToString(VV({{"c", 3}})));
}

// Issue 11: a peer whose disk is full fails every update of the path. The
// retry backs off (1 s doubling to 60 s) instead of trying every second, the
// failure is logged once (again when the peer's error changes), and the
// snapshot names the path and the peer's error until it applies.
TEST_F(PeerLinkTest, APathThePeerCouldNotApplyIsRetriedWithBackoffAndShown) {
  BringUp();
  const std::string full = "write /b/etc/hosts: No space left on device (free space)";
  Offer("/etc/hosts", VV({{"a", 1}}));
  DispatchIo();
  std::vector<wire::Frame> sent = Received();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].has_update());
  SendToLink(Ack("/etc/hosts", false, full));
  EXPECT_EQ(link_->Snapshot().failed, (std::map<std::string, std::string>{{"/etc/hosts", full}}));

  for (int64_t delay : {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000}) {
    ASSERT_TRUE(AdvanceAnswering(delay - 1).empty()) << "retried before " << delay << " ms";
    ASSERT_EQ(AdvanceAnswering(1), (std::vector<std::string>{"/etc/hosts"})) << delay;
    SendToLink(Ack("/etc/hosts", false, full));
  }
  EXPECT_EQ(link_->state(), PeerLink::State::kUp);
  EXPECT_EQ(Logged("/etc/hosts", "could not apply"), 1u) << "one line, not one per retry";

  // Another error is news: logged, shown, and the backoff goes on.
  const std::string read_only = "write /b/etc/hosts: Read-only file system (remount it)";
  ASSERT_EQ(AdvanceAnswering(60000), (std::vector<std::string>{"/etc/hosts"}));
  SendToLink(Ack("/etc/hosts", false, read_only));
  EXPECT_EQ(Logged("/etc/hosts", "could not apply"), 2u);
  EXPECT_EQ(link_->Snapshot().failed.at("/etc/hosts"), read_only);

  // It applies: forgotten, logged, and the next failure starts at 1 s again.
  ASSERT_EQ(AdvanceAnswering(60000), (std::vector<std::string>{"/etc/hosts"}));
  wire::Frame ok = Ack("/etc/hosts", true);
  *ok.mutable_ack()->mutable_vv() = VV({{"a", 1}});
  SendToLink(ok);
  EXPECT_TRUE(link_->Snapshot().failed.empty());
  EXPECT_EQ(Logged("/etc/hosts", "b applied /etc/hosts after 10 failed attempts"), 1u);
  Offer("/etc/hosts", VV({{"a", 2}}));
  DispatchIo();
  ASSERT_EQ(Received().size(), 1u);
  SendToLink(Ack("/etc/hosts", false, full));
  ASSERT_TRUE(AdvanceAnswering(999).empty());
  EXPECT_EQ(AdvanceAnswering(1), (std::vector<std::string>{"/etc/hosts"}));
  EXPECT_EQ(Logged("/etc/hosts", "could not apply"), 3u);
}

// A Have from the peer's own channel can tell of a newer version (from a
// third node) before our Ack of an older one arrives: the Ack must not take
// that knowledge back, or status says "pending" for ever (soak seed 1003).
TEST_F(PeerLinkTest, AnAckOfAnOlderVersionDoesNotForgetANewerOneThePeerHolds) {
  BringUp();
  Offer("/etc/hosts", VV({{"c", 3}}));
  DispatchIo();
  ASSERT_EQ(Received().size(), 1u);
  ASSERT_TRUE(store_->PutPeerHas("b", "/etc/hosts", VV({{"c", 4}})).ok());  // its Have
  wire::Frame ok = Ack("/etc/hosts", true);
  *ok.mutable_ack()->mutable_vv() = VV({{"c", 3}});
  SendToLink(ok);
  EXPECT_EQ(ToString(*store_->GetPeerHas("b", "/etc/hosts")), "c:4");

  // An answer that is not older (here concurrent) is what it holds.
  Offer("/etc/hosts", VV({{"a", 1}, {"c", 4}}));
  DispatchIo();
  ASSERT_EQ(Received().size(), 1u);
  ASSERT_TRUE(store_->PutPeerHas("b", "/etc/hosts", VV({{"c", 5}})).ok());
  ok = Ack("/etc/hosts", true);
  *ok.mutable_ack()->mutable_vv() = VV({{"a", 1}, {"c", 4}});
  SendToLink(ok);
  EXPECT_EQ(ToString(*store_->GetPeerHas("b", "/etc/hosts")), "a:1,c:4");
}

// The same failure for ever is still said now and then, not never.
TEST_F(PeerLinkTest, AFailureThatLastsIsLoggedAgainEveryFewMinutes) {
  BringUp();
  Offer("/etc/hosts", VV({{"a", 1}}));
  DispatchIo();
  ASSERT_EQ(Received().size(), 1u);
  SendToLink(Ack("/etc/hosts", false, "No space left on device"));
  int64_t waited = 0;
  while (waited < PeerLink::kStillFailingLogMs) {
    ASSERT_EQ(AdvanceAnswering(PeerLink::kRetryFailedMaxMs).size(), 1u);
    waited += PeerLink::kRetryFailedMaxMs;
    SendToLink(Ack("/etc/hosts", false, "No space left on device"));
  }
  EXPECT_EQ(Logged("/etc/hosts", "could not apply"), 1u);
  EXPECT_EQ(Logged("/etc/hosts", "b still cannot apply /etc/hosts after"), 1u);
}

// A new channel is a fresh start: catch-up sends the path at once, and a
// failure then waits 1 s again; the last error the peer gave stays shown
// meanwhile, since nothing says it was fixed.
TEST_F(PeerLinkTest, AReconnectResetsTheBackoffAndKeepsTheLastError) {
  BringUp();
  Offer("/etc/hosts", VV({{"a", 1}}));
  DispatchIo();
  ASSERT_EQ(Received().size(), 1u);
  SendToLink(Ack("/etc/hosts", false, "No space left on device"));
  for (int64_t delay : {1000, 2000, 4000}) {
    ASSERT_EQ(AdvanceAnswering(delay).size(), 1u);
    SendToLink(Ack("/etc/hosts", false, "No space left on device"));
  }
  wire::Frame error;
  error.mutable_error()->set_message("going away");
  const pid_t child = link_->child();
  SendToLink(error);
  ASSERT_EQ(link_->state(), PeerLink::State::kDown);
  Reap(child);
  EXPECT_EQ(link_->Snapshot().failed.count("/etc/hosts"), 1u);

  Advance(PeerLink::kBackoffFirstMs);  // redial
  AcceptPeer();
  DispatchIo();
  ASSERT_EQ(Received().size(), 1u);  // the Hello
  wire::Frame welcome;
  welcome.mutable_welcome()->set_protocol(kProtocolVersion);
  welcome.mutable_welcome()->set_node("b");
  SendToLink(welcome);
  wire::Frame summary;
  summary.mutable_summary()->set_complete(true);
  SendToLink(summary);
  std::vector<wire::Frame> sent = Received();
  ASSERT_EQ(sent.size(), 1u);  // catch-up: at once
  ASSERT_TRUE(sent[0].has_update());
  SendToLink(Ack("/etc/hosts", false, "No space left on device"));
  ASSERT_TRUE(AdvanceAnswering(999).empty());
  EXPECT_EQ(AdvanceAnswering(1).size(), 1u);
  EXPECT_EQ(Logged("/etc/hosts", "could not apply"), 1u);
}

TEST_F(PeerLinkTest, AWelcomeFromTheWrongNodeTakesTheLinkDown) {
  MakeAnsweringLink();
  link_->Start();
  AcceptPeer();
  wire::Frame welcome;
  welcome.mutable_welcome()->set_protocol(kProtocolVersion);
  welcome.mutable_welcome()->set_node("c");
  const pid_t child = link_->child();
  SendToLink(welcome);
  EXPECT_EQ(link_->state(), PeerLink::State::kDown);
  EXPECT_NE(link_->Snapshot().last_error.find("unexpected welcome from 'c'"), std::string::npos)
      << link_->Snapshot().last_error;
  Reap(child);
}

TEST_F(PeerLinkTest, AnErrorFromThePeerTakesTheLinkDownWithItsMessage) {
  BringUp();
  wire::Frame error;
  error.mutable_error()->set_message("shutting down");
  const pid_t child = link_->child();
  SendToLink(error);
  EXPECT_EQ(link_->state(), PeerLink::State::kDown);
  EXPECT_EQ(link_->Snapshot().last_error, "b said: shutting down");
  EXPECT_EQ(downs_, (std::vector<std::string>{"b: b said: shutting down"}));
  Reap(child);
}

}  // namespace
}  // namespace syncr
