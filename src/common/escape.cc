#include "common/escape.h"

#include <cstdint>

namespace syncr {

namespace {

constexpr size_t kCut = 300;  // Printable, PrintableText

/// The length of the well-formed UTF-8 sequence at s[i] (1 to 4), or 0 if
/// the byte there does not start one; its code point in `*code`.
size_t Utf8Length(std::string_view s, size_t i, uint32_t* code) {
  const auto byte = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  uint32_t cp = 0;
  *code = byte;
  if (byte < 0x80) return 1;
  if ((byte & 0xE0) == 0xC0) {
    len = 2;
    cp = byte & 0x1F;
  } else if ((byte & 0xF0) == 0xE0) {
    len = 3;
    cp = byte & 0x0F;
  } else if ((byte & 0xF8) == 0xF0) {
    len = 4;
    cp = byte & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto next = static_cast<unsigned char>(s[i + k]);
    if ((next & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (next & 0x3F);
  }
  constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  *code = cp;
  return len;
}

/// A character a terminal or an editor acts on rather than shows: the C1
/// controls (U+0080-U+009F: CSI, NEL), the line and paragraph separators,
/// and the bidirectional overrides and isolates.
bool IsInvisibleControl(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

void AppendHex(std::string* out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  *out += "\\x";
  *out += kHex[c >> 4];
  *out += kHex[c & 15];
}

/// The shared walk: `reversible` escapes backslashes, and newlines and tabs
/// as \n and \t, so that EscapeName can be undone.
std::string Escape(std::string_view s, bool reversible) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp = 0;
    const size_t len = Utf8Length(s, i, &cp);
    if (len > 1) {
      if (IsInvisibleControl(cp)) {
        for (size_t k = 0; k < len; ++k) AppendHex(&out, static_cast<unsigned char>(s[i + k]));
      } else {
        out.append(s.substr(i, len));
      }
      i += len;
      continue;
    }
    ++i;
    if (len == 0 || c < 0x20 || c == 0x7f) {
      if (reversible && c == '\n') {
        out += "\\n";
      } else if (reversible && c == '\t') {
        out += "\\t";
      } else {
        AppendHex(&out, c);
      }
    } else if (reversible && c == '\\') {
      out += "\\\\";
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    const size_t len = Utf8Length(s, i, &cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string EscapeName(std::string_view s) { return Escape(s, true); }

std::string Printable(std::string_view s) {
  if (s.size() <= kCut) return EscapeName(s);
  return EscapeName(s.substr(0, kCut)) + "...";
}

std::string SafeText(std::string_view s) { return Escape(s, false); }

std::string ShellWord(std::string_view path) {
  const std::string shown = EscapeName(path);
  if (shown == path && !path.empty() &&
      path.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789/._-+@%:,=") == std::string_view::npos) {
    return shown;
  }
  std::string quoted = "$'";
  for (char c : shown) {
    if (c == '\'') quoted += '\\';
    quoted += c;
  }
  return quoted + "'";
}

std::string PrintableText(std::string_view s) {
  if (s.size() <= kCut) return SafeText(s);
  return SafeText(s.substr(0, kCut)) + "...";
}

}  // namespace syncr
