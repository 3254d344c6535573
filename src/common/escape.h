// Names as bytes, and how they are shown (SPEC 11).
//
// A file name is any bytes but NUL and '/': newlines, tabs, escape
// characters and bytes that are not UTF-8 included. Syncr keeps and sends
// names as those bytes, and shows them escaped: every log line, status row,
// JSON string and action variable is valid UTF-8 with no control character.
// The escapes are those of bash's $'...' quoting, so an operator can paste a
// shown name into `syncr history $'...'`. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace syncr {

/// True if `s` is well-formed UTF-8 (no overlong form, no surrogate, at most
/// U+10FFFF).
bool IsValidUtf8(std::string_view s);

/// `s` escaped, reversibly: a backslash as \\, newline \n, tab \t, any other
/// control character, DEL and every byte that is not part of well-formed
/// UTF-8 as \xHH; so are the bytes of the characters a terminal acts on
/// rather than shows (C1 controls U+0080-U+009F, U+2028, U+2029, the
/// bidirectional overrides and isolates). Other characters (é, 中) are kept.
std::string EscapeName(std::string_view s);

/// `path` as one shell word an operator can paste: itself when it needs no
/// quoting, else bash's $'...' around EscapeName (a ' in it as \').
std::string ShellWord(std::string_view path);

/// EscapeName of the first 300 bytes, "..." after them if there are more:
/// for log lines about whatever a peer sent.
std::string Printable(std::string_view s);

/// `s` made safe for a log line or a text field, not reversibly: control
/// characters and bytes that are not UTF-8 become \xHH, backslashes stay.
/// Text built with EscapeName passes unchanged; this is the net for text
/// that names a path it did not escape.
std::string SafeText(std::string_view s);

/// SafeText of the first 300 bytes, "..." after them if there are more: for
/// log lines quoting text a peer sent (its errors, which name paths escaped).
std::string PrintableText(std::string_view s);

}  // namespace syncr
