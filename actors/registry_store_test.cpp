// The persisted registry's JSON, without an actor system or files.
#include "actors/registry_store.hpp"

#include <functional>

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

namespace {

// A valid snapshot: model m with v1 serving (epochs 2, embedder 1), v2 ready (epoch 3).
registry_snapshot valid_snapshot() {
  registry_snapshot s;
  s.incarnation = "0123456789abcdef0123456789abcdef";
  s.epoch = 3;
  model_record m;
  m.name = "m";
  m.next_version = 3;
  m.active = 1;
  m.labels = {{"stable", 1}};
  version_record v1;
  v1.version = 1;
  v1.epoch = 2;
  v1.embedder_epoch = 1;
  v1.state = version_state::serving;
  version_record v2 = v1;
  v2.version = 2;
  v2.epoch = 3;
  v2.state = version_state::ready;
  m.versions = {v1, v2};
  s.models = {m};
  s.retired = {{"acme/gone", 4}};
  return s;
}

}  // namespace

TEST_CASE("retired names and their next numbers survive the file") {
  auto back = snapshot_from_json(to_json(valid_snapshot()));
  REQUIRE(back);
  CHECK(back->retired == std::map<std::string, uint64_t>{{"acme/gone", 4}});
}

TEST_CASE("recovery refuses a registry that breaks an invariant, naming it, table-style") {
  struct bad_case {
    const char* scenario;
    std::function<void(registry_snapshot&)> spoil;
    const char* named;  // a part of the message that names the broken invariant
  };
  std::vector<bad_case> cases = {
      {"next_version below an existing version",
       [](registry_snapshot& s) { s.models[0].next_version = 2; }, "next_version"},
      {"active names a version that does not exist",
       [](registry_snapshot& s) { s.models[0].active = 99; }, "active 99"},
      {"two serving versions",
       [](registry_snapshot& s) { s.models[0].versions[1].state = version_state::serving; },
       "two serving"},
      {"previous is the active version", [](registry_snapshot& s) { s.models[0].previous = 1; },
       "previous 1"},
      {"a label points nowhere", [](registry_snapshot& s) { s.models[0].labels["x"] = 7; },
       "label 'x'"},
      {"a version listed twice", [](registry_snapshot& s) { s.models[0].versions[1].version = 1; },
       "listed twice"},
      {"two versions with one epoch",
       [](registry_snapshot& s) { s.models[0].versions[1].epoch = 2; }, "reuses epoch 2"},
      {"an epoch beyond the registry's", [](registry_snapshot& s) { s.epoch = 2; },
       "beyond the registry"},
      {"a model listed twice", [](registry_snapshot& s) { s.models.push_back(s.models[0]); },
       "listed twice"},
      {"a retired name that is also a model", [](registry_snapshot& s) { s.retired["m"] = 5; },
       "retired"},
      {"an invalid model name", [](registry_snapshot& s) { s.models[0].name = "a b"; },
       "invalid name"},
  };
  REQUIRE_FALSE(validate_snapshot(valid_snapshot()));
  for (const auto& c : cases) {
    SECTION(c.scenario) {
      auto s = valid_snapshot();
      c.spoil(s);
      auto back = snapshot_from_json(to_json(s));
      REQUIRE_FALSE(back);
      CHECK(is(back.error(), errc::invalid_argument));
      CHECK_THAT(message_of(back.error()), Catch::Contains(c.named));
    }
  }
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
