// The nodes' HTTP endpoints over real processes: every node's /metrics parses with Prometheus'
// own checker (promtool), its counters and latency histogram grow by exactly the calls served
// (by model, version and tenant), on a model split across nodes each shard's sub-request
// histogram grows by exactly the coalesced runs, a failed node-to-node handshake is counted,
// /healthz answers, /readyz follows whether every active model has a live replica of every
// shard (and stays ready while another version loads), and bad requests get a bounded answer.
// No timing assertions: counts, status codes and conditions awaited with a limit.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "node/token_hash.hpp"

#include "tests/support/http_get.hpp"
#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/skip.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

const program_precondition needs_promtool{promtool_missing};

const std::vector<std::string> all_nodes = {"coord", "shard-1", "shard-2", "shard-3"};

cluster_options with_http() {
  cluster_options o;
  o.http = true;
  return o;
}

// A sample's value, 0 when the series is absent (a counter not yet incremented).
double counter(const std::string& text, const std::string& series) {
  return std::max(0.0, metric_value(text, series));
}

std::string scrape(const local_cluster& c, const std::string& node) {
  auto r = http_get(c.http_port(node), "/metrics");
  REQUIRE(r.status == 200);
  return r.body;
}

// Every sample of `text` whose series starts with `prefix` (a name and an opening brace):
// series -> value.
std::map<std::string, double> samples(const std::string& text, const std::string& prefix) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.compare(0, prefix.size(), prefix) == 0) {
      auto space = line.rfind(' ');
      out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
  return out;
}

// A [[tokens]] entry of the config: secret `secret`, every model of `tenant`, admin role.
std::string tenant_token(const std::string& secret, const std::string& tenant) {
  return "[[tokens]]\nhash = \"" + to_string(hash_token(secret)) + "\"\nname = \"" + secret +
         "\"\nadmin = true\nmodels = [\"*\"]\ntenant = \"" + tenant + "\"\n";
}

}  // namespace

TEST_CASE(
    "every node's /metrics passes promtool, and the request counters move by the calls served") {
  model_fixture m{small_model(91)};
  local_cluster c{with_http()};
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  load_model(admin, m.path, "m", 1);
  auto texts = random_texts(m.spec, 100, 5);
  const std::map<uint64_t, const reference_model*> refs{{1, m.ref.get()}};
  const std::string ok =
      "{model=\"m\",version=\"1\",tenant=\"default\",kind=\"predict\",status=\"ok\"}";
  const std::string unknown =
      "{model=\"\",version=\"\",tenant=\"default\",kind=\"predict\",status=\"unknown_model\"}";

  auto before = scrape(c, "coord");
  auto served = traffic_n(users, "m", texts, refs, 4, 120);
  REQUIRE(served.ok == 120);
  auto refused = traffic_n(users, "no-such-model", texts, refs, 1, 3);
  REQUIRE(refused.by_code["unknown_model"] == 3);
  auto after = scrape(c, "coord");

  // Each call had one input, and all were small enough to stay one coordinator call.
  CHECK(counter(after, "tessera_requests_total" + ok) -
            counter(before, "tessera_requests_total" + ok) ==
        120);
  CHECK(counter(after, "tessera_request_inputs_total" + ok) -
            counter(before, "tessera_request_inputs_total" + ok) ==
        120);
  CHECK(counter(after, "tessera_requests_total" + unknown) -
            counter(before, "tessera_requests_total" + unknown) ==
        3);
  const std::string h = "tessera_request_duration_seconds";
  const std::string hl = "{model=\"m\",version=\"1\",tenant=\"default\",kind=\"predict\"}";
  CHECK(counter(after, h + "_count" + hl) - counter(before, h + "_count" + hl) == 120);
  CHECK(metric_value(after, h + "_bucket{model=\"m\",version=\"1\",tenant=\"default\","
                                "kind=\"predict\",le=\"+Inf\"}") ==
        metric_value(after, h + "_count" + hl));
  CHECK(metric_value(after, h + "_sum" + hl) > 0);
  CHECK(metric_value(after, "tessera_members_up") == 3);
  // The gateway's own counters: the two clients above are open; a wrong token is counted.
  CHECK(metric_value(after, "tessera_gateway_connections") >= 2);
  const std::string failed = "tessera_gateway_failed_logins_total";
  {
    cli::gateway_link link(c.gateway(), {});
    auto req = link.bootstrap().authenticateRequest();
    req.setToken("not-a-token");
    CHECK_THROWS_AS(req.send().wait(link.wait_scope()), kj::Exception);
  }
  CHECK(counter(scrape(c, "coord"), failed) - counter(after, failed) == 1);
  CHECK(metric_value(after, "tessera_gateway_refused_total{reason=\"quota\"}") == 0);
  CHECK(metric_value(after, "tessera_model_active_version{model=\"m\"}") == 1);
  CHECK(metric_value(after, "tessera_under_replicated_shards") == 0);
  CHECK(metric_value(after, "tessera_scrape_ok{actor=\"coordinator\"}") == 1);
  CHECK(metric_value(after, "tessera_inflight_requests") >= 0);

  double ready_replicas = 0;
  for (const auto& node : all_nodes) {
    INFO(node);
    auto r = http_get(c.http_port(node), "/metrics");
    REQUIRE(r.status == 200);
    CHECK(r.headers["content-type"].find("version=0.0.4") != std::string::npos);
    std::string complaints;
    CHECK(promtool_check(r.body, &complaints) == 0);
    INFO(complaints);
    CHECK(complaints.empty());
    CHECK(metric_value(r.body, "process_resident_memory_bytes") > 0);
    if (node != "coord") {
      CHECK(metric_value(r.body, "tessera_scrape_ok{actor=\"node\"}") == 1);
      CHECK(metric_value(r.body, "tessera_node_budget_bytes") == 4.0 * (1ull << 30));
      ready_replicas += metric_value(r.body, "tessera_node_replicas{state=\"ready\"}");
    }
  }
  CHECK(ready_replicas > 0);  // the model's replicas, as their nodes count them

  // Health everywhere; shard-only nodes are ready once the coordinator polls them.
  for (const auto& node : all_nodes) {
    INFO(node);
    auto hz = http_get(c.http_port(node), "/healthz");
    CHECK(hz.status == 200);
    CHECK(hz.body == "ok\n");
    CHECK(wait_until(users, 15s,
                     [&] { return http_get(c.http_port(node), "/readyz").status == 200; }));
  }
}

TEST_CASE(
    "on a model split across nodes, every shard's sub-request histogram, the batch sizes and "
    "the tenant-labelled counters move by what was served; a failed node handshake is counted") {
  auto spec = small_model(94);
  spec.buckets = 100000;  // a 26 MB table: split over the nodes (tensors up to 16 MiB stay whole)
  model_fixture m{spec};
  cluster_options o = with_http();
  o.extra_toml = tenant_token("acme-admin", "acme") +
                 "[[tenants]]\nname = \"acme\"\npackage_root = \"" + m.dir.path() + "\"\n";
  local_cluster c{o};
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  load_model(admin, m.path, "m", 1);
  // The table really is split over two nodes or more (R = 1: one replica per shard).
  const auto shards = take_status(admin).shards.at("m@1");
  std::set<std::string> table_nodes;
  for (const auto& sh : shards)
    if (sh.tensor == "embedder.input")
      for (const auto& [node, state] : sh.replicas) table_nodes.insert(node);
  REQUIRE(tensor_row_ranges(admin, "m", "embedder.input").size() >= 2);
  REQUIRE(table_nodes.size() >= 2);

  auto texts = random_texts(m.spec, 100, 6);
  const std::map<uint64_t, const reference_model*> refs{{1, m.ref.get()}};
  auto before = scrape(c, "coord");
  REQUIRE(traffic_n(users, "m", texts, refs, 4, 60).ok == 60);
  auto after = scrape(c, "coord");
  auto delta = [&](const std::string& series) {
    return counter(after, series) - counter(before, series);
  };

  // 60 calls of one input each went out in `runs` coalesced runs.
  const std::string bl = "{model=\"m\",tenant=\"default\"}";
  const double runs = delta("tessera_batch_calls_count" + bl);
  CHECK(runs >= 1);
  CHECK(runs <= 60);
  CHECK(delta("tessera_batch_calls_sum" + bl) == 60);
  CHECK(delta("tessera_batch_inputs_sum" + bl) == 60);
  // Each run asked every shard of every tensor once (R = 1: no hedge; nothing failed, so no
  // retry): each shard's series, on the node holding it, grew by exactly the runs.
  const std::string h = "tessera_shard_request_duration_seconds_count{";
  const auto series = samples(after, h);
  for (const auto& sh : shards) {
    const std::string range =
        sh.tensor + "[" + std::to_string(sh.begin) + ":" + std::to_string(sh.end) + ")\"}";
    for (const auto& [node, state] : sh.replicas) {
      INFO(node << " " << range);
      std::string found;
      for (const auto& [name, n] : series)
        if (name.rfind(h + "member=\"" + node + "\",shard=\"", 0) == 0 &&
            name.size() > range.size() &&
            name.compare(name.size() - range.size() - 1, range.size() + 1, "/" + range) == 0)
          found = name;
      REQUIRE(!found.empty());
      CHECK(delta(found) == runs);
    }
  }
  CHECK(series.size() == shards.size());  // one series per shard used, no other
  CHECK(metric_value(after, "tessera_queued_requests") >= 0);
  CHECK(after.find("# TYPE tessera_shard_retries_total counter") != std::string::npos);
  CHECK(after.find("# TYPE tessera_shard_timeouts_total counter") != std::string::npos);
  std::string complaints;
  CHECK(promtool_check(after, &complaints) == 0);
  INFO(complaints);
  CHECK(complaints.empty());

  // Tenant acme's own "m" and a name it lacks: counted under tenant acme, by bare name.
  client acme{c.gateway(), "acme-admin"};
  REQUIRE(load_model(acme, m.path, "m", 1) == 1);
  REQUIRE(traffic_n(acme, "m", texts, refs, 2, 7).ok == 7);
  REQUIRE(traffic_n(acme, "nope", texts, refs, 1, 2).by_code["unknown_model"] == 2);
  auto tenants = scrape(c, "coord");
  CHECK(metric_value(tenants,
                     "tessera_requests_total{model=\"m\",version=\"1\",tenant=\"acme\","
                     "kind=\"predict\",status=\"ok\"}") == 7);
  CHECK(metric_value(tenants,
                     "tessera_requests_total{model=\"\",version=\"\",tenant=\"acme\","
                     "kind=\"predict\",status=\"unknown_model\"}") == 2);
  CHECK(counter(tenants,
                "tessera_requests_total{model=\"m\",version=\"1\",tenant=\"default\","
                "kind=\"predict\",status=\"ok\"}") ==
        counter(after,
                "tessera_requests_total{model=\"m\",version=\"1\",tenant=\"default\","
                "kind=\"predict\",status=\"ok\"}"));

  // Plaintext bytes at a node's mutual-TLS port: one failed inbound handshake on that node.
  const std::string inbound = "tessera_node_tls_handshake_failures_total{direction=\"inbound\"}";
  const auto port = c.node_port("shard-1");
  const std::string refused =
      "tessera_node_transport_refused_connections_total{reason=\"handshake\"}";
  const auto shard_before = scrape(c, "shard-1");
  const double was = metric_value(shard_before, inbound);
  const double refused_was = metric_value(shard_before, refused);
  REQUIRE(was >= 0);
  REQUIRE(refused_was >= 0);
  int fd = connect_loopback(port);
  REQUIRE(fd >= 0);
  const std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK(::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(junk.size()));
  CHECK(closed_by_peer(fd, 20s));  // the node failed the handshake, then closed
  ::close(fd);
  const auto after_junk = scrape(c, "shard-1");
  CHECK(metric_value(after_junk, inbound) - was == 1);
  CHECK(metric_value(after_junk, refused) - refused_was == 1);  // the transport's count too
}

TEST_CASE("bad requests get a bounded answer and leave the endpoints working") {
  local_cluster c{with_http()};
  client admin{c.gateway(), c.admin_token()};
  for (const auto& node : {std::string("coord"), std::string("shard-1")}) {
    INFO(node);
    auto port = c.http_port(node);
    CHECK(http_get(port, "/nope").status == 404);
    CHECK(http_get(port, "/metrics?x=1").status == 200);  // the query is ignored
    auto post = http_get(port, "/metrics", "POST");
    CHECK(post.status == 405);
    CHECK(post.headers["allow"] == "GET, HEAD");
    auto head = http_get(port, "/healthz", "HEAD");
    CHECK(head.status == 200);
    CHECK(head.body.empty());
    // Garbage and an oversized request head are refused (an error status or a close),
    // never answered 200.
    auto garbage = http_raw(port, std::string("\x01\x02 not http\r\n\r\n"), 5s);
    CHECK(garbage.find(" 200 ") == std::string::npos);
    auto huge = http_raw(
        port, "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n", 10s);
    CHECK(huge.find(" 200 ") == std::string::npos);
    CHECK(http_get(port, "/healthz").status == 200);
  }
  // 64 connections that send nothing fill the server's connection cap: one more is closed
  // at once, unanswered. The server closes each silent one at its header timeout (5 s), and
  // then answers again.
  auto port = c.http_port("shard-2");
  std::vector<int> idle;
  for (int i = 0; i < 64; ++i) idle.push_back(http_idle_connection(port));
  CHECK(std::count(idle.begin(), idle.end(), -1) == 0);
  REQUIRE(http_get(port, "/readyz").status == 0);
  size_t closed = 0;
  for (int fd : idle) closed += closed_by_peer(fd, 20s) ? 1 : 0;
  for (int fd : idle) ::close(fd);
  CHECK(closed == idle.size());
  CHECK(http_get(port, "/healthz").status == 200);
}

TEST_CASE("/readyz is 503 while a needed shard has no live replica, 200 again once it recovers") {
  auto spec = small_model(92);
  model_fixture m{spec};
  spec.seed = 93;
  spec.buckets = 400000;  // a second version that takes a while to load
  model_fixture m2{spec};
  cluster_options o = with_http();
  o.supervise = false;  // a killed node stays down until the test restarts it
  local_cluster c{o};
  client admin{c.gateway(), c.admin_token()};
  const auto coord = c.http_port("coord");
  load_model(admin, m.path, "m", 1);
  REQUIRE(wait_until(admin, 10s, [&] { return http_get(coord, "/readyz").status == 200; }));

  // Another version loads (not activated): the serving version keeps the cluster ready.
  auto req = admin.admin().loadRequest();
  auto opts = req.initOptions();
  opts.setPath(m2.path);
  opts.setName("m");
  opts.setReplicas(1);
  bool loaded = false;
  std::string load_error;
  auto load = req.send()
                  .then([&](auto) { loaded = true; },
                        [&](kj::Exception&& e) {
                          load_error = e.getDescription().cStr();
                          loaded = true;
                        })
                  .eagerlyEvaluate(nullptr);  // kj continuations are lazy
  size_t polls = 0, not_ready = 0, saw_loading = 0;
  REQUIRE(wait_until(admin, 120s, [&] {
    ++polls;
    if (http_get(coord, "/readyz").status != 200) ++not_ready;
    auto text = http_get(coord, "/metrics").body;
    if (metric_value(text, "tessera_model_versions{model=\"m\",state=\"loading\"}") > 0)
      ++saw_loading;
    return loaded;
  }));
  load.wait(admin.wait_scope());
  CHECK(load_error == "");
  CHECK(not_ready == 0);
  CHECK(saw_loading > 0);  // some polls did happen while v2 was loading
  WARN("readyz polls while v2 loaded: " << polls << ", of which saw v2 loading: " << saw_loading);

  // Kill a node holding a replica of the serving version: with R = 1 it was the shard's only one.
  auto st = take_status(admin);
  std::string victim;
  for (const auto& sh : st.shards.at("m@1"))
    for (const auto& [node, state] : sh.replicas)
      if (victim.empty()) victim = node;
  REQUIRE(!victim.empty());
  ::kill(c.node_pid(victim), SIGKILL);
  CHECK(wait_until(admin, 30s, [&] { return http_get(coord, "/readyz").status == 503; }));
  CHECK(metric_value(http_get(coord, "/metrics").body, "tessera_serving") == 0);
  CHECK(http_get(coord, "/healthz").status == 200);  // alive, just not ready

  c.restart_node(victim);
  CHECK(wait_until(admin, 60s, [&] { return http_get(coord, "/readyz").status == 200; }));
  CHECK(wait_until(admin, 30s,
                   [&] { return http_get(c.http_port(victim), "/readyz").status == 200; }));
}
