// libFuzzer target: the config parser (src/config/config.h), TOML by toml++
// plus Syncr's validation. The config is local and trusted, but `syncr check`
// and the daemon must answer any file with a message, never a crash.
//
// Beyond "no crash, leak, hang or undefined behaviour" it checks what
// config.h promises: an error names the file ("fuzz.toml..."); an accepted
// config has absolute, normalised, non-overlapping sync paths that FindEntry
// maps to themselves, peers with a name and exactly one transport, none
// named like this node; and Summarize works on it.
//
// Known open finding, skipped so that the target keeps fuzzing the rest:
// toml++ 3.3.0 (Debian 12's libtomlplusplus) reaches __builtin_unreachable()
// in impl::is_non_ascii_horizontal_whitespace() for most code points in
// U+00A1..U+0499, U+2D2E..U+3127 and U+FB3E..U+FEFE where the parser checks
// for whitespace (upstream marzer/tomlplusplus#190 / #295, fixed by #305):
// undefined behaviour on a config such as "3\xcc\x9d". Inputs with such code
// points are skipped unless SYNCR_FUZZ_TOMLPP_UNREACHABLE=1 is set (that
// reproduces it: fuzz/corpus/config_fuzz/tomlpp-unreachable.toml). Remove
// the skip once the project no longer feeds such input to that toml++.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.h"
#include "reference_path.h"

namespace {

[[noreturn]] void Fail(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "config_fuzz: invariant violated: %s %s\n", what, detail.c_str());
  std::abort();
}

bool Inside(const std::string& inner, const std::string& outer) {
  return inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
         inner[outer.size()] == '/';
}

/// True if `text` holds a UTF-8 code point that may hit the toml++ 3.3.0
/// unreachable (see the top of this file).
bool HasTomlppUnreachableCodePoint(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    uint32_t cp = 0;
    if ((b0 & 0xE0) == 0xC0 && i + 1 < text.size()) {
      cp = (b0 & 0x1Fu) << 6 | (static_cast<unsigned char>(text[i + 1]) & 0x3Fu);
    } else if ((b0 & 0xF0) == 0xE0 && i + 2 < text.size()) {
      cp = (b0 & 0x0Fu) << 12 | (static_cast<unsigned char>(text[i + 1]) & 0x3Fu) << 6 |
           (static_cast<unsigned char>(text[i + 2]) & 0x3Fu);
    } else {
      continue;
    }
    if (cp < 0xA0 || cp > 0xFEFF) continue;
    const uint32_t child = (cp - 0xA0) / 0x3FA;
    if (cp == 0xA0 || cp == 0x3000 || cp == 0xFEFF) continue;
    if (child == 0 || child == 11 || child == 63) return true;  // the `default:` of its switch
  }
  return false;
}

const bool kSkipTomlppUnreachable = [] {
  const char* env = std::getenv("SYNCR_FUZZ_TOMLPP_UNREACHABLE");
  return env == nullptr || std::string_view(env) != "1";
}();

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (kSkipTomlppUnreachable && HasTomlppUnreachableCodePoint(text)) return 0;
  syncr::Result<syncr::Config> result = syncr::ParseConfig(text, "fuzz.toml");
  if (!result.ok()) {
    const std::string message = result.status().ToString();
    if (message.find("fuzz.toml") == std::string::npos)
      Fail("an error that does not name the file", message);
    return 0;
  }
  const syncr::Config& config = *result;
  for (size_t i = 0; i < config.sync.size(); ++i) {
    const syncr::SyncEntry& e = config.sync[i];
    if (!AbsoluteWithCleanComponents(e.path))
      Fail("accepted a sync path that is not normalised", e.path);
    if (config.FindEntry(e.path) != &e) Fail("FindEntry does not map an entry to itself", e.path);
    for (size_t j = 0; j < i; ++j) {
      const std::string& other = config.sync[j].path;
      if (other == e.path || Inside(other, e.path) || Inside(e.path, other)) {
        Fail("accepted overlapping sync paths", other + " / " + e.path);
      }
    }
    for (const std::string& glob : e.exclude) {
      if (glob.empty() || glob[0] == '/') Fail("accepted an empty or absolute exclude", glob);
    }
    for (const std::string& action : e.actions) {
      if (action.find_first_not_of(" \t") == std::string::npos) Fail("accepted an empty action");
    }
  }
  for (const syncr::PeerConfig& p : config.peers) {
    if (p.name.empty()) Fail("accepted a peer without a name");
    if (p.name == config.node.name) Fail("accepted a peer named like this node", p.name);
    if (p.ssh.empty() == p.exec.empty())
      Fail("accepted a peer without exactly one transport", p.name);
    if (config.FindPeer(p.name) == nullptr) Fail("FindPeer misses a peer", p.name);
  }
  if (config.node.name.empty()) Fail("accepted an empty node name");
  if (config.limits.max_file_bytes == 0 || config.limits.handshake_timeout_ms <= 0) {
    Fail("accepted a zero limit");
  }
  if (syncr::Summarize(config).empty()) Fail("an empty summary");
  return 0;
}
