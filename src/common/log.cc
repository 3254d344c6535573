#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace syncr {

void InitLogging(const std::string& node, const std::string& level) {
  auto logger = spdlog::stderr_logger_st("syncr");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %l [" + node + "] %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace syncr
