#include "store/journal.h"

#include "common/util.h"

namespace syncr {

void Journal::Note(const std::string& path, spdlog::level::level_enum level,
                   const std::string& message) {
  spdlog::log(level, "{}", message);
  store_.AddEvent({WallNs(), path, spdlog::level::to_string_view(level).data(), message});
}

}  // namespace syncr
