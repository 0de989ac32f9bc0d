// Hedged requests over real processes. One replica of an R=2 model is made slow by stopping
// its node (SIGSTOP) while connection_timeout_ms is long enough that it is never declared
// down: without hedging, every sub-request routed to it would wait until the node resumes.
// With hedging, a sub-request still unanswered after its shard's recent p95 (at least
// min_delay_ms) goes to the other replica, so requests keep being answered while the node is
// stopped, every answer correct, and status counts the hedges. No timing assertions: counts
// and correctness only.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>

#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

// Heartbeats on, but a silent peer is declared down only after 30 s: a stopped node stays a
// member ("slow", not "down") for the whole test.
cluster_options slow_not_down(bool hedging) {
  cluster_options o;
  o.top_toml = "heartbeat_ms = 200\nconnection_timeout_ms = 30000\n";
  o.extra_toml = std::string("\n[hedging]\nenabled = ") + (hedging ? "true" : "false") +
                 "\npercentile = 95\nmin_delay_ms = 5\nmin_samples = 20\n";
  return o;
}

struct resume_guard {
  pid_t pid;
  ~resume_guard() { ::kill(pid, SIGCONT); }
};

}  // namespace

TEST_CASE("a stopped replica is hedged around: requests keep being answered, hedges counted") {
  model_fixture m{small_model(73)};
  local_cluster c{slow_not_down(true)};
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  load_model(admin, m.path, "m", 2);
  auto texts = random_texts(m.spec, 200, 17);
  const std::map<uint64_t, const reference_model*> refs{{1, m.ref.get()}};
  // Warm up: every shard sees enough replies for a p95.
  auto warm = traffic_n(users, "m", texts, refs, 4, 300);
  REQUIRE(warm.failed == 0);
  auto before = take_status(admin);
  CHECK(before.under_replicated.empty());

  bool stop = false;
  traffic during;
  auto p = run_traffic(users, "m", texts, refs, 4, stop, during);
  REQUIRE(wait_for_answers(users, during, 50));
  auto victim = c.node_pid("shard-2");
  REQUIRE(::kill(victim, SIGSTOP) == 0);
  resume_guard guard{victim};
  REQUIRE(wait_until(users, 30s, [&] { return proc_state(victim) == 'T'; }));
  // While it is stopped, 200 more requests are answered: each sub-request routed to the
  // stopped node is hedged to the other replica instead of waiting for it.
  const auto at_stop = during.answered();
  const bool progressed =
      wait_until(users, 20s, [&] { return during.answered() >= at_stop + 200; });
  const bool still_stopped = proc_state(victim) == 'T';
  auto mid = take_status(admin);
  ::kill(victim, SIGCONT);
  CHECK(progressed);
  CHECK(still_stopped);
  CHECK(mid.members.at("shard-2").up);  // slow, never declared down
  CHECK(mid.hedges_sent > before.hedges_sent);
  CHECK(mid.hedges_won > before.hedges_won);
  // After it resumes, traffic goes on as before.
  const auto at_resume = during.answered();
  REQUIRE(wait_for_answers(users, during, at_resume + 100));
  stop = true;
  p.wait(users.wait_scope());
  INFO(during.first_error());
  CHECK(during.failed == 0);
  CHECK(during.ok > 300);
  auto after = take_status(admin);
  CHECK(after.hedges_won <= after.hedges_sent);
  CHECK(after.members.at("shard-2").up);
  WARN("hedges: " << before.hedges_sent << " sent / " << before.hedges_won
                  << " won before the stop, " << mid.hedges_sent << " / " << mid.hedges_won
                  << " while stopped, " << after.hedges_sent << " / " << after.hedges_won
                  << " at the end; " << during.ok << " requests answered, 0 wrong");
}

TEST_CASE(
    "with [hedging] enabled = false no hedge is sent; a briefly stopped replica costs no "
    "request either") {
  model_fixture m{small_model(73)};
  local_cluster c{slow_not_down(false)};
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  load_model(admin, m.path, "m", 2);
  auto texts = random_texts(m.spec, 200, 19);
  const std::map<uint64_t, const reference_model*> refs{{1, m.ref.get()}};
  REQUIRE(traffic_n(users, "m", texts, refs, 4, 300).failed == 0);
  bool stop = false;
  traffic during;
  auto p = run_traffic(users, "m", texts, refs, 4, stop, during);
  REQUIRE(wait_for_answers(users, during, 50));
  auto victim = c.node_pid("shard-2");
  REQUIRE(::kill(victim, SIGSTOP) == 0);
  resume_guard guard{victim};
  REQUIRE(wait_until(users, 30s, [&] { return proc_state(victim) == 'T'; }));
  users.timer().afterDelay(1 * kj::SECONDS).wait(users.wait_scope());
  ::kill(victim, SIGCONT);
  REQUIRE(wait_for_answers(users, during, during.answered() + 100));
  stop = true;
  p.wait(users.wait_scope());
  INFO(during.first_error());
  CHECK(during.failed == 0);  // they waited for the node (1 s < the 5 s deadline)
  auto after = take_status(admin);
  CHECK(after.hedges_sent == 0);
  CHECK(after.hedges_won == 0);
}
