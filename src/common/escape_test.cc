#include "common/escape.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "common/status.h"

namespace syncr {
namespace {

using std::string_literals::operator""s;

/// What bash's $'...' makes of `shown`, for the escapes EscapeName writes
/// (the integration test test_odd_names runs bash itself).
std::string BashUnquote(const std::string& shown) {
  std::string out;
  for (size_t i = 0; i < shown.size(); ++i) {
    if (shown[i] != '\\') {
      out += shown[i];
      continue;
    }
    if (++i == shown.size()) {
      ADD_FAILURE() << "a lone backslash ends " << shown;
      break;
    }
    const char c = shown[i];
    if (c == 'n') {
      out += '\n';
    } else if (c == 't') {
      out += '\t';
    } else if (c == '\\') {
      out += '\\';
    } else if (c == 'x') {
      if (i + 2 >= shown.size()) {
        ADD_FAILURE() << "a cut \\x escape ends " << shown;
        break;
      }
      out += static_cast<char>(std::stoi(shown.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      ADD_FAILURE() << "unknown escape \\" << c << " in " << shown;
    }
  }
  return out;
}

TEST(EscapeTest, ValidUtf8) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("/etc/caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // cut short
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
}

TEST(EscapeTest, EscapeNameShowsEveryByteAndKeepsCharacters) {
  EXPECT_EQ(EscapeName("/etc/hosts"), "/etc/hosts");
  EXPECT_EQ(EscapeName("/srv/caf\xc3\xa9"), "/srv/caf\xc3\xa9");
  EXPECT_EQ(EscapeName("/srv/a\nb\tc\x1b[31m"), "/srv/a\\nb\\tc\\x1b[31m");
  EXPECT_EQ(EscapeName("/srv/back\\slash"), "/srv/back\\\\slash");
  EXPECT_EQ(EscapeName("/srv/latin1-\xe9t\xe9"), "/srv/latin1-\\xe9t\\xe9");
  EXPECT_EQ(EscapeName("\x7f\r"), "\\x7f\\x0d");
  EXPECT_EQ(EscapeName("a\0b"s), "a\\x00b");
}

// Characters a terminal acts on rather than shows are escaped byte by byte:
// C1 controls (CSI U+009B, NEL U+0085), U+2028/2029, bidi overrides.
TEST(EscapeTest, EscapeNameEscapesInvisibleControls) {
  EXPECT_EQ(EscapeName("a\xc2\x9b"
                       "31mb"),
            "a\\xc2\\x9b31mb");
  EXPECT_EQ(EscapeName("\xc2\x85"), "\\xc2\\x85");
  EXPECT_EQ(EscapeName("\xe2\x80\xa8\xe2\x80\xa9"), "\\xe2\\x80\\xa8\\xe2\\x80\\xa9");
  EXPECT_EQ(EscapeName("evil\xe2\x80\xae"
                       "exe.txt"),
            "evil\\xe2\\x80\\xae"
            "exe.txt");
  EXPECT_EQ(EscapeName("\xe2\x81\xa6x"), "\\xe2\\x81\\xa6x");
  EXPECT_EQ(EscapeName("\xc2\xa0\xe2\x80\x94"), "\xc2\xa0\xe2\x80\x94") << "NBSP, em dash: shown";
  EXPECT_EQ(SafeText("\xc2\x9b"), "\\xc2\\x9b");
}

TEST(EscapeTest, EscapeNameIsUndoneByBashQuoting) {
  const std::string names[] = {"/srv/a\nb",
                               "/srv/\xff\xfe",
                               "/srv/x\\ny",
                               "/srv/\\x41",
                               "/srv/tab\there",
                               "/srv/caf\xc3\xa9\x80",
                               "/srv/\xc2\x9b"
                               "csi",
                               "/srv/\xe2\x80\xae"
                               "rtl"};
  for (const std::string& name : names) {
    const std::string shown = EscapeName(name);
    EXPECT_TRUE(IsValidUtf8(shown)) << shown;
    for (unsigned char c : shown) EXPECT_GE(c, 0x20) << shown;
    EXPECT_EQ(BashUnquote(shown), name) << shown;
  }
}

TEST(EscapeTest, PrintableCutsLongInput) {
  const std::string shown = Printable(std::string(1000, '\n'));
  std::string expected;
  for (int i = 0; i < 300; ++i) expected += "\\n";
  EXPECT_EQ(shown, expected + "...");
  EXPECT_EQ(PrintableText(std::string(301, 'a')), std::string(300, 'a') + "...");
  // A cut through a character shows its first bytes escaped: still UTF-8.
  const std::string cut = Printable(std::string(299, 'a') + "\xc3\xa9");
  EXPECT_EQ(cut, std::string(299, 'a') + "\\xc3...");
  EXPECT_TRUE(IsValidUtf8(cut));
}

TEST(EscapeTest, ShellWordQuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(ShellWord("/etc/nginx/nginx.conf"), "/etc/nginx/nginx.conf");
  EXPECT_EQ(ShellWord("/srv/a b"), "$'/srv/a b'");
  EXPECT_EQ(ShellWord("/srv/it's"), "$'/srv/it\\'s'");
  EXPECT_EQ(ShellWord("/srv/new\nline"), "$'/srv/new\\nline'");
  EXPECT_EQ(ShellWord("/srv/$HOME"), "$'/srv/$HOME'");
}

TEST(EscapeTest, SafeTextLeavesEscapedTextAlone) {
  const std::string escaped = "could not apply " + EscapeName("/srv/a\n\\b\xff") + ": full";
  EXPECT_EQ(SafeText(escaped), escaped);
  EXPECT_EQ(SafeText("raw /srv/a\nb\xff"), "raw /srv/a\\x0ab\\xff");
}

TEST(EscapeTest, StatusTextIsSafeWhateverTheName) {
  EXPECT_EQ(Status::Sys("open", "/srv/a\nb", ENOENT).ToString(),
            "open /srv/a\\nb: No such file or directory");
  // A message keeps its lines (a config's errors), each made safe.
  EXPECT_EQ(Status::Error("x.toml:1: bad \x1b\nx.toml:2: bad \xff").ToString(),
            "x.toml:1: bad \\x1b\nx.toml:2: bad \\xff");
  EXPECT_TRUE(IsValidUtf8(Status::TooBig("/srv/\xff", 10, 5).ToString()));
}

}  // namespace
}  // namespace syncr
