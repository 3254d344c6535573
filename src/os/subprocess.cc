#include "os/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

extern char** environ;

namespace syncr {

Result<pid_t> Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return Status::Error("spawn: empty command");
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  for (const std::string& kv : options.extra_env) {
    const std::string key = kv.substr(0, kv.find('=') + 1);
    std::erase_if(env_strings, [&](const std::string& s) { return s.starts_with(key); });
    env_strings.push_back(kv);
  }
  std::vector<char*> argv;
  for (const std::string& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  // Prepared before fork: the child only calls async-signal-safe functions.
  pid_t pid = fork();
  if (pid < 0) return Status::Sys("fork", options.argv[0], errno);
  if (pid == 0) {
    if (options.new_process_group) setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGIO, SIG_DFL);
    int devnull = open("/dev/null", O_RDWR);
    int in = options.stdin_fd >= 0 ? options.stdin_fd : devnull;
    int out = options.stdout_fd >= 0 ? options.stdout_fd : devnull;
    dup2(in, 0);
    dup2(out, 1);
    if (options.stderr_fd >= 0) dup2(options.stderr_fd, 2);
    execvpe(argv[0], argv.data(), envp.data());
    const char msg[] = "syncr: cannot execute command\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  return pid;
}

std::vector<std::string> SplitWords(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace syncr
