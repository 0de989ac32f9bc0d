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

TEST_CASE("a version's R is kept; a file written before R was kept reads it as 0 (not known)") {
  registry_snapshot s;
  s.incarnation = "0123456789abcdef0123456789abcdef";
  s.epoch = 7;
  model_record m;
  m.name = "y";
  m.next_version = 2;
  m.active = 1;
  version_record v;
  v.version = 1;
  v.epoch = 5;
  v.embedder_epoch = 4;
  v.path = "/pkg";
  v.content = "xxh3-128:00";
  v.state = version_state::serving;
  v.replicas = 2;
  m.versions.push_back(v);
  s.models.push_back(m);
  auto back = snapshot_from_json(to_json(s));
  REQUIRE(back);
  REQUIRE(back->models.size() == 1);
  REQUIRE(back->models[0].versions.size() == 1);
  CHECK(back->models[0].versions[0].replicas == 2);

  auto old = snapshot_from_json(
      R"({"format": 1, "incarnation": "0123456789abcdef0123456789abcdef", "epoch": 7,
          "models": [{"name": "y", "next_version": 2, "active": 1, "previous": 0, "labels": {},
                      "versions": [{"version": 1, "epoch": 5, "embedder_epoch": 4,
                                    "path": "/pkg", "content": "xxh3-128:00",
                                    "state": "serving", "exact_pooling": false,
                                    "embedder": [], "classifier": []}]}]})");
  REQUIRE(old);
  CHECK(old->models[0].versions[0].replicas == 0);
}
