// syncr_test_peer: a hostile (or merely scripted) peer for the integration
// tests of the confinement issue (tests/integration/test_hostile.py). It
// speaks the real wire protocol with the project's own encoder and decoder
// (AppendFrame, FrameDecoder, the generated syncr.pb.h), so a test can send
// exactly the Update a compromised peer could send.
//
//   syncr_test_peer SOCKET NODE [--protocol N] [--timeout-ms N] [--counter N] [ACTION...]
//
// It connects to the daemon's unix socket (what `syncr connect` bridges to),
// sends Hello{protocol, NODE}, reads Welcome (or Error) and the Summary pages,
// then performs each ACTION in order and waits for one Ack per update sent.
// Every path and content is given in hex, so NUL bytes, '/' and ':' need no
// quoting:
//
//   file:PATHHEX:CONTENTHEX     Update kind FILE, correct SHA-256, mode 0644
//   badhash:PATHHEX:CONTENTHEX  Update kind FILE whose hash does not match
//   dir:PATHHEX                 Update kind DIRECTORY, mode 0755
//   symlink:PATHHEX:TARGETHEX   Update kind SYMLINK
//   delete:PATHHEX              Update kind DELETED (tombstone)
//   raw:BYTESHEX                these bytes, unframed, straight onto the socket
//
// Each update carries vv {NODE: C + i} (C = --counter, default 1000000) so
// that it dominates whatever the receiver holds; a later run that must
// supersede an earlier one passes a larger --counter. Output, one line per event on stdout:
//
//   WELCOME <node>
//   SUMMARY <versions> complete|partial
//   ACK <pathhex> ok
//   ACK <pathhex> error <message>
//   ERROR <message>                 an Error frame from the daemon
//   CLOSED <why>                    the daemon closed the channel
//   TIMEOUT                         no answer within --timeout-ms
//
// Exit status: 0 every update was acked; 3 the handshake was refused (Error
// frame); 4 closed or timed out before every ack arrived; 2 usage.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "common/util.h"
#include "net/frame.h"
#include "net/local_socket.h"
#include "net/proto/syncr.pb.h"

namespace {

using syncr::FrameDecoder;
namespace wire = syncr::wire;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool FromHex(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\0') c = ' ';
  }
  return s;
}

class Peer {
 public:
  Peer(int fd, int timeout_ms) : fd_(fd), timeout_ms_(timeout_ms), decoder_(256u << 20) {}

  bool Send(const wire::Frame& frame) {
    std::string bytes;
    syncr::AppendFrame(frame, &bytes);
    return SendRaw(bytes);
  }

  bool SendRaw(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        std::printf("CLOSED write: %s\n", std::strerror(errno));
        return false;
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  /// The next frame; false (with a CLOSED or TIMEOUT line printed) if none.
  bool Receive(wire::Frame* frame) {
    const int64_t deadline = NowMs() + timeout_ms_;
    while (true) {
      switch (decoder_.Pop(frame)) {
        case FrameDecoder::Next::kFrame:
          return true;
        case FrameDecoder::Next::kError:
          std::printf("CLOSED bad frame from the daemon: %s\n", decoder_.error().c_str());
          return false;
        case FrameDecoder::Next::kNeedMore:
          break;
      }
      const int64_t left = deadline - NowMs();
      if (left <= 0) {
        std::printf("TIMEOUT\n");
        return false;
      }
      pollfd pfd{fd_, POLLIN, 0};
      int r = poll(&pfd, 1, static_cast<int>(left));
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) continue;
      char buf[65536];
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) {
        std::printf("CLOSED by the daemon\n");
        return false;
      }
      if (n < 0) {
        std::printf("CLOSED read: %s\n", std::strerror(errno));
        return false;
      }
      decoder_.Feed(std::string_view(buf, static_cast<size_t>(n)));
    }
  }

 private:
  int fd_;
  int timeout_ms_;
  FrameDecoder decoder_;
};

int Usage() {
  std::fprintf(stderr,
               "usage: syncr_test_peer SOCKET NODE [--protocol N] [--timeout-ms N] [--counter N] "
               "[ACTION...]\n"
               "  ACTION: file:PATHHEX:CONTENTHEX | badhash:PATHHEX:CONTENTHEX | dir:PATHHEX |\n"
               "          symlink:PATHHEX:TARGETHEX | delete:PATHHEX | raw:BYTESHEX\n");
  return 2;
}

/// Splits "kind:a:b" into its parts.
std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t colon = s.find(':', start);
    parts.push_back(
        s.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) return parts;
    start = colon + 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return Usage();
  const std::string socket_path = argv[1];
  const std::string node = argv[2];
  uint32_t protocol = syncr::kProtocolVersion;
  int timeout_ms = 10000;
  uint64_t counter = 1000000;
  std::vector<std::string> actions;
  for (int i = 3; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--protocol" || arg == "--timeout-ms" || arg == "--counter") && i + 1 < argc) {
      const long long v = std::strtoll(argv[++i], nullptr, 10);
      if (arg == "--protocol")
        protocol = static_cast<uint32_t>(v);
      else if (arg == "--timeout-ms")
        timeout_ms = static_cast<int>(v);
      else
        counter = static_cast<uint64_t>(v);
    } else {
      actions.push_back(arg);
    }
  }

  syncr::Result<syncr::UniqueFd> fd = syncr::ConnectLocal(socket_path);
  if (!fd.ok()) {
    std::fprintf(stderr, "syncr_test_peer: %s\n", fd.status().ToString().c_str());
    return 1;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Peer peer(fd->get(), timeout_ms);

  wire::Frame hello;
  hello.mutable_hello()->set_protocol(protocol);
  hello.mutable_hello()->set_node(node);
  if (!peer.Send(hello)) return 4;

  // Handshake: Welcome then Summary pages up to `complete`, or an Error.
  wire::Frame frame;
  if (!peer.Receive(&frame)) return 4;
  if (frame.has_error()) {
    std::printf("ERROR %s\n", OneLine(frame.error().message()).c_str());
    return 3;
  }
  if (!frame.has_welcome()) {
    std::printf("CLOSED expected Welcome, got message %d\n", static_cast<int>(frame.body_case()));
    return 4;
  }
  std::printf("WELCOME %s\n", OneLine(frame.welcome().node()).c_str());
  while (true) {
    if (!peer.Receive(&frame)) return 4;
    if (frame.has_error()) {
      std::printf("ERROR %s\n", OneLine(frame.error().message()).c_str());
      return 3;
    }
    if (!frame.has_summary()) {
      std::printf("CLOSED expected Summary, got message %d\n", static_cast<int>(frame.body_case()));
      return 4;
    }
    std::printf("SUMMARY %d %s\n", frame.summary().versions_size(),
                frame.summary().complete() ? "complete" : "partial");
    if (frame.summary().complete()) break;
  }

  int expected_acks = 0;
  const int64_t change_ns = syncr::WallNs();
  for (const std::string& action : actions) {
    const std::vector<std::string> parts = Split(action);
    const std::string& kind = parts[0];
    std::string a;
    std::string b;
    if (parts.size() < 2 || !FromHex(parts[1], &a) ||
        (parts.size() > 2 && !FromHex(parts[2], &b))) {
      std::fprintf(stderr, "syncr_test_peer: bad action '%s'\n", action.c_str());
      return Usage();
    }
    if (kind == "raw") {
      if (!peer.SendRaw(a)) return 4;
      continue;
    }
    wire::Frame update;
    wire::Update* u = update.mutable_update();
    wire::Version* v = u->mutable_version();
    v->set_path(a);
    wire::VectorEntry* e = v->mutable_vv()->add_entries();
    e->set_node(node);
    e->set_counter(++counter);
    v->set_origin(node);
    v->set_change_ns(change_ns);
    v->mutable_meta()->set_mtime_ns(change_ns);
    if (kind == "file" || kind == "badhash") {
      v->set_kind(wire::KIND_FILE);
      v->set_hash(syncr::Sha256(kind == "file" ? b : b + "tampered"));
      v->mutable_meta()->set_mode(0644);
      v->mutable_meta()->set_size(b.size());
      u->set_content(b);
    } else if (kind == "dir") {
      v->set_kind(wire::KIND_DIRECTORY);
      v->mutable_meta()->set_mode(0755);
    } else if (kind == "symlink") {
      v->set_kind(wire::KIND_SYMLINK);
      v->set_link_target(b);
      v->set_hash(syncr::Sha256(b));
      v->mutable_meta()->set_mode(0777);
    } else if (kind == "delete") {
      v->set_kind(wire::KIND_DELETED);
    } else {
      std::fprintf(stderr, "syncr_test_peer: unknown action kind '%s'\n", kind.c_str());
      return Usage();
    }
    if (!peer.Send(update)) return 4;
    ++expected_acks;
  }

  int acks = 0;
  while (acks < expected_acks) {
    if (!peer.Receive(&frame)) return 4;
    if (frame.has_ack()) {
      ++acks;
      const wire::Ack& ack = frame.ack();
      if (ack.ok()) {
        std::printf("ACK %s ok\n", syncr::Hex(ack.path()).c_str());
      } else {
        std::printf("ACK %s error %s\n", syncr::Hex(ack.path()).c_str(),
                    OneLine(ack.error()).c_str());
      }
    } else if (frame.has_error()) {
      std::printf("ERROR %s\n", OneLine(frame.error().message()).c_str());
    }
  }
  return 0;
}
