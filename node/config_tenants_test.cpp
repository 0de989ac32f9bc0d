// [[tokens]] and [[tenants]] in the cluster config (node/config_tenants.cpp).
#include "node/config.hpp"
#include "node/config_test_support.hpp"
#include "node/token_hash.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace tessera {

using config_testing::check_rejected;
using config_testing::k_coord;
using config_testing::k_shard;

TEST_CASE("token rules are enforced and name the offending key") {
  const std::string nodes = k_coord + k_shard;
  const std::string h = "hash = \"" + to_string(hash_token("t")) + "\"\n";
  // Plain-text tokens are refused with a pointer to the hashed form.
  check_rejected(nodes + "[[tokens]]\ntoken = \"t\"\nname = \"a\"\n", "tokens[0].token");
  check_rejected(nodes + "[[tokens]]\nname = \"a\"\n", "tokens[0].hash");
  check_rejected(nodes + "[[tokens]]\nhash = \"t\"\nname = \"a\"\n", "tokens[0].hash");
  check_rejected(nodes + "[[tokens]]\nhash = \"sha256:00:00\"\nname = \"a\"\n", "tokens[0].hash");
  check_rejected(nodes + "[[tokens]]\n" + h, "tokens[0].name");
  check_rejected(nodes + "[[tokens]]\n" + h + "name = \"a\"\n[[tokens]]\n" + h + "name = \"a\"\n",
                 "tokens[1].name");
  check_rejected(nodes + "[[tokens]]\n" + h + "name = \"a\"\nadmin = \"yes\"\n", "tokens[0].admin");
  check_rejected(nodes + "[[tokens]]\n" + h + "name = \"a\"\nmodels = \"*\"\n", "tokens[0].models");
  check_rejected(nodes + "[[tokens]]\n" + h + "name = \"a\"\ntenant = \"a/b\"\n",
                 "tokens[0].tenant");
  auto ok = parse_config(nodes + "[[tokens]]\n" + h + "name = \"a\"\ntenant = \"acme\"\n");
  REQUIRE(ok);
  CHECK(ok->tokens[0].tenant == "acme");
  CHECK(token_matches(ok->tokens[0].hash, "t"));
}

TEST_CASE("tenants' quotas parse, and bad ones name the offending key") {
  const std::string nodes = k_coord + k_shard;
  auto cfg = parse_config(nodes + R"(
[[tenants]]
name = "acme"
priority = "high"
requests_per_s = 50
inputs_per_s = 2.5e3
max_concurrent = 4
max_batch = 64
[[tenants]]
name = "free"
priority = "low"
)");
  REQUIRE(cfg);
  REQUIRE(cfg->tenants.size() == 2);
  const auto& a = cfg->tenants[0].limits;
  CHECK(a.priority == tenant_priority::high);
  CHECK(a.requests_per_s == 50);
  CHECK(a.inputs_per_s == 2500);
  CHECK(a.max_concurrent == 4);
  CHECK(a.max_batch == 64);
  CHECK(cfg->tenants[1].limits.priority == tenant_priority::low);
  CHECK(cfg->tenants[1].limits.requests_per_s == 0);  // unlimited
  check_rejected(nodes + "[[tenants]]\nname = \"a\"\npriority = \"urgent\"\n",
                 "tenants[0].priority");
  check_rejected(nodes + "[[tenants]]\nname = \"a\"\nrequests_per_s = -1\n",
                 "tenants[0].requests_per_s");
  check_rejected(nodes + "[[tenants]]\nname = \"a\"\nmax_batch = -1\n", "tenants[0].max_batch");
  check_rejected(nodes + "[[tenants]]\nname = \"a\"\nburst = 1\n", "tenants[0].burst");
  check_rejected(nodes + "[[tenants]]\nname = \"a\"\n[[tenants]]\nname = \"a\"\n",
                 "tenants[1].name");
  check_rejected(nodes + "[[tenants]]\npriority = \"low\"\n", "tenants[0].name");
}

TEST_CASE("a non-default tenant's admins need its package_root; cluster_admin defaults by tenant") {
  const std::string nodes = k_coord + k_shard;
  const std::string h = "hash = \"" + to_string(hash_token("t")) + "\"\n";
  auto tok = [&](const std::string& name, const std::string& rest) {
    return "[[tokens]]\n" + h + "name = \"" + name + "\"\n" + rest;
  };
  // A tenant admin without a root, or whose tenant entry has none: refused.
  check_rejected(nodes + tok("a", "admin = true\ntenant = \"acme\"\n"), "tokens[0].admin");
  check_rejected(
      nodes + tok("a", "admin = true\ntenant = \"acme\"\n") + "[[tenants]]\nname = \"acme\"\n",
      "tokens[0].admin");
  check_rejected(nodes + "[[tenants]]\nname = \"acme\"\npackage_root = \"\"\n",
                 "tenants[0].package_root");
  check_rejected(nodes + tok("a", "cluster_admin = true\n"), "tokens[0].cluster_admin");
  auto cfg = parse_config(nodes + tok("a", "admin = true\ntenant = \"acme\"\n") +
                          tok("b", "admin = true\n") +
                          tok("c", "admin = true\ncluster_admin = false\n") + tok("d", "") +
                          tok("e", "admin = true\ntenant = \"acme\"\ncluster_admin = true\n") +
                          "[[tenants]]\nname = \"acme\"\npackage_root = \"/srv/acme\"\n");
  REQUIRE(cfg);
  CHECK_FALSE(cfg->tokens[0].cluster_admin);  // a tenant's admin
  CHECK(cfg->tokens[1].cluster_admin);        // the default tenant's admin: the cluster's
  CHECK_FALSE(cfg->tokens[2].cluster_admin);  // unless the config says otherwise
  CHECK_FALSE(cfg->tokens[3].cluster_admin);  // not an admin
  CHECK(cfg->tokens[4].cluster_admin);        // given explicitly
  CHECK(cfg->find_tenant("acme")->package_root == "/srv/acme");
  // Non-admin tokens of a tenant need no root.
  CHECK(parse_config(nodes + tok("u", "tenant = \"beta\"\n")));
}

}  // namespace tessera
