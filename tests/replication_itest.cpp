// Replication over real processes. A model that reuses an embedder loaded with R=1 and asks
// for R=2 gets two copies of every embedder shard, on distinct nodes, before it is ready; a
// node killed with SIGKILL then fails none of its answers (each checked against the Eigen
// reference). And a node that goes away past the grace and comes back, twice, leaves every
// shard listing exactly its R replicas: the spares placed meanwhile are released and gone.
#include <catch2/catch.hpp>

#include <signal.h>

#include <set>

#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

// Every shard of `key` ("model@version") whose tensor starts with `prefix` has `r` ready
// replicas on `r` distinct nodes, none on `not_on`; with `only`, it lists no other replica.
bool ready_copies(const status_snapshot& s, const std::string& key, const std::string& prefix,
                  size_t r, bool only, const std::string& not_on = "") {
  auto it = s.shards.find(key);
  if (it == s.shards.end()) return false;
  size_t seen = 0;
  for (const auto& sh : it->second) {
    if (sh.tensor.rfind(prefix, 0) != 0) continue;
    ++seen;
    std::multiset<std::string> ready;
    for (const auto& [node, state] : sh.replicas)
      if (state == "ready") ready.insert(node);
    const std::set<std::string> distinct(ready.begin(), ready.end());
    if (ready.size() != r || distinct.size() != r || ready.count(not_on)) return false;
    if (only && sh.replicas.size() != r) return false;
  }
  return seen > 0;
}

std::string describe_shards(const status_snapshot& s, const std::string& key) {
  std::string out;
  auto it = s.shards.find(key);
  if (it == s.shards.end()) return "no " + key;
  for (const auto& sh : it->second) {
    out += sh.tensor + "[" + std::to_string(sh.begin) + ":" + std::to_string(sh.end) + "):";
    for (const auto& [node, state] : sh.replicas) out += " " + node + "=" + state;
    out += "\n";
  }
  for (const auto& u : s.under_replicated) out += "under-replicated: " + u + "\n";
  return out;
}

}  // namespace

TEST_CASE(
    "a model asking for R=2 of an embedder loaded with R=1 gets two copies of it on distinct "
    "nodes; a node killed then fails none of its answers") {
  model_fixture m{split_table_model(77)};  // the table is split over all three nodes
  cluster_options o;
  o.top_toml = "replacement_grace_ms = 120000\n";  // no re-placement during the test
  local_cluster c{o};
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  load_model(admin, m.path, "x", 1);
  load_model(admin, m.path, "y", 2);  // the same package: it shares x's embedder
  auto s = take_status(admin);
  INFO(describe_shards(s, "y@1"));
  REQUIRE(s.embedder["y@1"] == s.embedder["x@1"]);
  CHECK(s.embedder["y@1"].find("2 users") != std::string::npos);
  REQUIRE(tensor_row_ranges(admin, "y", "embedder.input").size() == 3);
  REQUIRE(ready_copies(s, "y@1", "embedder.", 2, true));
  REQUIRE(ready_copies(s, "y@1", "classifier.", 2, true));
  CHECK(s.under_replicated.empty());

  auto texts = random_texts(m.spec, 200, 31);
  const std::map<uint64_t, const reference_model*> refs{{1, m.ref.get()}};
  bool stop = false;
  traffic during;
  auto p = run_traffic(users, "y", texts, refs, 4, stop, during);
  REQUIRE(wait_for_answers(users, during, 50));
  REQUIRE(::kill(c.node_pid("shard-2"), SIGKILL) == 0);
  REQUIRE(wait_for_status(admin, 30s,
                          [](const status_snapshot& st) { return !st.members.at("shard-2").up; }));
  REQUIRE(wait_for_answers(users, during, during.answered() + 100));
  stop = true;
  p.wait(users.wait_scope());
  // And a batch that starts with shard-2 known down.
  auto after = traffic_n(users, "y", texts, refs, 4, 200);
  INFO(during.first_error() << " / " << after.first_error());
  CHECK(during.failed == 0);
  CHECK(after.failed == 0);
  CHECK(after.ok == 200);
  // x (R=1) lost the copies shard-2 held: status names them, measured against R=2 (the
  // embedder's R is the largest its users asked for), for x's version and y's alike.
  auto down = take_status(admin);
  bool named = false;
  for (const auto& u : down.under_replicated)
    named = named || (u.rfind("y v1 embedder.input[", 0) == 0 && u.find("has 1 of 2") != u.npos);
  CHECK(named);
  WARN("y: " << during.ok + after.ok << " answers, all exact, across kill -9 of shard-2");
}

TEST_CASE(
    "a node that goes away past the grace and comes back, twice, leaves every shard listing "
    "exactly its R replicas") {
  model_fixture m{split_table_model(78)};
  cluster_options o;
  o.top_toml = "replacement_grace_ms = 1000\n";
  local_cluster c{o};
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  load_model(admin, m.path, "m", 2);
  REQUIRE(ready_copies(take_status(admin), "m@1", "", 2, true));
  status_snapshot seen;
  for (int round = 0; round < 2; ++round) {
    INFO("round " << round);
    REQUIRE(::kill(c.node_pid("shard-2"), SIGKILL) == 0);
    // Past the grace: spares on shard-1 and shard-3 stand in for shard-2's copies.
    REQUIRE(wait_for_status(
        admin, 60s,
        [](const status_snapshot& st) {
          return !st.members.at("shard-2").up && ready_copies(st, "m@1", "", 2, false, "shard-2") &&
                 st.under_replicated.empty();
        },
        &seen));
    c.restart_node("shard-2");
    // Back: shard-2 reloads its copies, the spares are released and leave the lists.
    bool settled = wait_for_status(
        admin, 60s,
        [](const status_snapshot& st) {
          return st.members.at("shard-2").up && ready_copies(st, "m@1", "", 2, true) &&
                 st.under_replicated.empty();
        },
        &seen);
    INFO(describe_shards(seen, "m@1"));
    REQUIRE(settled);
  }
  auto texts = random_texts(m.spec, 100, 37);
  auto t = traffic_n(users, "m", texts, {{1, m.ref.get()}}, 4, 100);
  INFO(t.first_error());
  CHECK(t.ok == 100);
}
