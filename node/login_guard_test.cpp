#include "node/login_guard.hpp"

#include <catch2/catch.hpp>

using namespace tessera;
using namespace std::chrono_literals;

TEST_CASE("repeated failed logins on one connection are answered ever later, up to 5 s") {
  CHECK(login_guard::delay_for(1) == 0ms);
  CHECK(login_guard::delay_for(2) == 100ms);
  CHECK(login_guard::delay_for(3) == 200ms);
  CHECK(login_guard::delay_for(7) == 3200ms);
  CHECK(login_guard::delay_for(8) == 5000ms);
  CHECK(login_guard::delay_for(1000000) == 5000ms);
}

TEST_CASE("a flood of failed logins writes one summary line per interval") {
  login_guard g{10s};
  auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  auto first = g.on_failure(t0);
  REQUIRE(first);
  CHECK(*first == "1 failed login (1 since start)");
  int lines = 0;
  for (int i = 1; i <= 1000; ++i)
    if (g.on_failure(t0 + std::chrono::milliseconds{i * 15})) ++lines;  // 15 s of failures
  CHECK(lines == 1);                                                    // at t0 + 10 s
  auto later = g.on_failure(t0 + 60s);
  REQUIRE(later);
  // Every failure is counted in some line: the 333 after the 10 s summary, and this one.
  CHECK(later->rfind("334 failed logins in the last 50 s", 0) == 0);
  CHECK(g.failures() == 1002);
}
