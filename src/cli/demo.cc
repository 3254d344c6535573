// `syncr demo`: SPEC's embedded default. Two nodes in a temp folder, joined
// by the exec transport, shown replicating an edit, running its actions and
// keeping generations; then everything it started is stopped and removed.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "common/fd.h"
#include "common/util.h"
#include "config/config.h"
#include "net/local_socket.h"
#include "os/subprocess.h"
#include "store/state_store.h"

namespace syncr {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

// Polls `done` every 2 ms until it holds or `timeout_ms` passes.
bool WaitFor(const std::function<bool()>& done, int64_t timeout_ms) {
  const int64_t deadline = MonoMs() + timeout_ms;
  while (MonoMs() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return done();
}

bool Connected(const std::string& socket) {
  wire::ControlRequest request;
  request.mutable_status();
  Result<wire::ControlReply> reply = SendControl(socket, request);
  if (!reply.ok() || !reply->ok()) return false;
  for (const wire::PeerStatus& p : reply->status().peers()) {
    if (!p.connected()) return false;
  }
  return true;
}

struct DemoNode {
  std::string name;
  std::string dir;
  std::string config;
  std::string socket;
  std::string file;  // the demo file on this node's disk
  std::string actions_log;
  pid_t pid = -1;
};

}  // namespace

int CmdDemo(const std::string& self) {
  char tmpl[] = "/tmp/syncr-demo-XXXXXX";
  if (!mkdtemp(tmpl)) {
    std::perror("syncr demo: mkdtemp");
    return 1;
  }
  const std::string top = tmpl;
  const std::string synced = "/etc/demo/app.conf";
  DemoNode nodes[2];
  nodes[0].name = "alpha";
  nodes[1].name = "beta";
  for (DemoNode& n : nodes) {
    n.dir = top + "/" + n.name;
    n.config = n.dir + "/syncr.toml";
    n.socket = n.dir + "/syncr.sock";
    n.file = n.dir + "/root" + synced;
    n.actions_log = n.dir + "/actions.log";
    fs::create_directories(n.dir + "/root/etc/demo");
  }
  for (int i = 0; i < 2; ++i) {
    DemoNode& n = nodes[i];
    DemoNode& peer = nodes[1 - i];
    std::ostringstream toml;
    toml << "[node]\nname = \"" << n.name << "\"\nroot = \"" << n.dir << "/root\"\n"
         << "state_dir = \"" << n.dir << "/state\"\nsocket = \"" << n.socket << "\"\n\n"
         << "[[peer]]\nname = \"" << peer.name << "\"\nexec = \"" << self << " connect --socket "
         << peer.socket << "\"\n\n"
         << "[backup]\ngenerations = 6\n\n"
         << "[[sync]]\npath = \"" << synced << "\"\n"
         << "actions = [\"echo \\\"reload for $SYNCR_PATH on $SYNCR_NODE: $SYNCR_EVENT by "
            "$SYNCR_ORIGIN\\\" >> "
         << n.actions_log << "\"]\n";
    WriteAll(n.config, toml.str());
  }
  WriteAll(nodes[0].file, "# demo service\nport = 8080\n");

  std::printf("Syncr demo in %s: nodes alpha and beta, joined by the exec transport.\n",
              top.c_str());
  std::printf("Both sync %s (alpha has it, beta does not yet).\n\n", synced.c_str());
  bool ok = true;
  for (DemoNode& n : nodes) {
    SpawnOptions options;
    options.argv = {self, "daemon", "-c", n.config};
    UniqueFd log(
        open((n.dir + "/daemon.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    options.stderr_fd = log.get();
    Result<pid_t> pid = Spawn(options);
    if (!pid.ok()) {
      std::fprintf(stderr, "syncr demo: %s\n", pid.status().ToString().c_str());
      ok = false;
      break;
    }
    n.pid = *pid;
  }

  auto step = [&](const char* what, const std::function<bool()>& done) {
    if (!ok) return;
    if (!WaitFor(done, 10000)) {
      std::fprintf(stderr, "syncr demo: timed out waiting until %s\n", what);
      ok = false;
    }
  };
  step("both daemons are connected",
       [&] { return Connected(nodes[0].socket) && Connected(nodes[1].socket); });
  step("beta has the file", [&] { return ReadAll(nodes[1].file) == ReadAll(nodes[0].file); });
  if (ok) std::printf("1. Catch-up: beta received %s from alpha.\n", synced.c_str());

  const std::string edited = "# demo service\nport = 8081\n";
  int64_t start = MonoMs();
  if (ok) {
    // Save the way vim and sed -i do: a temp file renamed over the original.
    WriteAll(nodes[0].file + ".new", edited);
    fs::rename(nodes[0].file + ".new", nodes[0].file);
  }
  step("the edit reaches beta", [&] { return ReadAll(nodes[1].file) == edited; });
  if (ok) {
    std::printf("2. Edited port=8080 -> port=8081 on alpha: on beta after %lld ms.\n",
                static_cast<long long>(MonoMs() - start));
  }
  auto count_lines = [](const std::string& s) { return std::count(s.begin(), s.end(), '\n'); };
  step("the actions ran on both nodes", [&] {
    // alpha: the edit (what a daemon finds at its first start is the
    // baseline, not a change); beta: the file's creation, then the edit.
    return count_lines(ReadAll(nodes[0].actions_log)) >= 1 &&
           count_lines(ReadAll(nodes[1].actions_log)) >= 2;
  });
  if (ok) {
    std::printf("3. The file's action ran on both nodes:\n");
    for (DemoNode& n : nodes) {
      std::istringstream lines(ReadAll(n.actions_log));
      for (std::string line; std::getline(lines, line);) std::printf("     %s\n", line.c_str());
    }
    std::printf("4. Generations kept on beta (syncr history %s):\n", synced.c_str());
    Result<std::unique_ptr<StateStore>> store = StateStore::Open(nodes[1].dir + "/state", true);
    if (store.ok()) {
      int g = 1;
      for (const Generation& gen : (*store)->Generations(synced)) {
        std::printf("     generation %d: %llu bytes, %s, from %s\n", g++,
                    static_cast<unsigned long long>(gen.size), Hex(gen.hash).substr(0, 12).c_str(),
                    gen.origin.c_str());
      }
    }
  }

  for (DemoNode& n : nodes) {
    if (n.pid > 0) kill(n.pid, SIGTERM);
  }
  for (DemoNode& n : nodes) {
    if (n.pid > 0) waitpid(n.pid, nullptr, 0);
  }
  if (!ok) {
    for (DemoNode& n : nodes) {
      std::fprintf(stderr, "--- %s daemon log:\n%s", n.name.c_str(),
                   ReadAll(n.dir + "/daemon.log").c_str());
    }
  }
  std::error_code ec;
  fs::remove_all(top, ec);
  std::printf(
      ok ? "\nDemo done; stopped both daemons and removed %s.\n" : "\nDemo FAILED; removed %s.\n",
      top.c_str());
  return ok ? 0 : 1;
}

}  // namespace syncr
