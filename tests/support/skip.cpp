// The listener that runs program_precondition checks needs Catch2's reporter interfaces.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include "tests/support/skip.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <vector>

namespace tessera::test {
namespace {

std::vector<std::function<std::string()>>& preconditions() {
  static std::vector<std::function<std::string()>> checks;
  return checks;
}

struct precondition_listener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testRunStarting(const Catch::TestRunInfo&) override {
    for (const auto& check : preconditions())
      if (auto why = check(); !why.empty()) skip_test_program(why);
  }
};

}  // namespace

CATCH_REGISTER_LISTENER(precondition_listener)

void skip_test_program(const std::string& why) {
  std::fflush(stdout);
  std::fprintf(stderr, "SKIPPED: %s\n", why.c_str());
  std::fflush(stderr);
  std::exit(skip_exit_code);
}

program_precondition::program_precondition(std::function<std::string()> check) {
  preconditions().push_back(std::move(check));
}

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
  return "";
}

}  // namespace tessera::test
