#pragma once
// Reporting an integration test program that cannot run as SKIPPED, never as passed.
//
// Convention: a program that lacks what it needs (a binary, root, kernel support) exits with
// skip_exit_code (77) before it starts any process, printing "SKIPPED: <why>" on stderr.
// CMakeLists.txt gives every tests/*_itest.cpp SKIP_RETURN_CODE 77, so ctest reports it as
// "Skipped", and scripts/test.sh fails the run when CI=true and anything was skipped.
//
// Two ways to use it:
//   - a check for the whole program, run once before its first test case (preferred):
//       const tessera::test::program_precondition needs_x{[] { return have_x() ? "" : "no x"; }};
//     at namespace scope in the test file;
//   - skip_test_program("why") anywhere, e.g. at the top of a test case. It calls std::exit,
//     which destroys static fixtures but not locals of the running test case, so call it
//     before starting processes.
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

namespace tessera::test {

constexpr int skip_exit_code = 77;

// Prints "SKIPPED: <why>" on stderr and exits with skip_exit_code.
[[noreturn]] void skip_test_program(const std::string& why);

// The same, header-only, for unit tests that do not link the integration-test support: exits
// at once (std::_Exit), so call it before anything needs cleaning up.
[[noreturn]] inline void skip_test(const std::string& why) {
  std::fprintf(stderr, "SKIPPED: %s\n", why.c_str());
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(skip_exit_code);
}

// Registers `check`, which runs once before the first test case of the program (in Catch2's
// testRunStarting, so `--list-tests` does not run it); a non-empty result is the reason the
// whole program is skipped.
struct program_precondition {
  explicit program_precondition(std::function<std::string()> check);
};

// The absolute path of an executable found on $PATH, or "" when there is none.
std::string find_on_path(const std::string& name);

}  // namespace tessera::test
