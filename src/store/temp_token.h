// TempToken: where this node's temp-file token (os/temp_names.h) is kept,
// state_dir/temp_token (0600, 32 hex digits and a newline), so that a start
// after a kill -9 knows which temp files it made. Made once, at the first
// start, and never changed: a new token would turn the temps an earlier
// crash left into files that look like a user's. Not thread-safe.
#pragma once

#include <string>

#include "common/status.h"

namespace syncr {

/// The token kept in `state_dir`. When there is none yet: with `create`, a
/// new one is made and written durably (fsync, rename, fsync of
/// state_dir) before it is returned; without, a kNotFound error. A file
/// that does not hold a token is a kCorrupt error naming it and the remedy.
Result<std::string> LoadTempToken(const std::string& state_dir, bool create);

}  // namespace syncr
