// The registry's lifecycle rules, without an actor system: versions, activation, rollback,
// labels, unload with drain, shared embedders, failed loads and lost nodes. What requests
// resolve is read through a routing snapshot of it, as the serving actors do.
#include "actors/registry.hpp"

#include "actors/control_routes.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <functional>
#include <optional>

#include <catch2/catch.hpp>

using namespace tessera;

namespace {

// What a request naming `r` resolves to in a snapshot published from `reg` now.
caf::expected<route_ptr> resolved(registry& reg, const model_ref& r) {
  route_publisher routes;
  return resolve(routes.publish(reg, [](const std::string&) { return true; }), r);
}

// A sub-model with one tensor of `shards` shards, one replica each on the given nodes.
std::shared_ptr<submodel_entry> submodel(const std::string& name,
                                         const std::vector<std::string>& nodes) {
  auto s = std::make_shared<submodel_entry>();
  s->name = name;
  s->fingerprint = name + "#fp";
  tensor_shards t;
  t.tensor = name + ".w";
  t.rows = 10 * nodes.size();
  t.cols = 4;
  for (size_t i = 0; i < nodes.size(); ++i) {
    shard_ref sh;
    sh.index = i;
    sh.rows = {10 * i, 10 * (i + 1)};
    sh.bytes = 160;
    replica_ref r;
    r.node = nodes[i];
    r.replica_id = name + "/" + std::to_string(i);
    sh.replicas.push_back(r);
    t.shards.push_back(sh);
  }
  s->tensors.push_back(t);
  return s;
}

// A loading version of a model with its own classifier and the given embedder.
std::shared_ptr<version_entry> version(std::shared_ptr<submodel_entry> embedder,
                                       const std::string& classifier, bool reused = false) {
  auto v = std::make_shared<version_entry>();
  v->embedder = std::move(embedder);
  v->embedder_reused = reused;
  v->classifier = submodel(classifier, {"n1"});
  return v;
}

void all_ready(version_entry& v) {
  for (auto* s : {v.embedder.get(), v.classifier.get()})
    s->for_each_replica([](replica_ref& r) { r.state = replica_state::ready; });
}

// Adds a version, loads it (every replica ready) and finishes the load.
std::shared_ptr<version_entry> loaded(registry& reg, const std::string& model,
                                      std::shared_ptr<submodel_entry> embedder,
                                      const std::string& classifier, bool activate = false) {
  auto reused = reg.embedder(embedder->fingerprint) != nullptr;
  if (reused) embedder = reg.embedder(embedder->fingerprint);
  auto v = version(embedder, classifier, reused);
  reg.add_version(model_key{tenant_id{}, model}, v);
  all_ready(*v);
  REQUIRE_FALSE(reg.finish_load(*v, activate));
  return v;
}

std::vector<std::string> ids(const std::vector<replica_release>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) out.push_back(r.replica_id);
  std::sort(out.begin(), out.end());
  return out;
}

model_ref ref(const std::string& name, uint64_t version = 0, const std::string& label = "") {
  model_ref r;
  r.name = name;
  r.version = version;
  r.label = label;
  return r;
}

// The default tenant's model `name`.
model_key key(const std::string& name) {
  return {tenant_id{}, name};
}
const model_key M = key("m");

}  // namespace

TEST_CASE("versions are numbered from 1; the first serves at once, later ones wait") {
  registry reg;
  auto v1 = loaded(reg, "m", submodel("emb", {"n1", "n2"}), "cls1");
  auto v2 = loaded(reg, "m", submodel("emb", {"n1", "n2"}), "cls2");
  CHECK(v1->version == 1);
  CHECK(v2->version == 2);
  CHECK(v1->state == version_state::serving);
  CHECK(v2->state == version_state::ready);
  CHECK(reg.find(M)->active == 1);
  CHECK(v2->embedder == v1->embedder);  // same fingerprint: shared
  CHECK(v1->embedder->users == 2);
}

TEST_CASE("a load with activate flips the active version when it is ready") {
  registry reg;
  loaded(reg, "m", submodel("emb", {"n1"}), "c1");
  auto v2 = loaded(reg, "m", submodel("emb", {"n1"}), "c2", true);
  CHECK(v2->state == version_state::serving);
  CHECK(reg.find(M)->active == 2);
  CHECK(reg.find(M)->previous == 1);
}

TEST_CASE("activate and rollback flip in one step, table-style") {
  struct row {
    const char* scenario;
    std::function<caf::error(registry&)> act;
    errc expected;
    uint64_t active_after;
  };
  const std::vector<row> rows = {
      {"activate a ready version", [](registry& r) { return r.activate(M, 2); }, errc::ok, 2},
      {"activate the serving version again", [](registry& r) { return r.activate(M, 1); }, errc::ok,
       1},
      {"activate an unknown version", [](registry& r) { return r.activate(M, 9); },
       errc::unknown_model, 1},
      {"activate in an unknown model", [](registry& r) { return r.activate(key("x"), 1); },
       errc::unknown_model, 1},
      {"activate a version still loading", [](registry& r) { return r.activate(M, 3); },
       errc::invalid_argument, 1},
      {"rollback with no previous version",
       [](registry& r) { return r.rollback(M) ? caf::error{} : r.rollback(M).error(); },
       errc::invalid_argument, 1},
      {"activate then rollback returns to the first",
       [](registry& r) {
         if (auto e = r.activate(M, 2)) return e;
         auto back = r.rollback(M);
         if (!back) return back.error();
         return *back == 1 ? caf::error{} : make_error(errc::internal, "wrong target");
       },
       errc::ok, 1},
  };
  for (const auto& r : rows) {
    INFO(r.scenario);
    registry reg;
    loaded(reg, "m", submodel("emb", {"n1"}), "c1");
    loaded(reg, "m", submodel("emb", {"n1"}), "c2");
    reg.add_version(M, version(reg.embedder("emb#fp"), "c3", true));  // v3 stays loading
    CHECK(code_of(r.act(reg)) == r.expected);
    CHECK(reg.find(M)->active == r.active_after);
    for (auto& [n, v] : reg.find(M)->versions)
      if (n != 3)
        CHECK(v->state == (n == r.active_after ? version_state::serving : version_state::ready));
  }
}

TEST_CASE("labels point at versions; bad names and unknown versions are refused") {
  registry reg;
  loaded(reg, "m", submodel("emb", {"n1"}), "c1");
  loaded(reg, "m", submodel("emb", {"n1"}), "c2");
  CHECK_FALSE(reg.set_label(M, "canary", 2));
  CHECK(is(reg.set_label(M, "42", 2), errc::invalid_argument));  // would read as a version
  CHECK(is(reg.set_label(M, "no spaces", 2), errc::invalid_argument));
  CHECK(is(reg.set_label(M, "canary", 7), errc::unknown_model));
  CHECK(is(reg.set_label(key("x"), "canary", 1), errc::unknown_model));
  auto v = resolved(reg, ref("m", 0, "canary"));
  REQUIRE(v);
  CHECK((*v)->version == 2);
  CHECK((*resolved(reg, ref("m")))->version == 1);
  CHECK((*resolved(reg, ref("m", 2)))->version == 2);
  CHECK(is(resolved(reg, ref("m", 0, "stable")).error(), errc::unknown_model));
  CHECK(is(resolved(reg, ref("m", 5)).error(), errc::unknown_model));
}

TEST_CASE("a version that is still loading does not resolve") {
  registry reg;
  loaded(reg, "m", submodel("emb", {"n1"}), "c1");
  reg.add_version(M, version(reg.embedder("emb#fp"), "c2", true));
  CHECK(is(resolved(reg, ref("m", 2)).error(), errc::unknown_model));
}

TEST_CASE("unloading the active version is refused while the model has other versions") {
  registry reg;
  loaded(reg, "m", submodel("emb", {"n1"}), "c1");
  loaded(reg, "m", submodel("emb", {"n1"}), "c2");
  CHECK(is(reg.unload(M, 1), errc::invalid_argument));
  CHECK(is(reg.unload(M, 9), errc::unknown_model));
  CHECK(is(reg.unload(key("x"), 0), errc::unknown_model));
  CHECK(reg.find(M)->versions.size() == 2);
}

TEST_CASE("an unloaded version drains: its replicas are freed only when no snapshot names it") {
  registry reg;
  route_publisher routes;
  const auto all_up = [](const std::string&) { return true; };
  loaded(reg, "m", submodel("emb", {"n1", "n2"}), "c1");
  auto v2 = loaded(reg, "m", submodel("emb", {"n1", "n2"}), "c2");
  reg.set_label(M, "canary", 2);
  auto held = resolve(routes.publish(reg, all_up), ref("m", 0, "canary"));  // a running call
  REQUIRE(held);
  REQUIRE_FALSE(reg.unload(M, 2));
  CHECK(v2->state == version_state::draining);
  routes.publish(reg, all_up);  // the snapshot after the unload leaves it out
  CHECK(is(resolve(routes.current(), ref("m", 0, "canary")).error(), errc::unknown_model));
  CHECK(routes.oldest_live() == 1);
  CHECK(reg.reap_drained(routes.oldest_live()).empty());  // the call's snapshot names it
  CHECK(reg.draining() == 1);
  held = caf::error{};
  CHECK(routes.oldest_live() == 2);
  CHECK(ids(reg.reap_drained(routes.oldest_live())) ==
        std::vector<std::string>{"c2/0"});  // embedder is shared
  CHECK(v2->state == version_state::unloaded);
  CHECK(reg.draining() == 0);
  CHECK(reg.infos()[0].versions.size() == 1);
  CHECK(reg.reap_drained(0).empty());  // released once
}

TEST_CASE("a shared embedder is freed with its last user only") {
  registry reg;
  auto emb = submodel("emb", {"n1", "n2"});
  loaded(reg, "a", emb, "ca");
  loaded(reg, "b", emb, "cb");
  CHECK(emb->users == 2);
  REQUIRE_FALSE(reg.unload(key("a"), 0));
  CHECK(reg.find(key("a")) == nullptr);
  CHECK(ids(reg.reap_drained(0)) == std::vector<std::string>{"ca/0"});
  CHECK(emb->state == submodel_state::ready);
  REQUIRE_FALSE(reg.unload(key("b"), 0));
  CHECK(ids(reg.reap_drained(0)) == std::vector<std::string>{"cb/0", "emb/0", "emb/1"});
  CHECK(emb->state == submodel_state::unloaded);
  CHECK(reg.embedder("emb#fp") == nullptr);
  CHECK(reg.models().empty());
}

TEST_CASE("a failed load frees what it loaded once and leaves the serving version alone") {
  registry reg;
  loaded(reg, "m", submodel("emb", {"n1"}), "c1");
  auto v2 = version(submodel("emb2", {"n1", "n2"}), "c2");
  reg.add_version(M, v2);
  auto freed = reg.fail_load(*v2, "node n2 went down");
  CHECK(ids(freed) == std::vector<std::string>{"c2/0", "emb2/0", "emb2/1"});
  CHECK(v2->state == version_state::error);
  CHECK(v2->error == "node n2 went down");
  CHECK(reg.fail_load(*v2, "again").empty());
  CHECK(reg.find(M)->active == 1);
  CHECK(resolved(reg, ref("m")));
  // Unloading the failed version later frees nothing twice.
  REQUIRE_FALSE(reg.unload(M, 2));
  CHECK(reg.reap_drained(0).empty());
  CHECK(v2->state == version_state::unloaded);
}

TEST_CASE("unloading a version that is still loading cancels it and frees its replicas") {
  registry reg;
  loaded(reg, "m", submodel("emb", {"n1"}), "c1");
  auto v2 = version(reg.embedder("emb#fp"), "c2", true);
  reg.add_version(M, v2);
  REQUIRE_FALSE(reg.unload(M, 2));
  CHECK(v2->state == version_state::error);
  CHECK(ids(reg.reap_drained(0)) == std::vector<std::string>{"c2/0"});
  // The load's late completion is refused, not served.
  all_ready(*v2);
  CHECK(is(reg.finish_load(*v2, true), errc::unknown_model));
  CHECK(reg.find(M)->active == 1);
}

TEST_CASE("a lost node's replicas stop serving; readiness follows") {
  registry reg;
  auto v = loaded(reg, "m", submodel("emb", {"n1", "n2"}), "c1");
  CHECK(reg.all_active_served());
  CHECK(reg.bytes_on("n2") == 160);
  reg.mark_node_lost("n2");
  CHECK_FALSE(v->fully_served());
  CHECK_FALSE(reg.all_active_served());
  CHECK(reg.bytes_on("n2") == 0);
  CHECK(v->info().shards[1].replicas[0].state == replica_state::lost);
}

TEST_CASE(
    "a shared embedder's R is the largest its users asked for, falls back when that user goes, "
    "and a failed load's R does not count") {
  registry reg;
  auto emb = submodel("emb", {"n1", "n2"});
  auto with_r = [&](const std::string& model, uint32_t r) {
    auto reused = reg.embedder(emb->fingerprint) != nullptr;
    auto v = version(emb, "c-" + model, reused);
    v->replicas = r;
    reg.add_version(key(model), v);
    return v;
  };
  auto x = with_r("x", 1);
  all_ready(*x);
  REQUIRE_FALSE(reg.finish_load(*x, false));
  CHECK(emb->replicas == 1);
  CHECK(x->classifier->replicas == 1);
  auto y = with_r("y", 2);
  CHECK(emb->replicas == 2);  // raised as soon as the load is committed
  CHECK(y->classifier->replicas == 2);
  auto z = with_r("z", 3);
  CHECK(emb->replicas == 3);
  reg.fail_load(*z, "no room");
  CHECK(emb->replicas == 2);
  all_ready(*y);
  REQUIRE_FALSE(reg.finish_load(*y, false));
  REQUIRE_FALSE(reg.unload(key("y"), 0));
  CHECK(emb->replicas == 2);  // y still drains: its requests run on the embedder
  reg.reap_drained(0);
  CHECK(emb->replicas == 1);
  CHECK(emb->state == submodel_state::ready);
}

TEST_CASE("restored versions give a shared embedder the largest of their persisted R") {
  registry reg;
  auto emb = submodel("emb", {"n1", "n2"});
  emb->state = submodel_state::ready;
  std::vector<std::shared_ptr<version_entry>> vs;
  for (uint32_t r : {1u, 2u}) {
    auto v = version(emb, "c" + std::to_string(r), r > 1);
    v->version = r;
    v->replicas = r;
    v->move_to(version_state::ready);
    vs.push_back(v);
  }
  reg.restore_model(M, 3, 2, 1, {}, vs);
  CHECK(emb->replicas == 2);
  CHECK(vs[0]->classifier->replicas == 1);
  CHECK(vs[1]->classifier->replicas == 2);
}

TEST_CASE("released replicas are erased from their shards; the others are found by id") {
  registry reg;
  auto emb = submodel("emb", {"n1", "n2"});
  auto v = loaded(reg, "m", emb, "c1");
  auto& shard = emb->tensors[0].shards[0];
  for (int i = 0; i < 3; ++i) {
    replica_ref spare;
    spare.node = "n" + std::to_string(3 + i);
    spare.replica_id = "emb/0/r" + std::to_string(2 + i);
    spare.spare = true;
    spare.state = i == 1 ? replica_state::ready : replica_state::unloaded;
    shard.replicas.push_back(spare);
  }
  CHECK(reg.drop_released() == 2);
  REQUIRE(shard.replicas.size() == 2);
  CHECK(shard.replicas[1].replica_id == "emb/0/r3");
  CHECK(emb->find_replica("emb/0/r3") == &shard.replicas[1]);
  CHECK(emb->find_replica("emb/0/r2") == nullptr);
  CHECK(emb->find_replica("emb/1") == &emb->tensors[0].shards[1].replicas[0]);
  // A sub-model on its way out (released as a whole) is left as it is.
  REQUIRE_FALSE(reg.unload(M, 0));
  reg.reap_drained(0);
  CHECK(reg.drop_released() == 0);
  CHECK(v->classifier->tensors[0].shards[0].replicas.size() == 1);
}

TEST_CASE("an illegal state move aborts the process, in Release builds too") {
  // Forked so the abort ends only the child; the parent checks how it ended.
  auto pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    version_entry v;
    v.state = version_state::unloaded;
    v.move_to(version_state::serving);  // unloaded is final
    _exit(0);                           // not reached when the check holds
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
}

TEST_CASE("a model's version numbers are never issued twice, also after it went away") {
  registry reg;
  loaded(reg, "m", submodel("e", {"n1"}), "c1");
  loaded(reg, "m", submodel("e", {"n1"}), "c2");
  REQUIRE_FALSE(reg.unload(M, 0));
  CHECK(reg.find(M) == nullptr);
  CHECK(reg.retired().at(M) == 3);
  // `unload m; load OTHER --name m` continues after the last number: no second m@1.
  auto v = loaded(reg, "m", submodel("other", {"n2"}), "c3");
  CHECK(v->version == 3);
  CHECK(reg.retired().count(M) == 0);
  CHECK_FALSE(resolved(reg, ref("m", 1)));
}

TEST_CASE("a call pinned to an epoch resolves only that build of the version") {
  registry reg;
  auto v1 = loaded(reg, "m", submodel("e", {"n1"}), "c1");
  v1->epoch = 11;
  model_ref pinned = ref("m", 1);
  pinned.epoch = 11;
  REQUIRE(resolved(reg, pinned));
  pinned.epoch = 12;
  auto r = resolved(reg, pinned);
  REQUIRE_FALSE(r);
  CHECK(is(r.error(), errc::epoch_mismatch));
}

TEST_CASE("restore takes back a change to one model exactly, table-style") {
  struct change_case {
    const char* scenario;
    std::function<void(registry&)> change;
  };
  std::vector<change_case> cases = {
      {"activate flips serving and ready", [](registry& r) { REQUIRE_FALSE(r.activate(M, 2)); }},
      {"rollback after an activate",
       [](registry& r) {
         REQUIRE_FALSE(r.activate(M, 2));
         REQUIRE(r.rollback(M));
       }},
      {"a label", [](registry& r) { REQUIRE_FALSE(r.set_label(M, "canary", 2)); }},
      {"unload of one version", [](registry& r) { REQUIRE_FALSE(r.unload(M, 2)); }},
      {"unload of the whole model retires its name",
       [](registry& r) { REQUIRE_FALSE(r.unload(M, 0)); }},
  };
  for (const auto& c : cases) {
    SECTION(c.scenario) {
      registry reg;
      auto v1 = loaded(reg, "m", submodel("e", {"n1"}), "c1");
      auto v2 = loaded(reg, "m", submodel("e", {"n1"}), "c2");
      REQUIRE_FALSE(reg.set_label(M, "stable", 1));
      auto before = reg.infos();
      auto undo = reg.save(M);
      c.change(reg);
      reg.restore(std::move(undo));
      auto after = reg.infos();
      REQUIRE(after.size() == 1);
      CHECK(after[0].active_version == 1);
      CHECK(after[0].labels == before[0].labels);
      REQUIRE(after[0].versions.size() == 2);
      CHECK(after[0].versions[0].state == version_state::serving);
      CHECK(after[0].versions[1].state == version_state::ready);
      CHECK(reg.draining() == 0);
      CHECK(reg.retired().empty());
      CHECK(v1->embedder->users == 2);
      CHECK(reg.reap_drained(0).empty());  // nothing was released
      auto* m = reg.find(M);
      REQUIRE(m);
      CHECK(m->next_version == 3);
      CHECK(m->previous == 0);
    }
  }
}

TEST_CASE("restore takes back an added version and its finished load") {
  registry reg;
  auto e = submodel("e", {"n1"});
  auto v1 = loaded(reg, "m", e, "c1");
  auto v2 = version(e, "c2", true);
  auto undo = reg.save(M, v2);
  reg.add_version(M, v2);
  CHECK(e->users == 2);
  reg.restore(std::move(undo));
  CHECK(e->users == 1);
  CHECK(reg.find(M)->versions.size() == 1);
  CHECK(reg.find(M)->next_version == 2);

  // A finished load taken back is loading again, and its sub-models too.
  auto fresh = version(submodel("f", {"n2"}), "c3");
  reg.add_version(key("n"), fresh);
  all_ready(*fresh);
  auto undo2 = reg.save(key("n"));
  REQUIRE_FALSE(reg.finish_load(*fresh, true));
  CHECK(fresh->state == version_state::serving);
  reg.restore(std::move(undo2));
  CHECK(fresh->state == version_state::loading);
  CHECK(fresh->classifier->state == submodel_state::loading);
  CHECK(reg.find(key("n"))->active == 0);
  CHECK_FALSE(reg.fail_load(*fresh, "cannot persist").empty());
}

TEST_CASE("a version whose embedder composed versions run on cannot be unloaded until they go") {
  registry reg;
  auto emb = submodel("emb", {"n1", "n2"});
  loaded(reg, "e", emb, "ce");
  auto composed = [&](const std::string& model, const std::string& cls) {
    auto v = version(reg.embedder("emb#fp"), cls, true);
    v->embedder_model = "e";
    v->embedder_version = 1;
    reg.add_version(key(model), v);
    all_ready(*v);
    REQUIRE_FALSE(reg.finish_load(*v, false));
    return v;
  };
  composed("a", "ca");
  composed("b", "cb");
  auto err = reg.unload(key("e"), 0);
  REQUIRE(err);
  CHECK(code_of(err) == errc::invalid_argument);
  CHECK(message_of(err) == "the embedder of 'e' is in use by a v1, b v1; unload those first");
  CHECK(reg.find(key("e"))->versions.at(1)->state == version_state::serving);  // untouched
  REQUIRE_FALSE(reg.unload(key("a"), 0));
  err = reg.unload(key("e"), 1);
  REQUIRE(err);
  CHECK(message_of(err) == "the embedder of 'e' is in use by b v1; unload those first");
  REQUIRE_FALSE(reg.unload(key("b"), 0));
  REQUIRE_FALSE(reg.unload(key("e"), 0));
  reg.reap_drained(0);
  CHECK(reg.embedder("emb#fp") == nullptr);
}
