#include "cluster/admission.hpp"

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

using namespace tessera;

TEST_CASE("admission hands out tickets up to its limit, then refuses with overloaded") {
  admission a{2};
  auto t1 = a.admit();
  auto t2 = a.admit();
  REQUIRE(t1);
  REQUIRE(t2);
  CHECK(a.running() == 2);
  auto t3 = a.admit();
  REQUIRE_FALSE(t3);
  CHECK(is(t3.error(), errc::overloaded));
  CHECK(a.running() == 2);  // a refusal holds nothing
}

TEST_CASE("a ticket gives its place back once, when it goes out of scope") {
  admission a{1};
  {
    auto t = a.admit();
    REQUIRE(t);
    CHECK(a.running() == 1);
  }
  CHECK(a.running() == 0);
  CHECK(a.admit());
}

TEST_CASE("a moved ticket releases once, from its new owner") {
  admission a{3};
  std::optional<admission_ticket> kept;
  {
    auto t = a.admit();
    REQUIRE(t);
    admission_ticket moved = std::move(*t);
    CHECK_FALSE(t->held());
    CHECK(moved.held());
    kept = std::move(moved);
  }
  CHECK(a.running() == 1);  // the moved-from tickets released nothing
  kept.reset();
  CHECK(a.running() == 0);
}

TEST_CASE("assigning over a held ticket releases the old place") {
  admission a{2};
  auto t1 = a.admit();
  auto t2 = a.admit();
  REQUIRE(t1);
  REQUIRE(t2);
  *t1 = std::move(*t2);
  CHECK(a.running() == 1);
  *t1 = admission_ticket{};
  CHECK(a.running() == 0);
}

TEST_CASE("many tickets in a container release exactly their count") {
  admission a{100};
  std::vector<admission_ticket> tickets;
  for (int i = 0; i < 100; ++i) tickets.push_back(std::move(*a.admit()));
  CHECK_FALSE(a.admit());
  tickets.erase(tickets.begin(), tickets.begin() + 40);
  CHECK(a.running() == 60);
  tickets.clear();
  CHECK(a.running() == 0);
}

TEST_CASE("admission shared by threads never holds more than its limit, and gives all back") {
  admission a{3};
  std::atomic<uint64_t> most{0};
  std::atomic<uint64_t> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        auto ticket = a.admit();
        if (!ticket) {
          refused.fetch_add(1);
          continue;
        }
        auto now = a.running();
        auto seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
      }
    });
  for (auto& t : threads) t.join();
  CHECK(most.load() <= 3);
  CHECK(most.load() >= 1);
  CHECK(refused.load() < 80000);
  CHECK(a.running() == 0);
}
