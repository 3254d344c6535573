#include "peer/outbox.h"

#include "engine/version_vector.h"

namespace syncr {

void Outbox::Queue(const std::string& path) {
  if (inflight_.count(path)) {
    requeue_after_ack_.insert(path);
    return;
  }
  if (queued_.insert(path).second) queue_.push_back(path);
}

std::optional<std::string> Outbox::Next(uint64_t window) {
  if (queue_.empty() || inflight_bytes_ >= window) return std::nullopt;
  std::string path = std::move(queue_.front());
  queue_.pop_front();
  queued_.erase(path);
  return path;
}

void Outbox::Sent(const std::string& path, uint64_t bytes) {
  inflight_[path] = bytes;
  inflight_bytes_ += bytes;
}

bool Outbox::Acked(const std::string& path) {
  auto it = inflight_.find(path);
  if (it == inflight_.end()) return false;
  inflight_bytes_ -= it->second;
  inflight_.erase(it);
  if (requeue_after_ack_.erase(path)) Queue(path);
  return true;
}

void Outbox::Clear() {
  queue_.clear();
  queued_.clear();
  inflight_.clear();
  requeue_after_ack_.clear();
  inflight_bytes_ = 0;
}

void Outbox::Refuse(const std::string& path, const wire::VersionVector& vv, std::string why) {
  refused_[path] = {vv, std::move(why)};
}

bool Outbox::Refused(const std::string& path, const wire::VersionVector& vv) const {
  auto it = refused_.find(path);
  return it != refused_.end() && Covers(it->second.vv, vv);
}

std::map<std::string, std::string> Outbox::refusals() const {
  std::map<std::string, std::string> out;
  for (const auto& [path, refusal] : refused_) out[path] = refusal.why;
  return out;
}

}  // namespace syncr
