#include "peer/inbound.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/escape.h"
#include "common/util.h"
#include "engine/path_policy.h"
#include "engine/version_vector.h"
#include "os/disk.h"

namespace syncr {
namespace {

constexpr uint64_t kFrameHeadroom = 1 << 20;
constexpr size_t kSummaryPage = 1000;
constexpr size_t kMaxBatchUpdates = 4096;
constexpr uint64_t kMaxBatchBytes = 64ull << 20;
constexpr int64_t kBatchGatherMs = 3;
constexpr size_t kMaxQueuedReplyBytes = 16u << 20;  // acks a peer leaves unread

// What the sender shows in its status and log: the error, and for one it
// retries (disk full, read-only) the remedy, since the fix is made here.
std::string AckError(const Replica::Outcome& outcome) {
  const std::string_view remedy = outcome.refused ? "" : Remedy(outcome.status.code());
  return outcome.status.ToString() + (remedy.empty() ? "" : " (" + std::string(remedy) + ")");
}

}  // namespace

Inbound::Inbound(EventLoop& loop, const Config& config, StateStore& store, Replica& replica,
                 Journal& journal, Hooks hooks)
    : loop_(loop),
      config_(config),
      store_(store),
      replica_(replica),
      journal_(journal),
      hooks_(std::move(hooks)) {}

Inbound::~Inbound() {
  loop_.Cancel(flush_timer_);
  for (auto& [id, session] : sessions_) {
    loop_.Remove(session->channel->fd());
    for (EventLoop::TimerId t :
         {session->handshake_timer, session->silence_timer, session->apply_timer}) {
      loop_.Cancel(t);
    }
  }
  if (listen_fd_.valid()) loop_.Remove(listen_fd_.get());
}

Status Inbound::Listen() {
  const std::string& path = config_.node.socket;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return Status::Error("socket path " + path + " is longer than " +
                         std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (Status s = PosixDisk().MakeDirs(DirName(path)); !s.ok()) return s;

  // A socket file left by a dead daemon is removed; a live one is an error.
  UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    return Status::Error("another syncr daemon is already listening on " + path);
  }
  unlink(path.c_str());

  listen_fd_.Reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listen_fd_.valid()) return Status::Sys("socket", path, errno);
  mode_t old = umask(0077);  // the socket is born 0600: no window for others
  int rc = bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  umask(old);
  if (rc != 0) return Status::Sys("bind", path, errno);
  chmod(path.c_str(), 0600);
  if (listen(listen_fd_.get(), 64) != 0) return Status::Sys("listen", path, errno);
  loop_.Add(listen_fd_.get(), EPOLLIN, [this](uint32_t) { OnAccept(); });
  return Status();
}

void Inbound::OnAccept() {
  while (true) {
    int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    auto session = std::make_unique<Session>();
    const uint64_t id = next_id_++;
    session->id = id;
    session->channel =
        std::make_unique<Channel>(UniqueFd(fd), config_.limits.max_file_bytes + kFrameHeadroom);
    session->handshake_timer = loop_.After(config_.limits.handshake_timeout_ms, [this, id] {
      auto it = sessions_.find(id);
      if (it == sessions_.end()) return;
      it->second->handshake_timer = 0;
      if (it->second->peer.empty() && !it->second->control) {
        Close(id,
              "no handshake within " + std::to_string(config_.limits.handshake_timeout_ms) + " ms");
      }
    });
    loop_.Add(fd, EPOLLIN, [this, id](uint32_t events) {
      if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        OnReadable(id);
      } else {
        OnWritable(id);
      }
    });
    sessions_[id] = std::move(session);
  }
}

void Inbound::OnWritable(uint64_t id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Flush(id);
  it = sessions_.find(id);
  if (it != sessions_.end() && it->second->closing && !it->second->channel->WantsWrite()) {
    Close(id, "");
  }
}

void Inbound::Flush(uint64_t id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Channel& channel = *it->second->channel;
  if (!channel.Flush()) {
    Close(id, channel.error());
    return;
  }
  loop_.Modify(channel.fd(), EPOLLIN | (channel.WantsWrite() ? uint32_t{EPOLLOUT} : 0u));
}

// A peer that sends nothing (not even the pings of its keepalive) for
// kSilenceMs is gone without closing: its session is closed, so that when
// it wakes up it finds its channel dead and dials again.
void Inbound::ArmSilence(Session& session) {
  loop_.Cancel(session.silence_timer);
  const uint64_t id = session.id;
  session.silence_timer = loop_.After(kSilenceMs, [this, id] {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    it->second->silence_timer = 0;
    if (it->second->channel->HasUnread()) {  // our loop was busy, not the peer
      ArmSilence(*it->second);
      return;
    }
    Close(id, "not answering for " + std::to_string(kSilenceMs / 1000) + " s");
  });
}

void Inbound::OnReadable(uint64_t id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Session& session = *it->second;
  const bool open = session.channel->ReadAvailable();
  if (!session.peer.empty()) ArmSilence(session);
  size_t new_updates = 0;
  while (sessions_.count(id) && !session.closing) {
    wire::Frame frame;
    FrameDecoder::Next next = session.channel->Pop(&frame);
    if (next == FrameDecoder::Next::kNeedMore) break;
    if (next == FrameDecoder::Next::kError) {
      ApplyPending(session);
      Close(id, "bad data: " + session.channel->error());
      return;
    }
    if (!session.peer.empty() && frame.has_update()) {
      session.pending_bytes += frame.update().content().size();
      session.pending.push_back(std::move(frame));
      ++new_updates;
      if (session.pending.size() >= kMaxBatchUpdates || session.pending_bytes >= kMaxBatchBytes) {
        ApplyPending(session);
      }
      continue;
    }
    ApplyPending(session);
    OnFrame(session, frame);
  }
  if (!sessions_.count(id)) return;
  // Updates that arrive together are applied together: one filesystem sync
  // and one transaction for the lot. A lone update (an edit) is applied at
  // once; a stream of them (catch-up, a burst) gathers for kBatchGatherMs.
  if (!session.pending.empty() && !session.apply_timer) {
    if (new_updates <= 1) {
      ApplyPending(session);
    } else {
      session.apply_timer = loop_.After(kBatchGatherMs, [this, id] {
        auto it = sessions_.find(id);
        if (it == sessions_.end()) return;
        it->second->apply_timer = 0;
        ApplyPending(*it->second);
        Flush(id);
      });
    }
  }
  if (!open) {
    std::string why = session.peer.empty() ? "" : session.channel->error();
    if (session.channel->buffered() > 0) {
      why = "the stream ended in the middle of a frame (" +
            std::to_string(session.channel->buffered()) + " bytes of a truncated frame)";
    }
    Close(id, why);
    return;
  }
  if (session.channel->queued_bytes() > kMaxQueuedReplyBytes) {
    Close(id, "it does not read our replies (" + std::to_string(session.channel->queued_bytes()) +
                  " bytes queued)");
    return;
  }
  Flush(id);
  it = sessions_.find(id);
  if (it != sessions_.end() && session.closing && !session.channel->WantsWrite()) Close(id, "");
}

void Inbound::ApplyPending(Session& session) {
  loop_.Cancel(session.apply_timer);
  session.apply_timer = 0;
  if (session.pending.empty()) return;
  std::vector<const wire::Update*> batch;
  for (const wire::Frame& f : session.pending) batch.push_back(&f.update());
  const int64_t start = MonoMs();
  wire::Frame have;
  std::vector<Replica::Outcome> outcomes = replica_.Apply(session.peer, batch, have.mutable_have());
  // Acks go out only now: everything they confirm has been committed.
  for (const Replica::Outcome& outcome : outcomes) {
    wire::Frame reply;
    wire::Ack* ack = reply.mutable_ack();
    ack->set_path(outcome.path);
    ack->set_ok(outcome.status.ok());
    if (!outcome.status.ok()) ack->set_error(AckError(outcome));
    ack->set_refused(outcome.refused);
    if (outcome.status.ok()) *ack->mutable_vv() = outcome.now_have;
    session.channel->Send(reply);
  }
  spdlog::debug("applied a batch of {} updates in {} ms", batch.size(), MonoMs() - start);
  session.pending.clear();
  session.pending_bytes = 0;
  if (have.have().versions_size() > 0) hooks_.have(session.peer, have);
}

void Inbound::Close(uint64_t id, std::string why) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  Session& session = *it->second;
  ApplyPending(session);
  if (session.control && hooks_.control_gone) hooks_.control_gone(id);
  if (!why.empty()) {
    const std::string who = session.peer.empty() ? "a local client" : "peer " + session.peer;
    journal_.Note("", spdlog::level::warn, "closed the connection from " + who + ": " + why);
  }
  for (EventLoop::TimerId t : {session.handshake_timer, session.silence_timer}) loop_.Cancel(t);
  loop_.Remove(session.channel->fd());
  sessions_.erase(it);
}

void Inbound::DropPeer(const std::string& peer) {
  for (auto s = sessions_.begin(); s != sessions_.end();) {
    auto next = std::next(s);
    if (s->second->peer == peer) Close(s->first, "peer removed from the config");
    s = next;
  }
}

void Inbound::Reply(uint64_t id, const wire::Frame& frame) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  it->second->channel->Send(frame);
  it->second->closing = true;
  Flush(id);
  it = sessions_.find(id);
  if (it != sessions_.end() && !it->second->channel->WantsWrite()) Close(id, "");
}

void Inbound::Refuse(Session& session, const std::string& message) {
  wire::Frame error;
  error.mutable_error()->set_message(message);
  session.channel->Send(error);
  session.closing = true;
  journal_.Note("", spdlog::level::warn, "refused a connection: " + message);
}

void Inbound::OnFrame(Session& session, const wire::Frame& frame) {
  if (session.peer.empty() && !session.control) {
    switch (frame.body_case()) {
      case wire::Frame::kHello:
        OnHello(session, frame.hello());
        return;
      case wire::Frame::kControl:
        session.control = true;
        hooks_.control(session.id, frame.control());
        return;
      default:
        Refuse(session, "expected a handshake");
        return;
    }
  }
  if (session.control) return;
  switch (frame.body_case()) {
    case wire::Frame::kFetchRequest:
      OnFetch(session, frame.fetch_request());
      return;
    case wire::Frame::kHave:
      OnHave(session, frame.have());
      return;
    case wire::Frame::kUpdate:  // gathered by OnReadable; here only for completeness
      session.pending.push_back(frame);
      ApplyPending(session);
      return;
    case wire::Frame::kPing: {
      wire::Frame pong;
      pong.mutable_pong()->set_nonce(frame.ping().nonce());
      pong.mutable_pong()->set_wall_ns(WallNs());
      session.channel->Send(pong);
      return;
    }
    default:
      Refuse(session,
             "unexpected message " + std::to_string(frame.body_case()) + " from " + session.peer);
  }
}

void Inbound::OnHello(Session& session, const wire::Hello& hello) {
  if (hello.protocol() != kProtocolVersion) {
    Refuse(session, "protocol " + std::to_string(hello.protocol()) +
                        " is not spoken here (this node speaks " +
                        std::to_string(kProtocolVersion) + ")");
    return;
  }
  if (!config_.FindPeer(hello.node())) {
    Refuse(session, "node '" + Printable(hello.node().substr(0, 100)) + "' is not a peer in " +
                        config_.source);
    return;
  }
  session.peer = hello.node();
  loop_.Cancel(session.handshake_timer);
  session.handshake_timer = 0;
  wire::Frame welcome;
  welcome.mutable_welcome()->set_protocol(kProtocolVersion);
  welcome.mutable_welcome()->set_node(config_.node.name);
  welcome.mutable_welcome()->set_max_file_bytes(config_.limits.max_file_bytes);
  welcome.mutable_welcome()->set_wall_ns(WallNs());
  session.channel->Send(welcome);
  SendSummary(session);
  ArmSilence(session);
  journal_.Note("", spdlog::level::info, "accepted channel from " + session.peer);
  hooks_.peer_arrived(session.peer);
}

void Inbound::OnFetch(Session& session, const wire::FetchRequest& req) {
  wire::Frame reply;
  wire::FetchReply* r = reply.mutable_fetch_reply();
  r->set_id(req.id());
  Status allowed = CheckSyncedPath(config_, req.path());
  std::optional<wire::Version> v = allowed.ok() ? store_.GetFile(req.path()) : std::nullopt;
  if (!allowed.ok()) {
    r->set_error(allowed.ToString());
  } else if (v && v->kind() == wire::KIND_FILE) {
    Result<std::string> content = replica_.node().ContentFor(*v);
    r->set_found(content.ok());
    if (content.ok()) r->set_content(std::move(*content));
    if (!content.ok()) r->set_error(content.status().ToString());
    *r->mutable_version() = *v;
  }
  session.channel->Send(reply);
}

void Inbound::OnHave(Session& session, const wire::Have& have) {
  StateStore::Batch batch(store_);
  for (const wire::Version& v : have.versions()) {
    if (!IsCleanPath(v.path())) continue;
    std::optional<wire::VersionVector> had = store_.GetPeerHas(session.peer, v.path());
    store_.PutPeerHas(session.peer, v.path(), had ? Merge(*had, v.vv()) : v.vv());
  }
}

// The reports first: when the dialer has the whole Summary (its link is
// up), it has this node's reports too (syncr wait judges only links up).
void Inbound::SendSummary(Session& session) {
  if (hooks_.action_reports) {
    for (wire::ActionReport& report : hooks_.action_reports()) {
      wire::Frame frame;
      *frame.mutable_action_report() = std::move(report);
      session.channel->Send(frame);
    }
  }
  wire::Frame page;
  for (const wire::Version& v : store_.AllFiles()) {
    if (v.kind() == wire::KIND_NONE || !config_.FindEntry(v.path())) continue;
    wire::Version* out = page.mutable_summary()->add_versions();
    out->set_path(v.path());
    out->set_kind(v.kind());
    *out->mutable_vv() = v.vv();
    if (page.summary().versions_size() >= static_cast<int>(kSummaryPage)) {
      session.channel->Send(page);
      page.Clear();
    }
  }
  page.mutable_summary()->set_complete(true);
  session.channel->Send(page);
}

// Queued now, in order with what follows on each channel (a pending report
// before the Ack of the version that caused it); written on the next turn
// of the loop. A broadcast can come from inside an apply, and a flush that
// fails closes its session: never while that session is being applied.
void Inbound::Broadcast(const wire::Frame& frame) {
  std::vector<uint64_t> ids;
  for (auto& [id, session] : sessions_) {
    if (session->peer.empty() || session->control || session->closing) continue;
    session->channel->Send(frame);
    ids.push_back(id);
  }
  to_flush_.insert(ids.begin(), ids.end());
  if (to_flush_.empty() || flush_timer_ != 0) return;
  flush_timer_ = loop_.After(0, [this] {
    flush_timer_ = 0;
    const std::set<uint64_t> ids = std::move(to_flush_);
    to_flush_.clear();
    for (uint64_t id : ids) Flush(id);  // may close a session: not while iterating
  });
}

}  // namespace syncr
