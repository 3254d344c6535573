#include "config/config.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <sys/un.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <string_view>
#include <utility>

#include "common/util.h"

namespace syncr {
namespace {

constexpr char kDefaultConfigPath[] = "/etc/syncr/syncr.toml";
constexpr int64_t kMaxSettleMs = 10000;
constexpr int64_t kMaxGenerations = 1000;
constexpr int64_t kMaxTimeoutS = 24 * 3600;
constexpr int64_t kMaxHandshakeMs = 3600 * 1000;
// One file travels in one protobuf frame, and protobuf messages must stay
// below 2 GiB; 1 GiB leaves room for the rest of the frame.
constexpr int64_t kMaxFileBytes = int64_t{1} << 30;

// ---------------------------------------------------------------------------
// Paths (lexical only: the config module never looks at the disk).

/// Why `path` is not an absolute, normalised path, or "" if it is one.
/// "/" itself is accepted only when `allow_slash`.
std::string PathProblem(const std::string& path, bool allow_slash) {
  if (path.empty()) return "must not be empty";
  if (path[0] != '/') return "must be absolute";
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f) return "must not contain control characters (NUL, newline, ...)";
  }
  if (path == "/") return allow_slash ? "" : "must not be '/' itself";
  if (path.back() == '/') return "must not end with '/'";
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string_view part(path.data() + start, end - start);
    if (part.empty()) return "must not contain '//'";
    if (part == "." || part == "..") return "must not contain '.' or '..' components";
    start = end + 1;
  }
  return "";
}

/// True if `inner` is `outer` or lies below it (both normalised, absolute).
bool IsSameOrInside(const std::string& inner, const std::string& outer) {
  if (outer == "/") return true;
  if (inner == outer) return true;
  return inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
         inner[outer.size()] == '/';
}

std::string HostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

/// "'/etc/nginx' (line 12)", for messages that name two entries.
std::string Where(const SyncEntry& entry) {
  return "'" + entry.path + "' (line " + std::to_string(entry.line) + ")";
}

// ---------------------------------------------------------------------------
// TOML helpers.

int LineOf(const toml::node& node) { return static_cast<int>(node.source().begin.line); }
int LineOf(const toml::key& key) { return static_cast<int>(key.source().begin.line); }

/// The line of `key`'s value in `t`, or of `t` itself when the key is absent.
int LineOf(const toml::table& t, std::string_view key) {
  const toml::node* node = t.get(key);
  return LineOf(node != nullptr ? *node : t);
}

/// "a string", "an integer", ... for "expected X, got Y" messages.
std::string_view TypeWithArticle(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

/// Collects "SOURCE:LINE: problem" messages while walking one document, so
/// that `syncr check` can show every problem at once.
class ConfigParser {
 public:
  explicit ConfigParser(std::string source) : source_(std::move(source)) {}

  Config Parse(const toml::table& doc);
  bool failed() const { return !errors_.empty(); }
  std::string ErrorText();

 private:
  void Fail(int line, std::string problem);

  // Each Get* leaves *out untouched when the key is absent; a present key of
  // the wrong type or out of range is reported and yields false.
  bool CheckType(const toml::node& node, toml::node_type want, std::string_view what);
  bool GetString(const toml::table& t, std::string_view key, std::string_view section,
                 std::string* out);
  bool GetInt(const toml::table& t, std::string_view key, std::string_view section, int64_t min,
              int64_t max, int64_t* out);
  bool GetBool(const toml::table& t, std::string_view key, std::string_view section, bool* out);
  bool GetStrings(const toml::table& t, std::string_view key, std::string_view section,
                  std::vector<std::string>* out);
  void CheckKeys(const toml::table& t, std::string_view section,
                 std::initializer_list<std::string_view> allowed);
  void CheckPath(const toml::table& t, std::string_view key, std::string_view section,
                 const std::string& value, bool allow_slash);
  const toml::table* Table(const toml::table& doc, std::string_view key);
  const toml::array* TableArray(const toml::table& doc, std::string_view key);

  void ParseNode(const toml::table& doc, NodeConfig* node);
  void ParseSocket(const toml::table& t, NodeConfig* node);
  void ParsePeers(const toml::table& doc, std::vector<PeerConfig>* peers);
  void ParsePeer(const toml::table& t, PeerConfig* peer);
  void ParseBackup(const toml::table& doc, BackupConfig* backup);
  void ParseLimits(const toml::table& doc, LimitsConfig* limits);
  void ParseSyncs(const toml::table& doc, std::vector<SyncEntry>* entries);
  void ParseSync(const toml::table& t, SyncEntry* entry);
  bool default_beside_ = false;  ///< [backup] beside: each entry's default
  void CheckExcludes(const toml::table& t, const std::vector<std::string>& globs);
  void CheckActions(const toml::table& t, const std::vector<std::string>& actions);

  void ValidatePeers(const Config& config, int node_name_line);
  void ValidateSyncPaths(const Config& config);
  void ValidateOverlaps(const std::vector<SyncEntry>& entries);
  void ValidateStatePlacement(const Config& config, const SyncEntry& entry);

  std::string source_;
  std::vector<std::pair<int, std::string>> errors_;
  std::vector<bool> sync_path_ok_;  // per entry: passed PathProblem
};

void ConfigParser::Fail(int line, std::string problem) {
  errors_.emplace_back(line, std::move(problem));
}

std::string ConfigParser::ErrorText() {
  // toml++ iterates tables by key, not by line: sort so the file reads top down.
  std::stable_sort(errors_.begin(), errors_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string text;
  for (const auto& [line, problem] : errors_) {
    if (!text.empty()) text += '\n';
    text += source_;
    if (line > 0) text += ":" + std::to_string(line);
    text += ": " + problem;
  }
  return text;
}

bool ConfigParser::CheckType(const toml::node& node, toml::node_type want, std::string_view what) {
  if (node.type() == want) return true;
  Fail(LineOf(node), std::string(what) + ": expected " + std::string(TypeWithArticle(want)) +
                         ", got " + std::string(TypeWithArticle(node.type())));
  return false;
}

bool ConfigParser::GetString(const toml::table& t, std::string_view key, std::string_view section,
                             std::string* out) {
  const toml::node* node = t.get(key);
  if (node == nullptr) return true;
  std::string what = std::string(section) + " " + std::string(key);
  if (!CheckType(*node, toml::node_type::string, what)) return false;
  *out = node->as_string()->get();
  return true;
}

bool ConfigParser::GetInt(const toml::table& t, std::string_view key, std::string_view section,
                          int64_t min, int64_t max, int64_t* out) {
  const toml::node* node = t.get(key);
  if (node == nullptr) return true;
  std::string what = std::string(section) + " " + std::string(key);
  if (!CheckType(*node, toml::node_type::integer, what)) return false;
  int64_t value = node->as_integer()->get();
  if (value < min || value > max) {
    Fail(LineOf(*node), what + " = " + std::to_string(value) + ": must be between " +
                            std::to_string(min) + " and " + std::to_string(max));
    return false;
  }
  *out = value;
  return true;
}

bool ConfigParser::GetBool(const toml::table& t, std::string_view key, std::string_view section,
                           bool* out) {
  const toml::node* node = t.get(key);
  if (node == nullptr) return true;
  std::string what = std::string(section) + " " + std::string(key);
  if (!CheckType(*node, toml::node_type::boolean, what)) return false;
  *out = node->as_boolean()->get();
  return true;
}

bool ConfigParser::GetStrings(const toml::table& t, std::string_view key, std::string_view section,
                              std::vector<std::string>* out) {
  const toml::node* node = t.get(key);
  if (node == nullptr) return true;
  std::string what = std::string(section) + " " + std::string(key);
  if (!CheckType(*node, toml::node_type::array, what)) return false;
  bool ok = true;
  std::vector<std::string> values;
  for (const toml::node& item : *node->as_array()) {
    std::string item_what = what + "[" + std::to_string(values.size()) + "]";
    if (!CheckType(item, toml::node_type::string, item_what)) {
      ok = false;
      values.emplace_back();
      continue;
    }
    values.push_back(item.as_string()->get());
  }
  if (ok) *out = std::move(values);
  return ok;
}

void ConfigParser::CheckKeys(const toml::table& t, std::string_view section,
                             std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : t) {
    if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
    std::string name(key.str());
    if (!section.empty()) {
      Fail(LineOf(key), "unknown key '" + name + "' in " + std::string(section));
    } else if (value.is_table()) {
      Fail(LineOf(key), "unknown table [" + name + "]");
    } else if (value.is_array_of_tables()) {
      Fail(LineOf(key), "unknown table [[" + name + "]]");
    } else {
      Fail(LineOf(key), "unknown key '" + name + "'");
    }
  }
}

void ConfigParser::CheckPath(const toml::table& t, std::string_view key, std::string_view section,
                             const std::string& value, bool allow_slash) {
  std::string problem = PathProblem(value, allow_slash);
  if (problem.empty()) return;
  Fail(LineOf(t, key),
       std::string(section) + " " + std::string(key) + " '" + value + "' " + problem);
}

const toml::table* ConfigParser::Table(const toml::table& doc, std::string_view key) {
  const toml::node* node = doc.get(key);
  if (node == nullptr) return nullptr;
  std::string what = "[" + std::string(key) + "]";
  if (!CheckType(*node, toml::node_type::table, what)) return nullptr;
  return node->as_table();
}

const toml::array* ConfigParser::TableArray(const toml::table& doc, std::string_view key) {
  const toml::node* node = doc.get(key);
  if (node == nullptr) return nullptr;
  std::string name(key);
  if (node->is_array() && node->as_array()->empty()) return nullptr;  // `peer = []`
  if (!node->is_array_of_tables()) {
    Fail(LineOf(*node), name + ": expected [[" + name + "]] entries (an array of tables), got " +
                            std::string(TypeWithArticle(node->type())));
    return nullptr;
  }
  return node->as_array();
}

// ---------------------------------------------------------------------------
// Sections.

Config ConfigParser::Parse(const toml::table& doc) {
  Config config;
  config.source = source_;
  CheckKeys(doc, "", {"node", "peer", "backup", "limits", "metadata", "sync"});
  ParseNode(doc, &config.node);
  ParsePeers(doc, &config.peers);
  ParseBackup(doc, &config.backup);
  default_beside_ = config.backup.beside;
  ParseLimits(doc, &config.limits);
  if (const toml::table* t = Table(doc, "metadata")) {
    CheckKeys(*t, "[metadata]", {"acls", "xattrs"});
    GetBool(*t, "acls", "[metadata]", &config.metadata.acls);
    GetBool(*t, "xattrs", "[metadata]", &config.metadata.xattrs);
  }
  ParseSyncs(doc, &config.sync);

  int node_name_line = 0;
  if (const toml::table* t = doc["node"].as_table()) {
    if (const toml::node* name = t->get("name")) node_name_line = LineOf(*name);
  }
  ValidatePeers(config, node_name_line);
  ValidateSyncPaths(config);
  return config;
}

void ConfigParser::ParseNode(const toml::table& doc, NodeConfig* node) {
  const toml::table* t = Table(doc, "node");
  if (t == nullptr || !t->contains("name")) {
    node->name = HostName();
    if (node->name.empty()) {
      Fail(t != nullptr ? LineOf(*t) : 0, "cannot determine the host name; set [node] name");
    }
  }
  if (t == nullptr) return;
  constexpr std::string_view kSection = "[node]";
  CheckKeys(*t, kSection, {"name", "root", "state_dir", "socket", "settle_ms", "log_level"});

  if (t->contains("name") && GetString(*t, "name", kSection, &node->name) && node->name.empty()) {
    Fail(LineOf(*t, "name"), "[node] name must not be empty");
  }
  if (GetString(*t, "root", kSection, &node->root)) {
    CheckPath(*t, "root", kSection, node->root, /*allow_slash=*/true);
  }
  if (GetString(*t, "state_dir", kSection, &node->state_dir)) {
    CheckPath(*t, "state_dir", kSection, node->state_dir, /*allow_slash=*/false);
  }
  ParseSocket(*t, node);

  int64_t settle_ms = node->settle_ms;
  if (GetInt(*t, "settle_ms", kSection, 0, kMaxSettleMs, &settle_ms)) {
    node->settle_ms = static_cast<int>(settle_ms);
  }
  if (GetString(*t, "log_level", kSection, &node->log_level)) {
    static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error"};
    if (std::find(std::begin(kLevels), std::end(kLevels), node->log_level) == std::end(kLevels)) {
      Fail(LineOf(*t, "log_level"), "[node] log_level '" + node->log_level +
                                        "' must be one of trace, debug, info, warn, error");
    }
  }
}

void ConfigParser::ParseSocket(const toml::table& t, NodeConfig* node) {
  constexpr std::string_view kSection = "[node]";
  if (!GetString(t, "socket", kSection, &node->socket)) return;
  CheckPath(t, "socket", kSection, node->socket, /*allow_slash=*/false);
  // bind() cannot take a longer path; say so now rather than at start-up.
  constexpr size_t kMaxSocketPath = sizeof(sockaddr_un{}.sun_path) - 1;
  if (node->socket.size() > kMaxSocketPath) {
    Fail(LineOf(t, "socket"),
         "[node] socket '" + node->socket + "' is " + std::to_string(node->socket.size()) +
             " bytes; a unix socket path may have at most " + std::to_string(kMaxSocketPath));
  }
}

void ConfigParser::ParsePeers(const toml::table& doc, std::vector<PeerConfig>* peers) {
  const toml::array* array = TableArray(doc, "peer");
  if (array == nullptr) return;
  for (const toml::node& item : *array) {
    PeerConfig peer;
    peer.line = LineOf(item);
    ParsePeer(*item.as_table(), &peer);
    peers->push_back(std::move(peer));
  }
}

void ConfigParser::ParsePeer(const toml::table& t, PeerConfig* peer) {
  constexpr std::string_view kSection = "[[peer]]";
  CheckKeys(t, kSection, {"name", "ssh", "exec"});
  if (GetString(t, "name", kSection, &peer->name) && peer->name.empty()) {
    Fail(peer->line, "[[peer]] needs a name");
  }
  bool ssh_ok = GetString(t, "ssh", kSection, &peer->ssh);
  bool exec_ok = GetString(t, "exec", kSection, &peer->exec);
  if (!ssh_ok || !exec_ok) return;
  std::string label = "peer '" + peer->name + "'";
  if (t.contains("ssh") == t.contains("exec")) {
    Fail(peer->line, label + " needs exactly one of ssh or exec");
  } else if (t.contains("ssh") && peer->ssh.empty()) {
    Fail(LineOf(t, "ssh"), label + " ssh must not be empty");
  } else if (t.contains("exec") && peer->exec.empty()) {
    Fail(LineOf(t, "exec"), label + " exec must not be empty");
  } else if (!peer->ssh.empty()) {
    // Words before the last are ssh options (`-F /etc/syncr/ssh_config host`);
    // the last is the destination and must not look like an option.
    const size_t last = peer->ssh.find_last_of(" \t");
    const std::string dest = last == std::string::npos ? peer->ssh : peer->ssh.substr(last + 1);
    if (dest.empty() || dest[0] == '-') {
      Fail(LineOf(t, "ssh"), label + " ssh '" + peer->ssh + "' must end with the destination");
    }
  }
}

void ConfigParser::ParseBackup(const toml::table& doc, BackupConfig* backup) {
  const toml::table* t = Table(doc, "backup");
  if (t == nullptr) return;
  constexpr std::string_view kSection = "[backup]";
  CheckKeys(*t, kSection, {"generations", "beside"});
  int64_t generations = backup->generations;
  if (GetInt(*t, "generations", kSection, 1, kMaxGenerations, &generations)) {
    backup->generations = static_cast<int>(generations);
  }
  GetBool(*t, "beside", kSection, &backup->beside);
}

void ConfigParser::ParseLimits(const toml::table& doc, LimitsConfig* limits) {
  const toml::table* t = Table(doc, "limits");
  if (t == nullptr) return;
  constexpr std::string_view kSection = "[limits]";
  CheckKeys(*t, kSection, {"max_file_bytes", "window_bytes", "handshake_timeout_ms"});
  int64_t value = static_cast<int64_t>(limits->max_file_bytes);
  if (GetInt(*t, "max_file_bytes", kSection, 1, kMaxFileBytes, &value)) {
    limits->max_file_bytes = static_cast<uint64_t>(value);
  }
  value = static_cast<int64_t>(limits->window_bytes);
  if (GetInt(*t, "window_bytes", kSection, 1, INT64_MAX, &value)) {
    limits->window_bytes = static_cast<uint64_t>(value);
  }
  value = limits->handshake_timeout_ms;
  if (GetInt(*t, "handshake_timeout_ms", kSection, 1, kMaxHandshakeMs, &value)) {
    limits->handshake_timeout_ms = static_cast<int>(value);
  }
}

void ConfigParser::ParseSyncs(const toml::table& doc, std::vector<SyncEntry>* entries) {
  const toml::array* array = TableArray(doc, "sync");
  if (array == nullptr) return;
  for (const toml::node& item : *array) {
    SyncEntry entry;
    entry.line = LineOf(item);
    ParseSync(*item.as_table(), &entry);
    entries->push_back(std::move(entry));
  }
}

void ConfigParser::ParseSync(const toml::table& t, SyncEntry* entry) {
  constexpr std::string_view kSection = "[[sync]]";
  CheckKeys(t, kSection, {"path", "exclude", "actions", "timeout", "stop_on_error", "beside"});
  bool path_ok = false;
  if (!t.contains("path")) {
    Fail(entry->line, "[[sync]] needs a path");
  } else if (GetString(t, "path", kSection, &entry->path)) {
    std::string problem = PathProblem(entry->path, /*allow_slash=*/false);
    if (!problem.empty()) {
      Fail(LineOf(t, "path"), "sync path '" + entry->path + "' " + problem);
    }
    path_ok = problem.empty();
  }
  sync_path_ok_.push_back(path_ok);

  std::vector<std::string> globs;
  if (GetStrings(t, "exclude", kSection, &globs)) CheckExcludes(t, globs);
  entry->exclude = DefaultExcludes();
  entry->exclude.insert(entry->exclude.end(), globs.begin(), globs.end());

  if (GetStrings(t, "actions", kSection, &entry->actions)) CheckActions(t, entry->actions);
  int64_t timeout = entry->timeout_s;
  if (GetInt(t, "timeout", kSection, 1, kMaxTimeoutS, &timeout)) {
    entry->timeout_s = static_cast<int>(timeout);
  }
  GetBool(t, "stop_on_error", kSection, &entry->stop_on_error);
  entry->beside = default_beside_;
  GetBool(t, "beside", kSection, &entry->beside);
}

void ConfigParser::CheckExcludes(const toml::table& t, const std::vector<std::string>& globs) {
  int line = LineOf(t, "exclude");
  for (const std::string& glob : globs) {
    if (glob.empty()) {
      Fail(line, "[[sync]] exclude: a glob must not be empty");
    } else if (glob[0] == '/') {
      Fail(line, "[[sync]] exclude '" + glob +
                     "': globs are relative to the entry and must not start with '/'");
    }
  }
}

void ConfigParser::CheckActions(const toml::table& t, const std::vector<std::string>& actions) {
  for (size_t i = 0; i < actions.size(); ++i) {
    if (actions[i].find_first_not_of(" \t") != std::string::npos) continue;
    Fail(LineOf(t, "actions"),
         "[[sync]] actions[" + std::to_string(i) + "]: a command must not be empty");
  }
}

// ---------------------------------------------------------------------------
// Rules across entries.

void ConfigParser::ValidatePeers(const Config& config, int node_name_line) {
  const std::vector<PeerConfig>& peers = config.peers;
  for (size_t i = 0; i < peers.size(); ++i) {
    const PeerConfig& peer = peers[i];
    if (peer.name.empty()) continue;
    if (peer.name == config.node.name) {
      std::string where = node_name_line > 0 ? "[node] name, line " + std::to_string(node_name_line)
                                             : "the host name; set [node] name";
      Fail(peer.line, "peer '" + peer.name + "' has this node's own name (" + where + ")");
    }
    for (size_t j = 0; j < i; ++j) {
      if (peers[j].name != peer.name) continue;
      Fail(peer.line, "duplicate peer '" + peer.name + "' (first at line " +
                          std::to_string(peers[j].line) + ")");
      break;
    }
  }
}

void ConfigParser::ValidateSyncPaths(const Config& config) {
  ValidateOverlaps(config.sync);
  bool node_paths_ok = PathProblem(config.node.root, true).empty() &&
                       PathProblem(config.node.state_dir, false).empty() &&
                       PathProblem(config.node.socket, false).empty();
  if (!node_paths_ok) return;  // already reported; lexical checks would mislead
  for (size_t i = 0; i < config.sync.size(); ++i) {
    if (sync_path_ok_[i]) ValidateStatePlacement(config, config.sync[i]);
  }
}

void ConfigParser::ValidateOverlaps(const std::vector<SyncEntry>& entries) {
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!sync_path_ok_[i]) continue;
    const SyncEntry& entry = entries[i];
    for (size_t j = 0; j < i; ++j) {
      if (!sync_path_ok_[j]) continue;
      const SyncEntry& earlier = entries[j];
      if (entry.path == earlier.path) {
        Fail(entry.line, "duplicate sync path '" + entry.path + "' (first at line " +
                             std::to_string(earlier.line) + ")");
      } else if (IsSameOrInside(entry.path, earlier.path)) {
        Fail(entry.line, "sync path " + Where(entry) + " is inside " + Where(earlier) +
                             "; overlapping entries are not allowed");
      } else if (IsSameOrInside(earlier.path, entry.path)) {
        Fail(entry.line, "sync path " + Where(entry) + " contains " + Where(earlier) +
                             "; overlapping entries are not allowed");
      } else {
        continue;
      }
      break;  // one message per entry is enough
    }
  }
}

void ConfigParser::ValidateStatePlacement(const Config& config, const SyncEntry& entry) {
  const NodeConfig& node = config.node;
  std::string disk = config.DiskPath(entry.path);
  std::string label = "sync path '" + entry.path + "'";
  if (disk != entry.path) label += " (on disk " + disk + ")";
  if (IsSameOrInside(node.state_dir, disk)) {
    Fail(entry.line, label + " contains the state_dir " + node.state_dir +
                         "; syncr must not sync its own state");
  } else if (IsSameOrInside(disk, node.state_dir)) {
    Fail(entry.line, label + " is inside the state_dir " + node.state_dir +
                         "; syncr must not sync its own state");
  } else if (IsSameOrInside(node.socket, disk)) {
    Fail(entry.line,
         label + " contains the socket " + node.socket + "; syncr must not sync its own socket");
  }
}

/// Parses `text` into `doc`; on a syntax error, its line goes to `*error_line`.
Status ParseDocument(const std::string& text, const std::string& source, toml::table* doc,
                     int* error_line = nullptr) {
  // toml++ reports syntax errors by exception (or by parse_result when built
  // without exceptions); neither may leave this module.
  auto failed = [&](const toml::parse_error& err) {
    const int line = static_cast<int>(err.source().begin.line);
    if (error_line != nullptr) *error_line = line;
    return Status::Error(source + ":" + std::to_string(line) + ": " +
                         std::string(err.description()));
  };
#if TOML_EXCEPTIONS
  try {
    *doc = toml::parse(std::string_view(text), std::string_view(source));
  } catch (const toml::parse_error& err) {
    return failed(err);
  }
#else
  toml::parse_result result = toml::parse(std::string_view(text), std::string_view(source));
  if (!result) return failed(result.error());
  *doc = std::move(result).table();
#endif
  return Status();
}

/// The document made of the longest run of whole lines, from the top, that
/// ends before a syntax error and parses: a file being edited usually breaks
/// below its [node] table, which is what a lenient reader needs.
toml::table ParseLinesAboveErrors(const std::string& text, const std::string& source) {
  std::string prefix = text;
  toml::table doc;
  int bad_line = 0;
  while (!ParseDocument(prefix, source, &doc, &bad_line).ok()) {
    size_t cut = 0;  // start of line `bad_line`
    for (int line = 1; line < bad_line && cut < prefix.size(); ++line) {
      const size_t newline = prefix.find('\n', cut);
      cut = newline == std::string::npos ? prefix.size() : newline + 1;
    }
    if (cut >= prefix.size()) {
      // The error is reported at the end: drop the last line and try again.
      const size_t last = prefix.find_last_of('\n', prefix.size() >= 2 ? prefix.size() - 2 : 0);
      cut = last == std::string::npos ? 0 : last + 1;
    }
    if (cut == 0) return toml::table();
    prefix.resize(cut);
  }
  return doc;
}

std::string Plural(size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

std::string DescribeEntry(const SyncEntry& entry) {
  std::vector<std::string> parts;
  if (!entry.actions.empty()) parts.push_back(Plural(entry.actions.size(), "action", "actions"));
  size_t own_excludes =
      entry.exclude.size() - std::min(entry.exclude.size(), DefaultExcludes().size());
  if (own_excludes > 0) parts.push_back(Plural(own_excludes, "exclude", "excludes"));
  if (parts.empty()) return entry.path;
  std::string text = entry.path + " (";
  for (size_t i = 0; i < parts.size(); ++i) text += (i ? ", " : "") + parts[i];
  return text + ")";
}

}  // namespace

// ---------------------------------------------------------------------------
// Public API.

const SyncEntry* Config::FindEntry(const std::string& path) const {
  for (const SyncEntry& entry : sync) {
    if (path == entry.path) return &entry;
    if (path.size() > entry.path.size() && path.compare(0, entry.path.size(), entry.path) == 0 &&
        path[entry.path.size()] == '/') {
      return &entry;
    }
  }
  return nullptr;
}

std::string Config::DiskPath(const std::string& path) const {
  std::string prefix = node.root;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (prefix.empty()) return path;
  if (path.empty() || path[0] != '/') return prefix + "/" + path;
  return prefix + path;
}

const PeerConfig* Config::FindPeer(const std::string& name) const {
  for (const PeerConfig& peer : peers) {
    if (peer.name == name) return &peer;
  }
  return nullptr;
}

Result<Config> ParseConfig(const std::string& text, const std::string& source) {
  toml::table doc;
  Status parsed = ParseDocument(text, source, &doc);
  if (!parsed.ok()) return parsed;
  ConfigParser parser(source);
  Config config = parser.Parse(doc);
  if (parser.failed()) return Status::Error(parser.ErrorText());
  return config;
}

Result<Config> LoadConfig(const std::string& path) {
  Result<std::string> text = ReadWholeFile("config", path);
  if (!text.ok()) return text.status();
  return ParseConfig(*text, path);
}

LenientConfig ParseConfigLeniently(const std::string& text, const std::string& source) {
  Result<Config> strict = ParseConfig(text, source);
  if (strict.ok()) return LenientConfig{std::move(*strict), ""};
  // The validating parser leaves every key it cannot accept at its default
  // and sets the others: exactly "every value of the right type".
  ConfigParser parser(source);
  return LenientConfig{parser.Parse(ParseLinesAboveErrors(text, source)),
                       strict.status().ToString()};
}

Result<LenientConfig> LoadConfigLeniently(const std::string& path) {
  Result<std::string> text = ReadWholeFile("config", path);
  if (!text.ok()) return text.status();
  return ParseConfigLeniently(*text, path);
}

std::string ResolveConfigPath(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("SYNCR_CONFIG");
  if (env != nullptr && env[0] != '\0') return env;
  return kDefaultConfigPath;
}

const std::vector<std::string>& DefaultExcludes() {
  // Editor swap, backup and lock files; "4913" is vim's write-permission probe.
  static const std::vector<std::string> kDefaults = {"*.swp", "*.swx", "*~", ".#*", "4913"};
  return kDefaults;
}

bool IsExcluded(const std::vector<std::string>& globs, const std::string& relpath) {
  size_t slash = relpath.rfind('/');
  std::string name = slash == std::string::npos ? relpath : relpath.substr(slash + 1);
  for (const std::string& glob : globs) {
    bool has_slash = glob.find('/') != std::string::npos;
    const std::string& subject = has_slash ? relpath : name;
    if (fnmatch(glob.c_str(), subject.c_str(), has_slash ? FNM_PATHNAME : 0) == 0) return true;
  }
  return false;
}

std::string Summarize(const Config& config) {
  const NodeConfig& node = config.node;
  std::string text = "config " + config.source + " is valid\n";
  text += "node " + node.name + " (root " + node.root + ", state " + node.state_dir + ", socket " +
          node.socket + ")\n";
  if (config.peers.empty()) {
    text += "no peers\n";
  } else {
    text += Plural(config.peers.size(), "peer", "peers") + ":";
    for (size_t i = 0; i < config.peers.size(); ++i) {
      const PeerConfig& peer = config.peers[i];
      text += (i ? ", " : " ") + peer.name;
      text += peer.ssh.empty() ? " (exec)" : " (ssh " + peer.ssh + ")";
    }
    text += "\n";
  }
  if (config.sync.empty()) {
    text += "no synced paths\n";
  } else {
    text += Plural(config.sync.size(), "synced path", "synced paths") + ":";
    for (size_t i = 0; i < config.sync.size(); ++i) {
      text += (i ? ", " : " ") + DescribeEntry(config.sync[i]);
    }
    text += "\n";
  }
  std::string beside;
  size_t n_beside = 0;
  for (const SyncEntry& e : config.sync) {
    if (e.beside) beside += (n_beside++ ? ", " : "") + e.path;
  }
  text += "backups: " + Plural(config.backup.generations, "generation", "generations") +
          (n_beside == 0 ? " in " + node.state_dir
           : n_beside == config.sync.size()
               ? " beside each file"
               : " in " + node.state_dir + ", beside each file of " + beside) +
          "\n";
  return text;
}

}  // namespace syncr
