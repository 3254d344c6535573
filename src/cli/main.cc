// syncr: the one binary. Parses the command line (CLI11) and hands off to
// the subcommand in cli/commands.h or the daemon.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <climits>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/import_legacy.h"

namespace {

std::string SelfPath(const char* argv0) {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return argv0;
  buf[n] = '\0';
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Syncr keeps chosen files identical across the nodes of a cluster the moment "
      "they change, and runs their actions on every node."};
  app.set_version_flag("--version", std::string("syncr ") + SYNCR_VERSION);
  app.require_subcommand(1);

  std::string config;
  std::string socket;
  std::string path;
  bool json = false;
  int generation = 0;
  int count = 50;
  const char* config_help = "config file (default: $SYNCR_CONFIG, else /etc/syncr/syncr.toml)";

  std::string log_level;
  auto* daemon = app.add_subcommand("daemon", "run this node in the foreground");
  daemon->add_option("-c,--config", config, config_help);
  daemon
      ->add_option("--log-level", log_level,
                   "trace, debug, info, warn or error (overrides [node] log_level)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  auto* connect = app.add_subcommand(
      "connect", "bridge stdin/stdout to the local daemon (what a peer runs through ssh)");
  connect->add_option("-c,--config", config, config_help);
  connect->add_option("--socket", socket, "the daemon's socket (default: from the config)");

  auto* status = app.add_subcommand("status", "peers and paths; exit 0 when all is in sync");
  status->add_option("-c,--config", config, config_help);
  status->add_flag("--json", json, "print the status as JSON (docs/status.md)");

  auto* history = app.add_subcommand("history", "the kept generations of PATH, newest first");
  history->add_option("path", path, "a synced path")->required();
  history->add_option("-c,--config", config, config_help);
  history->add_flag("--json", json, "print as JSON");

  auto* restore = app.add_subcommand("restore", "bring generation N of PATH back");
  restore->add_option("path", path, "a synced path")->required();
  restore->add_option("--generation,-g", generation, "generation number (1 = current)")
      ->required()
      ->check(CLI::PositiveNumber);
  restore->add_option("-c,--config", config, config_help);

  auto* diff =
      app.add_subcommand("diff", "unified diff of PATH against a kept generation or a peer's copy");
  diff->add_option("path", path, "a synced path")->required();
  diff->add_option("--generation,-g", generation, "generation to compare with")
      ->default_val(2)
      ->check(CLI::PositiveNumber);
  std::string diff_peer;
  diff->add_option("--peer", diff_peer, "compare with NODE's copy, fetched over the channel")
      ->excludes("--generation");
  diff->add_option("-c,--config", config, config_help);

  auto* log = app.add_subcommand("log", "recent events and action runs");
  log->add_option("path", path, "only events of this path");
  log->add_option("-n", count, "how many")->check(CLI::PositiveNumber);
  log->add_option("-c,--config", config, config_help);

  std::string take;
  auto* resolve = app.add_subcommand("resolve", "acknowledge the conflict on PATH");
  resolve->add_option("path", path, "a synced path in conflict")->required();
  resolve->add_option("--take", take, "put back the losing version that came from NODE");
  resolve->add_option("-c,--config", config, config_help);

  int wait_timeout = 60;
  auto* wait = app.add_subcommand(
      "wait", "until every node holds PATH's current version and its actions succeeded");
  wait->add_option("path", path, "a synced path (a directory: everything below it)")->required();
  wait->add_option("--timeout", wait_timeout, "give up after S seconds (exit 1)")
      ->default_val(60)
      ->check(CLI::Range(1, 3600));
  wait->add_option("-c,--config", config, config_help);

  auto* check = app.add_subcommand("check", "validate the config; exit 2 naming file:line");
  check->add_option("-c,--config", config, config_help);

  std::string incrontab;
  std::string ini;
  std::vector<std::string> peer_specs;
  auto* import_legacy = app.add_subcommand(
      "import-legacy", "print a config (TOML) equivalent to a legacy incrontab + syncr.ini");
  import_legacy->add_option("--incrontab", incrontab, "the legacy incrontab (`incrontab -l`)")
      ->required();
  import_legacy->add_option("--ini", ini, "the legacy syncr.ini (default: none)");
  import_legacy->add_option("--peer", peer_specs,
                            "NAME=DEST: a peer reached by `ssh DEST` (repeat for more peers)");

  auto* demo = app.add_subcommand("demo", "a two-node cluster in a temp folder, shown working");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  if (*daemon) return syncr::CmdDaemon(config, log_level);
  if (*connect) return syncr::CmdConnect(config, socket);
  if (*status) return syncr::CmdStatus(config, json);
  if (*history) return syncr::CmdHistory(config, path, json);
  if (*restore) return syncr::CmdRestore(config, path, generation);
  if (*diff) return syncr::CmdDiff(config, path, generation, diff_peer);
  if (*log) return syncr::CmdLog(config, path, count);
  if (*check) return syncr::CmdCheck(config);
  if (*resolve) return syncr::CmdResolve(config, path, take);
  if (*wait) return syncr::CmdWait(config, path, wait_timeout);
  if (*import_legacy) return syncr::CmdImportLegacy(incrontab, ini, peer_specs);
  if (*demo) return syncr::CmdDemo(SelfPath(argv[0]));
  return 2;
}
