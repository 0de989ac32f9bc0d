// The cluster config: the embedded default, the example, and the validation rules of nodes,
// limits, the gateway, hedging and [http] (tokens and tenants: config_tenants_test; sizes:
// config_size_test).
#include "node/config.hpp"
#include "node/config_test_support.hpp"
#include "node/token_hash.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace tessera {
namespace {

std::string source_dir() {
  std::string file = __FILE__;
  return file.substr(0, file.rfind('/')) + "/..";
}

}  // namespace

using config_testing::check_rejected;
using config_testing::k_coord;
using config_testing::k_shard;

TEST_CASE("the embedded local config has one coordinator and three shards on loopback") {
  auto cfg = parse_config(embedded_local_config());
  REQUIRE(cfg);
  CHECK(cfg->name == "local");
  CHECK(cfg->scheduler == "sharing");
  CHECK(cfg->heartbeat == std::chrono::milliseconds(200));
  CHECK(cfg->connection_timeout == std::chrono::milliseconds(1000));
  // A hung node is detected well within a request's deadline.
  CHECK(cfg->connection_timeout * 4 <= cfg->limits.request_timeout);
  REQUIRE(cfg->nodes.size() == 4);
  const node_config* coord = cfg->coordinator();
  REQUIRE(coord != nullptr);
  CHECK(coord->name == "coord");
  CHECK(coord->port == 7400);
  CHECK(coord->gateway_port == 7300);
  CHECK(coord->http_port == 7500);
  for (int i = 1; i <= 3; ++i) {
    const node_config* s = cfg->find_node("shard-" + std::to_string(i));
    REQUIRE(s != nullptr);
    CHECK(s->has_role("shard"));
    CHECK_FALSE(s->has_role("coordinator"));
    CHECK(s->host == "127.0.0.1");
    CHECK(s->port == 7400 + i);
    CHECK(s->http_port == 7500 + i);
    CHECK(s->memory_budget == 4ull << 30);
  }
  CHECK(cfg->find_node("nope") == nullptr);
  REQUIRE(cfg->tokens.size() == 2);
  CHECK(token_matches(cfg->tokens[0].hash, "tessera-admin-dev"));
  CHECK_FALSE(token_matches(cfg->tokens[0].hash, "tessera-user-dev"));
  CHECK(token_matches(cfg->tokens[1].hash, "tessera-user-dev"));
  CHECK(cfg->tokens[0].tenant == "default");
  CHECK(cfg->tokens[0].admin);
  CHECK(cfg->tokens[1].name == "dev-user");
  CHECK_FALSE(cfg->tokens[1].admin);
  CHECK(cfg->tokens[1].models == std::vector<std::string>{"*"});
  CHECK(cfg->limits.max_inputs == 1024);
  CHECK(cfg->limits.max_text_bytes == 1048576);
  CHECK(cfg->limits.max_ids_per_input == 1048576);
  CHECK(cfg->limits.request_timeout == std::chrono::milliseconds(5000));
  CHECK(cfg->limits.load_timeout == std::chrono::milliseconds(600000));
  CHECK(cfg->limits.max_inflight == 4096);
}

TEST_CASE("the multi-host example loads from its file") {
  auto cfg = load_config_file(source_dir() + "/config/multihost.toml");
  REQUIRE(cfg);
  CHECK(cfg->nodes.size() == 4);
  CHECK(cfg->coordinator()->host == "10.0.0.1");
  CHECK(cfg->find_node("shard-c")->memory_budget == 64ull << 30);
  CHECK(cfg->gateway.tls());  // a gateway on 10.0.0.1 speaks TLS
  CHECK(cfg->gateway.cert == "/etc/tessera/tls/gateway.pem");
  CHECK(cfg->gateway.client_ca == "/etc/tessera/tls/client-ca.pem");
}

TEST_CASE("a missing config file is an io_error naming the path") {
  auto cfg = load_config_file("/nonexistent/tessera.toml");
  REQUIRE_FALSE(cfg);
  CHECK(code_of(cfg.error()) == errc::io_error);
  CHECK(message_of(cfg.error()).find("/nonexistent/tessera.toml") != std::string::npos);
}

TEST_CASE("a minimal config gets the documented defaults") {
  auto cfg = parse_config(k_coord + k_shard);
  REQUIRE(cfg);
  CHECK(cfg->name == "tessera");
  CHECK(cfg->nodes[1].host == "127.0.0.1");
  CHECK(cfg->nodes[1].memory_budget == 0);
  CHECK(cfg->nodes[1].http_port == 0);
  CHECK(cfg->tokens.empty());
  CHECK(cfg->limits.max_inflight == 4096);
}

TEST_CASE("a shard node's block store: data_dir and disk_budget, and the default under state_dir") {
  auto cfg = parse_config("state_dir = \"/srv/state\"\n" + k_coord + k_shard + R"(
[[nodes]]
name = "t"
port = 7402
roles = ["shard"]
data_dir = "/data/t"
disk_budget = "2GiB"
)");
  REQUIRE(cfg);
  CHECK(cfg->data_dir_of(cfg->nodes[1]) == "/srv/state/nodes/s");
  CHECK(cfg->nodes[1].disk_budget == 0);
  CHECK(cfg->data_dir_of(cfg->nodes[2]) == "/data/t");
  CHECK(cfg->nodes[2].disk_budget == uint64_t{2} << 30);
  // Memory only: no store unless data_dir names one.
  auto none = parse_config("state_dir = \"\"\n" + k_coord + k_shard);
  REQUIRE(none);
  CHECK(none->data_dir_of(none->nodes[1]).empty());
  check_rejected(k_coord + k_shard + "data_dir = \"\"\n", "nodes[1].data_dir");
  check_rejected(k_coord + k_shard + "disk_budget = \"2XB\"\n", "nodes[1].disk_budget");
  // Two nodes on one host writing one store would delete each other's blocks.
  check_rejected(k_coord + k_shard + "data_dir = \"/d\"\n" + R"(
[[nodes]]
name = "t"
port = 7402
roles = ["shard"]
data_dir = "/d"
)",
                 "nodes[2].data_dir");
}

TEST_CASE("a node may be both coordinator and shard") {
  auto cfg = parse_config(R"(
[[nodes]]
name = "solo"
port = 7400
roles = ["coordinator", "shard"]
gateway_port = 7300
)");
  REQUIRE(cfg);
  CHECK(cfg->coordinator()->name == "solo");
}

TEST_CASE("the same port on different hosts is allowed") {
  auto cfg = parse_config(k_coord + R"(
[[nodes]]
name = "s"
host = "10.0.0.2"
port = 7400
roles = ["shard"]
)");
  CHECK(cfg);
}

TEST_CASE("a syntax error reports its line") {
  auto cfg = parse_config("name = \"x\"\nnodes = [\n");
  REQUIRE_FALSE(cfg);
  CHECK(code_of(cfg.error()) == errc::invalid_argument);
  CHECK(message_of(cfg.error()).find("line") != std::string::npos);
}

TEST_CASE("node rules are enforced and name the offending key") {
  check_rejected("name = \"x\"\n", "nodes");
  check_rejected(k_coord + k_shard + k_shard, "nodes[2].name");
  check_rejected(k_coord + R"(
[[nodes]]
name = "s"
port = 7300
roles = ["shard"]
)",
                 "nodes[1].port");
  check_rejected(k_coord + R"(
[[nodes]]
name = "s"
port = 7401
http_port = 7401
roles = ["shard"]
)",
                 "nodes[1].http_port");
  check_rejected(k_coord + R"(
[[nodes]]
name = "s"
port = 7401
roles = ["worker"]
)",
                 "nodes[1].roles");
  check_rejected(k_coord + R"(
[[nodes]]
name = "s"
port = 7401
roles = []
)",
                 "nodes[1].roles");
  check_rejected(k_coord + R"(
[[nodes]]
name = "c2"
port = 7401
gateway_port = 7301
roles = ["coordinator", "shard"]
)",
                 "nodes[1].roles");
  check_rejected(k_shard, "nodes");  // no coordinator
  check_rejected(k_coord, "nodes");  // no shard
  check_rejected(R"(
[[nodes]]
name = "c"
port = 7400
roles = ["coordinator", "shard"]
)",
                 "nodes[0].gateway_port");
  check_rejected(k_coord + R"(
[[nodes]]
name = "s"
port = 7401
gateway_port = 7302
roles = ["shard"]
)",
                 "nodes[1].gateway_port");
  check_rejected(k_coord + R"(
[[nodes]]
name = "s"
port = 0
roles = ["shard"]
)",
                 "nodes[1].port");
  check_rejected(k_coord + R"(
[[nodes]]
name = "s"
port = 70000
roles = ["shard"]
)",
                 "nodes[1].port");
  check_rejected(k_coord + R"(
[[nodes]]
name = "s"
roles = ["shard"]
)",
                 "nodes[1].port");
  check_rejected(k_coord + R"(
[[nodes]]
port = 7401
roles = ["shard"]
)",
                 "nodes[1].name");
  check_rejected(k_coord + R"(
[[nodes]]
name = "s"
port = "7401"
roles = ["shard"]
)",
                 "nodes[1].port");
  check_rejected(k_coord + R"(
[[nodes]]
name = "s"
prot = 7401
roles = ["shard"]
)",
                 "nodes[1].prot");
}

TEST_CASE("gateway bounds parse with units and refuse values that would disable them") {
  const std::string nodes = k_coord + k_shard;
  auto cfg = parse_config(
      "[limits]\nmax_message_bytes = \"8MiB\"\nslice_bytes = \"64KiB\"\n"
      "max_prelogin_bytes = 2048\nmax_connections = 10\ncapacity = 4\n" +
      nodes);
  REQUIRE(cfg);
  CHECK(cfg->limits.max_message_bytes == 8u << 20);
  CHECK(cfg->limits.slice_bytes == 64u << 10);
  CHECK(cfg->limits.max_prelogin_bytes == 2048);
  CHECK(cfg->limits.max_connections == 10);
  CHECK(cfg->limits.capacity == 4);
  check_rejected("[limits]\nmax_prelogin_bytes = 100000000\n" + nodes, "limits.max_prelogin_bytes");
  check_rejected("[limits]\nmax_message_bytes = \"4GiB\"\n" + nodes, "limits.max_message_bytes");
  check_rejected("[limits]\nslice_bytes = 0\n" + nodes, "limits.slice_bytes");
  check_rejected("[limits]\nmax_connections = 0\n" + nodes, "limits.max_connections");
}

TEST_CASE("max_gather_bytes parses with units, defaults to 64 MiB and refuses tiny values") {
  const std::string nodes = k_coord + k_shard;
  auto plain = parse_config(nodes);
  REQUIRE(plain);
  CHECK(plain->limits.max_gather_bytes == uint64_t{64} << 20);
  auto cfg = parse_config("[limits]\nmax_gather_bytes = \"256MiB\"\n" + nodes);
  REQUIRE(cfg);
  CHECK(cfg->limits.max_gather_bytes == uint64_t{256} << 20);
  check_rejected("[limits]\nmax_gather_bytes = 1000\n" + nodes, "limits.max_gather_bytes");
  check_rejected("[limits]\nmax_gather_bytes = \"2TiB\"\n" + nodes, "limits.max_gather_bytes");
}

TEST_CASE("low_priority_gap_ms defaults to 20, takes 0 (no pacing) to 60000, refuses the rest") {
  const std::string nodes = k_coord + k_shard;
  auto plain = parse_config(nodes);
  REQUIRE(plain);
  CHECK(plain->limits.low_priority_gap == std::chrono::milliseconds{20});
  for (int ms : {0, 5, 60000}) {
    auto cfg = parse_config("[limits]\nlow_priority_gap_ms = " + std::to_string(ms) + "\n" + nodes);
    REQUIRE(cfg);
    CHECK(cfg->limits.low_priority_gap == std::chrono::milliseconds{ms});
  }
  check_rejected("[limits]\nlow_priority_gap_ms = -1\n" + nodes, "limits.low_priority_gap_ms");
  check_rejected("[limits]\nlow_priority_gap_ms = 60001\n" + nodes, "limits.low_priority_gap_ms");
}

TEST_CASE("serving_actors (0 = one per core, to 256) and serving_affinity are checked") {
  const std::string nodes = k_coord + k_shard;
  CHECK(parse_config(nodes)->limits.serving_actors == 0);
  CHECK(parse_config("[limits]\nserving_actors = 3\n" + nodes)->limits.serving_actors == 3);
  check_rejected("[limits]\nserving_actors = -1\n" + nodes, "limits.serving_actors");
  check_rejected("[limits]\nserving_actors = 257\n" + nodes, "limits.serving_actors");
  CHECK(parse_config(nodes)->limits.serving_affinity == serving_affinity_kind::model);
  CHECK(parse_config("[limits]\nserving_affinity = \"connection\"\n" + nodes)
            ->limits.serving_affinity == serving_affinity_kind::connection);
  check_rejected("[limits]\nserving_affinity = \"call\"\n" + nodes, "limits.serving_affinity");
}

TEST_CASE("limits and top-level settings are validated") {
  const std::string nodes = k_coord + k_shard;
  for (const char* key : {"max_inputs", "max_text_bytes", "max_ids_per_input", "request_timeout_ms",
                          "load_timeout_ms", "max_inflight"}) {
    check_rejected("[limits]\n" + std::string(key) + " = 0\n" + nodes,
                   std::string("limits.") + key);
    check_rejected("[limits]\n" + std::string(key) + " = -5\n" + nodes,
                   std::string("limits.") + key);
  }
  check_rejected("[limits]\nmax_inputs = 4294967296\n" + nodes, "limits.max_inputs");
  check_rejected("[limits]\nmax_input = 5\n" + nodes, "limits.max_input");
  check_rejected("scheduler = \"fifo\"\n" + nodes, "scheduler");
  check_rejected("log_level = \"loud\"\n" + nodes, "log_level");
  check_rejected("heartbeat_ms = 0\n" + nodes, "heartbeat_ms");
  check_rejected("heartbeat_ms = 5000\nconnection_timeout_ms = 5000\n" + nodes,
                 "connection_timeout_ms");
  check_rejected("colour = \"blue\"\n" + nodes, "colour");
}

TEST_CASE("worker_threads sets CAF's workers per process and is range-checked") {
  auto cfg = parse_config("worker_threads = 2\n" + k_coord + k_shard);
  REQUIRE(cfg);
  CHECK(cfg->worker_threads == 2);
  auto dflt = parse_config(k_coord + k_shard);
  REQUIRE(dflt);
  CHECK(dflt->worker_threads == 0);
  check_rejected("worker_threads = -1\n" + k_coord + k_shard, "worker_threads");
  check_rejected("worker_threads = 1000\n" + k_coord + k_shard, "worker_threads");
}

TEST_CASE("[hedging] and replacement_grace_ms: defaults, values, and every rule") {
  const std::string nodes = k_coord + k_shard;
  auto def = parse_config(nodes);
  REQUIRE(def);
  CHECK(def->hedging.enabled);
  CHECK(def->hedging.percentile == 95);
  CHECK(def->hedging.min_delay == std::chrono::milliseconds(5));
  CHECK(def->hedging.min_samples == 20);
  CHECK(def->replacement_grace == std::chrono::milliseconds(30000));

  auto set = parse_config(
      "replacement_grace_ms = 2000\n[hedging]\nenabled = false\npercentile = 99.5\n"
      "min_delay_ms = 0\nmin_samples = 5\n" +
      nodes);
  REQUIRE(set);
  CHECK_FALSE(set->hedging.enabled);
  CHECK(set->hedging.percentile == 99.5);
  CHECK(set->hedging.min_delay == std::chrono::milliseconds(0));
  CHECK(set->hedging.min_samples == 5);
  CHECK(set->replacement_grace == std::chrono::milliseconds(2000));
  auto whole = parse_config("[hedging]\npercentile = 90\n" + nodes);
  REQUIRE(whole);
  CHECK(whole->hedging.percentile == 90);

  check_rejected("[hedging]\npercentile = 0\n" + nodes, "hedging.percentile");
  check_rejected("[hedging]\npercentile = 101\n" + nodes, "hedging.percentile");
  check_rejected("[hedging]\npercentile = \"p95\"\n" + nodes, "hedging.percentile");
  check_rejected("[hedging]\nmin_delay_ms = -1\n" + nodes, "hedging.min_delay_ms");
  check_rejected("[hedging]\nmin_samples = 0\n" + nodes, "hedging.min_samples");
  check_rejected("[hedging]\nenabled = 1\n" + nodes, "hedging.enabled");
  check_rejected("[hedging]\nbudget = 3\n" + nodes, "hedging.budget");
  check_rejected("hedging = 3\n" + nodes, "hedging");
  check_rejected("replacement_grace_ms = 0\n" + nodes, "replacement_grace_ms");
}

TEST_CASE("a gateway on loopback serves plaintext unless [gateway] names a certificate") {
  auto local = parse_config(embedded_local_config());
  REQUIRE(local);
  CHECK_FALSE(local->gateway.tls());
  CHECK_FALSE(local->gateway.insecure);  // loopback needs no exemption
  CHECK(local->gateway.handshake_timeout == std::chrono::milliseconds(10000));
  auto tls = parse_config(k_coord + k_shard +
                          "[gateway]\ncert = \"gw.pem\"\nkey = \"/etc/gw.key\"\n"
                          "client_ca = \"clients.pem\"\nhandshake_timeout_ms = 1500\n");
  REQUIRE(tls);
  CHECK(tls->gateway.tls());
  CHECK(tls->gateway.cert == "gw.pem");  // as written; node/tls resolves relative paths
  CHECK(tls->gateway.key == "/etc/gw.key");
  CHECK(tls->gateway.client_ca == "clients.pem");
  CHECK(tls->gateway.handshake_timeout == std::chrono::milliseconds(1500));
}

TEST_CASE("only 127.0.0.0/8, ::1 and localhost count as loopback") {
  struct row {
    const char* host;
    bool loopback;
  };
  const row rows[] = {
      {"127.0.0.1", true},
      {"127.1.2.3", true},
      {"localhost", true},
      {"LocalHost", true},
      {"::1", true},
      {"::ffff:127.0.0.1", true},
      {"0.0.0.0", false},
      {"::", false},
      {"10.0.0.1", false},
      {"128.0.0.1", false},
      {"::2", false},
      {"::ffff:10.0.0.1", false},
      {"gateway.example", false},
      {"localhost.example", false},
      {"", false},
  };
  for (const auto& r : rows) {
    INFO(r.host);
    CHECK(is_loopback_host(r.host) == r.loopback);
  }
}

TEST_CASE("a gateway on a non-loopback host refuses plaintext unless insecure = true") {
  const std::string wide = R"(
[[nodes]]
name = "c"
host = "0.0.0.0"
port = 7400
roles = ["coordinator", "shard"]
gateway_port = 7300
)";
  check_rejected(wide, "gateway");
  auto refused = parse_config(wide);
  REQUIRE_FALSE(refused);
  CHECK_THAT(message_of(refused.error()), Catch::Contains("0.0.0.0") &&
                                              Catch::Contains("insecure = true") &&
                                              Catch::Contains("cert and key"));
  check_rejected(wide + "[gateway]\ninsecure = false\n", "gateway");
  auto plain = parse_config(wide + "[gateway]\ninsecure = true\n");
  REQUIRE(plain);
  CHECK(plain->gateway.insecure);
  CHECK(parse_config(wide + "[gateway]\ncert = \"g.pem\"\nkey = \"g.key\"\n"));
  // Only the coordinator's host matters: shards elsewhere do not expose the gateway.
  CHECK(parse_config(k_coord + "[[nodes]]\nname = \"s\"\nhost = \"10.0.0.2\"\nport = 7401\n"
                               "roles = [\"shard\"]\n"));
}

TEST_CASE("[gateway] rules name the offending key") {
  const std::string nodes = k_coord + k_shard;
  check_rejected(nodes + "[gateway]\ncert = \"g.pem\"\n", "gateway.key");
  check_rejected(nodes + "[gateway]\nkey = \"g.key\"\n", "gateway.cert");
  check_rejected(nodes + "[gateway]\nclient_ca = \"c.pem\"\n", "gateway.client_ca");
  check_rejected(nodes + "[gateway]\ncert = \"\"\nkey = \"g.key\"\n", "gateway.cert");
  check_rejected(nodes + "[gateway]\ncert = \"g.pem\"\nkey = \"g.key\"\ninsecure = true\n",
                 "gateway.insecure");
  check_rejected(nodes + "[gateway]\ninsecure = \"yes\"\n", "gateway.insecure");
  check_rejected(nodes + "[gateway]\nhandshake_timeout_ms = 0\n", "gateway.handshake_timeout_ms");
  check_rejected(nodes + "[gateway]\ncafile = \"x\"\n", "gateway.cafile");
  check_rejected("gateway = true\n" + nodes, "gateway");
}

TEST_CASE("[http] metrics: on by default, switched off by false, anything else refused") {
  const std::string nodes = k_coord + k_shard;
  auto def = parse_config(nodes);
  REQUIRE(def);
  CHECK(def->http_metrics);
  auto off = parse_config("[http]\nmetrics = false\n" + nodes);
  REQUIRE(off);
  CHECK_FALSE(off->http_metrics);
  check_rejected("[http]\nmetrics = \"no\"\n" + nodes, "http.metrics");
  check_rejected("[http]\nport = 1\n" + nodes, "http.port");
  check_rejected("http = 3\n" + nodes, "http");
}

TEST_CASE("[http] is loopback unless public, and public needs a token, TLS or insecure") {
  const std::string nodes = k_coord + k_shard;
  auto plain = parse_config(nodes);
  REQUIRE(plain);
  CHECK_FALSE(plain->http.public_bind);
  CHECK_FALSE(plain->http.has_token);
  check_rejected(nodes + "[http]\npublic = true\n", "http.public");
  check_rejected(nodes + "[http]\ntoken_hash = \"x\"\n", "http.token_hash");
  check_rejected(nodes + "[http]\ncert = \"c.pem\"\n", "http.key");
  check_rejected(nodes + "[http]\nclient_ca = \"ca.pem\"\n", "http.client_ca");
  auto tok = parse_config(nodes + "[http]\npublic = true\ntoken_hash = \"" +
                          to_string(hash_token("scrape")) + "\"\n");
  REQUIRE(tok);
  CHECK(tok->http.public_bind);
  CHECK(token_matches(tok->http.token, "scrape"));
  CHECK(parse_config(nodes + "[http]\npublic = true\ncert = \"c.pem\"\nkey = \"c.key\"\n"));
  CHECK(parse_config(nodes + "[http]\npublic = true\ninsecure = true\n"));
}

}  // namespace tessera
