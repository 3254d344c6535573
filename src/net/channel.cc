#include "net/channel.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace syncr {

Channel::Channel(UniqueFd fd, uint64_t max_frame_bytes)
    : fd_(std::move(fd)), decoder_(max_frame_bytes) {}

bool Channel::ReadAvailable() {
  char buf[65536];
  while (true) {
    ssize_t n = read(fd_.get(), buf, sizeof buf);
    if (n > 0) {
      decoder_.Feed(std::string_view(buf, static_cast<size_t>(n)));
      if (static_cast<size_t>(n) < sizeof buf) return true;
      continue;
    }
    if (n == 0) {
      error_ = "closed by the other side";
      return false;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    error_ = std::string("read: ") + std::strerror(errno);
    return false;
  }
}

bool Channel::Flush() {
  while (out_pos_ < out_.size()) {
    ssize_t n = send(fd_.get(), out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK)
      n = write(fd_.get(), out_.data() + out_pos_, out_.size() - out_pos_);
    if (n > 0) {
      out_pos_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    error_ = std::string("write: ") + std::strerror(errno);
    return false;
  }
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  } else if (out_pos_ > (1u << 20) && out_pos_ * 2 > out_.size()) {
    out_.erase(0, out_pos_);
    out_pos_ = 0;
  }
  return true;
}

bool Channel::HasUnread() const {
  int n = 0;
  return ioctl(fd_.get(), FIONREAD, &n) == 0 && n > 0;
}

}  // namespace syncr
