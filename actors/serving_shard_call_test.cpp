// One shard's attempts: the first answer wins, later answers and failures are ignored.
#include "actors/serving_shard_call.hpp"

#include <catch2/catch.hpp>

using namespace tessera;

namespace {
const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
}

TEST_CASE("the hedge's answer wins when it comes first; the slow one is closed and ignored") {
  shard_call c;
  auto first = c.start("a", false, t0);
  c.at(first).sub = 11;
  auto hedge = c.start("b", true, t0);
  c.at(hedge).sub = 12;
  CHECK(c.hedged());
  CHECK(c.open() == 2);
  CHECK(c.tried() == std::set<std::string>{"a", "b"});
  auto won = c.answer(hedge);
  REQUIRE(won);
  CHECK(won->winner.hedge);
  CHECK(won->winner.node == "b");
  REQUIRE(won->losers.size() == 1);  // the caller settles its in-flight entry now
  CHECK(won->losers[0].node == "a");
  CHECK(won->losers[0].sub == 11);
  CHECK(c.open() == 0);
  CHECK(c.answered());
  CHECK(c.at(first).abandoned);
  CHECK_FALSE(c.at(hedge).abandoned);
  CHECK(c.returned(first));        // the slow reply arrives: its node is no longer lagging
  CHECK_FALSE(c.returned(first));  // once
  CHECK_FALSE(c.returned(hedge));  // the winner was never abandoned
  CHECK_FALSE(c.answer(first));    // and the reply is ignored
  CHECK_FALSE(c.fail(first));      // or its failure: ignored too
}

TEST_CASE("the first send's answer wins when it comes first; the hedge's is ignored") {
  shard_call c;
  auto first = c.start("a", false, t0);
  auto hedge = c.start("b", true, t0);
  auto won = c.answer(first);
  REQUIRE(won);
  CHECK_FALSE(won->winner.hedge);
  CHECK(won->losers.size() == 1);
  CHECK_FALSE(c.answer(hedge));
}

TEST_CASE("a failed attempt matters only while the shard is unanswered") {
  shard_call c;
  auto first = c.start("a", false, t0);
  CHECK(c.fail(first));
  CHECK_FALSE(c.fail(first));  // once
  CHECK(c.open() == 0);
  auto retry = c.start("b", false, t0);
  CHECK_FALSE(c.hedged());
  auto won = c.answer(retry);
  REQUIRE(won);
  CHECK(won->losers.empty());
}

TEST_CASE("with a hedge in flight, the other attempt's failure leaves it open") {
  shard_call c;
  auto first = c.start("a", false, t0);
  auto hedge = c.start("b", true, t0);
  CHECK(c.fail(hedge));
  CHECK(c.open() == 1);
  REQUIRE(c.answer(first));
}
