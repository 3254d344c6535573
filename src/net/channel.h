// Channel: one non-blocking, full-duplex byte stream carrying frames (a
// peer's socketpair to its transport child, an accepted unix-socket client).
// Buffers outgoing frames until the fd is writable; decodes incoming bytes
// with a bounded FrameDecoder. The daemon drives it from the event loop.
// Not thread-safe.
#pragma once

#include <string>

#include "common/fd.h"
#include "net/frame.h"

namespace syncr {

class Channel {
 public:
  Channel(UniqueFd fd, uint64_t max_frame_bytes);

  int fd() const { return fd_.get(); }
  void Send(const wire::Frame& frame) { AppendFrame(frame, &out_); }
  bool WantsWrite() const { return out_pos_ < out_.size(); }
  size_t queued_bytes() const { return out_.size() - out_pos_; }
  /// Received bytes not yet forming a whole frame.
  size_t buffered() const { return decoder_.buffered(); }

  /// Bytes the peer sent that are waiting in the kernel, unread: a loop
  /// that was busy has not read them yet, but the peer did speak.
  bool HasUnread() const;
  /// Reads what is available into the decoder. False on EOF or error, with
  /// error() saying which.
  bool ReadAvailable();
  /// Writes as much as the fd takes. False on error.
  bool Flush();
  FrameDecoder::Next Pop(wire::Frame* out) { return decoder_.Pop(out); }
  const std::string& error() const { return error_.empty() ? decoder_.error() : error_; }

 private:
  UniqueFd fd_;
  FrameDecoder decoder_;
  std::string out_;
  size_t out_pos_ = 0;
  std::string error_;
};

}  // namespace syncr
