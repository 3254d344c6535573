#include "store/backup_store.h"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "common/escape.h"
#include "common/util.h"

namespace syncr {
namespace {

// Contents up to this size live in state.db; larger ones in objects/.
constexpr size_t kInlineMaxBytes = 256 * 1024;

}  // namespace

std::string BackupStore::ObjectPath(const std::string& raw_hash) const {
  const std::string hex = Hex(raw_hash);
  return config_.node.state_dir + "/objects/" + hex.substr(0, 2) + "/" + hex;
}

// objects/ and its fan-out directories are made 0700 whatever the umask:
// they hold synced content (docs/security.md, "Local secrecy").
Status BackupStore::MakeObjectDirectory(const std::string& object) {
  const std::string fan_out = DirName(object);
  Result<FileInfo> have = disk_.Lstat(fan_out);
  if (!have.ok()) return have.status();
  if (have->type == FileType::kDirectory) return Status();
  WriteMeta meta;
  meta.mode = 0700;
  meta.mtime_ns = WallNs();
  for (const std::string& dir : {DirName(fan_out), fan_out}) {
    if (Status s = disk_.EnsureDirectory(dir, meta); !s.ok()) return s;
  }
  return Status();
}

std::string BackupStore::BesidePath(const std::string& path, int n) const {
  return config_.DiskPath(path) + "." + std::to_string(n);
}

Status BackupStore::RotateBeside(const std::string& path, std::string_view content,
                                 const wire::Version& version) {
  const int keep = config_.backup.generations;
  if (Status s = disk_.Remove(BesidePath(path, keep)); !s.ok()) return s;
  for (int n = keep - 1; n >= 1; --n) {
    const std::string from = BesidePath(path, n);
    if (std::rename(from.c_str(), BesidePath(path, n + 1).c_str()) != 0 && errno != ENOENT) {
      return Status::Sys("rename", from, errno);
    }
  }
  WriteMeta meta;
  meta.mode = version.meta().mode() & 0777;
  meta.mtime_ns = version.meta().mtime_ns();
  return disk_.ReplaceFile(BesidePath(path, 1), content, meta);
}

bool BackupStore::Beside(const std::string& path) const {
  const SyncEntry* entry = config_.FindEntry(path);
  return entry ? entry->beside : config_.backup.beside;
}

Status BackupStore::Record(const wire::Version& version, std::string_view content, bool conflict) {
  const std::string& path = version.path();
  const std::string hash = Sha256(content);
  if (!conflict && store_.NewestGeneration(path).first == hash) return Status();

  if (Beside(path)) {
    if (Status s = RotateBeside(path, content, version); !s.ok()) return s;
  } else if (content.size() <= kInlineMaxBytes) {
    if (Status s = store_.PutObject(hash, content); !s.ok()) return s;
  } else {
    // Content-addressed: an object already there holds this content (unless
    // a crash cut it short: then its size differs). A failure to look is an
    // error, not "missing".
    const std::string object = ObjectPath(hash);
    Result<FileInfo> have = disk_.Lstat(object);
    if (!have.ok()) return have.status();
    if (have->type != FileType::kFile || have->size != content.size()) {
      if (Status s = MakeObjectDirectory(object); !s.ok()) return s;
      WriteMeta meta;
      meta.mode = 0600;
      meta.mtime_ns = WallNs();
      // Not synced one by one: generation 1 is a copy of the file itself,
      // which is durable, and a lost object is detected by its hash.
      if (Status s = disk_.WriteUnsynced(object, content, meta); !s.ok()) return s;
    }
  }

  Generation g;
  g.path = path;
  g.hash = hash;
  g.size = content.size();
  g.created_ns = WallNs();
  g.origin = version.origin();
  g.conflict = conflict;
  g.version = version;
  if (Result<int64_t> id = store_.AddGeneration(g); !id.ok()) return id.status();

  Result<std::vector<std::string>> unreferenced =
      store_.PruneGenerations(path, config_.backup.generations);
  if (!unreferenced.ok()) return unreferenced.status();
  if (!Beside(path)) {
    for (const std::string& h : *unreferenced) {
      if (Status s = store_.DeleteObject(h); !s.ok()) return s;
      // Nothing references it any more: a file left behind costs only space.
      if (Status s = disk_.Remove(ObjectPath(h)); !s.ok()) {
        spdlog::warn("cannot remove an unreferenced backup object: {}", s.ToString());
      }
    }
  }
  return Status();
}

std::optional<std::string> BackupStore::ContentByHash(const std::string& path,
                                                      const std::string& hash) {
  std::vector<Generation> gens = store_.Generations(path);
  for (size_t i = 0; i < gens.size(); ++i) {
    if (gens[i].hash != hash) continue;
    Result<std::string> content = Content(path, static_cast<int>(i) + 1);
    if (content.ok()) return std::move(*content);
  }
  return std::nullopt;
}

Result<std::string> BackupStore::Content(const std::string& path, int n) {
  std::vector<Generation> gens = store_.Generations(path);
  if (n < 1 || static_cast<size_t>(n) > gens.size()) {
    return Status::WithCode(Code::kNotFound,
                            EscapeName(path) + ": no generation " + std::to_string(n) + " (" +
                                std::to_string(gens.size()) + " kept)",
                            path);
  }
  if (!Beside(path)) {
    Result<std::optional<std::string>> inline_content = store_.GetObject(gens[n - 1].hash);
    if (!inline_content.ok()) return inline_content.status();
    if (*inline_content && Sha256(**inline_content) == gens[n - 1].hash) {
      return std::move(**inline_content);
    }
  }
  const std::string file = Beside(path) ? BesidePath(path, n) : ObjectPath(gens[n - 1].hash);
  Result<Snapshot> snap = disk_.Observe(file, config_.limits.max_file_bytes);
  if (!snap.ok()) return snap.status();
  if (snap->info.type != FileType::kFile) {
    return Status::WithCode(Code::kNotFound,
                            EscapeName(path) + ": generation " + std::to_string(n) +
                                " is missing from " + EscapeName(file),
                            file);
  }
  if (Sha256(snap->content) != gens[n - 1].hash) {
    return Status::WithCode(Code::kCorrupt,
                            EscapeName(path) + ": generation " + std::to_string(n) + " in " +
                                EscapeName(file) + " does not match its recorded hash",
                            file);
  }
  return std::move(snap->content);
}

}  // namespace syncr
