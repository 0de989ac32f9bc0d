#include "cluster/tenant_scope.hpp"

#include <catch2/catch.hpp>

using namespace tessera;

TEST_CASE("the default tenant's models keep their bare names") {
  tenant_scope s{""};
  CHECK(s.tenant() == "default");
  CHECK(*s.qualify("m") == "m");
  CHECK(s.local_name("m") == std::optional<std::string>{"m"});
  CHECK_FALSE(s.local_name("acme/m"));
}

TEST_CASE("a tenant's models live under its prefix and it sees only those") {
  tenant_scope s{"acme"};
  CHECK(*s.qualify("m") == "acme/m");
  CHECK(s.local_name("acme/m") == std::optional<std::string>{"m"});
  CHECK_FALSE(s.local_name("m"));
  CHECK_FALSE(s.local_name("acme2/m"));
  CHECK_FALSE(s.local_name("other/acme/m"));
  CHECK_FALSE(tenant_scope{"acm"}.local_name("acme/m"));
}

TEST_CASE("a name with a slash never reaches another namespace: it is an unknown model") {
  for (auto* t : {"", "acme", "other"})
    for (auto* name : {"acme/m", "/m", "m/", "../acme/m", "default/m"}) {
      auto q = tenant_scope{t}.qualify(name);
      REQUIRE_FALSE(q);
      CHECK(is(q.error(), errc::unknown_model));
      CHECK(message_of(q.error()) == std::string("no model '") + name + "'");
    }
}

TEST_CASE("messages name a tenant's models by their bare names") {
  tenant_scope s{"acme"};
  CHECK(s.localize("no model 'acme/m'") == "no model 'm'");
  CHECK(s.localize("model 'acme/m' v2 and 'acme/n'") == "model 'm' v2 and 'n'");
  CHECK(s.localize("no model 'other/m'") == "no model 'other/m'");
  CHECK(tenant_scope{""}.localize("no model 'm'") == "no model 'm'");
}

TEST_CASE("a registry name splits into its tenant and bare name, a prefix alone into no name") {
  CHECK(split_registry_name("m").tenant == "default");
  CHECK(split_registry_name("m").model == "m");
  CHECK(split_registry_name("acme/m").tenant == "acme");
  CHECK(split_registry_name("acme/m").model == "m");
  CHECK(split_registry_name("acme/").model.empty());
  CHECK(split_registry_name("").tenant == "default");
  CHECK(tenant_prefix_of("acme/m") == "acme/");
  CHECK(tenant_prefix_of("m").empty());
}
