#include "loop/event_loop.h"

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <vector>

namespace syncr {

EventLoop::EventLoop(Clock& clock) : clock_(clock) {}

Status EventLoop::Init() {
  epoll_.Reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_.valid()) return Status::Sys("epoll_create1", "", errno);
  return Status();
}

namespace {

// The epoll data of a watch: its generation in the high half, the fd in the
// low half.
epoll_event WatchEvent(int fd, uint32_t generation, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = (uint64_t{generation} << 32) | static_cast<uint32_t>(fd);
  return ev;
}

}  // namespace

void EventLoop::Add(int fd, uint32_t events, IoCallback cb) {
  const uint32_t generation = next_generation_++;
  epoll_event ev = WatchEvent(fd, generation, events);
  watches_[fd] = std::make_shared<Watch>(Watch{generation, std::move(cb)});
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST) {
    epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev);
  }
}

void EventLoop::Modify(int fd, uint32_t events) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  epoll_event ev = WatchEvent(fd, it->second->generation, events);
  epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev);
}

void EventLoop::Remove(int fd) {
  if (watches_.erase(fd)) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

EventLoop::TimerId EventLoop::After(int64_t delay_ms, std::function<void()> cb) {
  TimerId id = next_timer_++;
  int64_t deadline = clock_.MonoMs() + delay_ms;
  timers_.emplace(std::make_pair(deadline, id), std::move(cb));
  timer_deadline_[id] = deadline;
  return id;
}

void EventLoop::Cancel(TimerId id) {
  auto it = timer_deadline_.find(id);
  if (it == timer_deadline_.end()) return;
  timers_.erase({it->second, id});
  timer_deadline_.erase(it);
}

Status EventLoop::Run() {
  running_ = true;
  std::vector<epoll_event> events(64);
  while (running_) {
    int timeout = -1;
    if (!timers_.empty()) {
      const int64_t wait = timers_.begin()->first.first - clock_.MonoMs();
      // Clamped: a deadline 2^32 ms away would otherwise truncate to 0 and spin.
      timeout = static_cast<int>(std::clamp<int64_t>(wait, 0, INT_MAX));
    }
    int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout);
    if (n < 0 && errno != EINTR) {
      const int err = errno;
      running_ = false;
      return Status::Sys("epoll_wait", "", err);
    }
    for (int i = 0; i < n && running_; ++i) {
      const int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
      const auto generation = static_cast<uint32_t>(events[i].data.u64 >> 32);
      auto it = watches_.find(fd);
      // Removed by an earlier callback of this batch, or removed and its
      // number watched again: the event is not for the watch there now.
      if (it == watches_.end() || it->second->generation != generation) continue;
      std::shared_ptr<Watch> keep = it->second;  // the callback may Remove itself
      keep->cb(events[i].events);
    }
    const int64_t now = clock_.MonoMs();
    while (running_ && FireNextTimer(now)) {
    }
  }
  return Status();
}

void EventLoop::RunDueTimers() {
  const int64_t now = clock_.MonoMs();
  while (FireNextTimer(now)) {
  }
}

std::optional<int64_t> EventLoop::next_deadline_ms() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first.first;
}

bool EventLoop::FireNextTimer(int64_t now) {
  if (timers_.empty() || timers_.begin()->first.first > now) return false;
  // Out of the map before it runs: the callback may Cancel its own id or arm
  // new timers.
  auto node = timers_.extract(timers_.begin());
  timer_deadline_.erase(node.key().second);
  node.mapped()();
  return true;
}

void AdvanceAndRunTimers(FakeClock& clock, EventLoop& loop, int64_t ms) {
  const int64_t end = clock.MonoMs() + ms;
  loop.RunDueTimers();
  for (auto next = loop.next_deadline_ms(); next && *next <= end; next = loop.next_deadline_ms()) {
    clock.Advance(*next - clock.MonoMs());
    loop.RunDueTimers();
  }
  clock.Advance(end - clock.MonoMs());
}

}  // namespace syncr
