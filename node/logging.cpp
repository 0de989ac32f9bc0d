#include "node/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace tessera {

void setup_logging(const std::string& node_name, const std::string& level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto lvl = spdlog::level::from_str(level);
  for (const char* component : {"node", "coordinator", "gateway", "shard", "process"}) {
    if (spdlog::get(component)) continue;
    auto logger = std::make_shared<spdlog::logger>(component, sink);
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e " + node_name + " %n %l: %v");
    logger->set_level(lvl);
    spdlog::register_logger(logger);
  }
  spdlog::set_default_logger(spdlog::get("process"));
  spdlog::flush_every(std::chrono::seconds(1));
}

}  // namespace tessera
