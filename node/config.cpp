#include "node/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include "base/toml.hpp"
#include "node/config_parse.hpp"

#include "generated/embedded_config.hpp"

// Layout (see config/local.toml for the documented default):
//   name, scheduler, worker_threads, log_level, default_model, heartbeat_ms, connection_timeout_ms,
//   state_dir, replacement_grace_ms
//   [limits]   max_inputs, max_text_bytes, max_ids_per_input, request_timeout_ms,
//              load_timeout_ms, max_inflight, max_message_bytes, max_prelogin_bytes,
//              max_connections, max_calls_per_connection, slice_bytes, capacity,
//              max_gather_bytes, capacity_inputs, max_request_bytes, low_priority_gap_ms,
//              max_connection_request_bytes, login_timeout_ms, max_prelogin_connections,
//              max_prelogin_per_source, max_failed_logins_per_connection,
//              max_failed_logins_per_source, serving_actors, serving_affinity
//   [hedging]  enabled, percentile, min_delay_ms, min_samples
//   [[nodes]]  name, host, port, roles, memory_budget, gateway_port, http_port, data_dir,
//              disk_budget
//   [[tokens]], [[tenants]]: see node/config_tenants.cpp
//   [tls]      dir, insecure
//   [gateway]  cert, key, client_ca, insecure, handshake_timeout_ms
//   [http]     metrics, public, token_hash, cert, key, client_ca, insecure
// Unknown keys are refused so that a typo never silently falls back to a default.

namespace tessera {

bool node_config::has_role(const std::string& r) const {
  return std::find(roles.begin(), roles.end(), r) != roles.end();
}

const node_config* cluster_config::find_node(const std::string& n) const {
  for (const auto& node : nodes)
    if (node.name == n) return &node;
  return nullptr;
}

const tenant_config* cluster_config::find_tenant(const std::string& n) const {
  for (const auto& t : tenants)
    if (t.name == n) return &t;
  return nullptr;
}

bool is_loopback_host(const std::string& host) {
  std::string lower;
  for (char c : host) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "localhost" || lower == "localhost.") return true;
  unsigned char v4[4];
  if (::inet_pton(AF_INET, host.c_str(), v4) == 1) return v4[0] == 127;
  unsigned char v6[16];
  if (::inet_pton(AF_INET6, host.c_str(), v6) != 1) return false;
  static const unsigned char loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::equal(v6, v6 + 16, loop6) || (std::equal(v6, v6 + 12, mapped) && v6[12] == 127);
}

std::string cluster_config::data_dir_of(const node_config& n) const {
  if (!n.data_dir.empty()) return n.data_dir;
  if (state_dir.empty()) return {};
  return state_dir + "/nodes/" + n.name;
}

const node_config* cluster_config::coordinator() const {
  for (const auto& node : nodes)
    if (node.has_role("coordinator")) return &node;
  return nullptr;
}

namespace config_detail {

// Refuses keys of `t` outside `allowed`.
void check_keys(const toml::table& t, const std::string& prefix,
                std::initializer_list<const char*> allowed) {
  for (const auto& [k, v] : t) {
    const std::string name(k.str());
    const bool known =
        std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return name == a; });
    if (!known) fail(key_of(prefix, name), "unknown key");
  }
}

std::optional<std::string> get_string(const toml::table& t, const std::string& prefix,
                                      const char* name) {
  const toml::node* n = t.get(name);
  if (n == nullptr) return std::nullopt;
  if (!n->is_string()) fail(key_of(prefix, name), "must be a string");
  return n->value<std::string>();
}

std::optional<int64_t> get_int(const toml::table& t, const std::string& prefix, const char* name) {
  const toml::node* n = t.get(name);
  if (n == nullptr) return std::nullopt;
  if (!n->is_integer()) fail(key_of(prefix, name), "must be an integer");
  return n->value<int64_t>();
}

std::optional<bool> get_bool(const toml::table& t, const std::string& prefix, const char* name) {
  const toml::node* n = t.get(name);
  if (n == nullptr) return std::nullopt;
  if (!n->is_boolean()) fail(key_of(prefix, name), "must be true or false");
  return n->value<bool>();
}

std::optional<std::vector<std::string>> get_strings(const toml::table& t, const std::string& prefix,
                                                    const char* name) {
  const toml::node* n = t.get(name);
  if (n == nullptr) return std::nullopt;
  const toml::array* arr = n->as_array();
  if (arr == nullptr) fail(key_of(prefix, name), "must be an array of strings");
  std::vector<std::string> out;
  for (const auto& e : *arr) {
    if (!e.is_string()) fail(key_of(prefix, name), "must be an array of strings");
    out.push_back(*e.value<std::string>());
  }
  return out;
}

}  // namespace config_detail

namespace {

using namespace config_detail;

// A port in 1..65535; 0 when absent and not required.
uint16_t get_port(const toml::table& t, const std::string& prefix, const char* name,
                  bool required) {
  const auto v = get_int(t, prefix, name);
  if (!v) {
    if (required) fail(key_of(prefix, name), "is required");
    return 0;
  }
  if (*v < 1 || *v > 65535) fail(key_of(prefix, name), "must be a port in 1..65535");
  return static_cast<uint16_t>(*v);
}

// A positive integer no larger than `max`; `fallback` when absent.
uint64_t get_positive(const toml::table& t, const std::string& prefix, const char* name,
                      uint64_t fallback, uint64_t max) {
  const auto v = get_int(t, prefix, name);
  if (!v) return fallback;
  if (*v <= 0) fail(key_of(prefix, name), "must be greater than zero");
  if (static_cast<uint64_t>(*v) > max)
    fail(key_of(prefix, name), "must be at most " + std::to_string(max));
  return static_cast<uint64_t>(*v);
}

std::chrono::milliseconds get_ms(const toml::table& t, const std::string& prefix, const char* name,
                                 std::chrono::milliseconds fallback) {
  const auto max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / 1000000);
  return std::chrono::milliseconds(static_cast<int64_t>(
      get_positive(t, prefix, name, static_cast<uint64_t>(fallback.count()), max)));
}

uint32_t get_u32(const toml::table& t, const std::string& prefix, const char* name,
                 uint32_t fallback) {
  return static_cast<uint32_t>(
      get_positive(t, prefix, name, fallback, std::numeric_limits<uint32_t>::max()));
}

node_config parse_node(const toml::table& t, const std::string& prefix) {
  check_keys(t, prefix,
             {"name", "host", "port", "roles", "memory_budget", "gateway_port", "http_port",
              "data_dir", "disk_budget"});
  node_config n;
  n.name = get_string(t, prefix, "name").value_or("");
  if (n.name.empty()) fail(key_of(prefix, "name"), "must be a non-empty string");
  n.host = get_string(t, prefix, "host").value_or(n.host);
  if (n.host.empty()) fail(key_of(prefix, "host"), "must not be empty");
  n.port = get_port(t, prefix, "port", true);
  auto roles = get_strings(t, prefix, "roles");
  if (!roles || roles->empty()) fail(key_of(prefix, "roles"), "must name at least one role");
  for (const auto& r : *roles) {
    if (r != "shard" && r != "coordinator")
      fail(key_of(prefix, "roles"), "unknown role \"" + r + "\" (use shard or coordinator)");
    if (std::count(roles->begin(), roles->end(), r) > 1)
      fail(key_of(prefix, "roles"), "role \"" + r + "\" is listed twice");
  }
  n.roles = std::move(*roles);
  n.memory_budget = get_size(t, prefix, "memory_budget");
  n.gateway_port = get_port(t, prefix, "gateway_port", false);
  n.http_port = get_port(t, prefix, "http_port", false);
  n.data_dir = get_string(t, prefix, "data_dir").value_or("");
  if (t.get("data_dir") != nullptr && n.data_dir.empty())
    fail(key_of(prefix, "data_dir"), "must be a non-empty path (omit it for the default)");
  n.disk_budget = get_size(t, prefix, "disk_budget");
  if (n.gateway_port != 0 && !n.has_role("coordinator"))
    fail(key_of(prefix, "gateway_port"), "only the coordinator has a gateway");
  return n;
}

limits_config parse_limits(const toml::table& t) {
  const std::string p = "limits";
  check_keys(t, p,
             {"max_inputs",
              "max_text_bytes",
              "max_ids_per_input",
              "request_timeout_ms",
              "load_timeout_ms",
              "max_inflight",
              "max_message_bytes",
              "max_prelogin_bytes",
              "max_connections",
              "max_calls_per_connection",
              "slice_bytes",
              "capacity",
              "max_gather_bytes",
              "capacity_inputs",
              "max_request_bytes",
              "max_connection_request_bytes",
              "login_timeout_ms",
              "max_prelogin_connections",
              "max_prelogin_per_source",
              "max_failed_logins_per_connection",
              "max_failed_logins_per_source",
              "low_priority_gap_ms",
              "serving_actors",
              "serving_affinity"});
  limits_config l;
  l.max_inputs = get_u32(t, p, "max_inputs", l.max_inputs);
  l.max_text_bytes = get_u32(t, p, "max_text_bytes", l.max_text_bytes);
  l.max_ids_per_input = get_u32(t, p, "max_ids_per_input", l.max_ids_per_input);
  l.request_timeout = get_ms(t, p, "request_timeout_ms", l.request_timeout);
  l.load_timeout = get_ms(t, p, "load_timeout_ms", l.load_timeout);
  l.max_inflight = get_u32(t, p, "max_inflight", l.max_inflight);
  l.max_message_bytes = get_size_or(t, p, "max_message_bytes", l.max_message_bytes);
  l.max_prelogin_bytes = get_u32(t, p, "max_prelogin_bytes", l.max_prelogin_bytes);
  l.max_connections = get_u32(t, p, "max_connections", l.max_connections);
  l.max_calls_per_connection =
      get_u32(t, p, "max_calls_per_connection", l.max_calls_per_connection);
  l.slice_bytes = get_size_or(t, p, "slice_bytes", l.slice_bytes);
  l.capacity = get_u32(t, p, "capacity", l.capacity);
  l.max_gather_bytes = get_size_or(t, p, "max_gather_bytes", l.max_gather_bytes);
  // Omitted: four full batches, so a low-priority tenant may run two at once.
  l.capacity_inputs =
      get_u32(t, p, "capacity_inputs",
              static_cast<uint32_t>(std::min<uint64_t>(4 * uint64_t{l.max_inputs}, UINT32_MAX)));
  l.max_request_bytes = get_size_or(t, p, "max_request_bytes", l.max_request_bytes);
  l.max_connection_request_bytes =
      get_size_or(t, p, "max_connection_request_bytes", l.max_connection_request_bytes);
  l.login_timeout = get_ms(t, p, "login_timeout_ms", l.login_timeout);
  l.max_prelogin_connections =
      get_u32(t, p, "max_prelogin_connections", l.max_prelogin_connections);
  l.max_prelogin_per_source = get_u32(t, p, "max_prelogin_per_source", l.max_prelogin_per_source);
  l.max_failed_logins_per_connection =
      get_u32(t, p, "max_failed_logins_per_connection", l.max_failed_logins_per_connection);
  l.max_failed_logins_per_source =
      get_u32(t, p, "max_failed_logins_per_source", l.max_failed_logins_per_source);
  if (const auto n = get_int(t, p, "serving_actors")) {  // 0 = one per core
    if (*n < 0 || *n > 256) fail(key_of(p, "serving_actors"), "must be 0 (one per core) .. 256");
    l.serving_actors = static_cast<uint32_t>(*n);
  }
  if (auto a = get_string(t, p, "serving_affinity")) {
    if (*a == "model")
      l.serving_affinity = serving_affinity_kind::model;
    else if (*a == "connection")
      l.serving_affinity = serving_affinity_kind::connection;
    else
      fail(key_of(p, "serving_affinity"), "must be \"model\" or \"connection\"");
  }
  if (const auto gap = get_int(t, p, "low_priority_gap_ms")) {  // 0 = no pacing
    if (*gap < 0 || *gap > 60000) fail(key_of(p, "low_priority_gap_ms"), "must be in 0..60000");
    l.low_priority_gap = std::chrono::milliseconds{*gap};
  }
  for (const char* k : {"capacity_inputs", "max_prelogin_connections", "max_prelogin_per_source",
                        "max_failed_logins_per_connection", "max_failed_logins_per_source"})
    if (t.get(k) != nullptr && get_u32(t, p, k, 0) == 0) fail(key_of(p, k), "must be at least 1");
  if (uint64_t{l.capacity_inputs} < 2 * uint64_t{l.max_inputs})
    fail(key_of(p, "capacity_inputs"), "must be at least twice max_inputs (" +
                                           std::to_string(2 * uint64_t{l.max_inputs}) +
                                           "), so a low-priority call of max_inputs fits its half");
  if (l.login_timeout.count() < 100 || l.login_timeout.count() > 600000)
    fail(key_of(p, "login_timeout_ms"), "must be 100..600000");
  if (l.max_prelogin_bytes < 512 || l.max_prelogin_bytes > (1u << 20))
    fail(key_of(p, "max_prelogin_bytes"), "must be 512..1048576");
  if (l.max_message_bytes < (uint64_t{1} << 16) || l.max_message_bytes > (uint64_t{1} << 31))
    fail(key_of(p, "max_message_bytes"), "must be 64KiB..2GiB");
  if (l.max_gather_bytes < (uint64_t{1} << 16) || l.max_gather_bytes > (uint64_t{1} << 40))
    fail(key_of(p, "max_gather_bytes"), "must be 64KiB..1TiB");
  return l;
}

// Calls f(table, "<array>[i]") for each table of an array of tables.
template <class F>
void each_table(const toml::table& root, const char* name, F f) {
  const toml::node* n = root.get(name);
  if (n == nullptr) return;
  const toml::array* arr = n->as_array();
  if (arr == nullptr) fail(name, "must be an array of tables ([[" + std::string(name) + "]])");
  for (size_t i = 0; i < arr->size(); ++i) {
    const std::string prefix = std::string(name) + "[" + std::to_string(i) + "]";
    const toml::table* t = arr->get(i)->as_table();
    if (t == nullptr) fail(prefix, "must be a table");
    f(*t, prefix);
  }
}

// Cross-node rules: names, addresses, the single coordinator.
void validate_nodes(const cluster_config& cfg) {
  if (cfg.nodes.empty()) fail("nodes", "at least one node is required");
  std::map<std::string, size_t> names;
  std::map<std::pair<std::string, uint16_t>, std::string> used;       // (host, port) -> key
  std::map<std::pair<std::string, std::string>, std::string> stores;  // (host, data_dir) -> key
  size_t coordinators = 0, shards = 0;
  for (size_t i = 0; i < cfg.nodes.size(); ++i) {
    const auto& n = cfg.nodes[i];
    const std::string prefix = "nodes[" + std::to_string(i) + "]";
    if (!names.emplace(n.name, i).second)
      fail(prefix + ".name", "\"" + n.name + "\" is already the name of nodes[" +
                                 std::to_string(names[n.name]) + "]");
    const std::pair<const char*, uint16_t> ports[] = {
        {"port", n.port}, {"gateway_port", n.gateway_port}, {"http_port", n.http_port}};
    for (const auto& [key, port] : ports) {
      if (port == 0) continue;
      const std::string k = prefix + "." + key;
      auto [it, fresh] = used.emplace(std::make_pair(n.host, port), k);
      if (!fresh)
        fail(k, n.host + ":" + std::to_string(port) + " is already used by " + it->second);
    }
    // Two nodes on one host writing one store would delete each other's blocks.
    if (!n.data_dir.empty()) {
      auto [it, fresh] = stores.emplace(std::make_pair(n.host, n.data_dir), prefix + ".data_dir");
      if (!fresh)
        fail(prefix + ".data_dir",
             "\"" + n.data_dir + "\" is already the data_dir of " + it->second);
    }
    if (n.has_role("coordinator")) {
      ++coordinators;
      if (coordinators > 1) fail(prefix + ".roles", "only one node may be the coordinator");
      if (n.gateway_port == 0) fail(prefix + ".gateway_port", "the coordinator needs one");
    }
    if (n.has_role("shard")) ++shards;
  }
  if (coordinators == 0) fail("nodes", "exactly one node must have the role coordinator");
  if (shards == 0) fail("nodes", "at least one node must have the role shard");
}

// [http] access: public (bool), token_hash (a token hash), cert, key, client_ca (non-empty
// strings), insecure (bool). cert needs key and the reverse; client_ca needs cert; public
// needs a token, TLS or insecure = true.
http_access_config parse_http_access(const toml::table& t) {
  const std::string p = "http";
  http_access_config a;
  a.public_bind = get_bool(t, p, "public").value_or(false);
  if (auto h = get_string(t, p, "token_hash")) {
    auto parsed = parse_token_hash(*h);
    if (!parsed) fail(key_of(p, "token_hash"), message_of(parsed.error()));
    a.token = std::move(*parsed);
    a.has_token = true;
  }
  for (auto [key, field] : {std::pair{"cert", &a.cert}, std::pair{"key", &a.key},
                            std::pair{"client_ca", &a.client_ca}}) {
    *field = get_string(t, p, key).value_or("");
    if (t.get(key) != nullptr && field->empty()) fail(key_of(p, key), "must be a non-empty path");
  }
  if (a.cert.empty() != a.key.empty())
    fail(key_of(p, a.cert.empty() ? "cert" : "key"), "cert and key go together");
  if (!a.client_ca.empty() && a.cert.empty()) fail(key_of(p, "client_ca"), "needs cert and key");
  a.insecure = get_bool(t, p, "insecure").value_or(false);
  if (a.public_bind && !a.has_token && !a.tls() && !a.insecure)
    fail(key_of(p, "public"),
         "is true without token_hash or cert: /metrics would serve every tenant's model names "
         "to anyone; set token_hash and/or cert and key, or insecure = true");
  return a;
}

tls_config parse_tls(const toml::node& n);          // defined at the end of this namespace
gateway_config parse_gateway(const toml::node& n);  // likewise
void validate_gateway(const cluster_config& cfg);   // likewise

// [hedging]: enabled (bool), percentile (number in (0, 100]), min_delay_ms (integer >= 0),
// min_samples (integer >= 1).
hedging_options parse_hedging(const toml::node& n) {
  const std::string p = "hedging";
  if (!n.is_table()) fail(p, "must be a table");
  const toml::table& t = *n.as_table();
  check_keys(t, p, {"enabled", "percentile", "min_delay_ms", "min_samples"});
  hedging_options h;
  h.enabled = get_bool(t, p, "enabled").value_or(h.enabled);
  if (const toml::node* pc = t.get("percentile")) {
    if (!pc->is_number()) fail(key_of(p, "percentile"), "must be a number");
    const double v =
        pc->is_integer() ? static_cast<double>(*pc->value<int64_t>()) : *pc->value<double>();
    if (!(v > 0 && v <= 100)) fail(key_of(p, "percentile"), "must be in (0, 100]");
    h.percentile = v;
  }
  if (auto d = get_int(t, p, "min_delay_ms")) {
    if (*d < 0 || *d > 3600000) fail(key_of(p, "min_delay_ms"), "must be 0..3600000");
    h.min_delay = std::chrono::milliseconds(*d);
  }
  h.min_samples = static_cast<uint32_t>(get_positive(t, p, "min_samples", h.min_samples, 1000000));
  return h;
}

cluster_config parse_root(const toml::table& root) {
  check_keys(root, "",
             {"name", "scheduler", "worker_threads", "log_level", "default_model", "heartbeat_ms",
              "connection_timeout_ms", "state_dir", "replacement_grace_ms", "limits", "hedging",
              "nodes", "tokens", "tenants", "tls", "gateway", "http"});
  cluster_config cfg;
  cfg.name = get_string(root, "", "name").value_or(cfg.name);
  if (cfg.name.empty()) fail("name", "must not be empty");
  cfg.scheduler = get_string(root, "", "scheduler").value_or(cfg.scheduler);
  if (cfg.scheduler != "sharing" && cfg.scheduler != "stealing")
    fail("scheduler", "must be \"sharing\" or \"stealing\"");
  if (auto w = get_int(root, "", "worker_threads")) {
    if (*w < 0 || *w > 256) fail("worker_threads", "must be 0 (one per core) .. 256");
    cfg.worker_threads = static_cast<uint32_t>(*w);
  }
  cfg.log_level = get_string(root, "", "log_level").value_or(cfg.log_level);
  static const std::set<std::string> levels = {"trace", "debug",    "info", "warn",
                                               "error", "critical", "off"};
  if (levels.count(cfg.log_level) == 0)
    fail("log_level", "must be one of trace, debug, info, warn, error, critical, off");
  cfg.default_model = get_string(root, "", "default_model").value_or("");
  cfg.state_dir = get_string(root, "", "state_dir").value_or(cfg.state_dir);
  cfg.heartbeat = get_ms(root, "", "heartbeat_ms", cfg.heartbeat);
  cfg.connection_timeout = get_ms(root, "", "connection_timeout_ms", cfg.connection_timeout);
  if (cfg.connection_timeout <= cfg.heartbeat)
    fail("connection_timeout_ms", "must be longer than heartbeat_ms");
  cfg.replacement_grace = get_ms(root, "", "replacement_grace_ms", cfg.replacement_grace);
  if (const toml::node* h = root.get("hedging")) cfg.hedging = parse_hedging(*h);
  if (const toml::node* l = root.get("limits")) {
    if (!l->is_table()) fail("limits", "must be a table");
    cfg.limits = parse_limits(*l->as_table());
  }
  each_table(root, "nodes", [&](const toml::table& t, const std::string& prefix) {
    cfg.nodes.push_back(parse_node(t, prefix));
  });
  each_table(root, "tokens", [&](const toml::table& t, const std::string& prefix) {
    cfg.tokens.push_back(parse_token(t, prefix));
  });
  each_table(root, "tenants", [&](const toml::table& t, const std::string& prefix) {
    cfg.tenants.push_back(parse_tenant(t, prefix));
  });
  if (const toml::node* t = root.get("tls")) cfg.tls = parse_tls(*t);
  if (const toml::node* g = root.get("gateway")) cfg.gateway = parse_gateway(*g);
  if (const toml::node* h = root.get("http")) {
    if (!h->is_table()) fail("http", "must be a table");
    const toml::table& t = *h->as_table();
    check_keys(t, "http",
               {"metrics", "public", "token_hash", "cert", "key", "client_ca", "insecure"});
    cfg.http_metrics = get_bool(t, "http", "metrics").value_or(true);
    cfg.http = parse_http_access(t);
  }
  validate_nodes(cfg);
  validate_tokens(cfg);
  validate_gateway(cfg);
  return cfg;
}

// [tls]: dir (non-empty string), insecure (bool). Turning TLS off takes `insecure = true`.
tls_config parse_tls(const toml::node& n) {
  const std::string p = "tls";
  if (!n.is_table()) fail(p, "must be a table");
  const toml::table& t = *n.as_table();
  check_keys(t, p, {"dir", "insecure"});
  tls_config tls;
  tls.dir = get_string(t, p, "dir").value_or(tls.dir);
  if (tls.dir.empty()) fail(key_of(p, "dir"), "must not be empty");
  tls.insecure = get_bool(t, p, "insecure").value_or(false);
  return tls;
}

// [gateway]: cert, key, client_ca (non-empty strings), insecure (bool), handshake_timeout_ms.
// TLS needs both cert and key; mTLS (client_ca) needs TLS; insecure contradicts TLS.
gateway_config parse_gateway(const toml::node& n) {
  const std::string p = "gateway";
  if (!n.is_table()) fail(p, "must be a table");
  const toml::table& t = *n.as_table();
  check_keys(t, p, {"cert", "key", "client_ca", "insecure", "handshake_timeout_ms"});
  gateway_config g;
  for (auto [name, field] : {std::pair{"cert", &g.cert}, std::pair{"key", &g.key},
                             std::pair{"client_ca", &g.client_ca}}) {
    auto v = get_string(t, p, name);
    if (v && v->empty()) fail(key_of(p, name), "must not be empty (omit it instead)");
    *field = v.value_or("");
  }
  if (!g.cert.empty() && g.key.empty()) fail(key_of(p, "key"), "is required with cert");
  if (g.cert.empty() && !g.key.empty()) fail(key_of(p, "cert"), "is required with key");
  if (!g.client_ca.empty() && g.cert.empty())
    fail(key_of(p, "client_ca"), "needs cert and key: client certificates are checked over TLS");
  g.insecure = get_bool(t, p, "insecure").value_or(false);
  if (g.insecure && g.tls())
    fail(key_of(p, "insecure"), "is true but cert is set: choose TLS or plaintext");
  g.handshake_timeout = get_ms(t, p, "handshake_timeout_ms", g.handshake_timeout);
  return g;
}

// A gateway clients can reach over a network speaks TLS unless the config says otherwise.
void validate_gateway(const cluster_config& cfg) {
  const node_config* coord = cfg.coordinator();
  if (coord == nullptr || is_loopback_host(coord->host) || cfg.gateway.tls() ||
      cfg.gateway.insecure)
    return;
  fail("gateway", "the gateway listens on " + coord->host + " (the coordinator's host), which " +
                      "is not loopback: set cert and key for TLS, or insecure = true to serve " +
                      "tokens and data in plain text");
}

}  // namespace

caf::expected<cluster_config> parse_config(const std::string& toml_text) {
  try {
    const toml::table root = toml::parse(toml_text);
    return parse_root(root);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return make_error(errc::invalid_argument, "config: line " + std::to_string(where.line) +
                                                  ", column " + std::to_string(where.column) +
                                                  ": " + std::string(e.description()));
  } catch (const config_detail::config_error& e) {
    return make_error(errc::invalid_argument, "config: " + e.key + ": " + e.what);
  }
}

caf::expected<cluster_config> load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(errc::io_error, "config: " + path + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(errc::io_error, "config: " + path + ": read failed");
  auto cfg = parse_config(text.str());
  if (!cfg) return make_error(code_of(cfg.error()), message_of(cfg.error()) + " (in " + path + ")");
  return cfg;
}

const char* embedded_local_config() {
  return k_embedded_local_config;
}

}  // namespace tessera
