// Tenants over real processes. Three tenants (default, acme, beta) each load their
// own model under the same name "m" (different weights), and every answer is compared with the
// reference of the tenant's own model: no name, version or label a tenant tries reaches another
// tenant's model, listings show only the tenant's models, and paths only to admins.
// Quotas are tested in quota_itest.
#include <catch2/catch.hpp>

#include <capnp/pretty-print.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "node/token_hash.hpp"
#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tenant_config.hpp"

using namespace tessera;
using namespace tessera::test;
namespace fs = std::filesystem;

namespace {

model_fixture& model_of(const std::string& tenant) {
  static std::map<std::string, std::unique_ptr<model_fixture>> models;
  static const std::map<std::string, uint64_t> seeds = {
      {"default", 11}, {"acme", 12}, {"beta", 13}};
  auto& m = models[tenant];
  if (!m) m = std::make_unique<model_fixture>(small_model(seeds.at(tenant)));
  return *m;
}

local_cluster& tenants_cluster() {
  static local_cluster c{[] {
    cluster_options o;
    o.shard_nodes = 2;
    // Each tenant's admins load from the directory of its own package only.
    o.extra_toml =
        token_entry("acme-admin", "acme-admin", true, "acme") +
        token_entry("acme-user", "acme-user", false, "acme") +
        token_entry("beta-admin", "beta-admin", true, "beta") +
        token_entry("beta-user", "beta-user", false, "beta") +
        // The default tenant's admin that is not the cluster's.
        token_entry("ops-limited", "ops-limited", true, "default") + "cluster_admin = false\n" +
        "[[tokens]]\nhash = \"" + to_string(hash_token("beta-narrow")) +
        "\"\nname = \"beta-narrow\"\nadmin = true\nmodels = [\"m\"]\ntenant = \"beta\"\n" +
        tenant_entry("acme", model_of("acme").dir.path()) +
        tenant_entry("beta", model_of("beta").dir.path());
    return o;
  }()};
  static bool loaded = [] {
    for (auto [tenant, token] : {std::pair<std::string, std::string>{"default", c.admin_token()},
                                 {"acme", "acme-admin"},
                                 {"beta", "beta-admin"}}) {
      client cl{c.gateway(), token};
      REQUIRE(load_model(cl, model_of(tenant).path, "m", 1, true) == 1);
      REQUIRE(load_model(cl, model_of(tenant).path, "only-" + tenant, 1, true) == 1);
    }
    return true;
  }();
  (void)loaded;
  return c;
}

// Sets a ModelRef from "NAME", "NAME@N" (a version) or "NAME@L" (a label).
void set_ref(ModelRef::Builder m, const std::string& ref) {
  auto at = ref.find('@');
  m.setName(ref.substr(0, at));
  if (at == std::string::npos) return;
  auto tail = ref.substr(at + 1);
  if (tail.find_first_not_of("0123456789") == std::string::npos)
    m.setVersion(std::stoull(tail));
  else
    m.setLabel(tail);
}

// Predicts `text` on `ref` (see set_ref).
kj::Promise<capnp::Response<Session::PredictResults>> predict(client& cl, const std::string& ref,
                                                              const std::string& text) {
  auto req = cl.session().predictRequest();
  set_ref(req.initModel(), ref);
  req.setTopK(3);
  req.initInputs(1)[0].setText(text);
  return req.send();
}

// The description of a call's failure; "" when it succeeded.
template <class P>
std::string failure_of(client& cl, P promise) {
  try {
    promise.wait(cl.wait_scope());
    return "";
  } catch (const kj::Exception& e) {
    return e.getDescription().cStr();
  }
}

// The tessera code of a call's failure; "" when it succeeded.
template <class P>
std::string error_code_of_failure(client& cl, P promise) {
  try {
    promise.wait(cl.wait_scope());
    return "";
  } catch (const kj::Exception& e) {
    return error_code(e);
  }
}

std::string without_remote_prefix(const std::string& d) {
  auto at = d.find("tessera.");
  return at == std::string::npos ? d : d.substr(at);
}

}  // namespace

TEST_CASE("each tenant's \"m\" answers with that tenant's own model", "[tenants]") {
  auto& c = tenants_cluster();
  for (auto [tenant, token] : {std::pair<std::string, std::string>{"default", c.user_token()},
                               {"acme", "acme-user"},
                               {"beta", "beta-user"}}) {
    INFO(tenant);
    client cl{c.gateway(), token};
    const auto& m = model_of(tenant);
    auto texts = random_texts(m.spec, 20, 5);
    for (const auto& t : texts) {
      auto res = predict(cl, "m", t).wait(cl.wait_scope());
      check_prediction(*m.ref, m.pool_text(t), res.getResults()[0], 3);
    }
  }
  // The premise: another tenant's model would answer these texts differently.
  size_t differ = 0;
  auto texts = random_texts(model_of("acme").spec, 20, 5);
  for (const auto& t : texts) {
    auto a = model_of("acme").ref->probabilities(model_of("acme").pool_text(t));
    auto b = model_of("beta").ref->probabilities(model_of("beta").pool_text(t));
    if ((a - b).cwiseAbs().maxCoeff() > 1e-3f) ++differ;
  }
  CHECK(differ == texts.size());
}

TEST_CASE("no name, version or label reaches another tenant's model", "[tenants]") {
  auto& c = tenants_cluster();
  client beta{c.gateway(), "beta-user"};
  client acme_admin{c.gateway(), "acme-admin"};
  {
    auto req = acme_admin.admin().setLabelRequest();
    req.setName("m");
    req.setLabel("acme-stable");
    req.setVersion(1);
    req.send().wait(acme_admin.wait_scope());
  }
  const auto nothing = without_remote_prefix(failure_of(beta, predict(beta, "nope", "x")));
  REQUIRE(nothing.rfind("tessera.unknown_model: ", 0) == 0);
  for (std::string name : {"only-acme", "acme/m", "acme/only-acme", "../acme/m", "/m", "default/m",
                           "m@acme-stable", "only-acme@1", "only-default", "acme/m@1"}) {
    INFO(name);
    auto got = without_remote_prefix(failure_of(beta, predict(beta, name, "x")));
    // The same code as a model that does not exist, a message naming only what was asked,
    // and nothing of the asking tenant's own namespace.
    CHECK(got.rfind("tessera.unknown_model: ", 0) == 0);
    CHECK(got.find("beta/") == std::string::npos);
    if (name.find('/') != std::string::npos)
      CHECK(got == "tessera.unknown_model: no model '" + name.substr(0, name.find('@')) + "'");
    auto req = beta.session().embedRequest();
    set_ref(req.initModel(), name);
    req.initInputs(1)[0].setText("x");
    CHECK(error_code_of_failure(beta, req.send()) == "unknown_model");
  }
}

TEST_CASE("listings show a tenant only its models, and paths only to admins", "[tenants]") {
  auto& c = tenants_cluster();
  auto names = [&](const std::string& token, bool want_paths) {
    client cl{c.gateway(), token};
    auto res = cl.session().listModelsRequest().send().wait(cl.wait_scope());
    std::set<std::string> out;
    for (auto m : res.getModels()) {
      out.insert(m.getName());
      for (auto v : m.getVersions()) CHECK((v.getPath().size() > 0) == want_paths);
    }
    return out;
  };
  CHECK(names("acme-user", false) == std::set<std::string>{"m", "only-acme"});
  CHECK(names("acme-admin", true) == std::set<std::string>{"m", "only-acme"});
  CHECK(names("beta-user", false) == std::set<std::string>{"m", "only-beta"});
  CHECK(names(c.user_token(), false) == std::set<std::string>{"m", "only-default"});
  // A tenant admin's status shows its models only; the default tenant's admins run the
  // cluster and see every model, other tenants' as T/N.
  client acme{c.gateway(), "acme-admin"};
  auto st = take_status(acme);
  CHECK(st.active == std::map<std::string, uint64_t>{{"m", 1}, {"only-acme", 1}});
  client ops{c.gateway(), c.admin_token()};
  auto all = take_status(ops);
  CHECK(all.active.count("acme/m") == 1);
  CHECK(all.active.count("beta/only-beta") == 1);
  CHECK(all.active.count("m") == 1);
}

TEST_CASE("a tenant's admin cannot load over, unload, relabel or roll back another's model",
          "[tenants]") {
  auto& c = tenants_cluster();
  client beta{c.gateway(), "beta-admin"};
  auto& ws = beta.wait_scope();
  // Loading "m" again makes beta's own v2; acme's m is untouched.
  REQUIRE(load_model(beta, model_of("beta").path, "m", 1, false) == 2);
  for (std::string name : {"only-acme", "acme/only-acme", "acme/m"}) {
    INFO(name);
    {
      auto r = beta.admin().unloadRequest();
      r.setName(name);
      r.setVersion(1);
      CHECK(error_code_of_failure(beta, r.send()) == "unknown_model");
    }
    {
      auto r = beta.admin().activateRequest();
      r.setName(name);
      r.setVersion(1);
      CHECK(error_code_of_failure(beta, r.send()) == "unknown_model");
    }
    {
      auto r = beta.admin().setLabelRequest();
      r.setName(name);
      r.setLabel("x");
      r.setVersion(1);
      CHECK(error_code_of_failure(beta, r.send()) == "unknown_model");
    }
    {
      auto r = beta.admin().rollbackRequest();
      r.setName(name);
      CHECK(error_code_of_failure(beta, r.send()) == "unknown_model");
    }
    if (name.find('/') != std::string::npos) {
      auto r = beta.admin().loadRequest();
      r.initOptions().setPath(model_of("beta").path);
      r.getOptions().setName(name);
      CHECK(error_code_of_failure(beta, r.send()) == "unknown_model");
    }
  }
  // Loading under another tenant's model name makes the loader's own model of that name.
  REQUIRE(load_model(beta, model_of("beta").path, "only-acme", 1, true) == 1);
  {
    auto text = random_texts(model_of("beta").spec, 1, 78)[0];
    auto res = predict(beta, "only-acme", text).wait(ws);
    check_prediction(*model_of("beta").ref, model_of("beta").pool_text(text), res.getResults()[0],
                     3);
    auto r = beta.admin().unloadRequest();
    r.setName("only-acme");
    r.setVersion(1);
    r.send().wait(ws);
  }
  {
    auto r = beta.admin().unloadRequest();
    r.setName("m");
    r.setVersion(2);
    r.send().wait(ws);
  }
  // acme still has both models at v1, answering with its own weights.
  client acme{c.gateway(), "acme-user"};
  auto text = random_texts(model_of("acme").spec, 1, 77)[0];
  for (auto name : {"m", "only-acme"}) {
    auto res = predict(acme, name, text).wait(acme.wait_scope());
    CHECK(res.getServedBy().getVersion() == 1);
    check_prediction(*model_of("acme").ref, model_of("acme").pool_text(text), res.getResults()[0],
                     3);
  }
}

// Everything of `r` as text (capnp's pretty print).
template <class Reader>
std::string text_of(Reader r) {
  return capnp::prettyPrint(capnp::toDynamic(r)).flatten().cStr();
}

TEST_CASE("a tenant's admin loads only under its package_root; outside, one refusal for all",
          "[tenants]") {
  auto& c = tenants_cluster();
  client beta{c.gateway(), "beta-admin"};
  const fs::path acme_dir = model_of("acme").dir.path();
  const fs::path beta_dir = model_of("beta").dir.path();
  // A link inside beta's root to acme's package, as an operator's mistake might leave.
  const fs::path link = beta_dir / "acme-link";
  fs::create_directory_symlink(model_of("acme").path, link);
  auto before =
      text_of(beta.session().listModelsRequest().send().wait(beta.wait_scope()).getModels());
  std::set<std::string> refusals;
  for (const std::string& path :
       {model_of("acme").path, (acme_dir / "no-such-package").string(),
        (beta_dir / ".." / acme_dir.filename() / "model").string(),
        "../" + acme_dir.filename().string() + "/model", link.string(),
        (beta_dir / "missing" / ".." / ".." / acme_dir.filename() / "model").string(),
        std::string("/etc"), std::string("/no/such/dir")}) {
    INFO(path);
    auto r = beta.admin().loadRequest();
    r.initOptions().setPath(path);
    r.getOptions().setName("stolen");
    try {
      r.send().wait(beta.wait_scope());
      FAIL("loaded");
    } catch (const kj::Exception& e) {
      CHECK(error_code(e) == "permission_denied");
      refusals.insert(without_remote_prefix(e.getDescription().cStr()));
    }
  }
  fs::remove(link);
  // Whether the path exists or not, inside a link or behind "..": the same words, no path.
  CHECK(refusals.size() == 1);
  for (const auto& r : refusals) {
    CHECK(r.find("acme") == std::string::npos);
    CHECK(r.find("/") == std::string::npos);
  }
  // Nothing was loaded; loading from inside its root still works (the fixture's loads did).
  CHECK(text_of(beta.session().listModelsRequest().send().wait(beta.wait_scope()).getModels()) ==
        before);
  CHECK(before.find("stolen") == std::string::npos);
}

TEST_CASE("cluster-wide calls need cluster_admin, and nothing of another tenant's reaches a tenant",
          "[tenants]") {
  auto& c = tenants_cluster();
  client ops{c.gateway(), c.admin_token()};  // the default tenant's admin: the cluster admin
  // The default tenant loads beta's package too: beta's "m" now shares its embedder.
  REQUIRE(load_model(ops, model_of("beta").path, "default-secret", 1, true) == 1);
  client acme{c.gateway(), "acme-admin"};
  REQUIRE(load_model(acme, model_of("acme").path, "acme-private", 1, true) == 1);
  auto full = take_status(ops);
  REQUIRE(full.embedder.at("beta/m@1").find(" users") != std::string::npos);  // 2 or more
  REQUIRE(ops.admin().membersRequest().send().wait(ops.wait_scope()).getMembers().size() > 0);

  for (const std::string token : {"beta-admin", "ops-limited"}) {
    INFO(token);
    client cl{c.gateway(), token};
    auto& ws = cl.wait_scope();
    CHECK(error_code_of_failure(cl, cl.admin().membersRequest().send()) == "permission_denied");
    for (int undo = 0; undo < 2; ++undo) {
      auto fail = [&](auto req) {
        req.setNode("shard-1");
        return error_code_of_failure(cl, req.send());
      };
      CHECK((undo ? fail(cl.admin().undrainRequest()) : fail(cl.admin().drainRequest())) ==
            "permission_denied");
    }
    // Its status: its own models only, no members, no coordinator figures.
    auto st = cl.admin().statusRequest().send().wait(ws);
    CHECK(st.getStatus().getMembers().size() == 0);
    CHECK(st.getStatus().getCoordinator().getRssBytes() == 0);
    CHECK(st.getStatus().getCoordinator().getName().size() == 0);
  }
  // No member was drained by those calls.
  for (const auto& [name, m] : take_status(ops).members) CHECK_FALSE(m.draining);

  // Everything beta's admin and user can read: not a word of acme's or the default tenant's,
  // no node address, no user count of the shared embedder.
  client beta{c.gateway(), "beta-admin"};
  client beta_user{c.gateway(), "beta-user"};
  auto& ws = beta.wait_scope();
  std::string seen =
      text_of(beta.admin().statusRequest().send().wait(ws).getStatus()) +
      text_of(beta.session().listModelsRequest().send().wait(ws).getModels()) +
      text_of(
          beta_user.session().listModelsRequest().send().wait(beta_user.wait_scope()).getModels());
  CHECK(seen.find("embedder") != std::string::npos);  // the premise: it shows its embedder
  for (const std::string& secret :
       std::vector<std::string>{"acme/", "acme-private", "default-secret", "only-default", "users",
                                "127.0.0.1", model_of("acme").dir.path()}) {
    INFO(secret);
    CHECK(seen.find(secret) == std::string::npos);
  }
  // Another tenant's model and no model at all: the same error, but for the name given.
  std::set<std::string> errors;
  for (std::string name : {"acme-private", "default-secret", "only-default", "no-such-model"}) {
    auto r = beta.admin().unloadRequest();
    r.setName(name);
    r.setVersion(1);
    auto e = without_remote_prefix(failure_of(beta, r.send()));
    REQUIRE(e.find(name) != std::string::npos);
    errors.insert(e.replace(e.find(name), name.size(), "NAME"));
  }
  CHECK(errors.size() == 1);
  client limited{c.gateway(), "ops-limited"};
  auto own = take_status(limited);
  CHECK(own.active.count("acme/m") == 0);
  CHECK(own.active.count("m") == 1);
  auto r = ops.admin().unloadRequest();
  r.setName("default-secret");
  r.setVersion(0);
  r.send().wait(ops.wait_scope());
  auto a = acme.admin().unloadRequest();
  a.setName("acme-private");
  a.setVersion(0);
  a.send().wait(acme.wait_scope());
}

TEST_CASE("an admin token's models list holds for load, unload, activate and label", "[tenants]") {
  auto& c = tenants_cluster();
  client beta{c.gateway(), "beta-admin"};
  REQUIRE(load_model(beta, model_of("beta").path, "other", 1, true) == 1);
  client narrow{c.gateway(), "beta-narrow"};  // admin of beta, models = ["m"]
  auto code = [&](auto req) { return error_code_of_failure(narrow, req.send()); };
  auto load = [&](const std::string& name) {
    auto r = narrow.admin().loadRequest();
    r.initOptions().setPath(model_of("beta").path);
    r.getOptions().setName(name);
    return r;
  };
  CHECK(code(load("other")) == "permission_denied");
  CHECK(code(load("")) == "permission_denied");  // the manifest's name: unknown until loaded
  {
    auto r = narrow.admin().unloadRequest();
    r.setName("other");
    r.setVersion(1);
    CHECK(code(std::move(r)) == "permission_denied");
  }
  {
    auto r = narrow.admin().activateRequest();
    r.setName("other");
    r.setVersion(1);
    CHECK(code(std::move(r)) == "permission_denied");
  }
  {
    auto r = narrow.admin().setLabelRequest();
    r.setName("other");
    r.setLabel("x");
    r.setVersion(1);
    CHECK(code(std::move(r)) == "permission_denied");
  }
  {
    auto r = narrow.admin().rollbackRequest();
    r.setName("other");
    CHECK(code(std::move(r)) == "permission_denied");
  }
  auto st = narrow.admin().statusRequest().send().wait(narrow.wait_scope());
  std::set<std::string> names;
  for (auto m : st.getStatus().getModels()) names.insert(m.getName());
  CHECK(names == std::set<std::string>{"m"});
  // Its own model it may run: a label on "m" takes.
  {
    auto r = narrow.admin().setLabelRequest();
    r.setName("m");
    r.setLabel("narrow");
    r.setVersion(1);
    CHECK(code(std::move(r)) == "");
  }
  // "other" is untouched: still active at v1, serving beta's user.
  auto text = random_texts(model_of("beta").spec, 1, 79)[0];
  client user{c.gateway(), "beta-user"};
  auto res = predict(user, "other", text).wait(user.wait_scope());
  CHECK(res.getServedBy().getVersion() == 1);
  auto u = beta.admin().unloadRequest();
  u.setName("other");
  u.setVersion(0);
  u.send().wait(beta.wait_scope());
}
