// No call waits on the control plane's disk writes (issue: a control plane and a data plane).
// The coordinator runs with every fsync slowed to a second (tests/preload/slow_fsync.cpp, an
// LD_PRELOAD library), so each registry write takes two seconds (the file and its directory).
// While single-line calls run at concurrency 4, a load, an activate, a label, a rollback, a
// drain and an undrain each write the registry: every change is acknowledged only after its
// write, and calls keep being answered meanwhile, each checked against the reference model of
// the version that served it. Before the writes left the coordinator's thread, no call was
// answered while one was in flight.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>

#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

constexpr int fsync_delay_ms = 1000;

// A cluster whose processes have every fsync slowed by fsync_delay_ms.
std::unique_ptr<local_cluster> slow_disk_cluster() {
  const auto shim = bin_path("libtessera_slow_fsync.so");
  REQUIRE(std::filesystem::exists(shim));
  scoped_env preload{"LD_PRELOAD", shim};
  scoped_env delay{"TESSERA_TEST_FSYNC_DELAY_MS", std::to_string(fsync_delay_ms)};
  // A sanitized build's runtime must come first in the library list unless told otherwise.
  const char* asan = std::getenv("ASAN_OPTIONS");
  scoped_env asan_order{"ASAN_OPTIONS",
                        std::string(asan ? asan : "") + ":verify_asan_link_order=0"};
  // The library loads into any program, the sanitizers' symbolizer (not sanitized) included.
  std::string out, err;
  REQUIRE(run_capture({"/bin/true"}, &out, &err) == 0);
  REQUIRE(err.empty());
  cluster_options o;
  o.shard_nodes = 3;
  return std::make_unique<local_cluster>(o);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("with every fsync taking a second, calls are answered while the registry is written") {
  model_fixture a{small_model(35, 1)}, b{small_model(35, 2)};
  auto c = slow_disk_cluster();
  // The premise: the coordinator runs with the slow fsync.
  const auto coord = c->node_pid("coord");
  REQUIRE(read_text("/proc/" + std::to_string(coord) + "/maps").find("libtessera_slow_fsync") !=
          std::string::npos);
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
