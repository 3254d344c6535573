#include "os/temp_names.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <random>

namespace syncr {
namespace {

constexpr std::string_view kTempPrefix = ".syncr-";
constexpr std::string_view kTempSuffix = ".tmp";
constexpr size_t kTokenDigits = 32;
constexpr size_t kRandomDigits = 16;
// With the 7-byte prefix and the 54-byte tail, a temp name stays within
// NAME_MAX (255) whatever the target is called.
constexpr size_t kMaxTargetBytes = 190;

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[bytes[i] >> 4];
    out += kDigits[bytes[i] & 15];
  }
  return out;
}

std::string& Token() {
  static std::string token = NewTempToken();
  return token;
}

}  // namespace

std::string NewTempToken() {
  unsigned char bytes[kTokenDigits / 2];
  size_t have = 0;
  while (have < sizeof bytes) {
    ssize_t n = getrandom(bytes + have, sizeof bytes - have, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += static_cast<size_t>(n);
  }
  if (have < sizeof bytes) {
    // No getrandom (a very old kernel): a token that differs per node and
    // per process is all that is needed to tell ours from a user's.
    std::random_device device;
    for (unsigned char& b : bytes) b = static_cast<unsigned char>(device());
  }
  return Hex(bytes, sizeof bytes);
}

bool IsValidTempToken(std::string_view token) {
  return token.size() == kTokenDigits && IsLowerHex(token);
}

void SetTempToken(std::string token) { Token() = std::move(token); }

const std::string& TempToken() { return Token(); }

std::string NewTempName(std::string_view target_name) {
  static std::mt19937_64 rng{std::random_device{}()};
  char random[kRandomDigits + 1];
  std::snprintf(random, sizeof random, "%016llx", static_cast<unsigned long long>(rng()));
  std::string name(kTempPrefix);
  name += target_name.substr(0, kMaxTargetBytes);
  name += '.';
  name += Token();
  name += '.';
  name += random;
  name += kTempSuffix;
  return name;
}

// Read from the end: ".TOKEN.RANDOM.tmp" is fixed in size, NAME is not (and
// may itself hold dots or look like a temp name).
bool IsSyncrTempName(std::string_view name) {
  const std::string& token = Token();
  const size_t tail = 1 + token.size() + 1 + kRandomDigits + kTempSuffix.size();
  if (name.size() < kTempPrefix.size() + tail || !name.starts_with(kTempPrefix) ||
      !name.ends_with(kTempSuffix)) {
    return false;
  }
  std::string_view rest = name.substr(name.size() - tail);
  if (rest[0] != '.' || rest.substr(1, token.size()) != token) return false;
  rest.remove_prefix(1 + token.size());
  return rest[0] == '.' && IsLowerHex(rest.substr(1, kRandomDigits));
}

}  // namespace syncr
