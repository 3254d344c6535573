#include "net/frame.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace syncr {
namespace {

constexpr uint64_t kMax = 1 << 20;

std::vector<wire::Frame> SampleFrames() {
  std::vector<wire::Frame> frames(3);
  frames[0].mutable_hello()->set_protocol(kProtocolVersion);
  frames[0].mutable_hello()->set_node("alpha");
  wire::Update* update = frames[1].mutable_update();
  update->mutable_version()->set_path("/etc/hosts");
  update->mutable_version()->set_kind(wire::KIND_FILE);
  update->set_content(std::string("binary\0content\xff", 15) + std::string(5000, 'x'));
  frames[2].mutable_ack()->set_path("/etc/hosts");
  frames[2].mutable_ack()->set_ok(true);
  return frames;
}

std::string Encode(const std::vector<wire::Frame>& frames) {
  std::string out;
  for (const wire::Frame& f : frames) AppendFrame(f, &out);
  return out;
}

/// A 4-byte big-endian length header.
std::string Header(uint32_t size) {
  return std::string{static_cast<char>(size >> 24), static_cast<char>(size >> 16),
                     static_cast<char>(size >> 8), static_cast<char>(size)};
}

TEST(FrameEncoding, HeaderIsBigEndianBodyLength) {
  wire::Frame f;
  f.mutable_hello()->set_node("n");
  std::string out = "prefix";
  AppendFrame(f, &out);
  const std::string body = f.SerializeAsString();
  EXPECT_EQ(out, "prefix" + Header(static_cast<uint32_t>(body.size())) + body);
}

TEST(FrameDecoder, RoundTripAllAtOnce) {
  const std::vector<wire::Frame> frames = SampleFrames();
  FrameDecoder dec(kMax);
  dec.Feed(Encode(frames));
  for (const wire::Frame& want : frames) {
    wire::Frame got;
    ASSERT_EQ(dec.Pop(&got), FrameDecoder::Next::kFrame) << dec.error();
    EXPECT_EQ(got.SerializeAsString(), want.SerializeAsString());
  }
  wire::Frame none;
  EXPECT_EQ(dec.Pop(&none), FrameDecoder::Next::kNeedMore);
  EXPECT_EQ(dec.buffered(), 0u);
}

TEST(FrameDecoder, RoundTripByteByByte) {
  const std::vector<wire::Frame> frames = SampleFrames();
  const std::string bytes = Encode(frames);
  FrameDecoder dec(kMax);
  std::vector<wire::Frame> got;
  for (char c : bytes) {
    dec.Feed(std::string_view(&c, 1));
    wire::Frame f;
    FrameDecoder::Next next;
    while ((next = dec.Pop(&f)) == FrameDecoder::Next::kFrame) got.push_back(f);
    ASSERT_EQ(next, FrameDecoder::Next::kNeedMore) << dec.error();
  }
  ASSERT_EQ(got.size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(got[i].SerializeAsString(), frames[i].SerializeAsString()) << "frame " << i;
  }
  EXPECT_EQ(dec.buffered(), 0u);
}

TEST(FrameDecoder, TruncatedFrameNeedsMore) {
  const std::string bytes = Encode(SampleFrames());
  FrameDecoder dec(kMax);
  wire::Frame f;
  dec.Feed(bytes.substr(0, 2));  // half a header
  EXPECT_EQ(dec.Pop(&f), FrameDecoder::Next::kNeedMore);
  dec.Feed(bytes.substr(2, 5));  // header plus part of the body
  EXPECT_EQ(dec.Pop(&f), FrameDecoder::Next::kNeedMore);
  EXPECT_TRUE(dec.error().empty());
  dec.Feed(bytes.substr(7));
  EXPECT_EQ(dec.Pop(&f), FrameDecoder::Next::kFrame);
  EXPECT_TRUE(f.has_hello());
}

TEST(FrameDecoder, OversizedLengthIsErrorBeforeBody) {
  FrameDecoder dec(1000);
  dec.Feed(Header(1001));  // only the header: no body buffered or awaited
  wire::Frame f;
  EXPECT_EQ(dec.Pop(&f), FrameDecoder::Next::kError);
  EXPECT_NE(dec.error().find("1001"), std::string::npos) << dec.error();
  EXPECT_NE(dec.error().find("1000"), std::string::npos) << dec.error();
}

TEST(FrameDecoder, HugeLengthIsError) {
  FrameDecoder dec(64ull << 20);
  dec.Feed(Header(0xffffffffu));
  wire::Frame f;
  EXPECT_EQ(dec.Pop(&f), FrameDecoder::Next::kError);
  EXPECT_NE(dec.error().find("4294967295"), std::string::npos) << dec.error();
}

TEST(FrameDecoder, NothingIsBufferedAfterOversizedLength) {
  FrameDecoder dec(1000);
  dec.Feed(Header(5000));
  wire::Frame f;
  ASSERT_EQ(dec.Pop(&f), FrameDecoder::Next::kError);
  const size_t before = dec.buffered();
  dec.Feed(std::string(4000, 'x'));
  EXPECT_EQ(dec.buffered(), before);
}

TEST(FrameDecoder, LengthAtTheLimitIsAccepted) {
  wire::Frame frame;
  frame.mutable_hello()->set_node("node-name");
  std::string bytes;
  AppendFrame(frame, &bytes);
  FrameDecoder dec(bytes.size() - 4);
  dec.Feed(bytes);
  wire::Frame f;
  EXPECT_EQ(dec.Pop(&f), FrameDecoder::Next::kFrame) << dec.error();
}

TEST(FrameDecoder, GarbageIsError) {
  FrameDecoder dec(kMax);
  dec.Feed(Header(3) + "\xff\xff\xff");
  wire::Frame f;
  EXPECT_EQ(dec.Pop(&f), FrameDecoder::Next::kError);
  EXPECT_FALSE(dec.error().empty());
}

TEST(FrameDecoder, EmptyFrameIsError) {
  std::string bytes;
  AppendFrame(wire::Frame(), &bytes);
  ASSERT_EQ(bytes, Header(0));
  FrameDecoder dec(kMax);
  dec.Feed(bytes);
  wire::Frame f;
  EXPECT_EQ(dec.Pop(&f), FrameDecoder::Next::kError);
  EXPECT_FALSE(dec.error().empty());
}

TEST(FrameDecoder, ErrorIsSticky) {
  FrameDecoder dec(kMax);
  dec.Feed(Header(3) + "\xff\xff\xff");
  wire::Frame f;
  ASSERT_EQ(dec.Pop(&f), FrameDecoder::Next::kError);
  const std::string first_error = dec.error();
  // A perfectly good frame afterwards does not revive the stream.
  dec.Feed(Encode(SampleFrames()));
  EXPECT_EQ(dec.Pop(&f), FrameDecoder::Next::kError);
  EXPECT_EQ(dec.Pop(&f), FrameDecoder::Next::kError);
  EXPECT_EQ(dec.error(), first_error);
}

TEST(FrameDecoder, ErrorIsStickyAfterEmptyFrame) {
  std::string bytes;
  AppendFrame(wire::Frame(), &bytes);
  bytes += Encode(SampleFrames());
  FrameDecoder dec(kMax);
  dec.Feed(bytes);
  wire::Frame f;
  ASSERT_EQ(dec.Pop(&f), FrameDecoder::Next::kError);
  EXPECT_EQ(dec.Pop(&f), FrameDecoder::Next::kError);
}

}  // namespace
}  // namespace syncr
