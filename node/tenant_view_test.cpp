#include "node/tenant_view.hpp"

#include <catch2/catch.hpp>

using namespace tessera;

namespace {

const tenant_id acme{"acme"}, beta{"beta"}, deflt{};

// Model `name` of `tenant` whose embedder `owner` registered.
model_info model(const tenant_id& tenant, const std::string& name, const std::string& embedder,
                 const tenant_id& owner, version_state state) {
  model_info m;
  m.tenant = tenant;
  m.name = name;
  m.active_version = 1;
  version_info v;
  v.version = 1;
  v.state = state;
  v.embedder = embedder;
  v.embedder_owner = owner;
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
      model(deflt, "m", "m.embedder@1 (epoch 1, 2 users)", deflt, version_state::serving),
      model(acme, "m", "m.embedder@1 (epoch 1, 2 users)", deflt, version_state::serving),
      model(acme, "own", "own.embedder@1 (epoch 2, 1 user)", acme, version_state::loading),
      model(acme, "hidden", "hidden.embedder@1 (epoch 1, 1 user)", acme, version_state::serving)};
  s.under_replicated = {{{deflt, "m"}, "v1 embedder.input[0:10) has 1 of 2 replicas"},
                        {{acme, "m"}, "v1 embedder.input[0:10) has 1 of 2 replicas"},
                        {{acme, "hidden"}, "v1 embedder.input[0:10) has 0 of 2 replicas"}};
  to_tenant_view(s, acme, [](const std::string& m) { return m != "hidden"; });
  REQUIRE(s.models.size() == 2);
  CHECK(s.models[0].name == "m");
  CHECK(s.models[0].tenant == acme);
  CHECK(s.models[0].versions[0].embedder == "shared");  // the default tenant's: no name, no count
  CHECK(s.models[0].versions[0].classifier == "m.classifier@1");
  CHECK(s.models[1].name == "own");
  CHECK(s.models[1].versions[0].embedder == "own.embedder@1");
  CHECK(s.models[1].versions[0].classifier == "own.classifier@1");
  REQUIRE(s.under_replicated.size() == 1);
  CHECK(s.under_replicated[0].line(true) == "m v1 embedder.input[0:10) has 1 of 2 replicas");
  CHECK(s.under_replicated[0].line() == "acme/m v1 embedder.input[0:10) has 1 of 2 replicas");
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
  s.models = {model(acme, "m", "m.embedder@1 (epoch 1, 1 user)", acme, version_state::serving),
              model(beta, "m", "m.embedder@1 (epoch 1, 1 user)", beta, version_state::loading)};
  s.under_replicated = {{{beta, "m"}, "v1 embedder.input[0:10) has 0 of 1 replicas"}};
  to_tenant_view(s, acme, all);
  CHECK(s.ready);
  CHECK(s.under_replicated.empty());
  REQUIRE(s.models.size() == 1);
  CHECK(s.models[0].tenant == acme);
  std::vector<model_info> ms = {
      model(deflt, "m", "m.embedder@1 (epoch 4, 3 users)", deflt, version_state::serving),
      model(beta, "x", "", beta, version_state::serving)};
  keep_tenant_models(ms, deflt, all);
  REQUIRE(ms.size() == 1);
  CHECK(ms[0].versions[0].embedder == "m.embedder@1");  // no count, no epoch
  std::vector<model_info> admin = {
      model(deflt, "m", "m.embedder@1 (epoch 4, 3 users)", beta, version_state::serving)};
  keep_tenant_models(admin, deflt, all, true);  // a cluster admin's
  CHECK(admin[0].versions[0].embedder == "m.embedder@1 (epoch 4, 3 users)");
}

TEST_CASE("a model named like another tenant's qualified name is not that tenant's") {
  std::vector<model_info> ms = {
      model(deflt, "acme.m", "e@1 (epoch 1, 1 user)", deflt, version_state::serving),
      model(beta, "m", "e@1 (epoch 1, 1 user)", beta, version_state::serving)};
  keep_tenant_models(ms, acme, all);
  CHECK(ms.empty());
}
