#include "common/status.h"

#include <cstring>

namespace syncr {

Status Status::Sys(std::string op, std::string path, int err) {
  Status s;
  s.failed_ = true;
  s.op_ = std::move(op);
  s.path_ = std::move(path);
  s.err_ = err;
  return s;
}

Status Status::Error(std::string message) {
  Status s;
  s.failed_ = true;
  s.message_ = std::move(message);
  return s;
}

std::string Status::ToString() const {
  if (!failed_) return "ok";
  if (!message_.empty()) return message_;
  std::string out = op_;
  if (!path_.empty()) out += " " + path_;
  out += ": ";
  out += std::strerror(err_);
  return out;
}

}  // namespace syncr
