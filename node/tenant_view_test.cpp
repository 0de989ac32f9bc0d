#include "node/tenant_view.hpp"

#include <catch2/catch.hpp>

using namespace tessera;

namespace {

model_info model(const std::string& name, const std::string& embedder, version_state state) {
  model_info m;
  m.name = name;
  m.active_version = 1;
  version_info v;
  v.version = 1;
  v.state = state;
  v.embedder = embedder;
  v.classifier = name + ".classifier@1";
  m.versions.push_back(v);
  return m;
}

const model_filter all = [](const std::string&) { return true; };

}  // namespace

TEST_CASE("a tenant's view keeps its listed models and drops everything cluster-wide") {
  cluster_status s;
  s.ready = true;
  s.members.push_back({});
  s.members.back().name = "shard-1";
  s.members.back().address = "10.0.0.1:7400";
  s.hedges_sent = 7;
  s.hedges_won = 3;
  s.persist_error = "cannot write /var/lib/tessera/registry.json";
  s.persist_failures = 2;
  s.models = {
      model("m", "m.embedder@1 (epoch 1, 2 users)", version_state::serving),
      model("acme/m", "m.embedder@1 (epoch 1, 2 users)", version_state::serving),
      model("acme/own", "acme/own.embedder@1 (epoch 2, 1 user)", version_state::loading),
      model("acme/hidden", "acme/hidden.embedder@1 (epoch 1, 1 user)", version_state::serving)};
  s.under_replicated = {"m v1 embedder.input[0:10) has 1 of 2 replicas",
                        "acme/m v1 embedder.input[0:10) has 1 of 2 replicas"};
  tenant_scope acme("acme");
  to_tenant_view(s, acme, [](const std::string& m) { return m != "hidden"; });
  REQUIRE(s.models.size() == 2);
  CHECK(s.models[0].name == "m");
  CHECK(s.models[0].versions[0].embedder == "shared");  // the default tenant's: no name, no count
  CHECK(s.models[0].versions[0].classifier == "m.classifier@1");
  CHECK(s.models[1].name == "own");
  CHECK(s.models[1].versions[0].embedder == "own.embedder@1");
  CHECK(s.models[1].versions[0].classifier == "own.classifier@1");
  CHECK(s.under_replicated ==
        std::vector<std::string>{"m v1 embedder.input[0:10) has 1 of 2 replicas"});
  CHECK(s.members.empty());
  CHECK(s.hedges_sent == 0);
  CHECK(s.hedges_won == 0);
  CHECK(s.persist_failures == 0);
  CHECK(s.persist_error.find("/var") == std::string::npos);
  CHECK_FALSE(s.ready);  // its own under-replicated shard, and "own" is not serving
}

TEST_CASE("a tenant whose models all serve in full is ready whatever others do") {
  cluster_status s;
  s.ready = false;
  s.models = {model("acme/m", "acme/m.embedder@1 (epoch 1, 1 user)", version_state::serving),
              model("beta/m", "beta/m.embedder@1 (epoch 1, 1 user)", version_state::loading)};
  s.under_replicated = {"beta/m v1 embedder.input[0:10) has 0 of 1 replicas"};
  to_tenant_view(s, tenant_scope("acme"), all);
  CHECK(s.ready);
  CHECK(s.under_replicated.empty());
  std::vector<model_info> ms = {
      model("m", "m.embedder@1 (epoch 4, 3 users)", version_state::serving),
      model("beta/x", "", version_state::serving)};
  keep_tenant_models(ms, tenant_scope("default"), all);
  REQUIRE(ms.size() == 1);
  CHECK(ms[0].versions[0].embedder == "m.embedder@1");  // no count, no epoch
  std::vector<model_info> admin = {
      model("m", "m.embedder@1 (epoch 4, 3 users)", version_state::serving)};
  keep_tenant_models(admin, tenant_scope("default"), all, true);  // a cluster admin's
  CHECK(admin[0].versions[0].embedder == "m.embedder@1 (epoch 4, 3 users)");
}
