#include "control/control.h"

#include <algorithm>

#include "common/escape.h"

namespace syncr {

Control::~Control() {
  for (auto& [id, waiter] : waiters_) loop_.Cancel(waiter.timer);
  loop_.Cancel(wait_timer_);
}

void Control::Handle(uint64_t session, const wire::ControlRequest& request) {
  wire::Frame frame;
  wire::ControlReply* r = frame.mutable_reply();
  if (request.has_status()) {
    r->set_ok(true);
    *r->mutable_status() = hooks_.status();
  } else if (request.has_fetch()) {
    Fetch(session, request.fetch());
    return;
  } else if (request.has_wait()) {
    StartWait(session, request.wait());
    return;
  } else if (request.has_resolve()) {
    const std::string error = hooks_.resolve(request.resolve());
    r->set_ok(error.empty());
    r->set_error(error);
  } else {
    r->set_ok(false);
    r->set_error("this request is not supported by this daemon");
  }
  hooks_.reply(session, frame);
}

void Control::Fail(uint64_t session, const std::string& error) {
  wire::Frame frame;
  frame.mutable_reply()->set_ok(false);
  frame.mutable_reply()->set_error(error);
  hooks_.reply(session, frame);
}

// The reply comes back on the link: the session stays open for it, until
// the reply, the link's loss or the deadline, whichever comes first.
void Control::Fetch(uint64_t session, const wire::FetchRequest& request) {
  const uint64_t id = next_fetch_++;
  wire::Frame ask;
  ask.mutable_fetch_request()->set_id(id);
  ask.mutable_fetch_request()->set_path(request.path());
  // Waiting before sending: sending may find the link dead, and its loss
  // must then fail this waiter too.
  Waiter& waiter = waiters_[id];
  waiter.session = session;
  waiter.peer = request.peer();
  const std::string error = hooks_.send_to_peer(request.peer(), ask);
  if (!error.empty()) {
    if (waiters_.erase(id)) Fail(session, error);
    return;
  }
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;  // failed already: the link went down while sending
  it->second.timer = loop_.After(kFetchTimeoutMs, [this, id] {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) return;
    const Waiter w = it->second;
    waiters_.erase(it);
    Fail(w.session, "peer " + Printable(w.peer) + " did not answer within " +
                        std::to_string(kFetchTimeoutMs / 1000) + " s");
  });
}

void Control::OnFetchReply(const std::string& peer, const wire::FetchReply& reply) {
  auto it = waiters_.find(reply.id());
  if (it == waiters_.end() || it->second.peer != peer) return;
  const uint64_t session = it->second.session;
  loop_.Cancel(it->second.timer);
  waiters_.erase(it);
  wire::Frame frame;
  frame.mutable_reply()->set_ok(true);
  *frame.mutable_reply()->mutable_fetch() = reply;
  hooks_.reply(session, frame);
}

void Control::OnLinkDown(const std::string& peer, const std::string& why) {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->second.peer != peer) {
      ++it;
      continue;
    }
    const uint64_t session = it->second.session;
    loop_.Cancel(it->second.timer);
    it = waiters_.erase(it);
    Fail(session, "lost the connection to peer " + Printable(peer) + " while waiting: " + why);
  }
}

void Control::OnSessionGone(uint64_t session) {
  std::erase_if(waits_, [session](const Wait& w) { return w.session == session; });
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->second.session != session) {
      ++it;
      continue;
    }
    loop_.Cancel(it->second.timer);
    it = waiters_.erase(it);
  }
  if (waits_.empty()) {
    loop_.Cancel(wait_timer_);
    wait_timer_ = 0;
  }
}

void Control::StartWait(uint64_t session, const wire::WaitRequest& request) {
  Result<WaitJudge> judge =
      hooks_.wait ? hooks_.wait(request.path()) : Status::Error("wait is not supported here");
  if (!judge.ok()) {
    Fail(session, judge.status().ToString());
    return;
  }
  Wait wait;
  wait.session = session;
  wait.judge = std::move(*judge);
  wait.timeout_ms = std::min(request.timeout_ms(), kMaxWaitMs);
  wait.deadline_ms = loop_.clock().MonoMs() + wait.timeout_ms;
  waits_.push_back(std::move(wait));
  JudgeWaits();
}

void Control::JudgeWaits() {
  const int64_t now = loop_.clock().MonoMs();
  std::vector<std::pair<uint64_t, wire::Frame>> answers;
  for (auto it = waits_.begin(); it != waits_.end();) {
    wire::WaitReply verdict = it->judge();
    if (!verdict.done() && !verdict.failed() && now < it->deadline_ms) {
      ++it;
      continue;
    }
    wire::Frame frame;
    wire::ControlReply* r = frame.mutable_reply();
    r->set_ok(verdict.done());
    if (verdict.failed()) {
      r->set_error("failed");
    } else if (!verdict.done()) {
      r->set_error("not done after " + std::to_string(it->timeout_ms / 1000) + " s");
    }
    *r->mutable_wait() = std::move(verdict);
    answers.emplace_back(it->session, std::move(frame));
    it = waits_.erase(it);
  }
  // Answered after the walk: an answer closes its session, which may call
  // back (OnSessionGone).
  for (const auto& [session, frame] : answers) hooks_.reply(session, frame);
  if (waits_.empty() || wait_timer_ != 0) return;
  wait_timer_ = loop_.After(kWaitTickMs, [this] {
    wait_timer_ = 0;
    JudgeWaits();
  });
}

}  // namespace syncr
