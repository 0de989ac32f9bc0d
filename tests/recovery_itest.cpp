// Restarts never serve a wrong answer, over real processes with `tessera up` supervising:
// - a coordinator killed with SIGKILL is restarted and, from its persisted registry and the
//   nodes' replicas, serves the same versions, labels and answers without reading rows again;
// - after a coordinator restart that lost its state, a new package under an old name answers
//   with its own weights (replica ids never repeat), and the old rows are released;
// - after a package folder is changed on disk and a node restarts, no answer comes from the
//   changed files: that node's replicas are refused (state error) and the other replica serves.
#include <catch2/catch.hpp>

#include <signal.h>

#include <filesystem>
#include <thread>

#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

// Replica loads started on a node, from its log.
size_t loads_on(const local_cluster& c, const std::string& node) {
  auto log = c.node_log(node);
  size_t n = 0;
  for (auto at = log.find("info: loading "); at != std::string::npos;
       at = log.find("info: loading ", at + 1))
    ++n;
  return n;
}

std::vector<std::pair<std::string, std::string>> replicas_of(client& cl, const std::string& model) {
  std::vector<std::pair<std::string, std::string>> out;  // (node, state)
  auto res = cl.admin().statusRequest().send().wait(cl.wait_scope());
  for (auto m : res.getStatus().getModels())
    if (model == m.getName().cStr())
      for (auto v : m.getVersions())
        for (auto s : v.getShards())
          for (auto r : s.getReplicas()) out.emplace_back(r.getNode().cStr(), r.getState().cStr());
  return out;
}

}  // namespace

TEST_CASE(
    "a killed coordinator comes back serving the same versions and labels without "
    "reading rows again") {
  model_fixture a{small_model(91, 1)}, b{small_model(91, 2)};
  cluster_options o;
  o.supervise = true;
  local_cluster c{o};
  std::map<std::string, size_t> loads_before;
  {
    client admin{c.gateway(), c.admin_token()};
    load_model(admin, a.path, "m");  // v1, active
    load_model(admin, b.path, "m");  // v2, shares v1's embedder
    auto act = admin.admin().activateRequest();
    act.setName("m");
    act.setVersion(2);
    act.send().wait(admin.wait_scope());
    auto lbl = admin.admin().setLabelRequest();
    lbl.setName("m");
    lbl.setLabel("stable");
    lbl.setVersion(1);
    lbl.send().wait(admin.wait_scope());
    for (auto n : {"shard-1", "shard-2", "shard-3"}) loads_before[n] = loads_on(c, n);
  }
  const auto coord = c.node_pid("coord");
  auto killed_at = std::chrono::steady_clock::now();
  REQUIRE(::kill(coord, SIGKILL) == 0);
  auto admin = reconnect_coordinator(c, coord, c.admin_token());
  auto back_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - killed_at)
                     .count();
  WARN("coordinator killed -> serving again in " << back_ms << " ms");
  auto st = take_status(*admin);
  CHECK(st.active.at("m") == 2);
  CHECK(st.state.at("m@1") == "ready");
  CHECK(st.state.at("m@2") == "serving");
  client users{c.gateway(), c.user_token()};
  auto texts = random_texts(a.spec, 100, 11);
  auto on_active = traffic_n(users, "m", texts, {{2, b.ref.get()}}, 4, 100);
  CHECK(on_active.failed == 0);
  CHECK(on_active.by_version[2] == 100);
  auto on_label = traffic_n(users, "m@stable", texts, {{1, a.ref.get()}}, 4, 100);
  CHECK(on_label.failed == 0);
  CHECK(on_label.by_version[1] == 100);
  for (auto n : {"shard-1", "shard-2", "shard-3"}) {
    INFO(n);
    CHECK(loads_on(c, n) == loads_before[n]);  // every replica answered from memory
  }
  CHECK(c.node_log("coord").find("recovered 2 model versions") != std::string::npos);
}

TEST_CASE(
    "after a coordinator restart that lost its state, a new package under an old name "
    "answers with its own weights and the old rows are released") {
  model_fixture a{small_model(91, 3)}, b{small_model(91, 4)};
  cluster_options o;
  o.supervise = true;
  o.persist_state = false;  // the old failure: epochs restart at 1 after a restart
  local_cluster c{o};
  {
    client admin{c.gateway(), c.admin_token()};
    load_model(admin, a.path, "m");
  }
  const auto coord = c.node_pid("coord");
  REQUIRE(::kill(coord, SIGKILL) == 0);
  auto admin = reconnect_coordinator(c, coord, c.admin_token());
  CHECK(take_status(*admin).active.count("m") == 0);  // it knows no models
  CHECK(load_model(*admin, b.path, "m") == 1);        // the same name, version and epoch as a's
  client users{c.gateway(), c.user_token()};
  auto texts = random_texts(b.spec, 200, 12);
  auto t = traffic_n(users, "m", texts, {{1, b.ref.get()}}, 4, 200);
  INFO(t.first_error());
  CHECK(t.failed == 0);
  CHECK(t.ok == 200);
  // a's replicas are orphans: released, so the nodes hold only b's bytes.
  const auto wanted = replicas_of(*admin, "m").size();  // b's, one per tensor (R = 1)
  REQUIRE(wanted >= 2);
  status_snapshot last;
  bool released = wait_for_status(
      *admin, 60s,
      [&](const status_snapshot& s) {
        uint64_t held = 0;
        for (const auto& [n, m] : s.members) held += m.replicas;
        return held == wanted;
      },
      &last);
  std::string held;
  for (const auto& [n, m] : last.members) held += n + ": " + std::to_string(m.replicas) + " ";
  INFO("replicas held: " << held << "; wanted " << wanted);
  CHECK(released);
}

namespace {

// A loaded R=2 model's package folder now holds other weights under the same path, and the
// node of its last replica is killed (up restarts it). Without a block store (`stores` false)
// the node refuses the changed rows and the coordinator marks its replicas error; with one,
// the node serves the recorded rows from its store (or the other replica's) without reading
// the package. Either way every answer meanwhile equals the original model's reference.
void changed_package_then_restart(bool stores) {
  model_fixture a{small_model(91, 5)}, b{small_model(91, 6)};
  cluster_options o;
  o.supervise = true;
  o.persist_state = stores;  // state_dir "": no node stores, every load reads the package
  local_cluster c{o};
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  load_model(admin, a.path, "m", 2);
  std::string victim;
  for (const auto& [node, state] : replicas_of(admin, "m")) victim = node;
  REQUIRE_FALSE(victim.empty());
  std::filesystem::copy(
      b.path, a.path,
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  auto texts = random_texts(a.spec, 200, 13);
  bool stop = false;
  traffic during;
  auto p = run_traffic(users, "m", texts, {{1, a.ref.get()}}, 4, stop, during);
  const auto old_pid = c.node_pid(victim);
  REQUIRE(::kill(old_pid, SIGKILL) == 0);
  if (!stores) {
    // The coordinator asks for its replicas again; the node refuses the changed rows, and the
    // coordinator marks them error instead of serving or retrying them.
    REQUIRE(wait_until(admin, 90s, [&] {
      for (const auto& [node, state] : replicas_of(admin, "m"))
        if (node == victim && state == "error") return true;
      return false;
    }));
  } else {
    // up restarts it within a second, often before a status would show it down; the old
    // process's connection is gone by then, so what follows is the restarted node's.
    REQUIRE(wait_until(admin, 90s, [&] { return c.node_pid(victim) != old_pid; }));
    REQUIRE(wait_for_status(admin, 90s, [&](const status_snapshot& s) {
      if (!s.members.at(victim).up || !s.ready) return false;
      for (const auto& sh : s.shards.at("m@1"))
        for (const auto& [node, state] : sh.replicas)
          if (state != "ready") return false;
      return true;
    }));
  }
  if (stores) {
    // The premise: the restarted node loaded its replicas again, from its store (its first
    // load fetched every block from the package; this one found them all stored).
    uint64_t fetched = 1, stored = 0;
    REQUIRE(wait_until(admin, 20s, [&] {
      auto resp = admin.admin().statusRequest().send().wait(admin.wait_scope());
      fetched = stored = 0;
      for (auto m : resp.getStatus().getModels())
        for (auto v : m.getVersions())
          for (auto sh : v.getShards())
            for (auto r : sh.getReplicas())
              if (r.getNode() == victim) {
                fetched += r.getFetchedBytes();
                stored += r.getStoredBytes();
              }
      return fetched == 0 && stored > 0;
    }));
  }
  REQUIRE(wait_for_answers(users, during, during.answered() + 100));
  stop = true;
  p.wait(users.wait_scope());
  INFO(during.first_error());
  CHECK(during.failed == 0);  // every answer equals a's reference
  // Without a store the coordinator's log says why (the node refused the load); with one,
  // the package was not read at all.
  CHECK((c.node_log("coord").find("changed since replica") != std::string::npos) == !stores);
}

}  // namespace

TEST_CASE(
    "after a package folder is changed and a node without a block store restarts, no answer "
    "comes from the changed files") {
  changed_package_then_restart(false);
}

TEST_CASE(
    "after a package folder is changed and a node with a block store restarts, it serves the "
    "recorded rows from its store, never the changed files") {
  changed_package_then_restart(true);
}
