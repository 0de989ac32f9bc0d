#pragma once
// The spdlog logger of one component ("node", "coordinator", "gateway", ...). node/logging.cpp
// registers them at start-up; before that (unit tests) a clone of the default logger is used.
#include <memory>

#include <spdlog/spdlog.h>

namespace tessera {

std::shared_ptr<spdlog::logger> component_logger(const char* name);

}  // namespace tessera
