// Journal: the node's record of what happened. Each note is one log line
// and one row of the store's bounded event table (what `syncr log` shows).
// Every room that does something an operator may ask about writes here.
// Not thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <vector>

#include "store/state_store.h"

namespace syncr {

class Journal {
 public:
  explicit Journal(StateStore& store) : store_(store) {}

  /// Logs `message` at `level` and keeps it for `path` ("" for the node).
  void Note(const std::string& path, spdlog::level::level_enum level, const std::string& message);
  /// Keeps a finished action command (what `syncr log` shows with its output).
  void Ran(const ActionRun& run) { store_.AddActionRun(run); }
  /// Keeps an entry's last run of actions across restarts (SPEC 10: a
  /// failure stays a problem until a later run succeeds), or forgets it.
  void KeepReport(const wire::ActionReport& report) { store_.PutActionReport(report); }
  void DropReport(const std::string& entry) { store_.DeleteActionReport(entry); }
  std::vector<wire::ActionReport> KeptReports() { return store_.ActionReports(); }

 private:
  StateStore& store_;
};

}  // namespace syncr
