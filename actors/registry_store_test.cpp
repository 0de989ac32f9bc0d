// The persisted registry's JSON, without an actor system or files.
#include "actors/registry_store.hpp"

#include <catch2/catch.hpp>

using namespace tessera;

TEST_CASE("a snapshot keeps the draining members by name, and a file without them reads") {
  registry_snapshot s;
  s.incarnation = "0123456789abcdef0123456789abcdef";
  s.epoch = 7;
  s.draining = {"shard-2"};
  auto back = snapshot_from_json(to_json(s));
  REQUIRE(back);
  CHECK(back->draining == std::vector<std::string>{"shard-2"});
  CHECK(back->epoch == 7);

  auto old = snapshot_from_json(
      R"({"format": 1, "incarnation": "0123456789abcdef0123456789abcdef", "epoch": 3,
          "models": []})");
  REQUIRE(old);
  CHECK(old->draining.empty());
}
