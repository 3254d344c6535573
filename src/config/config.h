// Config: the node's TOML configuration (SPEC "Config"), parsed and validated.
//
// Owns: reading one TOML file, rejecting unknown keys, bad values, relative,
// duplicate or overlapping paths, and peers without exactly one transport,
// with "FILE:LINE: problem" messages. Must not touch anything on disk but the
// config file itself. Plain data; thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace syncr {

struct NodeConfig {
  std::string name;                              ///< default: the host name
  std::string root = "/";                        ///< prefix for every synced path on this node
  std::string state_dir = "/var/lib/syncr";      ///< state.db and backups
  std::string socket = "/run/syncr/syncr.sock";  ///< control and peer endpoint
  int settle_ms = 10;                            ///< quiet time after a close/rename before a scan
  std::string log_level = "info";                ///< trace, debug, info, warn, error
};

struct PeerConfig {
  std::string name;
  std::string ssh;   ///< destination for `ssh -T -o BatchMode=yes <ssh> syncr connect`
  std::string exec;  ///< or any command whose stdin/stdout is the channel
  int line = 0;      ///< where it was declared, for messages
};

struct BackupConfig {
  int generations = 6;  ///< kept per file, generation 1 is the current content
  bool beside = false;  ///< keep FILE.1..FILE.N next to the file (legacy layout)
};

struct LimitsConfig {
  uint64_t max_file_bytes = 64ull << 20;  ///< largest file content accepted or sent
  uint64_t window_bytes = 8ull << 20;     ///< unacknowledged bytes in flight per peer
  int handshake_timeout_ms = 10000;
};

struct MetadataConfig {
  bool acls = true;    ///< POSIX ACLs (system.posix_acl_access/default xattrs)
  bool xattrs = true;  ///< user.*, security.* (SELinux labels) and trusted.* xattrs
};

struct SyncEntry {
  std::string path;                  ///< absolute, normalised, the same on every node
  std::vector<std::string> exclude;  ///< globs on the name, or the relative path if it has '/'
  std::vector<std::string> actions;  ///< run in order with /bin/sh -c after a change
  int timeout_s = 60;                ///< per command
  bool stop_on_error = false;
  /// Backups as FILE.1 ... FILE.N next to each file (the legacy layout), and
  /// names ending in .<digits> are not synced here; default: [backup] beside.
  bool beside = false;
  int line = 0;
};

struct Config {
  std::string source;  ///< the file it came from
  NodeConfig node;
  std::vector<PeerConfig> peers;
  BackupConfig backup;
  LimitsConfig limits;
  MetadataConfig metadata;
  std::vector<SyncEntry> sync;

  /// The entry that syncs `path` (itself or an ancestor), or nullptr.
  const SyncEntry* FindEntry(const std::string& path) const;
  /// Where a synced path lives on this node's disk: root + path.
  std::string DiskPath(const std::string& path) const;
  const PeerConfig* FindPeer(const std::string& name) const;
};

/// Parses and validates `text`; `source` names it in messages ("FILE:LINE: ...").
Result<Config> ParseConfig(const std::string& text, const std::string& source);

/// Reads and parses the file at `path`.
Result<Config> LoadConfig(const std::string& path);

/// A config file as far as it can be read, for the commands that only bridge
/// to or read from the running daemon (connect, status, log, history, diff):
/// a saved file with errors must not cut a running node off (SPEC "Config").
struct LenientConfig {
  Config config;         ///< the valid config, or as much of it as could be read
  std::string problems;  ///< "FILE:LINE: problem" lines; empty when the file is valid
};

/// Parses `text` like ParseConfig but never fails: when it does not validate,
/// `config` has every value of the right type (after a syntax error, those of
/// the lines above it) and the defaults elsewhere.
LenientConfig ParseConfigLeniently(const std::string& text, const std::string& source);

/// Reads the file at `path` and parses it leniently; fails only when the file
/// cannot be read.
Result<LenientConfig> LoadConfigLeniently(const std::string& path);

/// The config path the commands use: `flag` if given, else $SYNCR_CONFIG,
/// else /etc/syncr/syncr.toml.
std::string ResolveConfigPath(const std::string& flag);

/// The default exclude globs every entry has (editor swap and backup files).
const std::vector<std::string>& DefaultExcludes();

/// True if `name_or_relpath` matches one of `globs` (fnmatch; a glob with '/'
/// matches the path relative to the entry, others the last component).
bool IsExcluded(const std::vector<std::string>& globs, const std::string& relpath);

/// A one-paragraph summary for `syncr check`.
std::string Summarize(const Config& config);

}  // namespace syncr
