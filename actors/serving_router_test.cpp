// The shard router, without an actor system: replica choice and the in-flight table.
#include "actors/serving_router.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace tessera;

namespace {

shard_route shard_on(const std::vector<std::string>& nodes) {
  shard_route s;
  s.rows = {0, 10};
  for (const auto& n : nodes) s.replicas.push_back({n, "t/0/" + n, shard_actor{}});
  return s;
}

}  // namespace

TEST_CASE("pick goes round robin over the route's replicas on live nodes") {
  std::set<std::string> down;
  serving_router router{[&](const std::string& n) { return !down.count(n); }};
  auto s = shard_on({"a", "b", "c"});
  std::vector<std::string> got;
  for (int i = 0; i < 6; ++i) got.push_back(router.pick(s, {})->node);
  CHECK(got == std::vector<std::string>{"a", "b", "c", "a", "b", "c"});
  down.insert("b");
  down.insert("c");
  for (int i = 0; i < 3; ++i) CHECK(router.pick(s, {})->node == "a");
  // A new snapshot's route starts its own cursor.
  auto t = shard_on({"c", "a"});
  down.clear();
  router.new_snapshot();
  CHECK(router.pick(t, {})->node == "c");
}

TEST_CASE("pick skips nodes already tried and answers null when none is left") {
  serving_router router{[](const std::string&) { return true; }};
  auto s = shard_on({"a", "b"});
  CHECK(router.pick(s, {"a"})->node == "b");
  CHECK(router.pick(s, {"a", "b"}) == nullptr);
  s.replicas.clear();  // a snapshot built while no replica was ready
  CHECK(router.pick(s, {}) == nullptr);
}

TEST_CASE("a node going down fails its in-flight sub-requests once, and only its own") {
  serving_router router{[](const std::string&) { return true; }};
  int failed_a = 0, failed_b = 0;
  router.track("a", caf::actor_addr{}, [&](caf::error e) {
    CHECK(is(e, errc::unavailable));
    ++failed_a;
  });
  auto settled = router.track("a", caf::actor_addr{}, [&](caf::error) { ++failed_a; });
  router.track("b", caf::actor_addr{}, [&](caf::error) { ++failed_b; });
  router.settle("a", settled);
  CHECK(router.inflight("a") == 1);
  router.node_down("a", make_error(errc::unavailable, "node a went down"));
  CHECK(failed_a == 1);
  CHECK(failed_b == 0);
  CHECK(router.inflight("a") == 0);
  router.node_down("a", make_error(errc::unavailable, "again"));
  CHECK(failed_a == 1);
  CHECK(router.inflight("b") == 1);
}

TEST_CASE("a fail callback may register a retry on another node while the node goes down") {
  serving_router router{[](const std::string&) { return true; }};
  int retried = 0;
  router.track("a", caf::actor_addr{}, [&](caf::error) {
    router.track("b", caf::actor_addr{}, [&](caf::error) { ++retried; });
  });
  router.node_down("a", make_error(errc::unavailable, "down"));
  CHECK(router.inflight("b") == 1);
  router.node_down("b", make_error(errc::unavailable, "down"));
  CHECK(retried == 1);
}

TEST_CASE("hedge timers fire once, and not at all once disarmed") {
  serving_router router{[](const std::string&) { return true; }};
  int fired = 0;
  auto a = router.arm([&] { ++fired; });
  auto b = router.arm([&] { fired += 10; });
  CHECK(router.armed() == 2);
  router.disarm(b);
  router.fire(a);
  router.fire(a);
  router.fire(b);
  CHECK(fired == 1);
  CHECK(router.armed() == 0);
}

TEST_CASE("the router's hedging follows its options; counters start at zero") {
  serving_router router{[](const std::string&) { return true; }};
  hedging_options o;
  o.min_samples = 3;
  o.min_delay = std::chrono::milliseconds(2);
  router.configure_hedging(o);
  for (int i = 0; i < 3; ++i) router.hedging().record("t[0:10)@e1", std::chrono::milliseconds(4));
  CHECK(router.hedging().delay("t[0:10)@e1", std::chrono::seconds(5)) ==
        std::chrono::microseconds(4000));
  CHECK(router.hedges().sent == 0);
  CHECK(router.hedges().won == 0);
  o.enabled = false;
  router.configure_hedging(o);
  CHECK(router.hedging().delay("t[0:10)@e1", std::chrono::seconds(5)) == std::nullopt);
}

TEST_CASE("a node with a sub-request that lost a hedge race is avoided until it returns") {
  serving_router router{[](const std::string&) { return true; }};
  auto s = shard_on({"a", "b", "c"});
  router.abandoned("b");
  router.abandoned("b");
  std::vector<std::string> got;
  for (int i = 0; i < 4; ++i) got.push_back(router.pick(s, {})->node);
  CHECK(got == std::vector<std::string>{"a", "c", "a", "c"});
  // When it is the only replica left it is still used.
  CHECK(router.pick(s, {"a", "c"})->node == "b");
  router.returned("b");
  CHECK(router.lagging("b"));  // one abandoned sub-request still out
  router.returned("b");
  CHECK_FALSE(router.lagging("b"));
  router.returned("b");  // more returns than abandons: ignored
  got.clear();
  for (int i = 0; i < 3; ++i) got.push_back(router.pick(s, {})->node);
  CHECK(std::count(got.begin(), got.end(), "b") == 1);
}
