// Small shared helpers: clocks, SHA-256, hex. Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace syncr {

/// Wall clock, nanoseconds since the epoch (version change times, logs).
int64_t WallNs();
/// Monotonic clock in milliseconds (timers, backoff).
int64_t MonoMs();

/// SHA-256 of `data` as 32 raw bytes (OpenSSL; uses SHA-NI where present).
std::string Sha256(std::string_view data);
/// Lower-case hex of raw bytes.
std::string Hex(std::string_view bytes);
/// The first 12 hex digits: what tables and logs show.
std::string ShortHash(std::string_view raw_hash);
/// The whole file at `path`, or why not ("cannot read WHAT PATH: ...").
Result<std::string> ReadWholeFile(const std::string& what, const std::string& path);

/// "2026-11-24 01:42:15" in local time.
std::string FormatTime(int64_t wall_ns);

}  // namespace syncr
