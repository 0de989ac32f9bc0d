#include <catch2/catch.hpp>

#include <limits>

#include "cluster/node_memory.hpp"

using namespace tessera;

TEST_CASE("overhead is RSS beyond the rows held, never negative", "[node_memory]") {
  CHECK(node_memory::overhead_of(100, 30) == 70);
  CHECK(node_memory::overhead_of(30, 30) == 0);
  CHECK(node_memory::overhead_of(10, 30) == 0);  // rows reserved but not all touched yet
}

TEST_CASE("a load fits only next to the replicas, loads in progress and the process",
          "[node_memory]") {
  node_memory m;
  m.budget = 1000;
  m.reserved = 500;
  m.scratch = 50;
  CHECK_FALSE(m.admit(300, 50, 100, "n", "r"));  // 500 + 50 + 100 + 300 + 50 = 1000
  auto e = m.admit(300, 51, 100, "n", "r");      // one byte over
  REQUIRE(e);
  CHECK(code_of(e) == errc::insufficient_memory);
  auto text = describe(e);
  CHECK(text.find("node n needs 300 bytes for r") != std::string::npos);
  CHECK(text.find("has 350 of its budget 1000 free") != std::string::npos);
  CHECK(text.find("the process itself 100") != std::string::npos);
  // The process alone over the budget: nothing fits, the free figure does not wrap.
  auto over = m.admit(1, 0, 2000, "n", "r");
  REQUIRE(over);
  CHECK(describe(over).find("has 0 of its budget") != std::string::npos);
}

TEST_CASE("an unlimited budget admits anything; huge figures do not wrap", "[node_memory]") {
  node_memory m;
  CHECK_FALSE(m.admit(std::numeric_limits<uint64_t>::max(), 1, 1, "n", "r"));
  m.budget = 1000;
  CHECK(m.admit(std::numeric_limits<uint64_t>::max(), 2, 0, "n", "r"));
  CHECK(m.admit(1, std::numeric_limits<uint64_t>::max(), 0, "n", "r"));
}
