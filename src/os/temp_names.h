// Temp names: what Syncr calls its own temp files, and how it tells them
// from a user's file that only looks like one (SPEC 11: the daemon never
// deletes or hides a user's file because of its name).
//
// A temp file is `.syncr-NAME.TOKEN.RANDOM.tmp` beside its target: NAME the
// target's name (its first 190 bytes), TOKEN this node's secret (32 hex
// digits from getrandom, kept in state_dir/temp_token by store/temp_token.h,
// never sent to a peer: a marker no user writes by chance), RANDOM 16 hex
// digits new for each file.
// Only a name that carries this node's TOKEN is ours: skipped by the watcher
// and the scans, refused from a peer, removed at start. Any other name
// (`.syncr-user.abc123.tmp`, another node's temp, a temp named by a Syncr
// from before the token) is a user's file like any other.
//
// The token is process-wide, because every Disk and the watcher must agree
// on it: the daemon sets it once at start, before it writes anything. Until
// then it is a random token of this process, so a process that never sets
// it (a unit test, a CLI run without a state_dir) still never takes a
// user's file for its own. Not thread-safe: set it before other threads.
#pragma once

#include <string>
#include <string_view>

namespace syncr {

/// A new token: 32 lowercase hex digits (128 bits) from the kernel's random source.
std::string NewTempToken();
/// True for what NewTempToken makes: exactly 32 lowercase hex digits.
bool IsValidTempToken(std::string_view token);
/// Makes `token` (IsValidTempToken) this process's token.
void SetTempToken(std::string token);
/// This process's token.
const std::string& TempToken();

/// A fresh temp name beside a file named `target_name`, carrying the token.
std::string NewTempName(std::string_view target_name);
/// True only for a name NewTempName made with this process's token: the
/// prefix, the token, 16 hex digits and the suffix, exactly.
bool IsSyncrTempName(std::string_view name);

}  // namespace syncr
