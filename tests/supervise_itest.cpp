// Supervision by `tessera up` with one replica per shard: a shard node killed with SIGKILL is
// restarted by `up` with backoff; meanwhile requests fail typed (unavailable, naming the
// shard) and never hang; once it is back the coordinator loads its replicas again and every
// answer is correct.
//
// No actor of a node dies while its process lives on: a node actor ended by an exit message,
// and a coordinator whose handler throws, end their process with one "fatal: actor ... died"
// line and exit code 70, and `up` restarts it. The coordinator's exception comes from a
// test-only trigger (TESSERA_TEST_THROW_ON_MODEL, honoured only when set): once k is clamped
// (cluster/predict_options.hpp) no client input is known to make it throw.
#include <catch2/catch.hpp>

#include <signal.h>

#include <stdlib.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "actors/interfaces.hpp"
#include "tests/support/caf_peer.hpp"
#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

// `tessera up`'s log (stderr) of the cluster.
std::string up_log(const local_cluster& c) {
  return read_text(c.config_path().substr(0, c.config_path().rfind('/')) + "/up.log");
}

// A process holding the coordinator's certificate (the only peer a shard node admits, see
// node/node_transport.hpp) that ends a shard's node actor with an exit message.
void end_node_actor(const local_cluster& c, const std::string& node) {
  caf_peer_config cfg{c.tls_dir(), "coord"};
  caf::actor_system sys{cfg};
  auto h = caf::openssl::remote_actor<node_actor>(sys, "127.0.0.1", c.node_port(node));
  REQUIRE(h);
  caf::anon_send_exit(*h, caf::exit_reason::kill);
}

}  // namespace

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
  const auto log = up_log(c);
  CHECK(log.find("node shard-2 exited (signal 9") != std::string::npos);
  CHECK(log.find("node shard-2 restarted") != std::string::npos);
}

TEST_CASE(
    "a node actor ended by an exit message ends its process with one fatal line; up restarts "
    "it and it serves again") {
  model_fixture m{small_model(84)};
  cluster_options o;
  o.supervise = true;
  local_cluster c{o};
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  load_model(admin, m.path, "m", 1);
  auto texts = random_texts(m.spec, 200, 85);
  REQUIRE(traffic_n(users, "m", texts, {{1, m.ref.get()}}, 4, 50).ok == 50);
  const pid_t victim = c.node_pid("shard-2");
  REQUIRE(victim > 0);
  end_node_actor(c, "shard-2");
  REQUIRE(wait_until(admin, 60s, [&] {
    auto now = c.node_pid("shard-2");
    return now > 0 && now != victim;
  }));
  const auto log = c.node_log("shard-2");
  CHECK(log.find("fatal: actor node died: exit_reason(kill); exiting so that supervision "
                 "restarts the process") != std::string::npos);
  CHECK(up_log(c).find("node shard-2 exited (exit code 70") != std::string::npos);
  REQUIRE(wait_for_status(admin, 60s, [](const status_snapshot& s) { return s.ready; }));
  auto after = traffic_n(users, "m", texts, {{1, m.ref.get()}}, 4, 100);
  INFO(after.first_error());
  CHECK(after.ok == 100);
}

TEST_CASE(
    "an exception inside the coordinator ends its process with one fatal line; up restarts "
    "it and it serves again") {
  model_fixture m{small_model(86)};
  cluster_options o;
  o.supervise = true;
  scoped_env fault{"TESSERA_TEST_THROW_ON_MODEL", "boom"};
  local_cluster c{o};
  auto texts = random_texts(m.spec, 200, 87);
  const pid_t victim = c.node_pid("coord");
  REQUIRE(victim > 0);
  {
    client admin{c.gateway(), c.admin_token()};
    client users{c.gateway(), c.user_token()};
    load_model(admin, m.path, "m", 1);
    REQUIRE(traffic_n(users, "m", texts, {{1, m.ref.get()}}, 4, 50).ok == 50);
    auto req = users.session().predictRequest();
    req.initModel().setName("boom");
    req.initInputs(1)[0].setText(texts[0]);
    CHECK_THROWS_AS(req.send().wait(users.wait_scope()), kj::Exception);
    REQUIRE(wait_until(users, 60s, [&] {
      auto now = c.node_pid("coord");
      return now > 0 && now != victim;
    }));
  }
  CHECK(c.node_log("coord").find(
            "fatal: actor coordinator died: tessera.internal: unhandled exception in coordinator: "
            "std::runtime_error: test fault: a predict on 'boom' (TESSERA_TEST_THROW_ON_MODEL); "
            "exiting so that supervision restarts the process") != std::string::npos);
  CHECK(up_log(c).find("node coord exited (exit code 70") != std::string::npos);
  // The restarted coordinator recovers its registry and serves the model again.
  REQUIRE(wait_cluster_ready(c.gateway(), c.admin_token(), 60s));
  client users{c.gateway(), c.user_token()};
  auto after = traffic_n(users, "m", texts, {{1, m.ref.get()}}, 4, 100);
  INFO(after.first_error());
  CHECK(after.ok == 100);
}
