// Who may call the cluster and at what rate: [[tokens]] and [[tenants]].
//   [[tokens]] hash, name, admin, models, tenant, cluster_admin
//   [[tenants]] name, priority, requests_per_s, inputs_per_s, max_concurrent, max_batch,
//               package_root, max_request_bytes
#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cluster/model_key.hpp"
#include "node/config.hpp"
#include "node/config_parse.hpp"

namespace tessera::config_detail {

namespace {

// A tenant or model name as the registry accepts it: 1-128 of [A-Za-z0-9_.-].
bool valid_tenant_name(const std::string& n) {
  return !n.empty() && n.size() <= 128 && std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// A rate in calls or inputs per second: a number >= 0 (0 = unlimited).
double get_rate(const toml::table& t, const std::string& prefix, const char* name) {
  const toml::node* n = t.get(name);
  if (n == nullptr) return 0;
  if (!n->is_number()) fail(key_of(prefix, name), "must be a number");
  const double v =
      n->is_integer() ? static_cast<double>(*n->value<int64_t>()) : *n->value<double>();
  if (!(v >= 0 && v <= 1e9)) fail(key_of(prefix, name), "must be in 0..1e9 (0 = unlimited)");
  return v;
}

uint32_t get_count(const toml::table& t, const std::string& prefix, const char* name) {
  auto v = get_int(t, prefix, name);
  if (!v) return 0;
  if (*v < 0 || *v > 100000000) fail(key_of(prefix, name), "must be 0..100000000 (0 = unlimited)");
  return static_cast<uint32_t>(*v);
}

}  // namespace

token_config parse_token(const toml::table& t, const std::string& prefix) {
  if (t.get("token") != nullptr)
    fail(key_of(prefix, "token"),
         "plain-text tokens are not accepted; store its `hash` instead (`tessera token create` "
         "prints a new token with its hash, `tessera token hash` hashes an existing one)");
  check_keys(t, prefix, {"hash", "name", "admin", "models", "tenant", "cluster_admin"});
  token_config tok;
  auto hash = get_string(t, prefix, "hash");
  if (!hash) fail(key_of(prefix, "hash"), "is required");
  auto parsed = parse_token_hash(*hash);
  if (!parsed) fail(key_of(prefix, "hash"), message_of(parsed.error()));
  tok.hash = std::move(*parsed);
  tok.name = get_string(t, prefix, "name").value_or("");
  if (tok.name.empty()) fail(key_of(prefix, "name"), "must be a non-empty string");
  tok.admin = get_bool(t, prefix, "admin").value_or(false);
  tok.models = get_strings(t, prefix, "models").value_or(std::vector<std::string>{});
  for (const auto& m : tok.models)
    if (m.empty()) fail(key_of(prefix, "models"), "model names must not be empty");
  tok.tenant = get_string(t, prefix, "tenant").value_or(tok.tenant);
  if (!valid_tenant_name(tok.tenant))
    fail(key_of(prefix, "tenant"), "must be 1-128 of [A-Za-z0-9_.-]");
  tok.cluster_admin =
      get_bool(t, prefix, "cluster_admin").value_or(tok.admin && tok.tenant == k_default_tenant);
  if (tok.cluster_admin && !tok.admin) fail(key_of(prefix, "cluster_admin"), "needs admin = true");
  return tok;
}

tenant_config parse_tenant(const toml::table& t, const std::string& prefix) {
  check_keys(t, prefix,
             {"name", "priority", "requests_per_s", "inputs_per_s", "max_concurrent", "max_batch",
              "package_root", "max_request_bytes"});
  tenant_config ten;
  ten.name = get_string(t, prefix, "name").value_or("");
  if (!valid_tenant_name(ten.name)) fail(key_of(prefix, "name"), "must be 1-128 of [A-Za-z0-9_.-]");
  auto prio = get_string(t, prefix, "priority").value_or("normal");
  if (!parse_priority(prio, ten.limits.priority))
    fail(key_of(prefix, "priority"), "must be \"low\", \"normal\" or \"high\"");
  ten.limits.requests_per_s = get_rate(t, prefix, "requests_per_s");
  ten.limits.inputs_per_s = get_rate(t, prefix, "inputs_per_s");
  ten.limits.max_concurrent = get_count(t, prefix, "max_concurrent");
  ten.limits.max_batch = get_count(t, prefix, "max_batch");
  ten.package_root = get_string(t, prefix, "package_root").value_or("");
  if (t.get("package_root") != nullptr && ten.package_root.empty())
    fail(key_of(prefix, "package_root"), "must be a non-empty path");
  if (t.get("max_request_bytes") != nullptr)
    ten.limits.max_request_bytes = get_size(t, prefix, "max_request_bytes");
  return ten;
}

void validate_tokens(const cluster_config& cfg) {
  std::map<std::string, size_t> names, tenants;
  for (size_t i = 0; i < cfg.tokens.size(); ++i) {
    auto [it, fresh] = names.emplace(cfg.tokens[i].name, i);
    if (!fresh)
      fail("tokens[" + std::to_string(i) + "].name",
           "duplicates tokens[" + std::to_string(it->second) + "].name");
  }
  for (size_t i = 0; i < cfg.tenants.size(); ++i) {
    auto [it, fresh] = tenants.emplace(cfg.tenants[i].name, i);
    if (!fresh)
      fail("tenants[" + std::to_string(i) + "].name",
           "duplicates tenants[" + std::to_string(it->second) + "].name");
  }
  // Until rows ship from the client, a tenant's admin makes the servers read a directory: one
  // the config names for that tenant (node/package_root.hpp).
  for (size_t i = 0; i < cfg.tokens.size(); ++i) {
    const auto& tok = cfg.tokens[i];
    if (!tok.admin || tok.tenant == k_default_tenant) continue;
    const tenant_config* ten = cfg.find_tenant(tok.tenant);
    if (ten == nullptr || ten->package_root.empty())
      fail("tokens[" + std::to_string(i) + "].admin",
           "an admin of tenant '" + tok.tenant + "' needs a [[tenants]] entry for '" + tok.tenant +
               "' with package_root (the directory its packages are loaded from)");
  }
}

}  // namespace tessera::config_detail
