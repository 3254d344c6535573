#include "peer/peer_link.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/escape.h"
#include "common/util.h"
#include "engine/decide.h"
#include "engine/plan.h"
#include "engine/version_vector.h"
#include "os/subprocess.h"

namespace syncr {
namespace {

constexpr uint64_t kFrameHeadroom = 1 << 20;
constexpr uint64_t kUpdateOverhead = 256;

std::string Seconds(int64_t ms) { return std::to_string(ms / 1000) + " s"; }

}  // namespace

PeerLink::PeerLink(EventLoop& loop, const Config& config, PeerConfig peer, StateStore& store,
                   Node& node, Journal& journal, Hooks hooks)
    : loop_(loop),
      config_(config),
      peer_(std::move(peer)),
      store_(store),
      node_(node),
      journal_(journal),
      hooks_(std::move(hooks)),
      since_ns_(WallNs()) {}

PeerLink::~PeerLink() {
  if (channel_) loop_.Remove(channel_->fd());
  if (child_ > 0) kill(child_, SIGTERM);  // reaped through SIGCHLD
  for (EventLoop::TimerId t : {redial_timer_, handshake_timer_, keepalive_timer_, retry_timer_}) {
    loop_.Cancel(t);
  }
}

const char* PeerLink::StateName(State s) {
  switch (s) {
    case State::kDown:
      return "down";
    case State::kHandshake:
      return "handshake";
    case State::kCatchingUp:
      return "catching up";
    case State::kUp:
      return "up";
  }
  return "?";
}

// The one place the link changes state: logs the transition and does the
// new state's entry work.
void PeerLink::Enter(State next) {
  spdlog::debug("link to {}: {} -> {}", peer_.name, StateName(state_), StateName(next));
  state_ = next;
  switch (next) {
    case State::kDown:
      break;
    case State::kHandshake:
      last_heard_ms_ = loop_.clock().MonoMs();
      handshake_timer_ = loop_.After(config_.limits.handshake_timeout_ms, [this] {
        handshake_timer_ = 0;
        if (state_ == State::kHandshake) Down("no answer to the handshake");
      });
      break;
    case State::kCatchingUp:
      loop_.Cancel(handshake_timer_);
      handshake_timer_ = 0;
      backoff_ms_ = kBackoffFirstMs;
      since_ns_ = WallNs();
      last_error_.clear();
      summary_.clear();
      journal_.Note("", spdlog::level::info, "connected to " + peer_.name);
      Keepalive();
      if (!untold_.empty()) Tell(wire::Have());
      break;
    case State::kUp:
      break;
  }
}

void PeerLink::Dial() {
  redial_timer_ = 0;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    Down(std::string("socketpair: ") + std::strerror(errno));
    return;
  }
  UniqueFd ours(fds[0]);
  UniqueFd theirs(fds[1]);
  SpawnOptions options;
  if (!peer_.exec.empty()) {
    options.argv = {"/bin/sh", "-c", peer_.exec};
  } else {
    // ServerAlive: ssh itself gives up on a peer host that stopped
    // answering, beside our own keepalive on the channel.
    options.argv = {"ssh", "-T",
                    "-o",  "BatchMode=yes",
                    "-o",  "ServerAliveInterval=5",
                    "-o",  "ServerAliveCountMax=2"};
    for (std::string& w : SplitWords(peer_.ssh)) options.argv.push_back(std::move(w));
    options.argv.push_back("syncr");
    options.argv.push_back("connect");
  }
  options.stdin_fd = theirs.get();
  options.stdout_fd = theirs.get();
  Result<pid_t> pid = Spawn(options);
  if (!pid.ok()) {
    Down(pid.status().ToString());
    return;
  }
  fcntl(ours.get(), F_SETFL, O_NONBLOCK);
  child_ = *pid;
  channel_ =
      std::make_unique<Channel>(std::move(ours), config_.limits.max_file_bytes + kFrameHeadroom);
  wire::Frame hello;
  hello.mutable_hello()->set_protocol(kProtocolVersion);
  hello.mutable_hello()->set_node(config_.node.name);
  channel_->Send(hello);
  hello_sent_ns_ = loop_.clock().WallNs();
  loop_.Add(channel_->fd(), EPOLLIN | EPOLLOUT, [this](uint32_t events) {
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      OnReadable();
    } else {
      Flush();
    }
  });
  Enter(State::kHandshake);
}

void PeerLink::Down(std::string why) {
  const bool was_up = state_ == State::kCatchingUp || state_ == State::kUp;
  if (channel_) {
    loop_.Remove(channel_->fd());
    channel_.reset();
  }
  if (child_ > 0) kill(child_, SIGTERM);  // reaped through SIGCHLD
  child_ = -1;
  for (EventLoop::TimerId* t : {&handshake_timer_, &keepalive_timer_, &retry_timer_}) {
    loop_.Cancel(*t);
    *t = 0;
  }
  retry_.clear();
  retry_delay_ms_ = kRetryFailedMs;  // the next channel tries failed paths afresh
  outbox_.Clear();
  summary_.clear();
  // A Have is never acknowledged: what went out on this channel may have
  // died in its buffers. Tell it all again on the next one.
  for (auto& [path, vv] : told_) {
    auto it = untold_.find(path);
    untold_[path] = it == untold_.end() ? std::move(vv) : Merge(it->second, vv);
  }
  told_.clear();
  Enter(State::kDown);
  if (was_up || last_error_ != why) {
    journal_.Note("", spdlog::level::warn,
                  (was_up ? "lost connection to " : "cannot connect to ") + peer_.name + ": " +
                      why + "; retrying in " + std::to_string(backoff_ms_) + " ms");
  }
  if (was_up) since_ns_ = WallNs();
  last_error_ = why;
  loop_.Cancel(redial_timer_);
  redial_timer_ = loop_.After(backoff_ms_, [this] { Dial(); });
  backoff_ms_ = std::min(backoff_ms_ * 2, kBackoffMaxMs);
  if (hooks_.down) hooks_.down(peer_.name, why);
}

void PeerLink::RedialNow() {
  if (state_ != State::kDown || !redial_timer_) return;
  loop_.Cancel(redial_timer_);
  backoff_ms_ = kBackoffFirstMs;
  Dial();
}

void PeerLink::OnChildExit() {
  child_ = -1;
  if (channel_) Down("transport command exited");
}

// Pings while the peer has been quiet; a peer quiet for kSilenceMs is not
// answering (a frozen host, a cut cable): the link goes down and redials.
void PeerLink::Keepalive() {
  keepalive_timer_ = loop_.After(kKeepaliveMs, [this] {
    keepalive_timer_ = 0;
    if (!channel_) return;
    // Bytes waiting unread mean our loop was busy, not that the peer is.
    if (channel_->HasUnread()) last_heard_ms_ = loop_.clock().MonoMs();
    const int64_t quiet = loop_.clock().MonoMs() - last_heard_ms_;
    if (quiet >= kSilenceMs) {
      Down("not answering for " + Seconds(quiet) + " (no keepalive reply)");
      return;
    }
    wire::Frame ping;
    ping.mutable_ping()->set_nonce(++ping_nonce_);
    ping_sent_ns_ = loop_.clock().WallNs();
    channel_->Send(ping);
    Flush();
    if (channel_) Keepalive();
  });
}

void PeerLink::Flush() {
  if (!channel_) return;
  if (!channel_->Flush()) {
    Down(channel_->error());
    return;
  }
  loop_.Modify(channel_->fd(), EPOLLIN | (channel_->WantsWrite() ? uint32_t{EPOLLOUT} : 0u));
}

void PeerLink::OnReadable() {
  if (!channel_) return;
  const bool open = channel_->ReadAvailable();
  last_heard_ms_ = loop_.clock().MonoMs();
  wire::Frame frame;
  // Acknowledgements arrive by the hundred during catch-up: record them in
  // one transaction.
  StateStore::Batch batch(store_);
  while (channel_) {
    FrameDecoder::Next next = channel_->Pop(&frame);
    if (next == FrameDecoder::Next::kNeedMore) break;
    if (next == FrameDecoder::Next::kError) {
      Down("bad data from peer: " + channel_->error());
      return;
    }
    OnFrame(frame);
  }
  if (!channel_) return;
  if (!open) {
    Down(channel_->error());
    return;
  }
  Pump();  // flushes the channel
}

void PeerLink::OnFrame(const wire::Frame& frame) {
  switch (frame.body_case()) {
    case wire::Frame::kWelcome:
      if (state_ != State::kHandshake) break;
      OnWelcome(frame.welcome());
      return;
    case wire::Frame::kSummary:
      if (state_ != State::kCatchingUp) break;
      OnSummary(frame.summary());
      return;
    case wire::Frame::kAck:
      if (state_ != State::kUp) break;
      OnAck(frame.ack());
      return;
    case wire::Frame::kPong:
      // Besides last_heard_ms_: the skew, again, if it answers our last Ping.
      if (frame.pong().nonce() == ping_nonce_) MeasureSkew(frame.pong().wall_ns(), ping_sent_ns_);
      return;
    case wire::Frame::kActionReport:
      OnActionReport(frame.action_report());
      return;
    case wire::Frame::kFetchReply:
      if (hooks_.fetch_reply) hooks_.fetch_reply(peer_.name, frame.fetch_reply());
      return;
    case wire::Frame::kError:
      Down(peer_.name + " said: " + PrintableText(frame.error().message()));
      return;
    default:
      break;
  }
  Down("unexpected message " + std::to_string(frame.body_case()) + " from " + peer_.name +
       " while " + StateName(state_));
}

void PeerLink::OnWelcome(const wire::Welcome& welcome) {
  if (welcome.node() != peer_.name || welcome.protocol() != kProtocolVersion) {
    Down("unexpected welcome from '" + Printable(welcome.node()) + "' (protocol " +
         std::to_string(welcome.protocol()) + ")");
    return;
  }
  // Its config and limits may have changed since (a restart, a reload):
  // what it refused is judged again by this catch-up.
  outbox_.ForgetRefusals();
  action_reports_.clear();  // it tells them again before its Summary
  actions_pending_.clear();
  peer_max_file_bytes_ = welcome.max_file_bytes();
  MeasureSkew(welcome.wall_ns(), hello_sent_ns_);
  Enter(State::kCatchingUp);
}

// Every Welcome and Pong measures the skew anew, so a clock set right (or
// wrong) while connected shows within a keepalive.
void PeerLink::MeasureSkew(int64_t peer_wall_ns, int64_t sent_ns) {
  if (peer_wall_ns == 0) return;  // it sent no clock: what we knew stands
  const bool was_warned = std::abs(clock_skew_ms_) >= kClockSkewWarnMs;
  clock_skew_ms_ = ClockSkewAtLeastMs(peer_wall_ns, sent_ns, loop_.clock().WallNs());
  if (!was_warned && std::abs(clock_skew_ms_) >= kClockSkewWarnMs) {
    journal_.Note("", spdlog::level::warn, ClockSkewProblem(peer_.name, clock_skew_ms_));
  }
}

// The peer's summary is the truth about what it holds: replace what we
// remembered, then queue every path it lacks.
void PeerLink::OnSummary(const wire::Summary& summary) {
  for (const wire::Version& v : summary.versions()) summary_[v.path()] = v.vv();
  if (!summary.complete()) return;
  {
    StateStore::Batch batch(store_);
    for (const auto& [path, vv] : store_.AllPeerHas(peer_.name)) {
      if (!summary_.count(path)) store_.PutPeerHas(peer_.name, path, wire::VersionVector());
    }
    for (const auto& [path, vv] : summary_) store_.PutPeerHas(peer_.name, path, vv);
  }
  std::vector<std::string> sends = CatchUpOrder(store_.AllFiles(), summary_, config_);
  summary_.clear();
  Enter(State::kUp);
  for (const std::string& path : sends) Queue(path);
  journal_.Note(
      "", spdlog::level::info,
      "catch-up with " + peer_.name + ": " + std::to_string(sends.size()) + " paths to send");
  Pump();
}

void PeerLink::OnAck(const wire::Ack& ack) {
  // OnReadable pumps once after the acks it read: the window they freed is
  // filled in one go, not one file per ack.
  if (!outbox_.Acked(ack.path())) return;
  if (ack.ok()) {
    // What the peer held when it answered. A Have it sent on its own
    // channel meanwhile (it applied a newer version from a third node) may
    // have told us more: never go back to an older version (the soak found
    // a status stuck at "pending" that way).
    std::optional<wire::VersionVector> had = store_.GetPeerHas(peer_.name, ack.path());
    if (!had || Compare(*had, ack.vv()) != Order::kNewer) {
      store_.PutPeerHas(peer_.name, ack.path(), ack.vv());
    }
    outbox_.Accepted(ack.path());
    OnApplied(ack.path());
    spdlog::debug("{} acknowledged {} {}", peer_.name, EscapeName(ack.path()), ToString(ack.vv()));
  } else if (ack.refused()) {
    // The peer's config does not sync it: retrying cannot help, and an
    // idle node must stay idle. Status shows it until the configs agree.
    failed_.erase(ack.path());  // shown as refused instead
    if (!outbox_.WasRefused(ack.path())) {
      journal_.Note(ack.path(), spdlog::level::warn,
                    peer_.name + " refused " + EscapeName(ack.path()) + ": " +
                        PrintableText(ack.error()) + " (not retried; make the configs agree)");
    }
    std::optional<wire::Version> v = store_.GetFile(ack.path());
    outbox_.Refuse(ack.path(), v ? v->vv() : wire::VersionVector(),
                   "refused: " + PrintableText(ack.error()));
  } else {
    OnApplyFailed(ack);
  }
}

// The peer could not write the path (disk full, read-only, permission): it
// is kept for status and retried. A full disk stays full for a while, so
// the log says it once, again when the peer's error changes, and every
// A report with only `pending` says a run is to come (it keeps the last
// finished run); one with results is the last finished run, and, unless
// pending is set too, the end of what was to come.
void PeerLink::OnActionReport(const wire::ActionReport& report) {
  if (report.pending()) {
    actions_pending_.insert(report.entry());
  } else {
    actions_pending_.erase(report.entry());
  }
  if (report.pending() && report.results().empty()) return;
  wire::ActionReport& kept = action_reports_[report.entry()];
  kept = report;
  kept.clear_pending();
}

// kStillFailingLogMs while it lasts; not at every retry.
void PeerLink::OnApplyFailed(const wire::Ack& ack) {
  const std::string error = PrintableText(ack.error());
  ApplyFailure& failure = failed_[ack.path()];
  ++failure.attempts;
  const int64_t now = loop_.clock().MonoMs();
  const bool changed = failure.attempts == 1 || failure.error != error;
  const bool due = now - failure.logged_ms >= kStillFailingLogMs;
  if (changed) {
    journal_.Note(ack.path(), spdlog::level::warn,
                  peer_.name + " could not apply " + EscapeName(ack.path()) + ": " + error +
                      "; retrying with a backoff of up to " + Seconds(kRetryFailedMaxMs));
  } else if (due) {
    journal_.Note(ack.path(), spdlog::level::warn,
                  peer_.name + " still cannot apply " + EscapeName(ack.path()) + " after " +
                      std::to_string(failure.attempts) + " attempts: " + error + " (retrying)");
  } else {
    spdlog::debug("{} could not apply {} again (attempt {})", peer_.name, EscapeName(ack.path()),
                  failure.attempts);
  }
  if (changed || due) failure.logged_ms = now;
  failure.error = error;
  RetryLater(ack.path());
}

// The peer applied a path it had failed on: what stopped it (a full disk, a
// read-only mount) is likely gone, so the other failed paths go now and the
// backoff starts again from its first step.
void PeerLink::OnApplied(const std::string& path) {
  auto it = failed_.find(path);
  if (it == failed_.end()) return;
  journal_.Note(path, spdlog::level::info,
                peer_.name + " applied " + EscapeName(path) + " after " +
                    std::to_string(it->second.attempts) + " failed attempts");
  failed_.erase(it);
  retry_delay_ms_ = kRetryFailedMs;
  if (!retry_timer_) return;
  loop_.Cancel(retry_timer_);
  retry_timer_ = 0;
  for (const std::string& p : retry_) Queue(p);  // OnReadable pumps after the acks
  retry_.clear();
}

// Paths the peer failed to apply go again together, after a wait that
// doubles with each round up to kRetryFailedMaxMs (reset by a path that
// applies, or a new channel).
void PeerLink::RetryLater(const std::string& path) {
  retry_.insert(path);
  if (retry_timer_) return;
  retry_timer_ = loop_.After(retry_delay_ms_, [this] {
    retry_timer_ = 0;
    std::set<std::string> paths = std::move(retry_);
    retry_.clear();
    for (const std::string& p : paths) Queue(p);
    Pump();
  });
  retry_delay_ms_ = std::min(retry_delay_ms_ * 2, kRetryFailedMaxMs);
}

void PeerLink::Enqueue(const std::string& path) {
  Queue(path);
  if (!hooks_.scanning()) Pump();  // else the scan's commit pumps
}

void PeerLink::Queue(const std::string& path) {
  if (state_ != State::kUp) return;  // catch-up covers it
  outbox_.Queue(path);
}

void PeerLink::Pump() {
  if (!channel_) return;
  while (channel_ && state_ == State::kUp) {
    std::optional<std::string> path = outbox_.Next(config_.limits.window_bytes);
    if (!path) break;
    std::optional<wire::Version> v = store_.GetFile(*path);
    if (!v || v->kind() == wire::KIND_NONE || !config_.FindEntry(*path)) {
      failed_.erase(*path);  // forgotten, or no longer synced: nothing to retry
      continue;
    }
    std::optional<wire::VersionVector> has = store_.GetPeerHas(peer_.name, *path);
    if (!PeerLacks(*v, has ? &*has : nullptr)) {
      failed_.erase(*path);  // it holds it now (a Have, a summary): nothing fails
      continue;
    }
    if (outbox_.Refused(*path, v->vv())) continue;
    const uint64_t size = v->meta().size();
    if (peer_max_file_bytes_ > 0 && v->kind() == wire::KIND_FILE && size > peer_max_file_bytes_) {
      // Refused for this path alone, before a byte is sent: the channel
      // and everything queued behind it go on.
      const std::string why = "too big: " + std::to_string(size) + " bytes, " + peer_.name +
                              " accepts up to " + std::to_string(peer_max_file_bytes_) +
                              " (raise max_file_bytes in its [limits])";
      journal_.Note(*path, spdlog::level::warn,
                    "not sending " + EscapeName(*path) + " to " + peer_.name + ": " + why);
      outbox_.Refuse(*path, v->vv(), why);
      continue;
    }
    Result<std::string> content = node_.ContentFor(*v);
    if (!content.ok()) {
      journal_.Note(*path, spdlog::level::warn,
                    "cannot send " + EscapeName(*path) + ": " + content.status().ToString());
      hooks_.rescan(*path);
      continue;
    }
    wire::Frame frame;
    *frame.mutable_update()->mutable_version() = *v;
    frame.mutable_update()->set_content(std::move(*content));
    frame.mutable_update()->set_lost_content(node_.LostContentFor(*v));
    const uint64_t bytes = frame.update().content().size() + kUpdateOverhead;
    channel_->Send(frame);
    outbox_.Sent(*path, bytes);
    spdlog::debug("sent {} {} to {}", EscapeName(*path), ToString(v->vv()), peer_.name);
  }
  Flush();
}

void PeerLink::PeerSyncs(const std::string& path) {
  if (!outbox_.WasRefused(path)) return;
  outbox_.Accepted(path);
  Enqueue(path);
}

void PeerLink::Tell(const wire::Have& have) {
  for (const wire::Version& v : have.versions()) {
    auto it = untold_.find(v.path());
    untold_[v.path()] = it == untold_.end() ? v.vv() : Merge(it->second, v.vv());
  }
  if (!connected() || !channel_) return;
  wire::Frame frame;
  for (auto& [path, vv] : untold_) {
    wire::Version* held = frame.mutable_have()->add_versions();
    held->set_path(path);
    *held->mutable_vv() = vv;
    auto it = told_.find(path);
    told_[path] = it == told_.end() ? std::move(vv) : Merge(it->second, vv);
  }
  untold_.clear();
  channel_->Send(frame);
  Flush();
}

bool PeerLink::SendOther(const wire::Frame& frame) {
  if (!connected() || !channel_) return false;
  channel_->Send(frame);
  Flush();
  return true;
}

PeerSnapshot PeerLink::Snapshot() const {
  PeerSnapshot s;
  s.name = peer_.name;
  s.connected = connected();
  s.state = StateName(state_);
  s.since_ns = since_ns_;
  s.last_error = last_error_;
  s.transport = peer_.exec.empty() ? "ssh " + peer_.ssh : "exec " + peer_.exec;
  s.refused = outbox_.refusals();
  for (const auto& [path, failure] : failed_) s.failed[path] = failure.error;
  s.clock_skew_ms = clock_skew_ms_;
  s.actions = action_reports_;
  s.actions_pending = actions_pending_;
  return s;
}

}  // namespace syncr
