#include "cli/commands.h"

#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "common/escape.h"
#include "common/util.h"
#include "config/config.h"
#include "daemon/daemon.h"
#include "engine/version_vector.h"
#include "net/local_socket.h"
#include "os/accounts.h"
#include "os/disk.h"
#include "os/subprocess.h"
#include "os/temp_names.h"
#include "store/backup_store.h"
#include "store/state_store.h"
#include "store/temp_token.h"

namespace syncr {
namespace {

// The loaded config, or nullopt after printing why not, with exit code 2
// in `*code`.
template <typename T>
std::optional<T> LoadedOr2(Result<T> loaded, int* code) {
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
    *code = 2;
    return std::nullopt;
  }
  return std::move(*loaded);
}

// Loads the config or prints why not.
std::optional<Config> Load(const std::string& config_flag, int* code) {
  return LoadedOr2(LoadConfig(ResolveConfigPath(config_flag)), code);
}

/// The first of `problems` ("FILE:LINE: problem" lines), and how many follow.
std::string FirstProblem(const std::string& problems) {
  const size_t newline = problems.find('\n');
  if (newline == std::string::npos) return problems;
  const size_t more = static_cast<size_t>(std::count(problems.begin(), problems.end(), '\n'));
  return problems.substr(0, newline) + ", and " + std::to_string(more) +
         " more: `syncr check` lists them";
}

// For the commands that only bridge to or read from the running daemon: a
// saved config with errors must not cut a running node off from its peers or
// its operator (SPEC "Config"), so the file is read leniently. An unreadable
// file is still exit code 2 in `*code`.
std::optional<LenientConfig> ReadLeniently(const std::string& config_flag, int* code) {
  return LoadedOr2(LoadConfigLeniently(ResolveConfigPath(config_flag)), code);
}

/// One warning line naming the file and its first problem, if it has any.
void WarnProblems(const LenientConfig& loaded, const char* prefix, const std::string& then) {
  if (loaded.problems.empty()) return;
  std::fprintf(stderr, "%swarning: %s has errors (%s); %s\n", prefix, loaded.config.source.c_str(),
               FirstProblem(loaded.problems).c_str(), then.c_str());
}

/// ReadLeniently and WarnProblems for status, log, history and diff.
std::optional<LenientConfig> LoadForReading(const std::string& config_flag, int* code) {
  std::optional<LenientConfig> loaded = ReadLeniently(config_flag, code);
  if (loaded) WarnProblems(*loaded, "", "the running daemon's answer follows");
  return loaded;
}

/// LoadForReading, then exit 2 for a PATH the config does not sync (not
/// judged when the file has errors: the daemon's answer says).
std::optional<LenientConfig> LoadForPath(const char* command, const std::string& config_flag,
                                         const std::string& path, int* code) {
  std::optional<LenientConfig> loaded = LoadForReading(config_flag, code);
  if (loaded && loaded->problems.empty() && !loaded->config.FindEntry(path)) {
    std::fprintf(stderr, "syncr %s: %s is not synced by %s\n", command, EscapeName(path).c_str(),
                 loaded->config.source.c_str());
    *code = 2;
    return std::nullopt;
  }
  return loaded;
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

std::string Ago(int64_t ns) {
  if (ns == 0) return "-";
  return FormatTime(ns);
}

void PrintStatus(const wire::StatusReply& s) {
  std::printf("node %s, up since %s: %s\n\n", s.node().c_str(), Ago(s.started_ns()).c_str(),
              s.in_sync() ? "everything in sync" : "NOT in sync");
  for (const std::string& p : s.problems()) std::printf("PROBLEM: %s\n", p.c_str());
  std::printf("%-12s %-13s %-20s %-8s %s\n", "PEER", "STATE", "SINCE", "PENDING", "LAST ERROR");
  for (const wire::PeerStatus& p : s.peers()) {
    std::printf("%-12s %-13s %-20s %-8llu %s\n", p.name().c_str(),
                p.connected() ? "connected" : "disconnected", Ago(p.since_ns()).c_str(),
                static_cast<unsigned long long>(p.pending()), p.last_error().c_str());
  }
  std::printf("\n%-32s %-14s %-13s %-22s %s\n", "PATH", "VERSION", "HASH", "STATE", "LAST ACTION");
  for (const wire::PathStatus& p : s.paths()) {
    std::string state = p.state();
    if (!p.pending_to().empty()) {
      state += " to";
      for (const std::string& n : p.pending_to()) state += " " + n;
    }
    if (!p.refused_by().empty()) {
      state += " by";
      for (const std::string& n : p.refused_by()) state += " " + n;
    }
    std::string action = "-";
    if (p.has_last_action()) {
      const wire::ActionResult& a = p.last_action();
      action = a.running() ? "running" : "";
      if (a.finished_ns() != 0) {
        action += (action.empty() ? "" : ", last ") + std::string("exit ") +
                  std::to_string(a.exit_code()) + " at " + FormatTime(a.finished_ns());
      }
    }
    std::printf("%-32s %-14s %-13s %-22s %s\n", p.path().c_str(),
                ToString(p.version().vv()).c_str(), ShortHash(p.version().hash()).c_str(),
                state.c_str(), action.c_str());
    // Why it is not in sync, under its row: "b: could not apply it: ..."
    for (const std::string& why : p.problems()) std::printf("    %s\n", why.c_str());
  }
}

Result<std::unique_ptr<StateStore>> OpenStoreReadOnly(const Config& config) {
  return StateStore::Open(config.node.state_dir, true);
}

int WaitChild(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace

int CmdCheck(const std::string& config_flag) {
  int code = 0;
  std::optional<Config> config = Load(config_flag, &code);
  if (!config) return code;
  std::printf("%s\n", Summarize(*config).c_str());
  // beside = true on a directory: a FILE.1 ... FILE.N beside each of its
  // files, and names like libfoo.so.6 left out. Legal, but rarely meant.
  for (const SyncEntry& entry : config->sync) {
    struct stat st {};
    if (!entry.beside || lstat(config->DiskPath(entry.path).c_str(), &st) != 0 ||
        !S_ISDIR(st.st_mode)) {
      continue;
    }
    std::fprintf(stderr,
                 "warning: %s:%d: [[sync]] %s is a directory with beside = true: up to %d "
                 "copies (FILE.1 ...) are kept next to each of its files, and its files named "
                 "like them (ending in .<digits>, such as libfoo.so.6) are not synced; set "
                 "beside = false on it to keep its backups under %s\n",
                 config->source.c_str(), entry.line, Printable(entry.path).c_str(),
                 config->backup.generations, config->node.state_dir.c_str());
  }
  return 0;
}

int CmdDaemon(const std::string& config_flag, const std::string& log_level) {
  int code = 0;
  std::optional<Config> config = Load(config_flag, &code);
  if (!config) return code;
  if (!log_level.empty()) config->node.log_level = log_level;
  return RunDaemon(std::move(*config));
}

int CmdConnect(const std::string& config_flag, const std::string& socket_flag) {
  std::string socket = socket_flag;
  if (socket.empty()) {
    int code = 0;
    std::optional<LenientConfig> loaded = ReadLeniently(config_flag, &code);
    if (!loaded) return code;
    socket = loaded->config.node.socket;
    WarnProblems(*loaded, "syncr connect: ", "bridging to socket " + socket);
  }
  return BridgeStdio(socket);
}

int CmdStatus(const std::string& config_flag, bool json) {
  int code = 0;
  std::optional<LenientConfig> loaded = LoadForReading(config_flag, &code);
  if (!loaded) return code;
  const Config* config = &loaded->config;
  wire::ControlRequest request;
  request.mutable_status();
  Result<wire::ControlReply> reply = SendControl(config->node.socket, request);
  if (!reply.ok()) {
    std::fprintf(stderr, "syncr status: %s\n", reply.status().ToString().c_str());
    return 1;
  }
  if (!reply->ok()) {
    std::fprintf(stderr, "syncr status: %s\n", reply->error().c_str());
    return 1;
  }
  if (json) {
    std::printf("%s\n", ToJson(reply->status()).c_str());
  } else {
    PrintStatus(reply->status());
  }
  return reply->status().in_sync() ? 0 : 1;
}

int CmdHistory(const std::string& config_flag, const std::string& path, bool json) {
  int code = 0;
  std::optional<LenientConfig> loaded = LoadForPath("history", config_flag, path, &code);
  if (!loaded) return code;
  const Config* config = &loaded->config;
  Result<std::unique_ptr<StateStore>> store = OpenStoreReadOnly(*config);
  if (!store.ok()) {
    std::fprintf(stderr, "syncr history: %s\n", store.status().ToString().c_str());
    return 1;
  }
  std::vector<Generation> gens = (*store)->Generations(path);
  wire::History history;
  history.set_path(EscapeName(path));
  std::optional<wire::Version> now = (*store)->GetFile(path);
  if (now) {
    *history.mutable_version() = *now;
    history.mutable_version()->clear_path();  // bytes: shown escaped in history.path
  }
  // Generation 1 is the newest content kept, which is what the path holds
  // only while it is a file with that content: not once it is deleted.
  const bool holds = now && now->kind() == wire::KIND_FILE;
  int n = 1;
  for (const Generation& g : gens) {
    wire::HistoryEntry* e = history.add_generations();
    e->set_generation(n++);
    e->set_time_ns(g.created_ns);
    e->set_size(g.size);
    e->set_hash(Hex(g.hash));
    e->set_origin(g.origin);
    e->set_conflict(g.conflict);
    *e->mutable_vv() = g.version.vv();
    e->set_current(e->generation() == 1 && holds && now->hash() == g.hash);
  }
  if (json) {
    std::printf("%s\n", ToJson(history).c_str());
    return 0;
  }
  if (gens.empty()) {
    std::printf("%s: no generations kept yet\n", EscapeName(path).c_str());
    return 0;
  }
  if (now && now->kind() == wire::KIND_DELETED) {
    std::printf(
        "%s was deleted at %s by %s (version %s); generation 1 is its last content:\n"
        "`syncr restore %s -g 1` brings it back on every node\n\n",
        EscapeName(path).c_str(), FormatTime(now->change_ns()).c_str(), now->origin().c_str(),
        ToString(now->vv()).c_str(), ShellWord(path).c_str());
  }
  std::printf("%-4s %-20s %10s  %-13s %-10s %-14s %s\n", "GEN", "TIME", "SIZE", "HASH", "ORIGIN",
              "VERSION", "NOTE");
  for (const wire::HistoryEntry& e : history.generations()) {
    std::printf("%-4d %-20s %10llu  %-13s %-10s %-14s %s\n", e.generation(),
                FormatTime(e.time_ns()).c_str(), static_cast<unsigned long long>(e.size()),
                e.hash().substr(0, 12).c_str(), e.origin().c_str(), ToString(e.vv()).c_str(),
                e.current()    ? "current"
                : e.conflict() ? "conflict loser"
                : (e.generation() == 1 && history.version().kind() == wire::KIND_DELETED)
                    ? "last content (deleted)"
                    : "");
  }
  return 0;
}

int CmdRestore(const std::string& config_flag, const std::string& path, int generation) {
  int code = 0;
  std::optional<Config> config = Load(config_flag, &code);
  if (!config) return code;
  if (!config->FindEntry(path)) {
    std::fprintf(stderr, "syncr restore: %s is not synced by %s\n", EscapeName(path).c_str(),
                 config->source.c_str());
    return 2;
  }
  Result<std::unique_ptr<StateStore>> store = OpenStoreReadOnly(*config);
  if (!store.ok()) {
    std::fprintf(stderr, "syncr restore: %s\n", store.status().ToString().c_str());
    return 1;
  }
  BackupStore backups(*config, PosixDisk(), **store);
  Result<std::string> content = backups.Content(path, generation);
  if (!content.ok()) {
    std::fprintf(stderr, "syncr restore: %s\n", content.status().ToString().c_str());
    return 1;
  }
  const Generation g = (*store)->Generations(path)[static_cast<size_t>(generation - 1)];
  WriteMeta meta;
  meta.mode = g.version.meta().mode() ? g.version.meta().mode() : 0644;
  meta.mtime_ns = WallNs();  // a restore is a new edit
  if (geteuid() == 0) {
    meta.uid = LookupUser(g.version.meta().user()).value_or(g.version.meta().uid());
    meta.gid = LookupGroup(g.version.meta().group()).value_or(g.version.meta().gid());
  }
  // Written in place, atomically; the daemon sees it like any edit and
  // replicates it. Its temp file carries the daemon's token, so the daemon
  // ignores it, and removes it at start should restore be killed; without
  // a token yet (the daemon never ran) the temp is this process's alone.
  if (Result<std::string> token = LoadTempToken(config->node.state_dir, /*create=*/false);
      token.ok()) {
    SetTempToken(std::move(*token));
  }
  if (Status s = PosixDisk().ReplaceFile(config->DiskPath(path), *content, meta); !s.ok()) {
    std::fprintf(stderr, "syncr restore: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("restored %s to generation %d (%zu bytes, %s from %s)\n", EscapeName(path).c_str(),
              generation, content->size(), Hex(g.hash).substr(0, 12).c_str(), g.origin.c_str());
  return 0;
}

// Writes `content` to a temp file and runs `diff -u` of it against the
// current file; exit 0 equal, 1 different (as diff), 2+ trouble.
int DiffAgainst(const Config& config, const std::string& path, const std::string& content,
                const std::string& label) {
  char temp[] = "/tmp/syncr-diff-XXXXXX";
  int fd = mkstemp(temp);
  if (fd < 0 || write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    std::fprintf(stderr, "syncr diff: cannot write a temp file in /tmp\n");
    if (fd >= 0) close(fd);
    return 2;
  }
  close(fd);
  SpawnOptions options;
  options.argv = {"diff",    "-u",
                  "--label", EscapeName(path) + " (" + label + ")",
                  "--label", EscapeName(path) + " (current)",
                  temp,      config.DiskPath(path)};
  options.stdout_fd = 1;
  options.new_process_group = false;
  Result<pid_t> pid = Spawn(options);
  int rc = pid.ok() ? WaitChild(*pid) : 2;
  unlink(temp);
  return rc;
}

int CmdDiff(const std::string& config_flag, const std::string& path, int generation,
            const std::string& peer) {
  int code = 0;
  std::optional<LenientConfig> loaded = LoadForPath("diff", config_flag, path, &code);
  if (!loaded) return code;
  const Config* config = &loaded->config;
  if (!peer.empty()) {
    if (!IsValidUtf8(peer)) {  // node names are text: the request could not carry it
      std::fprintf(stderr, "syncr diff: --peer %s is no node name of %s\n",
                   EscapeName(peer).c_str(), config->source.c_str());
      return 2;
    }
    wire::ControlRequest request;
    request.mutable_fetch()->set_path(path);
    request.mutable_fetch()->set_peer(peer);
    Result<wire::ControlReply> reply = SendControl(config->node.socket, request);
    if (!reply.ok() || !reply->ok()) {
      std::fprintf(stderr, "syncr diff: %s\n",
                   reply.ok() ? reply->error().c_str() : reply.status().ToString().c_str());
      return 2;
    }
    const wire::FetchReply& f = reply->fetch();
    if (!f.error().empty() || !f.found()) {
      std::fprintf(stderr, "syncr diff: %s has no copy of %s%s%s\n", EscapeName(peer).c_str(),
                   EscapeName(path).c_str(), f.error().empty() ? "" : ": ",
                   PrintableText(f.error()).c_str());
      return 2;
    }
    return DiffAgainst(*config, path, f.content(),
                       "on " + EscapeName(peer) + ", version " + ToString(f.version().vv()));
  }
  Result<std::unique_ptr<StateStore>> store = OpenStoreReadOnly(*config);
  if (!store.ok()) {
    std::fprintf(stderr, "syncr diff: %s\n", store.status().ToString().c_str());
    return 2;
  }
  BackupStore backups(*config, PosixDisk(), **store);
  Result<std::string> content = backups.Content(path, generation);
  if (!content.ok()) {
    std::fprintf(stderr, "syncr diff: %s\n", content.status().ToString().c_str());
    return 2;
  }
  return DiffAgainst(*config, path, *content, "generation " + std::to_string(generation));
}

int CmdResolve(const std::string& config_flag, const std::string& path, const std::string& take) {
  int code = 0;
  std::optional<Config> config = Load(config_flag, &code);
  if (!config) return code;
  if (!IsValidUtf8(take)) {  // node names are text: the request could not carry it
    std::fprintf(stderr, "syncr resolve: --take %s is no node name of %s\n",
                 EscapeName(take).c_str(), config->source.c_str());
    return 2;
  }
  wire::ControlRequest request;
  request.mutable_resolve()->set_path(path);
  request.mutable_resolve()->set_take(take);
  Result<wire::ControlReply> reply = SendControl(config->node.socket, request);
  if (!reply.ok()) {
    std::fprintf(stderr, "syncr resolve: %s\n", reply.status().ToString().c_str());
    return 1;
  }
  if (!reply->ok()) {
    std::fprintf(stderr, "syncr resolve: %s\n", reply->error().c_str());
    return 1;
  }
  std::printf("resolved the conflict on %s%s; the resolution replicates to every node\n",
              EscapeName(path).c_str(),
              take.empty() ? " (kept the current content)"
                           : (" (took the version from " + EscapeName(take) + ")").c_str());
  return 0;
}

int CmdLog(const std::string& config_flag, const std::string& path, int count) {
  int code = 0;
  std::optional<LenientConfig> loaded = LoadForReading(config_flag, &code);
  if (!loaded) return code;
  const Config* config = &loaded->config;
  Result<std::unique_ptr<StateStore>> store = OpenStoreReadOnly(*config);
  if (!store.ok()) {
    std::fprintf(stderr, "syncr log: %s\n", store.status().ToString().c_str());
    return 1;
  }
  std::vector<EventRecord> events = (*store)->Events(path, count);
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    // Safe already, except in rows an older syncr wrote.
    std::printf("%s %-5s %s\n", FormatTime(it->time_ns).c_str(), it->level.c_str(),
                SafeText(it->message).c_str());
  }
  return 0;
}

int CmdWait(const std::string& config_flag, const std::string& path, int timeout_s) {
  int code = 0;
  std::optional<LenientConfig> loaded = LoadForPath("wait", config_flag, path, &code);
  if (!loaded) return code;
  const Config* config = &loaded->config;
  wire::ControlRequest request;
  request.mutable_wait()->set_path(path);
  request.mutable_wait()->set_timeout_ms(static_cast<uint32_t>(timeout_s) * 1000);
  Result<wire::ControlReply> reply =
      SendControl(config->node.socket, request, timeout_s + kControlTimeoutS);
  if (!reply.ok()) {
    std::fprintf(stderr, "syncr wait: %s\n", reply.status().ToString().c_str());
    return 1;
  }
  if (!reply->has_wait()) {  // the request itself was refused
    std::fprintf(stderr, "syncr wait: %s\n", reply->error().c_str());
    return 1;
  }
  const wire::WaitReply& w = reply->wait();
  const SyncEntry* entry = config->FindEntry(path);
  for (const std::string& node : w.nodes()) std::printf("%s\n", node.c_str());
  if (reply->ok()) {
    std::printf("%s: version %s is on every node%s\n", EscapeName(path).c_str(),
                w.version().c_str(),
                entry && !entry->actions.empty() ? " and its actions succeeded" : "");
    return 0;
  }
  std::fprintf(
      stderr, "syncr wait: %s: version %s %s\n", EscapeName(path).c_str(), w.version().c_str(),
      w.failed()
          ? "failed on a node (above)"
          : ("is not on every node with its actions done after " + std::to_string(timeout_s) + " s")
                .c_str());
  return 1;
}

}  // namespace syncr
