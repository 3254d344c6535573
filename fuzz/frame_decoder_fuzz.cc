// libFuzzer target: FrameDecoder (src/net/frame.h), the first code that sees
// a peer's bytes, and the path policy that every Update's path meets next.
//
// Input layout: byte 0 picks the chunk size the stream is fed in (1..255,
// 0 = all at once), byte 1 picks the decoder's bound (1 MiB, 4 KiB or 16
// bytes); the rest is the byte stream as a peer would send it. The stream is
// fed chunk by chunk and popped until kNeedMore or kError after each chunk,
// as Channel does.
//
// Beyond "no crash, leak, hang or undefined behaviour" it checks:
//  - a length above the bound is refused before its body is buffered, and
//    after kError every Pop says kError with a reason;
//  - a decoded frame has a body, and re-encoding it with AppendFrame and
//    decoding that again gives the same frame (encoder and decoder agree);
//  - an Update's path accepted by CheckSyncedPath is clean (absolute, no
//    empty, "." or ".." component, no NUL, bounded), inside an entry of the
//    config, and its disk path stays below the node's root.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/escape.h"
#include "config/config.h"
#include "engine/path_policy.h"
#include "net/frame.h"
#include "net/proto/syncr.pb.h"
#include "reference_path.h"

namespace {

constexpr uint64_t kBounds[] = {1u << 20, 4096, 16};

[[noreturn]] void Fail(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "frame_decoder_fuzz: invariant violated: %s %s\n", what, detail.c_str());
  std::abort();
}

const syncr::Config& PolicyConfig() {
  static const syncr::Config* config = [] {
    syncr::Result<syncr::Config> c = syncr::ParseConfig(
        "[node]\nname = \"b\"\nroot = \"/srv/b\"\nstate_dir = \"/var/lib/syncr\"\n"
        "socket = \"/run/syncr/s.sock\"\n"
        "[[peer]]\nname = \"a\"\nexec = \"syncr connect\"\n"
        "[[sync]]\npath = \"/etc/hosts\"\n"
        "[[sync]]\npath = \"/etc/nginx\"\nexclude = [\"*.bak\", \"private/*\"]\n",
        "policy.toml");
    if (!c.ok()) Fail("policy config does not parse", c.status().ToString());
    return new syncr::Config(std::move(*c));
  }();
  return *config;
}

bool ComponentsClean(const std::string& path) {
  if (path.empty() || path[0] != '/' || path.size() > syncr::kMaxPathBytes) return false;
  // Any byte but NUL is a name's (SPEC 11): newlines, escapes, not UTF-8.
  if (path.find('\0') != std::string::npos) return false;
  return AbsoluteWithCleanComponents(path);
}

/// What is shown of any bytes is text: valid UTF-8, no control character.
void CheckShown(const std::string& what, const std::string& shown, const std::string& path) {
  if (!syncr::IsValidUtf8(shown)) Fail((what + " is not UTF-8").c_str(), path);
  for (unsigned char c : shown) {
    if (c < 0x20 || c == 0x7f) Fail((what + " holds a control character").c_str(), path);
  }
}

void CheckPolicy(const std::string& path) {
  const syncr::Config& config = PolicyConfig();
  const bool clean = syncr::IsCleanPath(path);
  if (clean != ComponentsClean(path)) Fail("IsCleanPath disagrees with the component rule", path);
  CheckShown("EscapeName", syncr::EscapeName(path), path);
  CheckShown("Printable", syncr::Printable(path), path);
  const syncr::Status s = syncr::CheckSyncedPath(config, path);
  if (!s.ok()) {
    if (s.ToString().empty()) Fail("a refusal without a reason", path);
    // It goes back to the peer in Ack.error, a string field.
    CheckShown("a refusal", s.ToString(), path);
    return;
  }
  if (!clean) Fail("CheckSyncedPath accepted an unclean path", path);
  if (config.FindEntry(path) == nullptr) Fail("CheckSyncedPath accepted a path of no entry", path);
  const std::string disk = config.DiskPath(path);
  if (disk.rfind("/srv/b/etc/", 0) != 0) Fail("accepted path leaves the root on disk", disk);
}

void CheckFrame(const syncr::wire::Frame& frame, uint64_t bound) {
  if (frame.body_case() == syncr::wire::Frame::BODY_NOT_SET) Fail("a frame without a body");
  if (frame.has_update()) CheckPolicy(frame.update().version().path());
  if (frame.has_summary()) {
    for (const syncr::wire::Version& v : frame.summary().versions()) CheckPolicy(v.path());
  }
  if (frame.has_ack()) CheckPolicy(frame.ack().path());

  std::string encoded;
  syncr::AppendFrame(frame, &encoded);
  if (encoded.size() - 4 > bound) return;  // canonical form may be longer than the input
  syncr::FrameDecoder again(bound);
  again.Feed(encoded);
  syncr::wire::Frame copy;
  if (again.Pop(&copy) != syncr::FrameDecoder::Next::kFrame) {
    Fail("a re-encoded frame does not decode", again.error());
  }
  if (copy.SerializeAsString() != frame.SerializeAsString()) Fail("re-encoding changed the frame");
  syncr::wire::Frame none;
  if (again.Pop(&none) != syncr::FrameDecoder::Next::kNeedMore || again.buffered() != 0) {
    Fail("bytes left after one re-encoded frame");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t chunk = data[0] == 0 ? size : data[0];
  const uint64_t bound = kBounds[data[1] % 3];
  std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  syncr::FrameDecoder decoder(bound);
  size_t fed = 0;
  size_t consumed = 0;
  bool failed = false;
  while (fed < stream.size() && !failed) {
    const size_t n = std::min(chunk, stream.size() - fed);
    decoder.Feed(stream.substr(fed, n));
    fed += n;
    while (true) {
      syncr::wire::Frame frame;
      const syncr::FrameDecoder::Next next = decoder.Pop(&frame);
      if (next == syncr::FrameDecoder::Next::kError) {
        if (decoder.error().empty()) Fail("kError without a reason");
        failed = true;
        break;
      }
      if (next == syncr::FrameDecoder::Next::kNeedMore) {
        // Whatever waits for more bytes is a frame within the bound.
        if (decoder.buffered() != fed - consumed) Fail("buffered() lost or invented bytes");
        if (decoder.buffered() >= 4) {
          const auto* p = reinterpret_cast<const unsigned char*>(stream.data() + consumed);
          const uint64_t len = (uint64_t{p[0]} << 24) | (uint64_t{p[1]} << 16) |
                               (uint64_t{p[2]} << 8) | uint64_t{p[3]};
          if (len > bound) Fail("an oversized length is waiting for its body");
        }
        break;
      }
      const size_t frame_bytes = fed - consumed - decoder.buffered();
      if (frame_bytes < 4 || frame_bytes - 4 > bound) Fail("a frame longer than the bound");
      consumed += frame_bytes;
      CheckFrame(frame, bound);
    }
  }
  if (failed) {
    syncr::wire::Frame frame;
    if (decoder.Pop(&frame) != syncr::FrameDecoder::Next::kError) Fail("recovered after kError");
    decoder.Feed("more");
    if (decoder.Pop(&frame) != syncr::FrameDecoder::Next::kError) Fail("recovered after Feed");
  }
  return 0;
}
