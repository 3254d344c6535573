#include "net/frame.h"

namespace syncr {

void AppendFrame(const wire::Frame& frame, std::string* out) {
  const size_t size = frame.ByteSizeLong();
  const char header[4] = {static_cast<char>((size >> 24) & 0xff),
                          static_cast<char>((size >> 16) & 0xff),
                          static_cast<char>((size >> 8) & 0xff), static_cast<char>(size & 0xff)};
  out->append(header, 4);
  const size_t at = out->size();
  out->resize(at + size);
  frame.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out->data() + at));
}

void FrameDecoder::Feed(std::string_view bytes) {
  if (!error_.empty()) return;
  if (pos_ > 0 && pos_ * 2 >= buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

FrameDecoder::Next FrameDecoder::Pop(wire::Frame* out) {
  if (!error_.empty()) return Next::kError;
  if (buf_.size() - pos_ < 4) return Next::kNeedMore;
  const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  const uint64_t size =
      (uint64_t{p[0]} << 24) | (uint64_t{p[1]} << 16) | (uint64_t{p[2]} << 8) | uint64_t{p[3]};
  if (size > max_frame_) {
    error_ = "frame of " + std::to_string(size) + " bytes exceeds the limit of " +
             std::to_string(max_frame_);
    return Next::kError;
  }
  if (buf_.size() - pos_ - 4 < size) return Next::kNeedMore;
  if (!out->ParseFromArray(buf_.data() + pos_ + 4, static_cast<int>(size))) {
    error_ = "malformed frame of " + std::to_string(size) + " bytes";
    return Next::kError;
  }
  pos_ += 4 + size;
  if (out->body_case() == wire::Frame::BODY_NOT_SET) {
    error_ = "frame with an unknown or empty message";
    return Next::kError;
  }
  return Next::kFrame;
}

}  // namespace syncr
