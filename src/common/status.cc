#include "common/status.h"

#include <cerrno>
#include <cstring>

#include "common/escape.h"

namespace syncr {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kNotFound:
      return "not found";
    case Code::kExists:
      return "already exists";
    case Code::kNoSpace:
      return "no space";
    case Code::kReadOnly:
      return "read-only filesystem";
    case Code::kPermission:
      return "permission denied";
    case Code::kIO:
      return "I/O error";
    case Code::kCorrupt:
      return "corrupt data";
    case Code::kTooBig:
      return "too big";
    case Code::kRefused:
      return "refused";
    case Code::kBadName:
      return "bad name";
    case Code::kBusy:
      return "busy";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kInvalid:
      return "invalid";
    case Code::kInternal:
      return "internal error";
  }
  return "unknown";
}

std::string_view Remedy(Code code) {
  switch (code) {
    case Code::kOk:
      return "";
    case Code::kNotFound:
      return "check that the path exists and was not moved or deleted meanwhile";
    case Code::kExists:
      return "move away what is in the way";
    case Code::kNoSpace:
      return "free space (or inodes, or quota) on that filesystem";
    case Code::kReadOnly:
      return "the filesystem is read-only (mount, or the unit's ProtectSystem/ProtectHome)";
    case Code::kPermission:
      return "give syncr's user access to that path (owner, mode, ACL), or widen the unit's "
             "ReadWritePaths";
    case Code::kIO:
      return "the device reported an error: check the kernel log (journalctl -k) and the disk";
    case Code::kCorrupt:
      return "the data does not match its checksum or format: restore it from a peer or a backup";
    case Code::kTooBig:
      return "raise [limits] max_file_bytes, or exclude the file";
    case Code::kRefused:
      return "make the nodes' configs agree on what is synced, or fix the path on this node";
    case Code::kBadName:
      return "rename the file: this filesystem cannot hold that name";
    case Code::kBusy:
      return "something else holds it; retried, or stop what holds it";
    case Code::kUnavailable:
      return "not there right now (daemon, peer, memory); retried, or start it";
    case Code::kInvalid:
      return "fix the input the message names";
    case Code::kInternal:
      return "a bug in syncr: report it with the log";
  }
  return "";
}

Code CodeOfErrno(int err) {
  switch (err) {
    case 0:
      return Code::kOk;
    case ENOENT:
    case ENOTDIR:
      return Code::kNotFound;
    case EEXIST:
      return Code::kExists;
    case ENOSPC:
    case EDQUOT:
      return Code::kNoSpace;
    case EROFS:
      return Code::kReadOnly;
    case EACCES:
    case EPERM:
      return Code::kPermission;
    case ENAMETOOLONG:
    case EILSEQ:
      return Code::kBadName;
    case EBUSY:
    case ETXTBSY:
      return Code::kBusy;
    case EFBIG:
      return Code::kTooBig;
    default:
      return Code::kIO;
  }
}

Status Status::Sys(std::string op, std::string path, int err) {
  Status s;
  // errno 0 after a failed call is a bug of ours, but still a failure.
  s.code_ = err == 0 ? Code::kInternal : CodeOfErrno(err);
  s.op_ = std::move(op);
  s.path_ = std::move(path);
  s.err_ = err;
  return s;
}

Status Status::Error(std::string message) { return WithCode(Code::kInvalid, std::move(message)); }

Status Status::WithCode(Code code, std::string message, std::string path) {
  Status s;
  // An "error" without a kind is still an error.
  s.code_ = code == Code::kOk ? Code::kInternal : code;
  // A raw name in it must not break a frame or forge a log line; a message
  // of several lines (a config's errors) keeps its lines.
  for (size_t start = 0; start <= message.size();) {
    size_t end = message.find('\n', start);
    if (end == std::string::npos) end = message.size();
    s.message_ += SafeText(std::string_view(message).substr(start, end - start));
    if (end < message.size()) s.message_ += '\n';
    start = end + 1;
  }
  s.path_ = std::move(path);
  return s;
}

Status Status::Refused(std::string message) { return WithCode(Code::kRefused, std::move(message)); }

Status Status::TooBig(const std::string& path, uint64_t size, uint64_t limit) {
  return WithCode(Code::kTooBig,
                  EscapeName(path) + ": " + std::to_string(size) +
                      " bytes is more than max_file_bytes (" + std::to_string(limit) + ")",
                  path);
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  if (!message_.empty()) return message_;
  std::string out = SafeText(op_);
  if (!path_.empty()) out += " " + EscapeName(path_);
  out += ": ";
  out += std::strerror(err_);
  return out;
}

}  // namespace syncr
