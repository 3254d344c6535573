#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>

#include <cstdlib>

namespace syncr {

void InitLogging(const std::string& node, const std::string& level) {
  spdlog::drop("syncr");
  std::shared_ptr<spdlog::logger> logger;
  if (std::getenv("JOURNAL_STREAM") != nullptr) {
    // Under systemd: straight to the journal, one entry per line with its
    // priority and SYSLOG_IDENTIFIER=syncr (the journal adds the time).
    auto sink = std::make_shared<spdlog::sinks::systemd_sink_st>("syncr");
    logger = std::make_shared<spdlog::logger>("syncr", sink);
    logger->set_pattern("[" + node + "] %v");
  } else {
    logger = spdlog::stderr_logger_st("syncr");
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %l [" + node + "] %v");
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace syncr
