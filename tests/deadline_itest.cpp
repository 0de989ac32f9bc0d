// Client deadlines over real processes: the deadline a client sends (timeoutMs) is the one the
// cluster enforces, capped by limits.request_timeout, and a call queued behind hung batches is
// answered at its own deadline. The only shard node is stopped with SIGSTOP so work hangs;
// heartbeat detection is set far away so the node is never declared down meanwhile. /metrics
// counts the sub-request that timed out, and shows the queued call while it waits.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <thread>

#include <kj/vector.h>

#include "tests/support/http_get.hpp"
#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"

using namespace tessera;
using namespace tessera::test;

namespace {

// A one-shard cluster that takes `request_timeout_ms` as its cap and never declares a
// stopped node down during a test.
cluster_options hung_shard_options(uint32_t request_timeout_ms) {
  cluster_options o;
  o.shard_nodes = 1;
  o.request_timeout_ms = request_timeout_ms;
  o.top_toml = "heartbeat_ms = 1000\nconnection_timeout_ms = 3600000\n";
  o.http = true;
  return o;
}

// The value of `series` in the coordinator's /metrics; -1 when absent.
double coordinator_metric(const local_cluster& c, const std::string& series) {
  return metric_value(http_get(c.http_port("coord"), "/metrics").body, series);
}

kj::Promise<capnp::Response<Session::PredictResults>> predict(client& cl, const std::string& text,
                                                              uint32_t timeout_ms) {
  auto req = cl.session().predictRequest();
  req.initModel().setName("m");
  req.setTopK(1);
  req.setTimeoutMs(timeout_ms);
  req.initInputs(1)[0].setText(text);
  return req.send();
}

// Waits for `p` at most `bound` (a generous bound: failing it means the call hung) and returns
// the tessera error code it failed with ("" if it succeeded).
std::string outcome(client& cl, kj::Promise<capnp::Response<Session::PredictResults>> p,
                    kj::Duration bound) {
  auto settled = p.then([](capnp::Response<Session::PredictResults>&&) { return std::string{}; },
                        [](kj::Exception&& e) { return error_code(e); });
  return cl.timer().timeoutAfter(bound, kj::mv(settled)).wait(cl.wait_scope());
}

void load(client& cl, const model_fixture& model) {
  auto req = cl.admin().loadRequest();
  req.initOptions().setPath(model.path);
  req.getOptions().setName("m");
  req.send().wait(cl.wait_scope());
}

}  // namespace

TEST_CASE(
    "a call whose client deadline passes on a hung shard fails deadline_exceeded, "
    "and the cluster serves again afterwards") {
  model_fixture model{small_model(42)};
  local_cluster c{hung_shard_options(600000)};
  client cl{c.gateway(), c.admin_token()};
  load(cl, model);
  auto texts = random_texts(model.spec, 4, 21);
  const std::string timeouts = "tessera_shard_timeouts_total{member=\"shard-1\"}";
  CHECK(coordinator_metric(c, timeouts) == -1);  // none yet
  {
    stopped_process hang{c.node_pid("shard-1")};
    // Without the client's 300 ms the call would wait for the 10 min request_timeout.
    CHECK(outcome(cl, predict(cl, texts[0], 300), 60 * kj::SECONDS) == "deadline_exceeded");
    // Its one sub-request (one shard, R = 1) reached the deadline unanswered.
    CHECK(coordinator_metric(c, timeouts) == 1);
  }
  auto res = predict(cl, texts[1], 0).wait(cl.wait_scope());
  check_prediction(*model.ref, model.ref->pool_text(texts[1]), res.getResults()[0], 1);
}

TEST_CASE(
    "a call queued behind hung batches is answered deadline_exceeded at its own "
    "deadline; the hung calls are answered correctly once the shard resumes") {
  model_fixture model{small_model(42)};
  local_cluster c{hung_shard_options(600000)};
  client cl{c.gateway(), c.admin_token()};
  load(cl, model);
  auto texts = random_texts(model.spec, 4, 22);
  kj::Vector<kj::Promise<std::string>> running;
  {
    stopped_process hang{c.node_pid("shard-1")};
    // Two calls fill the version's two running batches and hang on the stopped shard.
    for (int i = 0; i < 2; ++i)
      running.add(predict(cl, texts[i], 0)
                      .then(
                          [&, i](capnp::Response<Session::PredictResults>&& res) {
                            check_prediction(*model.ref, model.ref->pool_text(texts[i]),
                                             res.getResults()[0], 1);
                            return std::string{};
                          },
                          [](kj::Exception&& e) { return error_code(e); }));
    // Give them time to be admitted first: status is answered by the coordinator in order.
    cl.admin().statusRequest().send().wait(cl.wait_scope());
    // The third waits in the queue; only its own timer can answer it while the shard hangs.
    CHECK(outcome(cl, predict(cl, texts[2], 300), 60 * kj::SECONDS) == "deadline_exceeded");
    CHECK(coordinator_metric(c, "tessera_queued_requests") == 0);
    // A fourth, with time to spare, waits in the queue until the shard resumes.
    running.add(predict(cl, texts[3], 60000)
                    .then([](capnp::Response<Session::PredictResults>&&) { return std::string{}; },
                          [](kj::Exception&& e) { return error_code(e); }));
    CHECK(wait_until(cl, std::chrono::seconds(20),
                     [&] { return coordinator_metric(c, "tessera_queued_requests") == 1; }));
  }
  auto done = kj::joinPromises(running.releaseAsArray()).wait(cl.wait_scope());
  for (const auto& code : done) CHECK(code.empty());
  CHECK(coordinator_metric(c, "tessera_queued_requests") == 0);
}

TEST_CASE("a client cannot extend its deadline beyond limits.request_timeout") {
  model_fixture model{small_model(42)};
  local_cluster c{hung_shard_options(1000)};
  client cl{c.gateway(), c.admin_token()};
  load(cl, model);
  auto texts = random_texts(model.spec, 2, 23);
  stopped_process hang{c.node_pid("shard-1")};
  // Asks for 10 minutes; the cap of 1 s applies (the bound is 60 s, far below 10 min).
  CHECK(outcome(cl, predict(cl, texts[0], 600000), 60 * kj::SECONDS) == "deadline_exceeded");
}
