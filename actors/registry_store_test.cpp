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
  m.key = {tenant_id{}, "m"};
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
  s.retired = {{{tenant_id{"acme"}, "gone"}, 4}};
  return s;
}

}  // namespace

TEST_CASE("a composed version keeps the model version and package of its embedder in the file") {
  auto s = valid_snapshot();
  auto& v2 = s.models[0].versions[1];
  v2.embedder_model = "emb";
  v2.embedder_version = 4;
  v2.embedder_path = "/models/emb";
  auto back = snapshot_from_json(to_json(s));
  REQUIRE(back);
  const auto& got = back->models.at(0).versions;
  CHECK(got.at(0).embedder_model.empty());  // a version of its own: no keys written
  CHECK(to_json(s).find("\"embedder_model\"") == to_json(s).rfind("\"embedder_model\""));
  CHECK(got.at(1).embedder_model == "emb");
  CHECK(got.at(1).embedder_version == 4);
  CHECK(got.at(1).embedder_path == "/models/emb");
}

TEST_CASE("retired names and their next numbers survive the file") {
  auto back = snapshot_from_json(to_json(valid_snapshot()));
  REQUIRE(back);
  CHECK(back->retired == std::map<model_key, uint64_t>{{{tenant_id{"acme"}, "gone"}, 4}});
}

TEST_CASE("a tenant's model keeps its tenant in a field of its own, and two tenants one name") {
  auto s = valid_snapshot();
  auto theirs = s.models[0];
  theirs.key = {tenant_id{"acme"}, "m"};
  for (auto& v : theirs.versions) v.epoch += 10;
  s.epoch = 13;
  s.models.push_back(theirs);
  const auto text = to_json(s);
  CHECK_THAT(text, Catch::Contains("\"tenant\": \"acme\""));
  CHECK_THAT(text, !Catch::Contains("acme/"));
  auto back = snapshot_from_json(text);
  REQUIRE(back);
  REQUIRE(back->models.size() == 2);
  CHECK(back->models[0].key == model_key{tenant_id{}, "m"});
  CHECK(back->models[1].key == model_key{tenant_id{"acme"}, "m"});
}

TEST_CASE("a format-1 file's 'T/N' names are migrated to tenant T's model N") {
  auto old = snapshot_from_json(
      R"({"format": 1, "incarnation": "0123456789abcdef0123456789abcdef", "epoch": 7,
          "models": [{"name": "acme/y", "next_version": 2, "active": 1, "previous": 0,
                      "labels": {},
                      "versions": [{"version": 1, "epoch": 5, "embedder_epoch": 4,
                                    "path": "/pkg", "content": "xxh3-128:00",
                                    "state": "serving", "exact_pooling": false,
                                    "embedder": [], "classifier": []}]}],
          "retired": {"acme/gone": 3, "old": 2}})");
  REQUIRE(old);
  CHECK(old->models.at(0).key == model_key{tenant_id{"acme"}, "y"});
  CHECK(old->retired ==
        std::map<model_key, uint64_t>{{{tenant_id{"acme"}, "gone"}, 3}, {{tenant_id{}, "old"}, 2}});
  // Written again, it is format 2 and reads back the same.
  auto again = snapshot_from_json(to_json(*old));
  REQUIRE(again);
  CHECK_THAT(to_json(*old), Catch::Contains("\"format\": 2"));
  CHECK(again->models.at(0).key == old->models.at(0).key);
  CHECK(again->retired == old->retired);
  auto future =
      snapshot_from_json(R"({"format": 3, "incarnation": "x", "epoch": 1, "models": []})");
  REQUIRE_FALSE(future);
  CHECK_THAT(message_of(future.error()), Catch::Contains("format 3"));
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
      {"a retired name that is also a model",
       [](registry_snapshot& s) {
         s.retired[{tenant_id{}, "m"}] = 5;
       },
       "retired"},
      {"an invalid model name", [](registry_snapshot& s) { s.models[0].key.name = "a b"; },
       "invalid name"},
      {"an invalid tenant name",
       [](registry_snapshot& s) { s.models[0].key.tenant = tenant_id{"a/b"}; }, "invalid name"},
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
  m.key = {tenant_id{}, "y"};
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
