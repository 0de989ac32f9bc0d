// Supervision by `tessera up` with one replica per shard: a shard node killed with SIGKILL is
// restarted by `up` with backoff; meanwhile requests fail typed (unavailable, naming the
// shard) and never hang; once it is back the coordinator loads its replicas again and every
// answer is correct.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <sstream>

#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;

TEST_CASE(
    "up restarts a killed shard node; with R = 1 its shards fail typed until it is back, "
    "then serve correctly") {
  synthetic_spec s;
  s.vocab = 2000;
  s.buckets = 300000;  // a table over 16 MiB, split over the three nodes
  s.seed = 81;
  model_fixture m{s};
  cluster_options o;
  o.supervise = true;
  local_cluster c{o};
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  load_model(admin, m.path, "m", 1);
  REQUIRE(tensor_row_ranges(admin, "m", "embedder.input").size() >= 2);  // split: shard-2 needed
  auto texts = random_texts(m.spec, 200, 10);
  auto before = traffic_n(users, "m", texts, {{1, m.ref.get()}}, 4, 100);
  REQUIRE(before.ok == 100);
  const pid_t victim = c.node_pid("shard-2");
  REQUIRE(victim > 0);
  bool stop = false;
  traffic during;
  auto p = run_traffic(users, "m", texts, {{1, m.ref.get()}}, 4, stop, during);
  REQUIRE(::kill(victim, SIGKILL) == 0);
  // up restarts it (a new pid), the coordinator reconnects and loads its replicas again.
  REQUIRE(wait_until(admin, 60s, [&] {
    auto now = c.node_pid("shard-2");
    return now > 0 && now != victim;
  }));
  REQUIRE(wait_until(admin, 60s, [&] {
    auto st = admin.admin().statusRequest().send().wait(admin.wait_scope());
    return st.getStatus().getReady();
  }));
  REQUIRE(wait_for_answers(users, during, during.answered() + 50));
  stop = true;
  p.wait(users.wait_scope());
  for (const auto& e : during.errors) {
    INFO(e);
    CHECK(e.find("tessera.unavailable") != std::string::npos);
  }
  auto after = traffic_n(users, "m", texts, {{1, m.ref.get()}}, 4, 200);
  CHECK(after.failed == 0);
  CHECK(after.ok == 200);
  std::ifstream up_log(c.config_path().substr(0, c.config_path().rfind('/')) + "/up.log");
  std::stringstream log;
  log << up_log.rdbuf();
  CHECK(log.str().find("node shard-2 exited (signal 9") != std::string::npos);
  CHECK(log.str().find("node shard-2 restarted") != std::string::npos);
}
