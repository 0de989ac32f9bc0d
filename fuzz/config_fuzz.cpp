// The cluster config parser (parse_config, node/config.hpp).
//
// Input: TOML text. parse_config never throws; it refuses with invalid_argument and a message
// "config: ...", or returns a config whose documented rules hold: at least one node, names
// unique and non-empty, every (host, port) used once with ports in 1..65535, exactly one
// coordinator and it has a gateway port, no other node has one, at least one shard, roles
// known and not repeated, tokens non-empty and unique, connection_timeout > heartbeat > 0,
// the limits positive, the hedging percentile in (0, 100], a known scheduler and log level.
// Parsing is a function of the text: a second parse of the same text decides the same way.
#include <set>

#include "fuzz/fuzz_support.hpp"
#include "node/config.hpp"

using namespace tessera;
using namespace tessera::fuzz;

namespace {

void check_nodes(const cluster_config& c) {
  FUZZ_REQUIRE(!c.nodes.empty(), "no nodes");
  std::set<std::string> names;
  std::set<std::pair<std::string, uint16_t>> addresses;
  size_t coordinators = 0, shards = 0;
  for (const auto& n : c.nodes) {
    FUZZ_REQUIRE(!n.name.empty() && names.insert(n.name).second, "node name empty or repeated");
    FUZZ_REQUIRE(!n.host.empty() && n.port != 0, "node address");
    for (uint16_t p : {n.port, n.gateway_port, n.http_port})
      FUZZ_REQUIRE(p == 0 || addresses.insert({n.host, p}).second, "address used twice");
    FUZZ_REQUIRE(!n.roles.empty(), "node without roles");
    std::set<std::string> roles(n.roles.begin(), n.roles.end());
    FUZZ_REQUIRE(roles.size() == n.roles.size(), "role repeated");
    for (const auto& r : n.roles) FUZZ_REQUIRE(r == "shard" || r == "coordinator", "role " + r);
    if (n.has_role("coordinator")) {
      ++coordinators;
      FUZZ_REQUIRE(n.gateway_port != 0, "coordinator without a gateway port");
    } else {
      FUZZ_REQUIRE(n.gateway_port == 0, "gateway port on a node that is not the coordinator");
    }
    shards += n.has_role("shard");
  }
  FUZZ_REQUIRE(coordinators == 1 && shards >= 1, "coordinator and shard counts");
  FUZZ_REQUIRE(c.coordinator() && c.coordinator()->has_role("coordinator"), "coordinator()");
  for (const auto& n : c.nodes) FUZZ_REQUIRE(c.find_node(n.name) == &n, "find_node");
}

void check_rest(const cluster_config& c) {
  std::set<std::string> tokens;
  for (const auto& t : c.tokens) {
    FUZZ_REQUIRE(t.hash.salt.size() == 16 && t.hash.digest.size() == 32,
                 "token hash not 16 salt and 32 digest bytes");
    FUZZ_REQUIRE(!t.name.empty(), "empty token name");
    FUZZ_REQUIRE(tokens.insert(t.name).second, "token name repeated");
    for (const auto& m : t.models) FUZZ_REQUIRE(!m.empty(), "empty model name in a token");
  }
  FUZZ_REQUIRE(!c.name.empty(), "empty cluster name");
  FUZZ_REQUIRE(c.scheduler == "sharing" || c.scheduler == "stealing", "scheduler");
  static const std::set<std::string> levels = {"trace", "debug",    "info", "warn",
                                               "error", "critical", "off"};
  FUZZ_REQUIRE(levels.count(c.log_level) == 1, "log level");
  FUZZ_REQUIRE(c.worker_threads <= 256, "worker threads");
  FUZZ_REQUIRE(c.heartbeat.count() > 0 && c.connection_timeout > c.heartbeat, "heartbeat");
  FUZZ_REQUIRE(c.replacement_grace.count() > 0, "replacement grace");
  const auto& l = c.limits;
  FUZZ_REQUIRE(l.max_inputs > 0 && l.max_text_bytes > 0 && l.max_ids_per_input > 0 &&
                   l.max_inflight > 0 && l.request_timeout.count() > 0 &&
                   l.load_timeout.count() > 0,
               "limits must be positive");
  FUZZ_REQUIRE(c.hedging.percentile > 0 && c.hedging.percentile <= 100, "hedging percentile");
  FUZZ_REQUIRE(c.hedging.min_delay.count() >= 0 && c.hedging.min_samples >= 1, "hedging");
  FUZZ_REQUIRE(!c.tls.dir.empty(), "tls dir");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto cfg = parse_config(text);
  auto again = parse_config(text);
  FUZZ_REQUIRE(static_cast<bool>(cfg) == static_cast<bool>(again), "parse is not a function");
  if (!cfg) {
    require_code(cfg.error(), {errc::invalid_argument}, "parse_config");
    FUZZ_REQUIRE(message_of(cfg.error()).rfind("config: ", 0) == 0,
                 "message does not start with 'config: ': " + message_of(cfg.error()));
    FUZZ_REQUIRE(message_of(cfg.error()) == message_of(again.error()), "message differs");
    return 0;
  }
  check_nodes(*cfg);
  check_rest(*cfg);
  return 0;
}
