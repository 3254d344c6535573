#include "store/journal.h"

#include "common/escape.h"
#include "common/util.h"

namespace syncr {

void Journal::Note(const std::string& path, spdlog::level::level_enum level,
                   const std::string& message) {
  // Callers escape the names they put in (EscapeName); this is the net for
  // one they missed: a name cannot forge a line of the log.
  const std::string line = SafeText(message);
  spdlog::log(level, "{}", line);
  store_.AddEvent({WallNs(), path, spdlog::level::to_string_view(level).data(), line});
}

}  // namespace syncr
