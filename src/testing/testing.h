// Helpers shared by the unit tests (src/*_test.cc); never linked into syncr.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <utility>

#include "common/util.h"
#include "engine/version_vector.h"

namespace syncr {

/// A fresh directory under /tmp, removed with everything in it at scope end.
/// Declare it before anything that keeps files open in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/syncr-test-XXXXXX";
    if (mkdtemp(tmpl)) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) std::filesystem::remove_all(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// Empty if the directory could not be made.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// A file's bytes; "" when it cannot be read.
inline std::string ReadFile(const std::string& path) {
  Result<std::string> content = ReadWholeFile(path, path);
  return content.ok() ? std::move(*content) : std::string();
}

/// A vector built through SetCounter, in the given order.
inline VersionVector VV(std::initializer_list<std::pair<std::string, uint64_t>> counters) {
  VersionVector vv;
  for (const auto& [node, counter] : counters) SetCounter(&vv, node, counter);
  return vv;
}

/// Joins lines with '\n' so that element i is on line i + 1.
inline std::string Doc(std::initializer_list<const char*> lines) {
  std::string text;
  for (const char* line : lines) {
    text += line;
    text += '\n';
  }
  return text;
}

}  // namespace syncr
