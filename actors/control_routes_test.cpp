// Routing snapshots without an actor system: what a snapshot routes to, and that rows are freed
// only once no snapshot in use names them.
#include "actors/control_routes.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>

using namespace tessera;

namespace {

const model_key M{tenant_id{}, "m"};

model_ref ref_m() {
  model_ref r;
  r.name = "m";
  return r;
}

// A ready version of "m" whose embedder has one tensor of two shards, replicated on `nodes`.
std::shared_ptr<version_entry> add_version(registry& reg, const std::vector<std::string>& nodes,
                                           const std::string& fingerprint) {
  auto v = std::make_shared<version_entry>();
  v->embedder = std::make_shared<submodel_entry>();
  v->embedder->name = fingerprint;
  v->embedder->fingerprint = fingerprint;
  v->embedder->epoch = 7;
  tensor_shards t;
  t.tensor = "emb";
  t.rows = 20;
  t.cols = 4;
  for (size_t s = 0; s < 2; ++s) {
    shard_ref sh;
    sh.index = s;
    sh.rows = {10 * s, 10 * (s + 1)};
    for (const auto& n : nodes) {
      replica_ref r;
      r.node = n;
      r.replica_id = fingerprint + "/" + std::to_string(s) + "/" + n;
      r.state = replica_state::ready;
      sh.replicas.push_back(r);
    }
    t.shards.push_back(sh);
  }
  v->embedder->tensors.push_back(t);
  reg.add_version(M, v);
  REQUIRE_FALSE(reg.finish_load(*v, false));
  return v;
}

std::vector<std::string> nodes_of(const shard_route& s) {
  std::vector<std::string> out;
  for (const auto& r : s.replicas) out.push_back(r.node);
  return out;
}

}  // namespace

TEST_CASE("a snapshot routes to ready replicas on up members whose handle is known") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto shard = caf::actor_cast<shard_actor>(sys.spawn([] { return caf::behavior{}; }));
  registry reg;
  route_publisher routes;
  auto v = add_version(reg, {"a", "b", "c"}, "e1");
  for (const auto& n : {"a", "b", "c"})
    for (int s = 0; s < 2; ++s) routes.set_handle(n, "e1/" + std::to_string(s) + "/" + n, shard);
  routes.forget("c", "e1/1/c");  // its handle went away
  v->embedder->tensors[0].shards[0].replicas[1].state = replica_state::lost;  // b's shard 0
  auto snap = routes.publish(reg, [](const std::string& n) { return n != "a"; });
  CHECK(snap->generation == 1);
  const auto& route = snap->models.at(M).versions.at(1);
  CHECK(route.serves());
  CHECK(route.tables.at(0).owner == "e1");
  CHECK(route.tables.at(0).epoch == 7);
  REQUIRE(route.tables.at(0).shards.size() == 2);
  CHECK(route.tables.at(0).shards[0].name == "emb[0:10)");
  CHECK(route.tables.at(0).shards[0].key == "emb[0:10)@e7");
  CHECK(nodes_of(route.tables.at(0).shards[0]) == std::vector<std::string>{"c"});
  CHECK(nodes_of(route.tables.at(0).shards[1]) == std::vector<std::string>{"b"});
  CHECK(routes.find(shard.address()));
  caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
}

TEST_CASE("a flip is seen by the next snapshot; a running call keeps the one it took") {
  registry reg;
  route_publisher routes;
  const auto up = [](const std::string&) { return true; };
  add_version(reg, {"a"}, "e1");
  add_version(reg, {"a"}, "e2");
  auto held = resolve(routes.publish(reg, up), ref_m());
  REQUIRE(held);
  CHECK((*held)->version == 1);
  REQUIRE_FALSE(reg.activate(M, 2));
  auto next = resolve(routes.publish(reg, up), ref_m());
  CHECK((*next)->version == 2);
  CHECK((*held)->version == 1);
  CHECK(routes.live() == 2);
  CHECK(routes.oldest_live() == 1);
  held = caf::error{};
  CHECK(routes.oldest_live() == 2);
  CHECK(routes.live() == 1);
}

TEST_CASE("a released replica's unload is due only once no snapshot that may name it is in use") {
  registry reg;
  route_publisher routes;
  const auto up = [](const std::string&) { return true; };
  add_version(reg, {"a", "b"}, "e1");
  CHECK(routes.due().empty());
  auto call = routes.publish(reg, up);  // generation 1, held by a running call
  routes.defer({{"b", "e1/0/b"}});
  routes.publish(reg, up);  // generation 2 leaves it out
  CHECK(routes.due().empty());
  CHECK(routes.deferred() == 1);
  call.reset();
  auto due = routes.due();
  REQUIRE(due.size() == 1);
  CHECK(due[0] == replica_release{"b", "e1/0/b"});
  CHECK(routes.due().empty());
  // Before any snapshot was published nothing can name a replica: due at once.
  route_publisher fresh;
  fresh.defer({{"a", "x"}});
  CHECK(fresh.due().size() == 1);
}
