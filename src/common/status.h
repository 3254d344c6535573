// Status: the error value that crosses module boundaries.
//
// A Status is either ok or carries a Code (what kind of failure: the thing
// callers decide on), what failed (the operation, usually a syscall name),
// the errno captured right after the failing call, the path it concerned,
// and a human message. No decision ever matches on the message text: it is
// for people. No exception crosses the event loop; fallible functions
// return Status or Result<T>. Value type, thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace syncr {

/// What kind of failure a Status is. Callers branch on this, never on text.
enum class Code {
  kOk,
  kNotFound,     ///< the path (or record) does not exist: the only code that means "absent"
  kExists,       ///< something is already there
  kNoSpace,      ///< no space, inodes or quota left
  kReadOnly,     ///< the filesystem or database is read-only
  kPermission,   ///< not allowed (mode, owner, ACL, sandbox)
  kIO,           ///< the device or kernel reported an error; also any errno without a code
  kCorrupt,      ///< data does not match its checksum or format
  kTooBig,       ///< larger than a configured limit
  kRefused,      ///< a path this node's config or layout does not accept (not retried)
  kBadName,      ///< a name the filesystem cannot hold (too long, invalid bytes)
  kBusy,         ///< in use or locked by someone else; may work later
  kUnavailable,  ///< a daemon, peer or resource is not there right now
  kInvalid,      ///< the request, input or data is not acceptable
  kInternal,     ///< a bug in syncr (a statement that does not compile, a broken invariant)
};

/// Short name for logs and status: "no space", "read-only filesystem".
std::string_view CodeName(Code code);
/// One line telling an operator what to do about a failure of this kind.
std::string_view Remedy(Code code);
/// The code of an errno: ENOENT/ENOTDIR kNotFound, EEXIST kExists,
/// ENOSPC/EDQUOT kNoSpace, EROFS kReadOnly, EACCES/EPERM kPermission,
/// ENAMETOOLONG/EILSEQ kBadName, EBUSY/ETXTBSY kBusy, EFBIG kTooBig,
/// anything else (EIO included) kIO.
Code CodeOfErrno(int err);

class Status {
 public:
  Status() = default;

  /// An error from a system call: `op` failed on `path` with `err` (an
  /// errno); the code follows from `err` (CodeOfErrno).
  static Status Sys(std::string op, std::string path, int err);
  /// Any other error, with a message that says what and where. Its code is
  /// kInvalid: most such errors are about input (a config, a request, data
  /// from a peer). A failure a caller must tell apart gets its own code
  /// through WithCode.
  static Status Error(std::string message);
  /// An error of kind `code`. The message says what and where; `path`, if
  /// the error concerns one, is kept apart for callers (status) as well.
  /// Every line of the message is kept as SafeText (common/escape.h): a
  /// name put in it unescaped cannot break a frame.
  static Status WithCode(Code code, std::string message, std::string path = "");
  /// A path this node does not accept (kRefused): the peer is told not to
  /// retry. The message starts "refused path ...".
  static Status Refused(std::string message);
  /// `path` holds `size` bytes, more than `limit` (kTooBig).
  static Status TooBig(const std::string& path, uint64_t size, uint64_t limit);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  /// The errno of a Sys error; 0 otherwise.
  int err() const { return err_; }
  const std::string& path() const { return path_; }
  /// "rename /etc/.hosts.tmp -> /etc/hosts: No space left on device", with
  /// the path escaped (EscapeName).
  std::string ToString() const;

  /// Same code, errno, path and text.
  bool operator==(const Status& other) const = default;

 private:
  Code code_ = Code::kOk;
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
