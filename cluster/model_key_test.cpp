#include "cluster/model_key.hpp"

#include <map>

#include <catch2/catch.hpp>

using namespace tessera;

TEST_CASE("a token that names no tenant is the default tenant") {
  CHECK(tenant_id{} == tenant_id{""});
  CHECK(tenant_id{} == tenant_id{"default"});
  CHECK(tenant_id{}.is_default());
  CHECK_FALSE(tenant_id{"acme"}.is_default());
  CHECK(tenant_id{""}.name() == "default");
}

TEST_CASE("two tenants' models of one name are two keys") {
  model_key a{tenant_id{"acme"}, "m"}, b{tenant_id{"beta"}, "m"}, d{tenant_id{}, "m"};
  CHECK(a != b);
  CHECK(a != d);
  std::map<model_key, int> keyed{{a, 1}, {b, 2}, {d, 3}};
  CHECK(keyed.size() == 3);
  CHECK(keyed.at(model_key{tenant_id{"beta"}, "m"}) == 2);
  // A client's name holding a tenant's prefix is just a name the registry does not know.
  model_key spoof{tenant_id{}, "acme/m"};
  CHECK(keyed.count(spoof) == 0);
}

TEST_CASE("keys display as operators read them and parse back from that") {
  CHECK(model_key{tenant_id{}, "m"}.display() == "m");
  CHECK(model_key{tenant_id{"acme"}, "m"}.display() == "acme/m");
  for (const auto& k : {model_key{tenant_id{}, "m"}, model_key{tenant_id{"acme"}, "m.v2"}})
    CHECK(model_key::from_display(k.display()) == k);
  CHECK(model_key::from_display("acme/m").tenant == tenant_id{"acme"});
  CHECK(model_key::from_display("acme/m").name == "m");
}
