#include "cli/import_legacy.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <string_view>

#include "common/escape.h"
#include "common/util.h"
#include "config/config.h"

namespace syncr {
namespace {

// The legacy recipe ran one script by this name; any incron command that
// mentions it is a syncr line, whatever its path and arguments.
constexpr std::string_view kLegacyScript = "syncr.sh";
// The legacy script kept FILE.1 ... FILE.6 beside each file.
constexpr int kLegacyGenerations = 6;

// ---------------------------------------------------------------------------
// Text helpers.

/// `text` split into lines, without their "\n" or a trailing "\r".
std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

std::string Trim(std::string_view s) {
  size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return "";
  size_t end = s.find_last_not_of(" \t");
  return std::string(s.substr(begin, end - begin + 1));
}

/// `s` made safe for a TOML comment: no control characters but tab, valid
/// UTF-8 (the replaced bytes become '?'; a comment only has to be readable).
std::string CommentSafe(std::string_view s) {
  bool utf8 = IsValidUtf8(s);
  std::string out;
  for (char c : s) {
    auto byte = static_cast<unsigned char>(c);
    bool bad = (byte < 0x20 && c != '\t') || byte == 0x7F || (!utf8 && byte >= 0x80);
    out += bad ? '?' : c;
  }
  return out;
}

/// "FILE:LINE".
std::string At(const std::string& name, int line) { return name + ":" + std::to_string(line); }

// ---------------------------------------------------------------------------
// Paths: the same lexical rules as the config (docs/config.md "Path rules"),
// except that harmless spellings ("/etc/nginx/", "/etc//hosts") are
// normalised, with a warning, instead of refused.

/// Why `raw` cannot be a sync path, or "" with the normalised form in `*out`.
std::string NormalisePath(const std::string& raw, std::string* out) {
  if (raw.empty()) return "is empty";
  if (raw[0] != '/') return "is not absolute";
  if (!IsValidUtf8(raw)) return "is not valid UTF-8";
  for (char c : raw) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return "contains a control character";
  }
  std::string normal;
  size_t start = 1;
  while (start <= raw.size()) {
    size_t end = raw.find('/', start);
    if (end == std::string::npos) end = raw.size();
    std::string_view part(raw.data() + start, end - start);
    start = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return "has a '..' component";
    normal += '/';
    normal += part;
  }
  if (normal.empty()) return "is '/' itself";
  *out = std::move(normal);
  return "";
}

/// True if `inner` is `outer` or lies below it (both normalised).
bool IsSameOrInside(const std::string& inner, const std::string& outer) {
  if (inner == outer) return true;
  return inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
         inner[outer.size()] == '/';
}

// ---------------------------------------------------------------------------
// incrontab: "PATH MASK COMMAND", PATH with "\ " for a space (incron's own
// escape), MASK a comma-separated list of IN_* names, numbers or incron
// options (IN_NO_LOOP, recursive=false, ...).

struct IncronLine {
  std::string path;
  std::string mask;
  std::string command;
};

bool IsKnownMaskToken(const std::string& token) {
  static const char* const kNames[] = {
      "IN_ACCESS",      "IN_MODIFY",      "IN_ATTRIB",   "IN_CLOSE_WRITE", "IN_CLOSE_NOWRITE",
      "IN_OPEN",        "IN_MOVED_FROM",  "IN_MOVED_TO", "IN_CREATE",      "IN_DELETE",
      "IN_DELETE_SELF", "IN_MOVE_SELF",   "IN_CLOSE",    "IN_MOVE",        "IN_ALL_EVENTS",
      "IN_ONLYDIR",     "IN_DONT_FOLLOW", "IN_MASK_ADD", "IN_ONESHOT",     "IN_NO_LOOP",
      "IN_EXCL_UNLINK",
  };
  for (const char* name : kNames) {
    if (token == name) return true;
  }
  if (token.find('=') != std::string::npos) return true;  // recursive=false, loopable=true
  if (token.empty()) return false;
  std::string_view digits = token;
  bool hex = digits.size() > 2 && (digits.substr(0, 2) == "0x" || digits.substr(0, 2) == "0X");
  if (hex) digits.remove_prefix(2);
  for (char c : digits) {
    bool ok = hex ? std::isxdigit(static_cast<unsigned char>(c)) != 0 : (c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

/// Splits one non-comment incrontab line; "" or why it is malformed.
std::string ParseIncronLine(const std::string& line, IncronLine* out) {
  size_t i = line.find_first_not_of(" \t");
  for (; i < line.size() && line[i] != ' ' && line[i] != '\t'; ++i) {
    if (line[i] == '\\' && i + 1 < line.size()) ++i;  // "\ " is a space in the path
    out->path += line[i];
  }
  size_t mask_begin = line.find_first_not_of(" \t", i);
  if (mask_begin == std::string::npos) return "expected PATH MASK COMMAND, found only a path";
  size_t mask_end = line.find_first_of(" \t", mask_begin);
  out->mask = line.substr(mask_begin, mask_end - mask_begin);
  if (mask_end != std::string::npos) out->command = Trim(std::string_view(line).substr(mask_end));
  if (out->command.empty()) return "expected PATH MASK COMMAND, found no command";
  size_t start = 0;
  while (start <= out->mask.size()) {
    size_t end = out->mask.find(',', start);
    if (end == std::string::npos) end = out->mask.size();
    std::string token = out->mask.substr(start, end - start);
    if (!IsKnownMaskToken(token)) return "unknown incron event '" + token + "' in the mask";
    start = end + 1;
  }
  return "";
}

// ---------------------------------------------------------------------------
// The import itself.

/// One [[sync]] entry to emit.
struct Entry {
  std::string path;
  std::vector<std::string> actions;
  int incron_line = 0;  ///< 0: the path is only in syncr.ini
  int ini_line = 0;     ///< the first [path] header, 0 if none
};

class Importer {
 public:
  Importer(std::string incron_name, std::string ini_name)
      : incron_name_(std::move(incron_name)), ini_name_(std::move(ini_name)) {}

  void ReadIncrontab(const std::string& text);
  void ReadIni(const std::string& text);
  std::string Emit(const std::vector<std::pair<std::string, std::string>>& peers) const;

  std::vector<std::string> TakeWarnings() { return std::move(warnings_); }
  void Warn(std::string message) { warnings_.push_back(std::move(message)); }

 private:
  /// Why `path` cannot be added next to the entries so far, or "".
  std::string Conflict(const std::string& path) const;
  Entry* Find(const std::string& path);
  std::string Origin(const Entry& entry) const;

  std::string incron_name_;
  std::string ini_name_;
  std::vector<Entry> entries_;
  /// Legacy syncr paths that were not imported (duplicate, overlap): an ini
  /// section for them is not turned into a new entry.
  std::map<std::string, int> skipped_incron_paths_;
  std::vector<std::string> warnings_;
};

std::string Importer::Origin(const Entry& entry) const {
  if (entry.incron_line == 0) return At(ini_name_, entry.ini_line);
  return At(incron_name_, entry.incron_line);
}

std::string Importer::Conflict(const std::string& path) const {
  // syncr refuses to sync its own state (docs/config.md); the defaults are
  // what the generated [node] section uses.
  const NodeConfig defaults;
  if (IsSameOrInside(defaults.state_dir, path)) {
    return "'" + path + "' contains syncr's state_dir " + defaults.state_dir;
  }
  if (IsSameOrInside(path, defaults.state_dir)) {
    return "'" + path + "' is inside syncr's state_dir " + defaults.state_dir;
  }
  if (IsSameOrInside(defaults.socket, path)) {
    return "'" + path + "' contains syncr's socket " + defaults.socket;
  }
  for (const Entry& e : entries_) {
    std::string where = "'" + e.path + "' (" + Origin(e) + ")";
    if (path == e.path) return "'" + path + "' is already imported from " + Origin(e);
    if (IsSameOrInside(path, e.path)) {
      return "'" + path + "' is inside " + where +
             ", which already syncs it; syncr does not allow overlapping entries";
    }
    if (IsSameOrInside(e.path, path)) {
      return "'" + path + "' contains " + where +
             "; syncr does not allow overlapping entries (the first one is kept; to sync the "
             "whole directory, replace that entry by this one)";
    }
  }
  return "";
}

Entry* Importer::Find(const std::string& path) {
  for (Entry& e : entries_) {
    if (e.path == path) return &e;
  }
  return nullptr;
}

void Importer::ReadIncrontab(const std::string& text) {
  std::vector<std::string> lines = SplitLines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    int line_no = static_cast<int>(i + 1);
    std::string line = Trim(lines[i]);
    if (line.empty() || line[0] == '#') continue;
    std::string where = At(incron_name_, line_no);
    std::string shown = CommentSafe(line);

    IncronLine incron;
    std::string problem = ParseIncronLine(line, &incron);
    if (!problem.empty()) {
      Warn(where + ": not imported, malformed line (" + problem + "): " + shown);
      continue;
    }
    if (incron.command.find(kLegacyScript) == std::string::npos) {
      Warn(where + ": not imported, the command is not the legacy " + std::string(kLegacyScript) +
           " script (if it is still needed, leave it in incron): " + shown);
      continue;
    }
    std::string path;
    problem = NormalisePath(incron.path, &path);
    if (!problem.empty()) {
      Warn(where + ": not imported, the path " + problem + ": " + shown);
      continue;
    }
    problem = Conflict(path);
    if (!problem.empty()) {
      Warn(where + ": not imported, " + problem);
      skipped_incron_paths_.emplace(path, line_no);
      continue;
    }
    if (path != incron.path) {
      Warn(where + ": path '" + CommentSafe(incron.path) + "' is written as '" + path + "'");
    }
    Entry entry;
    entry.path = path;
    entry.incron_line = line_no;
    entries_.push_back(std::move(entry));
  }
  if (entries_.empty()) {
    Warn(incron_name_ + ": no line runs the legacy " + std::string(kLegacyScript) +
         " script; the config syncs nothing from it");
  }
}

void Importer::ReadIni(const std::string& text) {
  std::vector<std::string> lines = SplitLines(text);
  // The entry the commands below the current header go to; nullptr while
  // they are to be dropped (no header yet, or one that was not imported).
  Entry* target = nullptr;
  bool in_dropped_section = false;
  std::map<std::string, int> headers;  // path -> first header line
  for (size_t i = 0; i < lines.size(); ++i) {
    int line_no = static_cast<int>(i + 1);
    std::string line = Trim(lines[i]);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    std::string where = At(ini_name_, line_no);

    if (line[0] == '[') {
      target = nullptr;
      in_dropped_section = true;
      if (line.back() != ']') {
        Warn(where + ": not imported, malformed section header (expected [/full/path]): " +
             CommentSafe(line) + "; its commands are not imported either");
        continue;
      }
      std::string raw = Trim(std::string_view(line).substr(1, line.size() - 2));
      std::string path;
      std::string problem = NormalisePath(raw, &path);
      if (!problem.empty()) {
        Warn(where + ": not imported, the section path " + problem + ": " + CommentSafe(line) +
             "; its commands are not imported either");
        continue;
      }
      if (path != raw) {
        Warn(where + ": path '" + CommentSafe(raw) + "' is written as '" + path + "'");
      }
      auto [first, inserted] = headers.emplace(path, line_no);
      if (!inserted) {
        Warn(where + ": section [" + path + "] appears again (first at line " +
             std::to_string(first->second) + "); its commands are appended to the first's");
      }
      target = Find(path);
      if (target != nullptr) {
        if (target->ini_line == 0) target->ini_line = line_no;
        in_dropped_section = false;
        continue;
      }
      auto skipped = skipped_incron_paths_.find(path);
      if (skipped != skipped_incron_paths_.end()) {
        Warn(where + ": commands of [" + path + "] are not imported, because its incrontab line " +
             std::to_string(skipped->second) + " was not imported");
        continue;
      }
      problem = Conflict(path);
      if (!problem.empty()) {
        Warn(where + ": section not imported, " + problem);
        continue;
      }
      Warn(where + ": [" + path +
           "] is not in the incrontab, so the legacy script never synced it; imported as a "
           "[[sync]] entry all the same: delete it unless it should be synced");
      Entry entry;
      entry.path = path;
      entry.ini_line = line_no;
      entries_.push_back(std::move(entry));
      target = &entries_.back();
      in_dropped_section = false;
      continue;
    }

    if (target == nullptr) {
      if (!in_dropped_section) {
        Warn(where +
             ": not imported, a command before any [/full/path] header: " + CommentSafe(line));
      }
      continue;
    }
    if (!IsValidUtf8(line)) {
      Warn(where + ": not imported, the command is not valid UTF-8: " + CommentSafe(line));
      continue;
    }
    target->actions.push_back(line);
  }
}

/// Appends `comment` to `*out`, each line as a TOML comment ("# line").
void AddComment(std::string* out, std::initializer_list<std::string> comment) {
  for (const std::string& line : comment) {
    *out += line.empty() ? "#" : "# ";
    *out += line;
    *out += '\n';
  }
}

std::string Importer::Emit(const std::vector<std::pair<std::string, std::string>>& peers) const {
  std::string out;
  AddComment(&out, {"syncr.toml made by `syncr import-legacy` from",
                    "  incrontab: " + CommentSafe(incron_name_)});
  if (!ini_name_.empty()) AddComment(&out, {"  ini:       " + CommentSafe(ini_name_)});
  AddComment(&out, {
                       "Review it, install it as /etc/syncr/syncr.toml on this node and",
                       "validate it with `syncr check`. Each node needs its own copy, with",
                       "the other nodes as its peers. See docs/migration.md.",
                   });
  if (!warnings_.empty()) {
    AddComment(&out, {"", "Not carried over or changed (also printed on stderr):"});
    for (const std::string& w : warnings_) out += "#   " + CommentSafe(w) + "\n";
  }

  out += "\n[node]\n";
  AddComment(&out, {
                       "name is this node's name as its peers know it; it defaults to the host",
                       "name. Set it when the other nodes call this one differently.",
                       "name = \"node-a\"",
                   });

  out += '\n';
  AddComment(&out, {
                       "The legacy script pushed with `rsync ... root@peer:/FILE`. syncr runs",
                       "`ssh -T -o BatchMode=yes <ssh> syncr connect` instead: the key it uses",
                       "must be allowed to run `syncr connect` there (docs/setup.md).",
                   });
  if (peers.empty()) {
    AddComment(&out, {
                         "No --peer was given: add the other node(s), or this node syncs with",
                         "nobody.",
                         "[[peer]]",
                         "name = \"node-b\"",
                         "ssh = \"root@node-b\"",
                     });
  }
  for (size_t i = 0; i < peers.size(); ++i) {
    const auto& [name, dest] = peers[i];
    if (i > 0) out += '\n';
    out += "[[peer]]\nname = " + TomlQuote(name) + "\nssh = " + TomlQuote(dest) + "\n";
  }

  out += "\n[backup]\n";
  AddComment(&out, {
                       "The legacy script kept 6 numbered copies beside each file (FILE.1 the",
                       "newest ... FILE.6). Each imported entry below keeps the same copies",
                       "in the same place (beside = true), so scripts and habits that look for",
                       "them still work; an entry you add later keeps its copies under",
                       "state_dir (/var/lib/syncr) instead, out of its directory, unless you",
                       "set beside = true on it. `syncr history` and `syncr restore` work",
                       "either way.",
                   });
  out += "generations = " + std::to_string(kLegacyGenerations) + "\n";

  out += '\n';
  if (entries_.empty()) {
    AddComment(&out, {"No synced path was found: add [[sync]] entries here."});
    return out;
  }
  AddComment(&out, {
                       "Actions run in order with /bin/sh -c on every node after the file",
                       "changed, the node where it was edited included, as the legacy script",
                       "did; each command now has a timeout (60 s unless `timeout` is set).",
                   });
  for (const Entry& e : entries_) {
    out += '\n';
    if (e.incron_line == 0) {
      AddComment(&out, {"Only in " + CommentSafe(At(ini_name_, e.ini_line)) +
                            ", not in the incrontab: the legacy script never",
                        "synced this path. Delete this entry unless it should be synced."});
    } else {
      std::string from = "From " + CommentSafe(At(incron_name_, e.incron_line));
      if (e.ini_line != 0) from += ", commands from " + CommentSafe(At(ini_name_, e.ini_line));
      AddComment(&out, {from});
    }
    out += "[[sync]]\npath = " + TomlQuote(e.path) + "\nbeside = true\n";
    if (e.actions.empty()) continue;
    out += "actions = [\n";
    for (const std::string& action : e.actions) out += "  " + TomlQuote(action) + ",\n";
    out += "]\n";
  }
  return out;
}

/// Ok, or why a --peer pair cannot go into the config.
Status CheckPeers(const std::vector<std::pair<std::string, std::string>>& peers) {
  for (size_t i = 0; i < peers.size(); ++i) {
    const auto& [name, dest] = peers[i];
    std::string what = "--peer " + CommentSafe(name) + "=" + CommentSafe(dest);
    if (name.empty()) return Status::Error(what + ": the peer name is empty (NAME=DEST)");
    if (dest.empty()) return Status::Error(what + ": the ssh destination is empty (NAME=DEST)");
    // As in the config: words before the last are ssh options, the last is
    // the destination and must not look like an option.
    size_t last = dest.find_last_of(" \t");
    std::string host = last == std::string::npos ? dest : dest.substr(last + 1);
    if (host.empty() || host[0] == '-') {
      return Status::Error(what + ": DEST must end with the ssh destination, not an option");
    }
    if (!IsValidUtf8(name) || !IsValidUtf8(dest)) {
      return Status::Error(what + ": not valid UTF-8");
    }
    for (size_t j = 0; j < i; ++j) {
      if (peers[j].first == name) return Status::Error(what + ": peer '" + name + "' given twice");
    }
  }
  return Status();
}

}  // namespace

std::string TomlQuote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
          char esc[8];
          std::snprintf(esc, sizeof(esc), "\\u%04X", static_cast<unsigned>(c));
          out += esc;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

Result<LegacyImport> ImportLegacy(const std::string& incrontab_text,
                                  const std::string& incrontab_name, const std::string& ini_text,
                                  const std::string& ini_name,
                                  const std::vector<std::pair<std::string, std::string>>& peers) {
  Status peers_ok = CheckPeers(peers);
  if (!peers_ok.ok()) return peers_ok;

  Importer importer(incrontab_name, ini_name);
  importer.ReadIncrontab(incrontab_text);
  importer.ReadIni(ini_text);
  if (peers.empty()) {
    importer.Warn(
        "no --peer given: add the other node as a [[peer]] to the config, or this "
        "node syncs with nobody");
  }
  LegacyImport result;
  result.toml = importer.Emit(peers);
  result.warnings = importer.TakeWarnings();

  // Belt and braces: what we print must pass `syncr check`. It can still
  // fail for a reason outside the legacy files (a --peer named like this host).
  Result<Config> parsed = ParseConfig(result.toml, "generated config");
  if (!parsed.ok()) {
    result.warnings.push_back("the generated config does not pass `syncr check`: " +
                              parsed.status().ToString());
  }
  return result;
}

int CmdImportLegacy(const std::string& incrontab_path, const std::string& ini_path,
                    const std::vector<std::string>& peer_specs) {
  std::vector<std::pair<std::string, std::string>> peers;
  for (const std::string& spec : peer_specs) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "--peer %s: expected NAME=DEST, as in --peer xcp-2=root@xcp-2\n",
                   spec.c_str());
      return 2;
    }
    peers.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
  }

  Result<std::string> incrontab = ReadWholeFile("incrontab", incrontab_path);
  if (!incrontab.ok()) {
    std::fprintf(stderr, "%s\n", incrontab.status().ToString().c_str());
    return 2;
  }
  std::string ini_text;
  if (!ini_path.empty()) {
    Result<std::string> ini = ReadWholeFile("ini file", ini_path);
    if (!ini.ok()) {
      std::fprintf(stderr, "%s\n", ini.status().ToString().c_str());
      return 2;
    }
    ini_text = std::move(*ini);
  }

  Result<LegacyImport> imported =
      ImportLegacy(*incrontab, incrontab_path, ini_text, ini_path, peers);
  if (!imported.ok()) {
    std::fprintf(stderr, "%s\n", imported.status().ToString().c_str());
    return 2;
  }
  std::fputs(imported->toml.c_str(), stdout);
  std::fflush(stdout);
  for (const std::string& warning : imported->warnings) {
    std::fprintf(stderr, "%s\n", warning.c_str());
  }
  return 0;
}

}  // namespace syncr
