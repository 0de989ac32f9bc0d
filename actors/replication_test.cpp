// Raising a shared sub-model's replication, without an actor system: where the missing copies
// go, that nothing is appended when one does not fit, and that replica ids are never reused.
#include "actors/replication.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

using namespace tessera;

namespace {

// One tensor; shard i has one ready replica on each node of layout[i], 100 bytes each.
std::shared_ptr<submodel_entry> submodel(const std::vector<std::vector<std::string>>& layout) {
  auto s = std::make_shared<submodel_entry>();
  s->name = "e@1";
  tensor_shards t;
  t.tensor = "embedder.input";
  t.rows = 10 * layout.size();
  t.cols = 4;
  for (size_t i = 0; i < layout.size(); ++i) {
    shard_ref sh;
    sh.index = i;
    sh.rows = {10 * i, 10 * (i + 1)};
    sh.bytes = 100;
    for (size_t r = 0; r < layout[i].size(); ++r) {
      replica_ref ref;
      ref.node = layout[i][r];
      ref.replica_id =
          "inc/e@1/e2/embedder.input/" + std::to_string(i) + "/r" + std::to_string(r) + "/c0ffee";
      ref.spec.replica_id = ref.replica_id;
      ref.spec.row_begin = sh.rows.begin;
      ref.spec.row_end = sh.rows.end;
      ref.spec.content = "content-" + std::to_string(i);
      ref.state = replica_state::ready;
      sh.replicas.push_back(ref);
    }
    t.shards.push_back(sh);
  }
  s->tensors.push_back(t);
  return s;
}

std::vector<placement_member> nodes(uint64_t budget = 0) {
  return {{"a", budget, 0}, {"b", budget, 0}, {"c", budget, 0}};
}

}  // namespace

TEST_CASE("each shard gets the copies it lacks, on nodes without one, as regular replicas") {
  auto e = submodel({{"a"}, {"b"}, {"c"}});  // R=1, split over three nodes
  auto ids = raise_replication(*e, 2, nodes());
  REQUIRE(ids);
  CHECK(ids->size() == 3);
  for (const auto& s : e->tensors[0].shards) {
    REQUIRE(s.replicas.size() == 2);
    CHECK(copies_of(s) == 2);
    const auto& old = s.replicas[0];
    const auto& copy = s.replicas[1];
    CHECK(copy.node != old.node);
    CHECK_FALSE(copy.spare);
    CHECK(copy.state == replica_state::loading);
    CHECK(copy.spec.row_begin == old.spec.row_begin);
    CHECK(copy.spec.content == old.spec.content);
    CHECK(copy.spec.replica_id == copy.replica_id);
    CHECK(copy.replica_id == old.replica_id + "/r1");
    CHECK(std::count(ids->begin(), ids->end(), copy.replica_id) == 1);
  }
  // Enough already: nothing more.
  auto again = raise_replication(*e, 2, nodes());
  REQUIRE(again);
  CHECK(again->empty());
  auto fewer = raise_replication(*e, 1, nodes());
  REQUIRE(fewer);
  CHECK(fewer->empty());
}

TEST_CASE("spares and released replicas do not count as copies; a spare's node is not chosen") {
  auto e = submodel({{"a"}});
  auto& s = e->tensors[0].shards[0];
  replica_ref spare = s.replicas[0];
  spare.node = "b";
  spare.replica_id += "/r1";
  spare.spare = true;
  s.replicas.push_back(spare);
  replica_ref gone = s.replicas[0];
  gone.node = "c";
  gone.replica_id += "/r2";
  gone.state = replica_state::unloaded;
  s.replicas.push_back(gone);
  CHECK(copies_of(s) == 1);
  CHECK(replication_of(*e, s) == 1);
  e->replicas = 2;
  CHECK(replication_of(*e, s) == 2);
  auto ids = raise_replication(*e, 2, nodes());
  REQUIRE(ids);
  REQUIRE(ids->size() == 1);
  CHECK(s.replicas.back().node == "c");  // not a (a copy) nor b (the spare)
  CHECK(s.replicas.back().replica_id == s.replicas[0].replica_id + "/r3");
}

TEST_CASE("when one copy does not fit nothing is appended and the refusal names the shard") {
  auto e = submodel({{"a"}, {"b"}});
  // Room for one 100-byte copy per node; a third node is full: shard 0 (on a) can go to b or
  // c, shard 1 (on b) to a or c: both fit.
  auto fits = nodes(100);
  fits[2].used_bytes = 100;
  auto e2 = submodel({{"a"}, {"b"}});
  auto ok = raise_replication(*e2, 2, fits);
  REQUIRE(ok);
  CHECK(ok->size() == 2);
  // R=3 needs both other nodes for each shard: c has no room.
  auto before = e->tensors[0].shards;
  auto refused = raise_replication(*e, 3, fits);
  REQUIRE_FALSE(refused);
  CHECK(is(refused.error(), errc::insufficient_memory));
  const auto msg = message_of(refused.error());
  INFO(msg);
  CHECK(msg.find("e@1 needs") == 0);
  CHECK(msg.find("for R=3") != msg.npos);
  CHECK(msg.find("embedder.input[0:10) lacks") != msg.npos);
  CHECK(msg.find("c has 0 free") != msg.npos);
  for (size_t i = 0; i < before.size(); ++i)
    CHECK(e->tensors[0].shards[i].replicas.size() == before[i].replicas.size());
}

TEST_CASE("a new copy's id is never one a replica of its shard had before, even once dropped") {
  shard_ref s;
  replica_ref r;
  r.replica_id = "x/0/r0/abc";
  s.replicas.push_back(r);
  std::set<std::string> seen{r.replica_id};
  for (int i = 0; i < 5; ++i) {
    auto id = new_replica_id(s, r.replica_id);
    CHECK(seen.insert(id).second);
    replica_ref copy;
    copy.replica_id = id;
    copy.state = replica_state::unloaded;
    s.replicas.push_back(copy);
    s.replicas.pop_back();  // released and dropped at once
  }
  CHECK(seen.count("x/0/r0/abc/r1") == 1);
  CHECK(seen.count("x/0/r0/abc/r5") == 1);
}
