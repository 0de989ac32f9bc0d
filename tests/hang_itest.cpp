// A hung shard node (SIGSTOP) under load, with two replicas: heartbeats (200 ms, down after
// 1 s of silence by default) detect it well within the 5 s request deadline, so requests in
// flight to it are retried on the other replica and none fails; after SIGCONT it rejoins and
// serves again, without reloading rows.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <thread>

#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;

TEST_CASE("with two replicas, a node hung for 3 s costs no request; it rejoins after SIGCONT") {
  model_fixture m{small_model(71)};
  local_cluster c;  // default heartbeat_ms / connection_timeout_ms
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  load_model(admin, m.path, "m", 2);
  auto held_before = take_status(admin).members.at("shard-2").used;
  REQUIRE(held_before > 0);
  auto loads = [&] {  // replica loads started on shard-2, from its log
    auto log = c.node_log("shard-2");
    size_t n = 0;
    for (auto at = log.find("info: loading "); at != std::string::npos;
         at = log.find("info: loading ", at + 1))
      ++n;
    return n;
  };
  const auto loads_before = loads();
  REQUIRE(loads_before > 0);
  auto texts = random_texts(m.spec, 200, 9);
  bool stop = false;
  traffic during;
  auto p = run_traffic(users, "m", texts, {{1, m.ref.get()}}, 4, stop, during);
  REQUIRE(wait_for_answers(users, during, 50));
  auto victim = c.node_pid("shard-2");
  REQUIRE(::kill(victim, SIGSTOP) == 0);
  struct resume {
    pid_t pid;
    ~resume() { ::kill(pid, SIGCONT); }
  } guard{victim};
  REQUIRE(wait_until(users, 30s, [&] { return proc_state(victim) == 'T'; }));
  // Traffic keeps flowing while it hangs (the stopped node is detected and avoided).
  auto at_stop = during.answered();
  bool seen_down = false;
  REQUIRE(wait_until(users, 60s, [&] {
    if (!seen_down) seen_down = !take_status(admin).members.at("shard-2").up;
    return seen_down && during.answered() >= at_stop + 100;
  }));
  ::kill(victim, SIGCONT);
  REQUIRE(wait_for_status(admin, 60s,
                          [](const status_snapshot& s) { return s.members.at("shard-2").up; }));
  REQUIRE(wait_until(admin, 60s, [&] {
    auto res = admin.admin().statusRequest().send().wait(admin.wait_scope());
    return res.getStatus().getReady();
  }));
  REQUIRE(wait_for_answers(users, during, during.answered() + 100));
  stop = true;
  p.wait(users.wait_scope());
  INFO(during.first_error());
  CHECK(during.failed == 0);
  // It kept its rows: the same bytes as before the hang, nothing read again.
  CHECK(take_status(admin).members.at("shard-2").used == held_before);
  CHECK(loads() == loads_before);
}
