#include "node/source_guard.hpp"

#include <catch2/catch.hpp>

using namespace tessera;
using namespace std::chrono_literals;

TEST_CASE("source_guard bounds pre-login connections per source and in all") {
  source_guard g(5, 3, 10);
  for (int i = 0; i < 3; ++i) CHECK(g.open_prelogin("a"));
  CHECK_FALSE(g.open_prelogin("a"));
  CHECK(g.open_prelogin("b"));
  CHECK(g.open_prelogin("b"));
  CHECK_FALSE(g.open_prelogin("c"));  // 5 in all
  CHECK(g.refused_connections() == 2);
  g.close_prelogin("a");
  CHECK(g.open_prelogin("c"));
  CHECK(g.prelogin() == 5);
  for (const char* s : {"a", "a", "b", "b", "c"}) g.close_prelogin(s);
  CHECK(g.prelogin() == 0);
  CHECK(g.sources() == 0);
  g.close_prelogin("a");  // nothing held: no underflow
  CHECK(g.prelogin() == 0);
}

TEST_CASE("source_guard refuses logins from a source over its failures until the window ends") {
  source_guard g(100, 100, 3, 60s);
  const auto t0 = source_guard::clock::time_point{} + 1h;
  for (int i = 0; i < 3; ++i) {
    CHECK(g.may_try_login("a", t0));
    g.login_failed("a", t0);
  }
  CHECK_FALSE(g.may_try_login("a", t0 + 59s));
  CHECK(g.may_try_login("b", t0 + 59s));
  CHECK(g.refused_logins() == 1);
  CHECK(g.may_try_login("a", t0 + 60s));
  g.login_failed("a", t0 + 60s);  // a new window
  CHECK(g.may_try_login("a", t0 + 61s));
}
