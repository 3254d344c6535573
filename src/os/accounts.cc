#include "os/accounts.h"

#include <grp.h>
#include <pwd.h>

#include <vector>

namespace syncr {

std::string UserName(uid_t uid) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) return "";
  return pw.pw_name;
}

std::string GroupName(gid_t gid) {
  group gr{};
  group* found = nullptr;
  std::vector<char> buf(16384);
  if (getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) != 0 || !found) return "";
  return gr.gr_name;
}

std::optional<uid_t> LookupUser(const std::string& name) {
  if (name.empty()) return std::nullopt;
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) {
    return std::nullopt;
  }
  return pw.pw_uid;
}

std::optional<gid_t> LookupGroup(const std::string& name) {
  if (name.empty()) return std::nullopt;
  group gr{};
  group* found = nullptr;
  std::vector<char> buf(16384);
  if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || !found) {
    return std::nullopt;
  }
  return gr.gr_gid;
}

}  // namespace syncr
