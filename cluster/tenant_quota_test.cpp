#include "cluster/tenant_quota.hpp"

#include <vector>

#include <catch2/catch.hpp>

using namespace tessera;
using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

namespace {
std::string message(const caf::error& e) {
  return message_of(e);
}
}  // namespace

TEST_CASE("a token bucket admits its burst at once, then its rate over time") {
  auto t0 = clk::time_point{} + 1h;
  token_bucket b(10, 2, t0);  // 10/s, burst 2
  CHECK(b.take(1, t0));
  CHECK(b.take(1, t0));
  CHECK_FALSE(b.take(1, t0));
  CHECK(b.wait_for(1, t0) == 100ms);
  CHECK_FALSE(b.take(1, t0 + 99ms));
  CHECK(b.take(1, t0 + 100ms));
  // Refill stops at the burst, however long the bucket sat unused.
  CHECK(b.take(2, t0 + 1h));
  CHECK_FALSE(b.take(1, t0 + 1h));
}

TEST_CASE("over any window, a rate quota admits rate x window plus the burst, within 10%") {
  auto t0 = clk::time_point{} + 1h;
  tenant_quotas q({{"acme", tenant_limits{50, 0, 0, 0, tenant_priority::normal}}}, 100, t0);
  // A flood: a call every millisecond for 6 s.
  uint64_t admitted = 0;
  for (int ms = 0; ms < 6000; ++ms) {
    auto t = q.admit("acme", 1, t0 + std::chrono::milliseconds{ms});
    if (t) ++admitted;  // the ticket is released at once: only the rate limits
  }
  CHECK(admitted >= 300);
  CHECK(admitted <= 330);
}

TEST_CASE("an input-rate quota counts inputs, and refuses a batch it could never admit") {
  auto t0 = clk::time_point{} + 1h;
  tenant_quotas q({{"acme", tenant_limits{0, 100, 0, 40, tenant_priority::normal}}}, 100, t0);
  CHECK(q.admit("acme", 40, t0));  // the burst is one batch (or a tenth of a second of rate)
  auto r = q.admit("acme", 40, t0);
  REQUIRE_FALSE(r);
  CHECK(is(r.error(), errc::overloaded));
  CHECK(retry_after_ms_of(message(r.error())) == 400);
  CHECK(q.admit("acme", 40, t0 + std::chrono::milliseconds{400}));
  auto big = q.admit("acme", 41, t0);
  REQUIRE_FALSE(big);
  CHECK(is(big.error(), errc::limit_exceeded));
  CHECK(message(big.error()).find("max_batch") != std::string::npos);
}

TEST_CASE("a refusal for rate carries a retry-after hint that is enough time") {
  auto t0 = clk::time_point{} + 1h;
  tenant_quotas q({{"acme", tenant_limits{4, 0, 0, 0, tenant_priority::normal}}}, 100, t0);
  REQUIRE(q.admit("acme", 1, t0));
  auto r = q.admit("acme", 1, t0);
  REQUIRE_FALSE(r);
  auto wait = retry_after_ms_of(message(r.error()));
  CHECK(wait == 250);
  CHECK_FALSE(q.admit("acme", 1, t0 + std::chrono::milliseconds{wait - 1}));
  CHECK(q.admit("acme", 1, t0 + std::chrono::milliseconds{wait}));
  CHECK(q.refused() == 2);
}

TEST_CASE("a call shed by capacity_inputs is told to retry later the larger it is") {
  // Low priority may run half of capacity_inputs (2048); a high-priority call fills it.
  tenant_quotas q({{"lo", tenant_limits{0, 0, 0, 0, tenant_priority::low}},
                   {"hi", tenant_limits{0, 0, 0, 0, tenant_priority::high}}},
                  100, clk::now(), 4096);
  auto held = q.admit("hi", 2048);
  REQUIRE(held);
  auto hint = [&](uint32_t inputs) {
    auto r = q.admit("lo", inputs);
    REQUIRE_FALSE(r);
    REQUIRE(is(r.error(), errc::overloaded));
    return retry_after_ms_of(message(r.error()));
  };
  CHECK(hint(1) == 50);      // at least 50 ms
  CHECK(hint(1024) == 256);  // a quarter of a millisecond per input
  CHECK(hint(2048) == 512);
}

TEST_CASE("concurrency is held by tickets and given back when they are destroyed") {
  tenant_quotas q({{"acme", tenant_limits{0, 0, 2, 0, tenant_priority::normal}}}, 100);
  auto a = q.admit("acme", 1);
  auto b = q.admit("acme", 1);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(q.running("acme") == 2);
  auto c = q.admit("acme", 1);
  REQUIRE_FALSE(c);
  CHECK(retry_after_ms_of(message(c.error())) > 0);
  CHECK(q.admit("other", 1));  // other tenants are not affected
  { auto gone = std::move(*a); }
  CHECK(q.running("acme") == 1);
  CHECK(q.admit("acme", 1));
  CHECK(q.running() == 1);  // every temporary ticket above was released
}

TEST_CASE("under load, low-priority calls are shed first and high-priority calls last") {
  std::map<std::string, tenant_limits> l;
  l["lo"].priority = tenant_priority::low;
  l["hi"].priority = tenant_priority::high;
  tenant_quotas q(l, 8);  // low below 4 running, normal below 6, high below 8
  std::vector<quota_ticket> held;
  for (int i = 0; i < 4; ++i) held.push_back(std::move(*q.admit("lo", 1)));
  auto shed = q.admit("lo", 1);
  REQUIRE_FALSE(shed);
  CHECK(is(shed.error(), errc::overloaded));
  CHECK(message(shed.error()).find("shed") != std::string::npos);
  for (int i = 0; i < 2; ++i) held.push_back(std::move(*q.admit("mid", 1)));
  CHECK_FALSE(q.admit("mid", 1));  // unnamed tenants are normal priority
  for (int i = 0; i < 2; ++i) held.push_back(std::move(*q.admit("hi", 1)));
  CHECK_FALSE(q.admit("hi", 1));  // at capacity even high priority waits
  held.pop_back();
  CHECK(q.admit("hi", 1));
  CHECK_FALSE(q.admit("lo", 1));
}

TEST_CASE("shedding weighs calls by their inputs: a few huge batches are shed like many calls") {
  std::map<std::string, tenant_limits> l;
  l["lo"].priority = tenant_priority::low;
  l["hi"].priority = tenant_priority::high;
  // 256 calls of capacity, 4096 inputs: low may fill 2048 inputs, high all 4096.
  tenant_quotas q(l, 256, clk::now(), 4096);
  std::vector<quota_ticket> held;
  held.push_back(std::move(*q.admit("lo", 1024)));
  held.push_back(std::move(*q.admit("lo", 1024)));
  CHECK(q.running_inputs() == 2048);
  auto shed = q.admit("lo", 1024);  // only 2 calls run, far below 128: weighed, it is shed
  REQUIRE_FALSE(shed);
  CHECK(is(shed.error(), errc::overloaded));
  CHECK(message(shed.error()).find("inputs") != std::string::npos);
  CHECK_FALSE(q.admit("lo", 1));
  for (int i = 0; i < 100; ++i) held.push_back(std::move(*q.admit("hi", 10)));
  CHECK(q.running_inputs() == 3048);
  held.erase(held.begin());  // a huge batch ends: its inputs are given back
  CHECK(q.running_inputs() == 2024);
  CHECK(q.admit("lo", 24));
  // A call larger than its priority's share never fits: limit_exceeded, even when idle, so a
  // low-priority call never takes the high-priority headroom.
  tenant_quotas q2(l, 256, clk::now(), 100);
  auto big = q2.admit("lo", 51);
  REQUIRE_FALSE(big);
  CHECK(is(big.error(), errc::limit_exceeded));
  CHECK(q2.admit("hi", 100));
}

TEST_CASE("priorities parse from their names only") {
  tenant_priority p{};
  CHECK(parse_priority("high", p));
  CHECK(p == tenant_priority::high);
  CHECK_FALSE(parse_priority("urgent", p));
  CHECK_FALSE(parse_priority("HIGH", p));
}

TEST_CASE("the retry-after hint is read from a refusal's description") {
  CHECK(retry_after_ms_of("tessera.overloaded: tenant 'a' x; retry_after_ms=120") == 120);
  CHECK(retry_after_ms_of("tessera.overloaded: 4096 requests in flight") == 0);
}

TEST_CASE("a retry hint is written once, read back, and stripped from its message") {
  const auto m = with_retry_hint("tenant 'a' over its rate", 250);
  CHECK(m == "tenant 'a' over its rate; retry_after_ms=250");
  CHECK(retry_after_ms_of("tessera.overloaded: " + m) == 250);
  CHECK(without_retry_hint(m) == "tenant 'a' over its rate");
  CHECK(without_retry_hint("4096 requests in flight") == "4096 requests in flight");
}

TEST_CASE("a tenant's priority is its entry's, normal for a tenant without one") {
  tenant_quotas q({{"lo", tenant_limits{0, 0, 0, 0, tenant_priority::low}},
                   {"hi", tenant_limits{0, 0, 0, 0, tenant_priority::high}}},
                  100);
  CHECK(q.priority("lo") == tenant_priority::low);
  CHECK(q.priority("hi") == tenant_priority::high);
  CHECK(q.priority("other") == tenant_priority::normal);
}
