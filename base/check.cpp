#include "base/check.hpp"

#include <cstdlib>

#include "base/logger.hpp"

namespace tessera {

void check_failed(const char* condition, const std::string& message, const char* file, int line) {
  component_logger("check")->critical("invariant violated at {}:{}: {} ({})", file, line, message,
                                      condition);
  spdlog::shutdown();
  std::abort();
}

}  // namespace tessera
