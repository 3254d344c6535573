// Length-framed protobuf messages: a 4-byte big-endian length, then one
// serialized syncr.wire.Frame. FrameDecoder turns an untrusted byte stream
// into frames, refusing any length above its bound before buffering it.
// Pure data; thread-compatible. Fuzzed by fuzz/frame_decoder_fuzz.cc.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "net/proto/syncr.pb.h"

namespace syncr {

/// Protocol version spoken in Hello/Welcome.
// 2: Ping/Pong, Welcome.max_file_bytes; 3: ActionReport, Pong.wall_ns;
// 4: paths, link targets and xattr names are bytes (any name, SPEC 11).
constexpr uint32_t kProtocolVersion = 4;

/// Appends the framed encoding of `frame` to `out`.
void AppendFrame(const wire::Frame& frame, std::string* out);

class FrameDecoder {
 public:
  enum class Next { kFrame, kNeedMore, kError };

  explicit FrameDecoder(uint64_t max_frame_bytes) : max_frame_(max_frame_bytes) {}

  void Feed(std::string_view bytes);
  /// Pops the next complete frame into `out`. After kError the stream is
  /// unusable and error() says why ("frame of N bytes exceeds the limit of M").
  Next Pop(wire::Frame* out);
  const std::string& error() const { return error_; }
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  uint64_t max_frame_;
  std::string buf_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace syncr
