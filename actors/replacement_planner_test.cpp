// Re-placement on the registry, without an actor system: when spares are placed, where, what
// is under-replicated, and when spares are released.
#include "actors/replacement_planner.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

using namespace tessera;
using namespace std::chrono_literals;

namespace {

// Shortfalls as a cluster admin's status shows them.
std::vector<std::string> lines(const std::vector<shard_shortfall>& shortfalls) {
  std::vector<std::string> out;
  for (const auto& s : shortfalls) out.push_back(s.line());
  return out;
}

using clock_type = std::chrono::steady_clock;
const auto t0 = clock_type::time_point{} + std::chrono::hours(1);

// A sub-model with one tensor; shard i has one replica on each node of layout[i], all ready.
std::shared_ptr<submodel_entry> submodel(const std::string& name,
                                         const std::vector<std::vector<std::string>>& layout,
                                         uint64_t bytes = 100) {
  auto s = std::make_shared<submodel_entry>();
  s->name = name;
  s->fingerprint = name + "#fp";
  s->epoch = 3;
  tensor_shards t;
  t.tensor = name + ".w";
  t.rows = 10 * layout.size();
  t.cols = 4;
  for (size_t i = 0; i < layout.size(); ++i) {
    shard_ref sh;
    sh.index = i;
    sh.rows = {10 * i, 10 * (i + 1)};
    sh.bytes = bytes;
    for (size_t r = 0; r < layout[i].size(); ++r) {
      replica_ref ref;
      ref.node = layout[i][r];
      ref.replica_id =
          name + "/e3/" + t.tensor + "/" + std::to_string(i) + "/r" + std::to_string(r);
      ref.spec.replica_id = ref.replica_id;
      ref.spec.row_begin = sh.rows.begin;
      ref.spec.row_end = sh.rows.end;
      ref.spec.epoch = 3;
      ref.state = replica_state::ready;
      sh.replicas.push_back(ref);
    }
    t.shards.push_back(sh);
  }
  s->tensors.push_back(t);
  return s;
}

// R=2 over a, b, c: "m" v1 serving, embedder split in three, classifier whole on a and b.
struct fixture {
  registry reg;
  std::shared_ptr<version_entry> v;
  std::map<std::string, bool> up{{"a", true}, {"b", true}, {"c", true}};
  std::map<std::string, uint64_t> budget{{"a", 0}, {"b", 0}, {"c", 0}};
  std::set<std::string> draining;
  std::set<std::string> removed;  // no longer in the config: not a member at all
  replacement_planner planner{30s};
  std::vector<replacement_planner::move_done> moved;  // by the last tick

  fixture() {
    v = std::make_shared<version_entry>();
    v->embedder = submodel("m.embedder@1", {{"a", "b"}, {"b", "c"}, {"c", "a"}});
    v->classifier = submodel("m.classifier@1", {{"a", "b"}}, 50);
    reg.add_version({tenant_id{}, "m"}, v);
    REQUIRE_FALSE(reg.finish_load(*v, true));
  }
  // A new member, up, with an unlimited budget.
  void join(const std::string& n) {
    up[n] = true;
    budget[n] = 0;
  }
  replacement_planner::node_up_fn up_fn() {
    return [this](const std::string& n) { return up.at(n); };
  }
  std::vector<replacement_planner::member_view> members() {
    std::vector<replacement_planner::member_view> out;
    for (auto& [n, u] : up)
      if (!removed.count(n)) out.push_back({n, u, budget.at(n), 0, draining.count(n) > 0});
    return out;
  }
  void kill(const std::string& node, clock_type::time_point at) {
    up[node] = false;
    reg.mark_node_lost(node);
    for (auto& [n, u] : up) planner.observe(n, u, at);
  }
  replacement_planner::plan tick(clock_type::time_point now) {
    for (auto& [n, u] : up) planner.observe(n, u, now);
    moved = planner.finish_moves(reg, members());
    planner.release_surplus(reg, up_fn());
    reg.drop_released();  // as replacement_tick does
    return planner.place(reg, members(), now);
  }
  // Replicas on `node` that are not released, over both sub-models.
  std::vector<replica_ref*> on(const std::string& node) {
    std::vector<replica_ref*> out;
    for (auto* sub : {v->embedder.get(), v->classifier.get()})
      sub->for_each_replica([&](replica_ref& r) {
        if (r.node == node && r.state != replica_state::unloaded) out.push_back(&r);
      });
    return out;
  }
  std::vector<const replica_ref*> spares() {
    std::vector<const replica_ref*> out;
    for (auto* sub : {v->embedder.get(), v->classifier.get()})
      sub->for_each_replica([&](replica_ref& r) {
        if (r.spare && r.state != replica_state::unloaded) out.push_back(&r);
      });
    return out;
  }
};

}  // namespace

TEST_CASE("within the grace nothing is re-placed, but status names the shards short of R") {
  fixture f;
  CHECK(replacement_planner::under_replicated(f.reg, f.up_fn()).empty());
  f.kill("a", t0);
  auto plan = f.tick(t0 + 29s);
  CHECK(plan.loads.empty());
  CHECK(plan.unplaced.empty());
  auto under = replacement_planner::under_replicated(f.reg, f.up_fn());
  CHECK(lines(under) ==
        std::vector<std::string>{"m v1 m.embedder@1.w[0:10) has 1 of 2 replicas",
                                 "m v1 m.embedder@1.w[20:30) has 1 of 2 replicas",
                                 "m v1 m.classifier@1.w[0:10) has 1 of 2 replicas"});
}

TEST_CASE("past the grace each lost replica gets a spare on the survivor without the shard") {
  fixture f;
  f.kill("a", t0);
  auto plan = f.tick(t0 + 30s);
  REQUIRE(plan.loads.size() == 3);
  CHECK(plan.unplaced.empty());
  std::map<std::string, std::string> where;  // replica id -> node
  for (const auto& l : plan.loads) {
    CHECK(l.replica->spare);
    CHECK(l.replica->state == replica_state::loading);
    CHECK(l.replica->spec.replica_id == l.replica->replica_id);
    where[l.replica->replica_id] = l.replica->node;
  }
  CHECK(where.at("m.embedder@1/e3/m.embedder@1.w/0/r2") == "c");  // shard 0 was on a, b
  CHECK(where.at("m.embedder@1/e3/m.embedder@1.w/2/r2") == "b");  // shard 2 was on c, a
  CHECK(where.at("m.classifier@1/e3/m.classifier@1.w/0/r2") == "c");
  // Loading spares count as live: the next tick places nothing more.
  CHECK(f.tick(t0 + 31s).loads.empty());
  // Still short of ready copies until the spares are loaded.
  CHECK(replacement_planner::under_replicated(f.reg, f.up_fn()).size() == 3);
  for (const auto& l : plan.loads) l.replica->state = replica_state::ready;
  CHECK(replacement_planner::under_replicated(f.reg, f.up_fn()).empty());
  CHECK(f.tick(t0 + 32s).loads.empty());
  CHECK(f.planner.queued() == 0);  // nothing surplus while a is down
}

TEST_CASE("budgets that do not allow a spare leave the shard named, the rest placed") {
  fixture f;
  // b has room for the classifier's 50 bytes only; c for nothing.
  f.budget["b"] = f.reg.bytes_on("b") + 50;
  f.budget["c"] = f.reg.bytes_on("c");
  f.kill("a", t0);
  auto plan = f.tick(t0 + 31s);
  CHECK(plan.loads.empty());  // the classifier's spare would have to go to c: no room
  REQUIRE(plan.unplaced.size() == 3);
  CHECK(plan.unplaced[0] == "m v1 m.embedder@1.w[0:10) lacks 1 of 2 replicas");
  CHECK(f.planner.unplaced_changed(plan.unplaced));
  CHECK_FALSE(f.planner.unplaced_changed(f.tick(t0 + 32s).unplaced));  // logged once
  CHECK(replacement_planner::under_replicated(f.reg, f.up_fn()).size() == 3);

  fixture g;
  g.budget["b"] = g.reg.bytes_on("b") + 100;  // room for shard 2's spare
  g.budget["c"] = g.reg.bytes_on("c");
  g.kill("a", t0);
  auto partial = g.tick(t0 + 31s);
  REQUIRE(partial.loads.size() == 1);
  CHECK(partial.loads[0].replica->node == "b");
  CHECK(partial.unplaced.size() == 2);
}

TEST_CASE("a returning node reloads its replicas; the spares go only once those are ready") {
  fixture f;
  f.kill("a", t0);
  auto plan = f.tick(t0 + 31s);
  REQUIRE(plan.loads.size() == 3);
  for (const auto& l : plan.loads) l.replica->state = replica_state::ready;
  // a rejoins: restore_replicas sets its lost replicas loading.
  f.up["a"] = true;
  std::vector<replica_ref*> home;
  for (auto* sub : {f.v->embedder.get(), f.v->classifier.get()})
    sub->for_each_replica([&](replica_ref& r) {
      if (r.node == "a" && r.state == replica_state::lost) {
        r.state = replica_state::loading;
        home.push_back(&r);
      }
    });
  REQUIRE(home.size() == 3);
  f.tick(t0 + 40s);
  CHECK(f.spares().size() == 3);  // kept while a's copies load
  CHECK(f.planner.queued() == 0);
  for (auto* r : home) r->state = replica_state::ready;
  f.tick(t0 + 41s);
  CHECK(f.spares().empty());  // surplus: released, no longer routed to
  CHECK(f.planner.queued() == 3);
  auto due = f.planner.due(f.members());
  CHECK(due.size() == 3);
  CHECK(f.planner.queued() == 0);
  CHECK(replacement_planner::under_replicated(f.reg, f.up_fn()).empty());
}

TEST_CASE("a spare whose node dies is kept (restored if it returns), and replaced past grace") {
  fixture f;
  f.join("d");
  f.kill("a", t0);
  auto plan = f.tick(t0 + 31s);
  REQUIRE_FALSE(plan.loads.empty());
  for (const auto& l : plan.loads) l.replica->state = replica_state::ready;
  f.kill("c", t0 + 40s);  // holds a spare, and shard 1's second replica
  // a is past its grace: the shards a held that lack a live copy again get one on d; c is not
  // past its grace yet, so shard 1 (b, c) waits.
  auto mid = f.tick(t0 + 41s);
  CHECK_FALSE(mid.loads.empty());
  for (const auto& l : mid.loads) {
    CHECK(l.replica->node == "d");
    CHECK(l.replica->spec.row_begin != 10);
    l.replica->state = replica_state::ready;
  }
  size_t lost_spares = 0;
  for (const auto* r : f.spares()) lost_spares += r->state == replica_state::lost ? 1 : 0;
  CHECK(lost_spares > 0);  // c's lost spares are kept: restored if c comes back
  auto late = f.tick(t0 + 71s);
  REQUIRE(late.loads.size() == 1);
  CHECK(late.loads[0].replica->node == "d");
  CHECK(late.loads[0].replica->spec.row_begin == 10);
  late.loads[0].replica->state = replica_state::ready;
  CHECK(replacement_planner::under_replicated(f.reg, f.up_fn()).empty());
}

TEST_CASE("released spares on a down node wait in the queue until it is up") {
  fixture f;
  f.kill("a", t0);
  auto plan = f.tick(t0 + 31s);
  for (const auto& l : plan.loads) l.replica->state = replica_state::ready;
  f.kill("c", t0 + 32s);  // holds two spares
  // a is back with its replicas ready.
  f.up["a"] = true;
  for (auto* sub : {f.v->embedder.get(), f.v->classifier.get()})
    sub->for_each_replica([&](replica_ref& r) {
      if (r.node == "a") r.state = replica_state::ready;
    });
  f.tick(t0 + 33s);
  // Shard 0's and the classifier's spares (both on c) are surplus; shard 2's (on b) still
  // stands in for c's own copy.
  CHECK(f.spares().size() == 1);
  CHECK(f.planner.due(f.members()).empty());
  CHECK(f.planner.queued() == 2);
  f.up["c"] = true;
  CHECK(f.planner.due(f.members()).size() == 2);
}

TEST_CASE("a spare's id replaces a trailing /rN with its own index") {
  CHECK(spare_replica_id("m.e@1/e3/t/0/r1", 2) == "m.e@1/e3/t/0/r2");
  CHECK(spare_replica_id("content-abc", 2) == "content-abc/r2");
  CHECK(spare_replica_id("x/rack", 3) == "x/rack/r3");
  CHECK(spare_replica_id("i/m.e@1/e3/t/0/r1/5d41402a/r4", 2) == "i/m.e@1/e3/t/0/r1/5d41402a/r2");
  CHECK(base_replica_id("i/m.e@1/e3/t/0/r1/5d41402a/r4") == "i/m.e@1/e3/t/0/r1/5d41402a");
  CHECK(base_replica_id("i/m.e@1/e3/t/0/r1/5d41402a") == "i/m.e@1/e3/t/0/r1/5d41402a");
}

TEST_CASE(
    "a draining node's replicas each get a successor elsewhere; the old copies serve until "
    "the successors are ready, then they take their place and the old ones are released") {
  fixture f;
  f.draining.insert("a");
  auto plan = f.tick(t0);  // no grace: a is up and serving
  REQUIRE(plan.loads.size() == 3);
  CHECK(plan.unplaced.empty());
  std::map<std::string, std::string> to;  // replaced id -> successor's node
  for (const auto& l : plan.loads) {
    CHECK(l.replica->spare);
    CHECK(l.replica->state == replica_state::loading);
    to[l.replica->replaces] = l.replica->node;
  }
  CHECK(to.at("m.embedder@1/e3/m.embedder@1.w/0/r0") == "c");  // shard 0 is on a, b
  CHECK(to.at("m.embedder@1/e3/m.embedder@1.w/2/r1") == "b");  // shard 2 is on c, a
  CHECK(to.at("m.classifier@1/e3/m.classifier@1.w/0/r0") == "c");
  // While they load, a's copies stay ready and routed to, and nothing more is placed.
  CHECK(f.tick(t0 + 1s).loads.empty());
  CHECK(f.on("a").size() == 3);
  for (auto* r : f.on("a")) CHECK(r->state == replica_state::ready);
  CHECK(replacement_planner::under_replicated(f.reg, f.up_fn()).empty());
  for (const auto& l : plan.loads) l.replica->state = replica_state::ready;
  f.tick(t0 + 2s);
  CHECK(f.moved.size() == 3);
  CHECK(f.on("a").empty());
  CHECK(replacement_planner::held_on(f.reg, "a") == 0);
  CHECK(f.spares().empty());  // the successors are regular replicas now
  CHECK(replacement_planner::under_replicated(f.reg, f.up_fn()).empty());
  auto due = f.planner.due(f.members());
  REQUIRE(due.size() == 3);  // the unloads of a's copies, sent at the next tick
  for (const auto& d : due) CHECK(d.node == "a");
  CHECK(f.tick(t0 + 3s).loads.empty());  // settled: exactly R copies, none on a
}

TEST_CASE("with R=1 the draining node's copy is the one served until its successor is ready") {
  registry reg;
  auto v = std::make_shared<version_entry>();
  v->embedder = submodel("m.embedder@1", {{"a"}, {"b"}, {"c"}});
  reg.add_version({tenant_id{}, "m"}, v);
  REQUIRE_FALSE(reg.finish_load(*v, true));
  replacement_planner planner{30s};
  std::vector<replacement_planner::member_view> members{
      {"a", true, 0, 0, false}, {"b", true, 0, 0, true}, {"c", true, 0, 0, false}};
  auto plan = planner.place(reg, members, t0);
  REQUIRE(plan.loads.size() == 1);
  auto* successor = plan.loads[0].replica;
  CHECK(successor->node == "a");  // never b; unlimited budgets tie, member order decides
  auto& shard = v->embedder->tensors[0].shards[1];
  auto* old = &shard.replicas[0];
  CHECK(planner.finish_moves(reg, members).empty());
  CHECK(old->state == replica_state::ready);  // still the shard's only ready copy
  successor->state = replica_state::ready;
  auto moved = planner.finish_moves(reg, members);
  REQUIRE(moved.size() == 1);
  CHECK(moved[0].from == "b");
  CHECK(old->state == replica_state::unloaded);
  CHECK_FALSE(successor->spare);
  auto up = [](const std::string&) { return true; };
  CHECK(replacement_planner::under_replicated(reg, up).empty());
  CHECK(planner.place(reg, members, t0 + 1s).loads.empty());
}

TEST_CASE("a draining node gets no copies, and a replica no other member has room for stays") {
  fixture f;
  f.draining.insert("a");
  f.budget["b"] = f.reg.bytes_on("b") + 100;  // room for shard 2's copy only
  f.budget["c"] = f.reg.bytes_on("c");
  auto plan = f.tick(t0);
  REQUIRE(plan.loads.size() == 1);
  CHECK(plan.loads[0].replica->node == "b");
  CHECK(lines(f.planner.stuck()) ==
        std::vector<std::string>{
            "m v1 m.embedder@1.w[0:10) cannot move off draining a: no other member has room",
            "m v1 m.classifier@1.w[0:10) cannot move off draining a: no other member has room"});
  plan.loads[0].replica->state = replica_state::ready;
  f.tick(t0 + 1s);
  CHECK(f.on("a").size() == 2);  // the two that could not move still serve from a
  for (auto* r : f.on("a")) CHECK(r->state == replica_state::ready);
  f.join("d");  // a new member with room
  auto later = f.tick(t0 + 2s);
  CHECK(later.loads.size() == 2);
  for (const auto& l : later.loads) CHECK(l.replica->node == "d");
  CHECK(f.planner.stuck().empty());
}

TEST_CASE("undrain stops further moves; a copy already loading still completes its move") {
  fixture f;
  f.draining.insert("a");
  f.budget["c"] = f.reg.bytes_on("c");  // room on b only: shard 2 moves, the rest waits
  auto plan = f.tick(t0);
  REQUIRE(plan.loads.size() == 1);
  f.draining.clear();
  f.budget["c"] = 0;
  CHECK(f.tick(t0 + 1s).loads.empty());  // no new moves
  plan.loads[0].replica->state = replica_state::ready;
  f.tick(t0 + 2s);
  CHECK(f.moved.size() == 1);
  CHECK(f.on("a").size() == 2);
}

TEST_CASE(
    "replicas on a node no longer in the config are re-placed at once and take the old "
    "ones' place; nothing is queued for the unknown node") {
  fixture f;
  f.removed.insert("a");
  f.up["a"] = false;
  f.reg.mark_node_lost("a");  // after a restart: recorded on a, never answered
  CHECK(replacement_planner::under_replicated(f.reg, f.up_fn()).size() == 3);
  auto plan = f.tick(t0);  // no grace for a node that is gone for good
  REQUIRE(plan.loads.size() == 3);
  for (const auto& l : plan.loads) {
    CHECK(l.replica->node != "a");
    l.replica->state = replica_state::ready;
  }
  f.tick(t0 + 1s);
  CHECK(f.moved.size() == 3);
  CHECK(replacement_planner::held_on(f.reg, "a") == 0);
  CHECK(f.planner.queued() == 0);
  CHECK(replacement_planner::under_replicated(f.reg, f.up_fn()).empty());
}

TEST_CASE("a successor that is lost before it is ready is released and placed anew") {
  fixture f;
  f.join("d");
  f.draining.insert("a");
  auto plan = f.tick(t0);
  REQUIRE(plan.loads.size() == 3);
  std::string victim;
  for (const auto& l : plan.loads)
    if (l.replica->replaces == "m.embedder@1/e3/m.embedder@1.w/0/r0") victim = l.replica->node;
  REQUIRE_FALSE(victim.empty());
  f.kill(victim, t0 + 1s);
  auto again = f.tick(t0 + 2s);
  bool replaced = false;
  for (const auto& l : again.loads) {
    CHECK(l.replica->node != victim);
    CHECK(l.replica->node != "a");
    replaced = replaced || l.replica->replaces == "m.embedder@1/e3/m.embedder@1.w/0/r0";
  }
  CHECK(replaced);
  for (const auto* r : f.spares())
    if (r->node == victim) CHECK(r->replaces.empty());  // its successors were released
}

TEST_CASE("a successor whose load failed on an up node stays, and the move goes elsewhere") {
  fixture f;
  f.join("d");
  f.draining.insert("a");
  const std::string moving = "m.embedder@1/e3/m.embedder@1.w/0/r0";  // shard 0, on a and b
  replica_ref* failed = nullptr;
  for (const auto& l : f.tick(t0).loads)
    if (l.replica->replaces == moving) failed = l.replica;
  REQUIRE(failed);
  failed->state = replica_state::lost;  // what the load's failure callback does
  const auto failed_id = failed->replica_id, failed_node = failed->node;
  auto again = f.tick(t0 + 1s);
  REQUIRE(again.loads.size() == 1);
  CHECK(again.loads[0].replica->replaces == moving);
  CHECK(again.loads[0].replica->node != failed_node);  // not chosen again
  CHECK(failed->state == replica_state::lost);
  CHECK(f.tick(t0 + 2s).loads.empty());  // no retry every tick
  again.loads[0].replica->state = replica_state::ready;
  f.tick(t0 + 3s);
  CHECK(f.moved.size() == 1);
  // A surplus spare once the move is done: released, its unload queued, gone from the shard.
  CHECK(f.v->embedder->find_replica(failed_id) == nullptr);
  CHECK(f.v->embedder->find_replica(moving) == nullptr);
  CHECK(f.v->embedder->tensors[0].shards[0].replicas.size() == 2);
  auto due = f.planner.due(f.members());
  CHECK(std::count_if(due.begin(), due.end(), [&](const replica_release& r) {
          return r.replica_id == failed_id && r.node == failed_node;
        }) == 1);
}

TEST_CASE(
    "released spares and moved copies leave their shard's list; a node that keeps going away "
    "and coming back leaves the lists and the queue bounded") {
  fixture f;
  auto sizes = [&] {
    std::vector<size_t> out;
    for (auto* sub : {f.v->embedder.get(), f.v->classifier.get()})
      for (const auto& s : sub->tensors[0].shards) out.push_back(s.replicas.size());
    return out;
  };
  const auto start = sizes();
  std::set<std::string> spare_ids;  // every spare ever placed: ids are never reused
  auto now = t0;
  for (int round = 0; round < 6; ++round) {
    f.kill("a", now);
    now += 31s;
    auto plan = f.tick(now);
    REQUIRE(plan.loads.size() == 3);
    for (const auto& l : plan.loads) {
      CHECK(spare_ids.insert(l.replica->replica_id).second);
      l.replica->state = replica_state::ready;
    }
    // a comes back and reloads its replicas (restore_replicas); the spares become surplus.
    f.up["a"] = true;
    for (auto* sub : {f.v->embedder.get(), f.v->classifier.get()})
      sub->for_each_replica([&](replica_ref& r) {
        if (r.node == "a") r.state = replica_state::ready;
      });
    now += 1s;
    f.tick(now);
    CHECK(sizes() == start);
    CHECK(f.planner.queued() == 3);
    CHECK(f.planner.due(f.members()).size() == 3);
    CHECK(f.planner.queued() == 0);
    CHECK(replacement_planner::under_replicated(f.reg, f.up_fn()).empty());
  }
  // Moves too: a drains; once its successors are ready the old copies leave the lists.
  f.draining.insert("a");
  auto plan = f.tick(now + 1s);
  REQUIRE(plan.loads.size() == 3);
  for (const auto& l : plan.loads) l.replica->state = replica_state::ready;
  f.tick(now + 2s);
  CHECK(f.moved.size() == 3);
  CHECK(sizes() == start);
}

TEST_CASE("unloads queued for a node that leaves the config are dropped, not kept forever") {
  fixture f;
  f.kill("a", t0);
  auto plan = f.tick(t0 + 31s);
  for (const auto& l : plan.loads) l.replica->state = replica_state::ready;
  f.kill("c", t0 + 32s);  // holds two spares
  f.up["a"] = true;
  for (auto* sub : {f.v->embedder.get(), f.v->classifier.get()})
    sub->for_each_replica([&](replica_ref& r) {
      if (r.node == "a") r.state = replica_state::ready;
    });
  f.tick(t0 + 33s);
  CHECK(f.planner.queued() == 2);  // c's surplus spares, waiting for c
  f.removed.insert("c");           // the config no longer names c
  CHECK(f.planner.due(f.members()).empty());
  CHECK(f.planner.queued() == 0);
}

TEST_CASE("status and re-placement measure a shard against its sub-model's R, not its copies") {
  fixture f;
  // The embedder's shards hold two copies each, but a version using it asked for three.
  f.v->embedder->replicas = 3;
  auto under = replacement_planner::under_replicated(f.reg, f.up_fn());
  CHECK(lines(under) == std::vector<std::string>{"m v1 m.embedder@1.w[0:10) has 2 of 3 replicas",
                                                 "m v1 m.embedder@1.w[10:20) has 2 of 3 replicas",
                                                 "m v1 m.embedder@1.w[20:30) has 2 of 3 replicas"});
  // R falls back to 1 (its largest user went): one copy lost is no shortfall, and no spare.
  f.v->embedder->replicas = 1;
  f.kill("a", t0);
  auto left = replacement_planner::under_replicated(f.reg, f.up_fn());
  CHECK(lines(left) == std::vector<std::string>{"m v1 m.classifier@1.w[0:10) has 1 of 2 replicas"});
  auto plan = f.tick(t0 + 31s);
  REQUIRE(plan.loads.size() == 1);
  CHECK(plan.loads[0].sub == f.v->classifier);
}
