#include "os/accounts.h"

#include <grp.h>
#include <pwd.h>

#include <map>
#include <mutex>
#include <vector>

#include "common/escape.h"
#include "common/util.h"

namespace syncr {
namespace {

// Answers are kept for a second. A tree of 10,000 files owned by one user
// would otherwise read the account database 10,000 times (with the files
// backend: open, parse and close /etc/passwd each time; with LDAP or sssd, a
// round trip each). The name of an id the database does not know is kept
// too (measured: 10,000 scans of files owned by an unknown uid spent 1.2 s
// of the loop in getpwuid_r): such an id is sent as its number, and a user
// added later is named from the next second on. A name not found is asked
// again each time, so a user added just before their files arrive is found;
// a renumbered or removed user is seen within a second.
constexpr int64_t kKeepMs = 1000;

bool Found(const std::string& name) { return !name.empty(); }
template <typename T>
bool Found(const std::optional<T>& id) {
  return id.has_value();
}

template <typename Key, typename Value, bool kKeepMisses = false>
class Cache {
 public:
  template <typename Lookup>
  Value Get(const Key& key, Lookup lookup) {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = MonoMs();
    if (now - filled_ms_ > kKeepMs) {
      answers_.clear();
      filled_ms_ = now;
    }
    auto it = answers_.find(key);
    if (it != answers_.end()) return it->second;
    Value v = lookup(key);
    if (kKeepMisses || Found(v)) answers_.emplace(key, v);
    return v;
  }

 private:
  std::mutex mu_;
  int64_t filled_ms_ = 0;
  std::map<Key, Value> answers_;
};

std::string LookupUserName(uid_t uid) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) return "";
  // A name the wire cannot carry as text is left to the number (uid).
  return IsValidUtf8(pw.pw_name) ? pw.pw_name : "";
}

std::string LookupGroupName(gid_t gid) {
  group gr{};
  group* found = nullptr;
  std::vector<char> buf(16384);
  if (getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) != 0 || !found) return "";
  return IsValidUtf8(gr.gr_name) ? gr.gr_name : "";
}

std::optional<uid_t> LookupUserId(const std::string& name) {
  if (name.empty()) return std::nullopt;
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) {
    return std::nullopt;
  }
  return pw.pw_uid;
}

std::optional<gid_t> LookupGroupId(const std::string& name) {
  if (name.empty()) return std::nullopt;
  group gr{};
  group* found = nullptr;
  std::vector<char> buf(16384);
  if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || !found) {
    return std::nullopt;
  }
  return gr.gr_gid;
}

}  // namespace

std::string UserName(uid_t uid) {
  static Cache<uid_t, std::string, /*kKeepMisses=*/true> cache;
  return cache.Get(uid, LookupUserName);
}

std::string GroupName(gid_t gid) {
  static Cache<gid_t, std::string, /*kKeepMisses=*/true> cache;
  return cache.Get(gid, LookupGroupName);
}

std::optional<uid_t> LookupUser(const std::string& name) {
  static Cache<std::string, std::optional<uid_t>> cache;
  return cache.Get(name, LookupUserId);
}

std::optional<gid_t> LookupGroup(const std::string& name) {
  static Cache<std::string, std::optional<gid_t>> cache;
  return cache.Get(name, LookupGroupId);
}

}  // namespace syncr
