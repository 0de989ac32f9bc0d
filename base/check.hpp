#pragma once
// TESSERA_CHECK(cond, message): guards an invariant whose violation is our own bug. Unlike
// assert() it stays on in Release builds: on failure it logs the condition, the message and
// the place at critical level, then aborts, rather than serve from a corrupt state.
#include <string>

namespace tessera {

[[noreturn]] void check_failed(const char* condition, const std::string& message, const char* file,
                               int line);

}  // namespace tessera

#define TESSERA_CHECK(cond, message)                                            \
  do {                                                                          \
    if (!(cond)) ::tessera::check_failed(#cond, (message), __FILE__, __LINE__); \
  } while (false)
