// ImportLegacy: turns the legacy recipe's incrontab + syncr.ini (SPEC
// "Legacy") into an equivalent, commented syncr.toml, for
// `syncr import-legacy`.
//
// Owns: parsing those two text formats and emitting TOML that ParseConfig
// accepts. Everything that cannot be carried over (foreign incron lines,
// malformed lines, duplicate or overlapping paths) becomes a warning with
// FILE:LINE and a comment in the output, never silence. ImportLegacy is pure
// (text in, text out); only CmdImportLegacy reads files and prints.
// Thread-compatible.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace syncr {

/// The generated config and what the operator must look at.
struct LegacyImport {
  std::string toml;                   ///< a complete, commented syncr.toml
  std::vector<std::string> warnings;  ///< "FILE:LINE: problem", in input order
};

/// Converts an incrontab (`/etc/hosts IN_CLOSE_WRITE /opt/syncr.sh $@ $%`
/// lines) and an optional syncr.ini (`[/full/path]` followed by one command a
/// line) into a syncr.toml. `*_name` label the inputs in warnings. `peers`
/// are (name, ssh destination) pairs; none gives a commented-out template
/// and a warning. Fails only on an invalid peer (empty or duplicate name, or
/// an `ssh` value whose last word, the destination, is empty or starts with
/// '-'; words before it are ssh options, as in the config).
Result<LegacyImport> ImportLegacy(const std::string& incrontab_text,
                                  const std::string& incrontab_name, const std::string& ini_text,
                                  const std::string& ini_name,
                                  const std::vector<std::pair<std::string, std::string>>& peers);

/// `syncr import-legacy`: reads the files, prints the TOML on stdout and the
/// warnings on stderr. `ini_path` may be empty; `peer_specs` are
/// "NAME=DEST". Returns 0, or 2 for an unreadable file or a bad --peer.
int CmdImportLegacy(const std::string& incrontab_path, const std::string& ini_path,
                    const std::vector<std::string>& peer_specs);

/// `s` as a TOML basic string, quotes included ("a\"b"). `s` must be valid
/// UTF-8; control characters are escaped.
std::string TomlQuote(const std::string& s);

}  // namespace syncr
