// Logging: one line per meaningful event, to the journal when run under
// systemd (JOURNAL_STREAM set; priority per line, SYSLOG_IDENTIFIER=syncr),
// to stderr otherwise. Every line carries the node name.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace syncr {

/// Sets up the default logger: "2026-11-24 01:42:15.123 info [a] message".
/// `level` is trace, debug, info, warn or error.
void InitLogging(const std::string& node, const std::string& level);

}  // namespace syncr
