// User and group names <-> numbers, so owners replicate by name and fall
// back to the number when a name is unknown on the receiver. Answers are
// cached for up to a second (see accounts.cc). Thread-safe.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace syncr {

std::string UserName(uid_t uid);   ///< "" when unknown or not UTF-8
std::string GroupName(gid_t gid);  ///< "" when unknown or not UTF-8
std::optional<uid_t> LookupUser(const std::string& name);
std::optional<gid_t> LookupGroup(const std::string& name);

}  // namespace syncr
