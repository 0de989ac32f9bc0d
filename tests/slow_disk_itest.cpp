// No call waits on the control plane's disk writes (issue: a control plane and a data plane).
// The coordinator runs with every fsync slowed to a second (tests/preload/slow_fsync.cpp, an
// LD_PRELOAD library), so each registry write takes two seconds (the file and its directory).
// While single-line calls run at concurrency 4, a load, an activate, a label, a rollback, a
// drain and an undrain each write the registry: every change is acknowledged only after its
// write, and calls keep being answered meanwhile, each checked against the reference model of
// the version that served it. Before the writes left the coordinator's thread, no call was
// answered while one was in flight. The second case recovers a killed shard node (its replicas
// read again from the package, and registry writes meanwhile) while calls go on.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>

#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"

#include <csignal>

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

constexpr int fsync_delay_ms = 1000;

// A cluster whose processes have every fsync slowed by fsync_delay_ms.
std::unique_ptr<local_cluster> slow_disk_cluster(cluster_options o = {}) {
  const auto shim = bin_path("libtessera_slow_fsync.so");
  REQUIRE(std::filesystem::exists(shim));
  scoped_env preload{"LD_PRELOAD", shim};
  scoped_env delay{"TESSERA_TEST_FSYNC_DELAY_MS", std::to_string(fsync_delay_ms)};
  // The registry's disk is slow; the shard nodes' block stores (<state_dir>/nodes/) are not.
  scoped_env skip{"TESSERA_TEST_FSYNC_SKIP", "/nodes/"};
  // A sanitized build's runtime must come first in the library list unless told otherwise.
  const char* asan = std::getenv("ASAN_OPTIONS");
  scoped_env asan_order{"ASAN_OPTIONS",
                        std::string(asan ? asan : "") + ":verify_asan_link_order=0"};
  // The library loads into any program, the sanitizers' symbolizer (not sanitized) included.
  std::string out, err;
  REQUIRE(run_capture({"/bin/true"}, &out, &err) == 0);
  REQUIRE(err.empty());
  o.shard_nodes = 3;
  return std::make_unique<local_cluster>(o);
}

// The premise of each case: the coordinator runs with the slow fsync.
void require_slow_coordinator(const local_cluster& c) {
  const auto coord = c.node_pid("coord");
  REQUIRE(read_text("/proc/" + std::to_string(coord) + "/maps").find("libtessera_slow_fsync") !=
          std::string::npos);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("with every fsync taking a second, calls are answered while the registry is written") {
  model_fixture a{small_model(35, 1)}, b{small_model(35, 2)};
  auto c = slow_disk_cluster();
  require_slow_coordinator(*c);
  client admin{c->gateway(), c->admin_token()};
  client users{c->gateway(), c->user_token()};
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(load_model(admin, a.path, "m") == 1);
  // Two registry writes (the version loading, then serving) of two fsyncs each.
  REQUIRE(seconds_since(t0) >= 2 * 2 * fsync_delay_ms / 1000.0 * 0.9);

  const auto texts = random_texts(a.spec, 200, 5);
  const std::map<uint64_t, const reference_model*> refs{{1, a.ref.get()}, {2, b.ref.get()}};
  bool stop = false;
  traffic t;
  auto streams = run_traffic(users, "m", texts, refs, 4, stop, t);
  REQUIRE(wait_for_answers(users, t, 20));

  const std::vector<std::pair<std::string, std::function<void()>>> changes = {
      {"load v2", [&] { REQUIRE(load_model(admin, b.path, "m") == 2); }},
      {"activate v2",
       [&] {
         auto r = admin.admin().activateRequest();
         r.setName("m");
         r.setVersion(2);
         r.send().wait(admin.wait_scope());
       }},
      {"label v1",
       [&] {
         auto r = admin.admin().setLabelRequest();
         r.setName("m");
         r.setLabel("stable");
         r.setVersion(1);
         r.send().wait(admin.wait_scope());
       }},
      {"rollback",
       [&] {
         auto r = admin.admin().rollbackRequest();
         r.setName("m");
         CHECK(r.send().wait(admin.wait_scope()).getVersion() == 1);
       }},
      {"drain shard-3",
       [&] {
         auto r = admin.admin().drainRequest();
         r.setNode("shard-3");
         r.send().wait(admin.wait_scope());
       }},
      {"undrain shard-3",
       [&] {
         auto r = admin.admin().undrainRequest();
         r.setNode("shard-3");
         r.send().wait(admin.wait_scope());
       }},
  };
  for (const auto& [what, change] : changes) {
    INFO(what);
    const auto answered_before = t.answered();
    const auto started = std::chrono::steady_clock::now();
    change();  // turns the event loop: the calls go on meanwhile
    const auto took = seconds_since(started);
    const auto answered = t.answered() - answered_before;
    WARN(what << ": acknowledged after " << took << " s; " << answered
              << " calls answered meanwhile");
    // The premise: the change waited for its write (two fsyncs).
    CHECK(took >= 2 * fsync_delay_ms / 1000.0 * 0.9);
    // Calls did not wait for it: about 2 s of calls at concurrency 4, not none.
    CHECK(answered >= 20);
  }
  stop = true;
  streams.wait(users.wait_scope());
  INFO(t.first_error());
  CHECK(t.failed == 0);
  CHECK(t.by_version[1] > 0);
  CHECK(t.by_version[2] > 0);
  WARN("single-line calls: " << t.ok << " ok, p50 " << quantile(t.ok_ms, 0.5) << " ms, p99 "
                             << quantile(t.ok_ms, 0.99) << " ms, max " << quantile(t.ok_ms, 1.0)
                             << " ms");
  // What was acknowledged is on disk.
  const auto saved = nlohmann::json::parse(
      read_text((std::filesystem::path(c->config_path()).parent_path() / "state" / "registry.json")
                    .string()));
  REQUIRE(saved.at("models").size() == 1);
  const auto& m = saved.at("models")[0];
  CHECK(m.at("name") == "m");
  CHECK(m.at("active") == 1);
  CHECK(m.at("labels").at("stable") == 1);
  CHECK(m.at("versions").size() == 2);
  CHECK(saved.at("draining").empty());
}

TEST_CASE("with every fsync taking a second, calls go on while a killed shard node recovers") {
  model_fixture a{small_model(36, 1)};
  auto c = slow_disk_cluster();
  require_slow_coordinator(*c);
  client admin{c->gateway(), c->admin_token()};
  client users{c->gateway(), c->user_token()};
  REQUIRE(load_model(admin, a.path, "m", 2) == 1);  // every shard on two of the three nodes
  const auto texts = random_texts(a.spec, 200, 6);
  const std::map<uint64_t, const reference_model*> refs{{1, a.ref.get()}};
  bool stop = false;
  traffic t;
  auto streams = run_traffic(users, "m", texts, refs, 4, stop, t);
  REQUIRE(wait_for_answers(users, t, 20));

  // The premise: shard-2 holds replicas of m.
  auto holds = [](const status_snapshot& s, const std::string& node) {
    for (const auto& [key, shards] : s.shards)
      for (const auto& sh : shards)
        for (const auto& r : sh.replicas)
          if (r.first == node) return true;
    return false;
  };
  REQUIRE(holds(take_status(admin), "shard-2"));
  const auto answered_before = t.answered();
  const auto started = std::chrono::steady_clock::now();
  REQUIRE(::kill(c->node_pid("shard-2"), SIGKILL) == 0);
  REQUIRE(wait_for_status(admin, 30s, [](const status_snapshot& s) {
    return !s.members.at("shard-2").up && !s.under_replicated.empty();
  }));
  c->restart_node("shard-2");
  // A registry write while it recovers: acknowledged after its two fsyncs.
  {
    const auto write = std::chrono::steady_clock::now();
    auto r = admin.admin().setLabelRequest();
    r.setName("m");
    r.setLabel("stable");
    r.setVersion(1);
    r.send().wait(admin.wait_scope());
    CHECK(seconds_since(write) >= 2 * fsync_delay_ms / 1000.0 * 0.9);
  }
  // Recovered: the node is up and its replicas are loaded again (restore_replicas).
  status_snapshot last;
  CHECK(wait_for_status(
      admin, 60s,
      [](const status_snapshot& s) {
        return s.ready && s.members.at("shard-2").up && s.under_replicated.empty();
      },
      &last));
  CHECK(holds(last, "shard-2"));
  const auto took = seconds_since(started);
  const auto answered = t.answered() - answered_before;
  WARN("shard-2 killed and recovered in " << took << " s; " << answered
                                          << " calls answered meanwhile");
  // Calls did not wait for the recovery: about as many per second as before it.
  CHECK(answered >= static_cast<size_t>(10 * took));
  stop = true;
  streams.wait(users.wait_scope());
  INFO(t.first_error());
  CHECK(t.failed == 0);
  WARN("single-line calls: " << t.ok << " ok, p50 " << quantile(t.ok_ms, 0.5) << " ms, p99 "
                             << quantile(t.ok_ms, 0.99) << " ms, max " << quantile(t.ok_ms, 1.0)
                             << " ms");
}
