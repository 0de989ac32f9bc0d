// Re-placement of lost copies onto survivors, within budgets.
#include "cluster/replacement.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace tessera;

namespace {

placement_member member(std::string name, uint64_t budget, uint64_t used = 0) {
  return placement_member{std::move(name), budget, used};
}

spare_need need(std::string shard, uint64_t bytes, uint32_t missing,
                std::vector<std::string> holders) {
  return spare_need{std::move(shard), bytes, missing, std::move(holders)};
}

}  // namespace

TEST_CASE("a lost copy goes to a survivor that does not hold the shard") {
  // R=2 over a, b, c; a died: its two shards go to whichever survivor lacks them.
  auto plan =
      place_spares({need("t[0:10)", 100, 1, {"a", "b"}), need("t[10:20)", 100, 1, {"c", "a"})},
                   {member("b", 1000), member("c", 1000)});
  REQUIRE(plan.placed.size() == 2);
  CHECK(plan.placed[0].need == 0);
  CHECK(plan.placed[0].node == "c");
  CHECK(plan.placed[1].need == 1);
  CHECK(plan.placed[1].node == "b");
  CHECK(plan.unplaced == std::vector<uint32_t>{0, 0});
}

TEST_CASE("copies stay within free bytes and count what this plan already gave a node") {
  // b has room for one 100-byte copy only; c for two.
  auto plan =
      place_spares({need("x", 100, 1, {"a"}), need("y", 100, 1, {"a"}), need("z", 100, 1, {"a"})},
                   {member("b", 500, 400), member("c", 1000, 800)});
  std::map<std::string, int> per_node;
  for (const auto& c : plan.placed) ++per_node[c.node];
  CHECK(per_node["b"] == 1);
  CHECK(per_node["c"] == 2);
  CHECK(plan.unplaced == std::vector<uint32_t>{0, 0, 0});
}

TEST_CASE("what fits nowhere is counted unplaced; the rest is still placed") {
  auto plan = place_spares({need("big", 600, 1, {"a"}), need("small", 100, 1, {"a"})},
                           {member("b", 500), member("c", 300)});
  REQUIRE(plan.placed.size() == 1);
  CHECK(plan.placed[0].need == 1);
  CHECK(plan.placed[0].node == "b");  // the most free bytes
  CHECK(plan.unplaced == std::vector<uint32_t>{1, 0});
}

TEST_CASE("two missing copies of one shard never share a node") {
  auto plan = place_spares({need("s", 10, 2, {"a"})}, {member("b", 0), member("c", 0)});
  REQUIRE(plan.placed.size() == 2);
  CHECK(plan.placed[0].node != plan.placed[1].node);
  auto one = place_spares({need("s", 10, 2, {"a"})}, {member("b", 0)});
  CHECK(one.placed.size() == 1);
  CHECK(one.unplaced == std::vector<uint32_t>{1});
}

TEST_CASE("largest shards are placed first, so small ones fill what is left") {
  auto plan = place_spares({need("small", 100, 1, {}), need("big", 400, 1, {})},
                           {member("b", 400), member("c", 100)});
  REQUIRE(plan.placed.size() == 2);
  CHECK(plan.placed[0].need == 1);
  CHECK(plan.placed[0].node == "b");
  CHECK(plan.placed[1].need == 0);
  CHECK(plan.placed[1].node == "c");
}

TEST_CASE("no members: every copy is unplaced") {
  auto plan = place_spares({need("s", 10, 1, {"a"})}, {});
  CHECK(plan.placed.empty());
  CHECK(plan.unplaced == std::vector<uint32_t>{1});
}
