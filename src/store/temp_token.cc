#include "store/temp_token.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/fd.h"
#include "os/temp_names.h"

namespace syncr {
namespace {

Result<std::string> ReadToken(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return Status::Sys("open", path, errno);
  std::string text(64, '\0');
  ssize_t n;
  while ((n = read(fd.get(), text.data(), text.size())) < 0 && errno == EINTR) {
  }
  if (n < 0) return Status::Sys("read", path, errno);
  text.resize(static_cast<size_t>(n));
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!IsValidTempToken(text)) {
    return Status::WithCode(Code::kCorrupt,
                            path +
                                " does not hold a temp-file token (32 hex digits): remove it and "
                                "start again (temp files an earlier crash left then stay, as "
                                "if a user had made them)",
                            path);
  }
  return text;
}

// Written beside, synced and renamed into place, then the directory synced:
// a token that a temp file on disk carries must survive any crash, or the
// next start could not tell that file for ours.
Status WriteToken(const std::string& state_dir, const std::string& path, const std::string& token) {
  const std::string part = path + ".new";
  UniqueFd fd(open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::Sys("create", part, errno);
  const std::string text = token + "\n";
  const ssize_t w = write(fd.get(), text.data(), text.size());
  if (w != static_cast<ssize_t>(text.size()))
    return Status::Sys("write", part, w < 0 ? errno : ENOSPC);
  if (fsync(fd.get()) != 0) return Status::Sys("fsync", part, errno);
  if (rename(part.c_str(), path.c_str()) != 0) return Status::Sys("rename", path, errno);
  UniqueFd dir(open(state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid() || fsync(dir.get()) != 0) return Status::Sys("fsync", state_dir, errno);
  return Status();
}

}  // namespace

Result<std::string> LoadTempToken(const std::string& state_dir, bool create) {
  const std::string path = state_dir + "/temp_token";
  Result<std::string> token = ReadToken(path);
  if (token.ok() || token.status().code() != Code::kNotFound || !create) return token;
  const std::string made = NewTempToken();
  if (Status s = WriteToken(state_dir, path, made); !s.ok()) return s;
  return made;
}

}  // namespace syncr
