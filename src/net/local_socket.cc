#include "net/local_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "net/frame.h"

namespace syncr {

Result<UniqueFd> ConnectLocal(const std::string& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    return Status::Error("socket path " + socket_path + " is too long");
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::Sys("socket", socket_path, errno);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    std::string hint;
    if (err == ENOENT || err == ECONNREFUSED) hint = " (is `syncr daemon` running?)";
    if (err == EACCES || err == EPERM)
      hint = " (the socket is mode 0600: run as the daemon's user)";
    return Status::Error("cannot connect to " + socket_path + ": " + std::strerror(err) + hint);
  }
  return fd;
}

static bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

Result<wire::ControlReply> SendControl(const std::string& socket_path,
                                       const wire::ControlRequest& request, int timeout_s) {
  Result<UniqueFd> fd = ConnectLocal(socket_path);
  if (!fd.ok()) return fd.status();
  wire::Frame frame;
  *frame.mutable_control() = request;
  std::string bytes;
  AppendFrame(frame, &bytes);
  if (!WriteAll(fd->get(), bytes.data(), bytes.size())) {
    return Status::Sys("write", socket_path, errno);
  }
  // A daemon that is frozen or wedged must not hang the CLI (or a
  // monitoring check) for ever. Its own waits end sooner (a fetch after
  // Control::kFetchTimeoutMs), so this only fires when it cannot answer.
  timeval limit{timeout_s, 0};
  setsockopt(fd->get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  FrameDecoder decoder(256u << 20);
  char buf[65536];
  while (true) {
    wire::Frame reply;
    FrameDecoder::Next next = decoder.Pop(&reply);
    if (next == FrameDecoder::Next::kFrame) {
      if (reply.has_reply()) return reply.reply();
      if (reply.has_error()) return Status::Error("daemon: " + reply.error().message());
      return Status::Error("unexpected reply from the daemon at " + socket_path);
    }
    if (next == FrameDecoder::Next::kError)
      return Status::Error("daemon reply: " + decoder.error());
    ssize_t n = read(fd->get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return Status::Error("the daemon at " + socket_path + " did not answer within " +
                           std::to_string(timeout_s) +
                           " s (is it stopped or stuck? see journalctl -u syncr)");
    }
    if (n <= 0) return Status::Error("the daemon at " + socket_path + " closed without a reply");
    decoder.Feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

int BridgeStdio(const std::string& socket_path) {
  Result<UniqueFd> sock = ConnectLocal(socket_path);
  if (!sock.ok()) {
    std::fprintf(stderr, "syncr connect: %s\n", sock.status().ToString().c_str());
    return 1;
  }
  const int s = sock->get();
  pollfd fds[2] = {{0, POLLIN, 0}, {s, POLLIN, 0}};
  bool stdin_open = true;
  char buf[65536];
  while (true) {
    fds[0].fd = stdin_open ? 0 : -1;
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n > 0) {
        if (!WriteAll(s, buf, static_cast<size_t>(n))) return 1;
      } else if (n == 0 || errno != EINTR) {
        stdin_open = false;
        shutdown(s, SHUT_WR);  // tell the daemon, keep reading its last words
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(s, buf, sizeof buf);
      if (n > 0) {
        if (!WriteAll(1, buf, static_cast<size_t>(n))) return 1;
      } else if (n == 0 || errno != EINTR) {
        return 0;
      }
    }
  }
}

}  // namespace syncr
