// Status: the error value that crosses module boundaries.
//
// A Status is either ok or carries what failed (the operation, usually a
// syscall name), the errno captured right after the failing call, the path
// it concerned, and a human message. No exception crosses the event loop;
// fallible functions return Status or Result<T>. Value type, thread-compatible.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace syncr {

class Status {
 public:
  Status() = default;

  /// An error from a system call: `op` failed on `path` with `err` (an errno).
  static Status Sys(std::string op, std::string path, int err);
  /// Any other error, with a message that says what and where.
  static Status Error(std::string message);

  bool ok() const { return !failed_; }
  int err() const { return err_; }
  const std::string& path() const { return path_; }
  /// "rename /etc/.hosts.tmp -> /etc/hosts: No space left on device".
  std::string ToString() const;

 private:
  bool failed_ = false;
  int err_ = 0;
  std::string op_;
  std::string path_;
  std::string message_;
};

/// A value or the Status that explains why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace syncr
