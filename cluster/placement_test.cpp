// Placement under memory budgets, table-style: one row per scenario. Every successful
// placement is checked against the invariants (each row of each tensor once per replica,
// ranges sorted and contiguous, replicas of a shard on distinct nodes, each node within its
// free bytes, same input same output) and then against the scenario's own expectation.
#include "cluster/placement.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <set>

namespace tessera {
namespace {

using placement = std::vector<shard_assignment>;
using node_bytes = std::map<std::string, uint64_t>;

placement_member member(std::string name, uint64_t budget, uint64_t used = 0) {
  return placement_member{std::move(name), budget, used};
}

// Free bytes as the caller means them, computed here independently of free_bytes().
uint64_t free_of(const placement_member& m) {
  if (m.budget_bytes == 0) return std::numeric_limits<uint64_t>::max();
  return m.budget_bytes > m.used_bytes ? m.budget_bytes - m.used_bytes : 0;
}

node_bytes bytes_per_node(const placement& p) {
  node_bytes out;
  for (const auto& a : p)
    for (const auto& n : a.nodes) out[n] += a.bytes;
  return out;
}

// Rows of `tensor` held by `node`, over all replicas.
uint64_t rows_on(const placement& p, const std::string& tensor, const std::string& node) {
  uint64_t rows = 0;
  for (const auto& a : p)
    if (a.tensor == tensor && std::count(a.nodes.begin(), a.nodes.end(), node))
      rows += a.rows.size();
  return rows;
}

std::vector<shard_assignment> ranges_of(const placement& p, const std::string& tensor) {
  std::vector<shard_assignment> out;
  for (const auto& a : p)
    if (a.tensor == tensor) out.push_back(a);
  return out;
}

bool same(const placement& a, const placement& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].tensor != b[i].tensor || a[i].shard != b[i].shard || !(a[i].rows == b[i].rows) ||
        a[i].bytes != b[i].bytes || a[i].nodes != b[i].nodes)
      return false;
  return true;
}

void check_invariants(const std::vector<placement_tensor>& tensors,
                      const std::vector<placement_member>& members, uint32_t replicas,
                      const placement& p, uint64_t whole_max_bytes = 0) {
  std::set<std::string> names;
  for (const auto& m : members) names.insert(m.name);
  size_t next = 0;  // tensors appear in input order
  for (const auto& t : tensors) {
    auto ranges = ranges_of(p, t.name);
    if (t.rows == 0) {
      CHECK(ranges.empty());
      continue;
    }
    REQUIRE(!ranges.empty());
    uint64_t row = 0;
    for (size_t s = 0; s < ranges.size(); ++s) {
      const auto& a = ranges[s];
      INFO(t.name << " shard " << s);
      REQUIRE(next < p.size());
      CHECK(p[next].tensor == t.name);
      ++next;
      CHECK(a.shard == s);
      CHECK(a.rows.begin == row);  // sorted and contiguous: rows covered exactly once
      CHECK(a.rows.end > a.rows.begin);
      CHECK(a.bytes == a.rows.size() * t.row_bytes);
      REQUIRE(a.nodes.size() == replicas);  // once per replica
      CHECK(std::set<std::string>(a.nodes.begin(), a.nodes.end()).size() == replicas);
      for (const auto& n : a.nodes) CHECK(names.count(n) == 1);
      row = a.rows.end;
    }
    CHECK(row == t.rows);
  }
  CHECK(next == p.size());  // nothing for tensors that were not asked for
  auto used = bytes_per_node(p);
  for (const auto& m : members) {
    INFO("node " << m.name);
    CHECK(used[m.name] <= free_of(m));
  }
  auto again = place_model(tensors, members, replicas, whole_max_bytes);
  REQUIRE(again);
  CHECK(same(p, *again));
}

struct placement_case {
  const char* scenario;
  std::vector<placement_member> members;
  std::vector<placement_tensor> tensors;
  uint32_t replicas;
  errc expect;  // errc::ok: a placement is expected
  std::function<void(const placement_case&, const placement&)> on_ok = nullptr;
  std::function<void(const std::string& message)> on_error = nullptr;
};

// Places the case's tensors on a subset of its members.
caf::expected<placement> place_on(const placement_case& c, std::vector<size_t> keep) {
  std::vector<placement_member> ms;
  for (auto i : keep) ms.push_back(c.members[i]);
  return place_model(c.tensors, ms, c.replicas);
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

const placement_tensor k_table{"table", 1000, 1};

std::vector<placement_case> cases() {
  return {
      // Fits on one node's worth: still spread evenly, a third of the bytes on each node.
      {"fits on one node's worth",
       {member("a", 1000), member("b", 1000), member("c", 1000)},
       {{"table", 600, 1}, {"layer", 30, 2}},
       1,
       errc::ok,
       [](const placement_case& c, const placement& p) {
         for (auto& [n, b] : bytes_per_node(p)) CHECK((b >= 219 && b <= 221));
         CHECK(place_on(c, {0}));
       }},
      // Needs every node: 1100 bytes on three 400-byte nodes; any two refuse.
      {"needs every node",
       {member("a", 400), member("b", 400), member("c", 400)},
       {{"table", 1100, 1}},
       1,
       errc::ok,
       [](const placement_case& c, const placement& p) {
         CHECK(bytes_per_node(p).size() == 3);
         CHECK(!place_on(c, {0, 1}));
         CHECK(!place_on(c, {1, 2}));
         CHECK(!place_on(c, {0, 2}));
       }},
      // Fits only across nodes: the table (1200 B) is larger than any budget (500 B).
      {"table larger than any one budget",
       {member("a", 500), member("b", 500), member("c", 500)},
       {{"table", 1200, 1}, {"layer", 10, 10}},
       1,
       errc::ok,
       [](const placement_case&, const placement& p) {
         CHECK(ranges_of(p, "table").size() == 3);
         for (auto n : {"a", "b", "c"}) CHECK(rows_on(p, "table", n) < 1200);
       }},
      // A full node (used == budget) gets nothing; the other two share the model.
      {"full node gets nothing",
       {member("a", 1000), member("b", 1000, 1000), member("c", 1000)},
       {k_table, {"layer", 10, 4}},
       1,
       errc::ok,
       [](const placement_case&, const placement& p) {
         auto b = bytes_per_node(p);
         CHECK(b.count("b") == 0);
         CHECK(b["a"] + b["c"] == 1040);
       }},
      // R larger than the node count: invalid_argument naming both numbers.
      {"R larger than the node count",
       {member("a", 0), member("b", 0)},
       {k_table},
       3,
       errc::invalid_argument,
       nullptr,
       [](const std::string& msg) {
         CHECK(contains(msg, "replicas 3"));
         CHECK(contains(msg, "the 2 shard nodes"));
       }},
      // R = 0 is malformed.
      {"R = 0", {member("a", 0)}, {k_table}, 0, errc::invalid_argument, nullptr, nullptr},
      // No members: nothing can be placed yet.
      {"no members", {}, {k_table}, 1, errc::unavailable, nullptr, nullptr},
      // R = 2 with three nodes: each node holds two thirds of the rows.
      {"R = 2 with three nodes",
       {member("a", 1000), member("b", 1000), member("c", 1000)},
       {{"table", 900, 1}},
       2,
       errc::ok,
       [](const placement_case&, const placement& p) {
         for (auto n : {"a", "b", "c"}) CHECK(rows_on(p, "table", n) == 600);
       }},
      // R = 2 fills three 600-byte nodes exactly (1800 bytes).
      {"R = 2 exact fit",
       {member("a", 600), member("b", 600), member("c", 600)},
       {{"table", 900, 1}},
       2,
       errc::ok,
       [](const placement_case&, const placement& p) {
         for (auto& [n, b] : bytes_per_node(p)) CHECK(b == 600);
       }},
      // Budgets differ: free bytes 200, 400, 600, so ranges follow 1 : 2 : 3.
      {"budgets differ",
       {member("a", 300, 100), member("b", 400), member("c", 1000, 400)},
       {k_table},
       1,
       errc::ok,
       [](const placement_case&, const placement& p) {
         CHECK(rows_on(p, "table", "a") >= 166);
         CHECK(rows_on(p, "table", "a") <= 167);
         CHECK(rows_on(p, "table", "b") >= 333);
         CHECK(rows_on(p, "table", "b") <= 334);
         CHECK(rows_on(p, "table", "c") == 500);
       }},
      // Tensors together: a node that takes a big table range has less room for the layer.
      {"table and layer share differing budgets",
       {member("a", 600), member("b", 600), member("c", 300)},
       {k_table, {"layer", 100, 4}},
       1,
       errc::ok,
       [](const placement_case&, const placement& p) {
         auto b = bytes_per_node(p);
         CHECK(b["a"] + b["b"] + b["c"] == 1400);
         CHECK(b["c"] < b["a"]);
       }},
      // Shared embedder counted once: it is in used_bytes (300 per node), only the classifier is
      // passed, and 1400 bytes fit the 2 x 700 free; passing the embedder again would not fit.
      {"shared embedder counted once",
       {member("a", 1000, 300), member("b", 1000, 300)},
       {{"hidden", 100, 4}, {"output", 1000, 1}},
       1,
       errc::ok,
       [](const placement_case& c, const placement&) {
         auto twice = c.tensors;
         twice.push_back({"embedder", 600, 1});
         auto r = place_model(twice, c.members, 1);
         REQUIRE(!r);
         CHECK(is(r.error(), errc::insufficient_memory));
       }},
      // Unlimited budgets: equal ranges, a quarter of every tensor per node.
      {"unlimited budgets",
       {member("a", 0), member("b", 0), member("c", 0), member("d", 0)},
       {k_table, {"layer", 8, 4}},
       1,
       errc::ok,
       [](const placement_case&, const placement& p) {
         for (auto n : {"a", "b", "c", "d"}) {
           CHECK(rows_on(p, "table", n) == 250);
           CHECK(rows_on(p, "layer", n) == 2);
         }
       }},
      // A tensor with fewer rows than nodes: one-row ranges on distinct nodes.
      {"tensor with fewer rows than nodes",
       {member("a", 0), member("b", 0), member("c", 0), member("d", 0)},
       {k_table, {"tiny", 2, 4}, {"empty", 0, 4}},
       1,
       errc::ok,
       [](const placement_case&, const placement& p) {
         auto tiny = ranges_of(p, "tiny");
         REQUIRE(tiny.size() == 2);
         CHECK(tiny[0].nodes != tiny[1].nodes);
       }},
      // One row, three replicas on four nodes: one range on three distinct nodes.
      {"single-row tensor with R = 3",
       {member("a", 0), member("b", 0), member("c", 0), member("d", 0)},
       {{"bias", 1, 4}},
       3,
       errc::ok,
       [](const placement_case&, const placement& p) { CHECK(p.size() == 1); }},
      // Refusal: 1000 bytes against 3 x 300 free; every node's free and share are listed.
      {"refusal lists the byte figures",
       {member("a", 300), member("b", 300), member("c", 300)},
       {k_table},
       1,
       errc::insufficient_memory,
       nullptr,
       [](const std::string& msg) {
         CHECK(contains(msg, "model needs 1000 bytes (1 replica) but"));
         CHECK(contains(msg, "a has 300 free, would need 334"));
         CHECK(contains(msg, "b has 300 free, would need 333"));
         CHECK(contains(msg, "c has 300 free, would need 333"));
       }},
      // Refusal with R = 2: an unlimited node still holds only one replica of each row.
      {"refusal when R copies need more than one node",
       {member("a", 0), member("b", 10)},
       {k_table},
       2,
       errc::insufficient_memory,
       nullptr,
       [](const std::string& msg) {
         CHECK(contains(msg, "model needs 2000 bytes (2 replicas) but"));
         CHECK(contains(msg, "a has unlimited free, would need 1000"));
         CHECK(contains(msg, "b has 10 free, would need 1000"));
       }},
      // No tensors: nothing to place.
      {"no tensors",
       {member("a", 10)},
       {},
       1,
       errc::ok,
       [](const placement_case&, const placement& p) { CHECK(p.empty()); }},
  };
}

TEST_CASE("placement table", "[placement]") {
  for (const auto& c : cases()) {
    SECTION(c.scenario) {
      auto r = place_model(c.tensors, c.members, c.replicas);
      if (c.expect == errc::ok) {
        if (!r) FAIL(message_of(r.error()));
        check_invariants(c.tensors, c.members, c.replicas, *r);
        if (c.on_ok) c.on_ok(c, *r);
      } else {
        REQUIRE(!r);
        CHECK(code_of(r.error()) == c.expect);
        if (c.on_error) c.on_error(message_of(r.error()));
      }
    }
  }
}

TEST_CASE("random models: invariants hold, and a generous fit is never refused", "[placement]") {
  std::mt19937_64 rng(7);
  auto pick = [&](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  int placed = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<placement_tensor> tensors;
    uint64_t one_copy = 0, max_row = 0;
    for (uint64_t t = 0, nt = pick(1, 4); t < nt; ++t) {
      tensors.push_back({"t" + std::to_string(t), pick(0, 300), pick(1, 40)});
      one_copy += tensors.back().rows * tensors.back().row_bytes;
      max_row = std::max(max_row, tensors.back().row_bytes);
    }
    std::vector<placement_member> members;
    for (uint64_t m = 0, nm = pick(1, 6); m < nm; ++m)
      members.push_back(
          member("n" + std::to_string(m), pick(0, 3) == 0 ? 0 : pick(1, 6000), pick(0, 2000)));
    auto replicas = static_cast<uint32_t>(pick(1, members.size()));
    // The necessary condition (a node holds at most one copy) and a generous sufficient one.
    uint64_t capacity = 0;
    for (const auto& m : members) capacity += std::min(free_of(m), one_copy);
    uint64_t slack = tensors.size() * members.size() * max_row;
    INFO("iteration " << iter);
    auto r = place_model(tensors, members, replicas);
    if (r) {
      ++placed;
      CHECK(capacity >= replicas * one_copy);
      check_invariants(tensors, members, replicas, *r);
    } else {
      CHECK(code_of(r.error()) == errc::insufficient_memory);
      CHECK(capacity < replicas * one_copy + slack);
    }
  }
  CHECK(placed > 200);
}

TEST_CASE("tensors no bigger than whole_max_bytes stay whole, on R distinct nodes", "[placement]") {
  std::vector<placement_member> members{{"a", 0, 0}, {"b", 0, 0}, {"c", 0, 0}};
  std::vector<placement_tensor> tensors{
      {"table", 3000, 256}, {"l0", 32, 260}, {"l1", 8, 132}};  // 768,000 / 8,320 / 1,056 bytes
  for (uint32_t r : {1u, 2u, 3u}) {
    auto p = place_model(tensors, members, r, 16384);
    REQUIRE(p);
    check_invariants(tensors, members, r, *p, 16384);
    std::map<std::string, size_t> ranges;
    for (const auto& a : *p) ++ranges[a.tensor];
    CHECK(ranges["table"] == (r == 3 ? 1 : 3));  // bigger than the threshold: spread
    CHECK(ranges["l0"] == 1);                    // one range, r replicas
    CHECK(ranges["l1"] == 1);
  }
  // The two small layers land on different nodes (least loaded first).
  auto p = place_model(tensors, members, 1, 16384);
  REQUIRE(p);
  std::string l0, l1;
  for (const auto& a : *p) {
    if (a.tensor == "l0") l0 = a.nodes[0];
    if (a.tensor == "l1") l1 = a.nodes[0];
  }
  CHECK(l0 != l1);
}

TEST_CASE("a small tensor is split after all when too few nodes have room for a whole copy",
          "[placement]") {
  // Each node has 5,000 bytes free; l0 needs 8,320 whole, so it must be cut.
  std::vector<placement_member> members{{"a", 5000, 0}, {"b", 5000, 0}, {"c", 5000, 0}};
  std::vector<placement_tensor> tensors{{"l0", 32, 260}};
  auto p = place_model(tensors, members, 1, 16384);
  REQUIRE(p);
  check_invariants(tensors, members, 1, *p, 16384);
  CHECK(p->size() > 1);
}

}  // namespace
}  // namespace tessera
