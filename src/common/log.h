// Logging: one line per meaningful event, to stderr (the journal captures it
// under systemd). Every line carries the node name.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace syncr {

/// Sets up the default logger: "2026-11-24 01:42:15.123 info [a] message".
/// `level` is trace, debug, info, warn or error.
void InitLogging(const std::string& node, const std::string& level);

}  // namespace syncr
