#pragma once
// The suite's skip convention: a test that cannot run here (no root, no `ip`, no namespaces,
// a missing tool) exits with code 77, which ctest reports as skipped (SKIP_RETURN_CODE 77)
// and CI counts as a failure. It never passes without having run.
#include <cstdio>
#include <cstdlib>
#include <string>

namespace tessera::test {

constexpr int skip_exit_code = 77;

// Prints why on stderr and exits the test program with code 77.
[[noreturn]] inline void skip_test(const std::string& why) {
  std::fprintf(stderr, "SKIPPED: %s\n", why.c_str());
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(skip_exit_code);
}

}  // namespace tessera::test
