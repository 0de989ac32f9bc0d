#include "cli/restart_backoff.hpp"

#include <catch2/catch.hpp>

using tessera::cli::restart_backoff;
using ms = std::chrono::milliseconds;

TEST_CASE("a crash loop backs off by doubling, up to the maximum") {
  restart_backoff b{ms{500}, ms{30000}, ms{60000}};
  std::vector<long> got;
  for (int i = 0; i < 9; ++i) got.push_back(b.next(ms{100}).count());
  CHECK(got == std::vector<long>{500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000});
  CHECK(b.restarts() == 9);
}

TEST_CASE("a process that ran long enough starts the backoff over") {
  restart_backoff b{ms{500}, ms{30000}, ms{60000}};
  b.next(ms{10});
  b.next(ms{10});
  CHECK(b.next(ms{10}).count() == 2000);
  CHECK(b.next(ms{60000}).count() == 500);  // stable for a minute: a fresh start
  CHECK(b.next(ms{59999}).count() == 1000);
}
