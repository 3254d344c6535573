#include "store/intent_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/util.h"

namespace syncr {

Result<std::unique_ptr<IntentLog>> IntentLog::Open(const std::string& state_dir) {
  const std::string path = state_dir + "/intents.log";
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return Status::Sys("open", path, errno);
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return Status::Sys("fstat", path, errno);
  return std::unique_ptr<IntentLog>(
      new IntentLog(std::move(fd), path, static_cast<uint64_t>(st.st_size)));
}

Status IntentLog::Record(const wire::Version& version) {
  const std::string body = version.SerializeAsString();
  std::string record(4, '\0');
  const uint32_t n = static_cast<uint32_t>(body.size());
  for (int i = 0; i < 4; ++i) record[i] = static_cast<char>((n >> (24 - 8 * i)) & 0xff);
  record += body;
  // One write: a record is either whole or a torn tail that Pending ignores.
  const ssize_t w = write(fd_.get(), record.data(), record.size());
  if (w != static_cast<ssize_t>(record.size())) {
    return Status::Sys("write", path_, w < 0 ? errno : ENOSPC);
  }
  bytes_ += record.size();
  return Status();
}

Status IntentLog::Clear() {
  if (bytes_ == 0) return Status();
  if (ftruncate(fd_.get(), 0) != 0) return Status::Sys("ftruncate", path_, errno);
  bytes_ = 0;
  return Status();
}

Result<std::vector<wire::Version>> IntentLog::Pending() const {
  Result<std::string> all = ReadWholeFile("the intent log", path_);
  if (!all.ok()) return all.status();
  std::vector<wire::Version> out;
  const std::string& s = *all;
  size_t pos = 0;
  while (pos + 4 <= s.size()) {
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<unsigned char>(s[pos + i]);
    if (pos + 4 + n > s.size()) break;  // torn by the crash: never acted upon
    wire::Version v;
    if (!v.ParseFromArray(s.data() + pos + 4, static_cast<int>(n))) break;
    out.push_back(std::move(v));
    pos += 4 + n;
  }
  return out;
}

}  // namespace syncr
