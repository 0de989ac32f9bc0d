#include "base/logger.hpp"

namespace tessera {

std::shared_ptr<spdlog::logger> component_logger(const char* name) {
  if (auto l = spdlog::get(name)) return l;
  return spdlog::default_logger()->clone(name);
}

}  // namespace tessera
