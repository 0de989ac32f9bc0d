// Model lifecycle over real processes: hot swap and rollback under load, refusals that leave
// serving untouched, memory freed by unload, shared embedders, replicas and failover, and a
// model larger than any one node.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "importers/synthetic_model.hpp"
#include "tests/support/lifecycle_support.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

synthetic_spec spec(uint64_t seed, uint64_t classifier_seed = 0, uint64_t buckets = 50000) {
  synthetic_spec s;
  s.vocab = 2000;
  s.buckets = buckets;
  s.seed = seed;
  s.classifier_seed = classifier_seed;
  return s;
}

// Texts with words of both vocabularies, so both versions have features for them.
std::vector<std::string> mixed_texts(const synthetic_spec& a, const synthetic_spec& b, size_t n) {
  auto ta = random_texts(a, n, 3);
  auto tb = random_texts(b, n, 4);
  for (size_t i = 0; i < n; ++i) ta[i] += " " + tb[i];
  return ta;
}

kj::Promise<void> after(client& cl, std::chrono::milliseconds ms) {
  return cl.timer().afterDelay(ms.count() * kj::MILLISECONDS);
}

void expect_error(client& cl, const std::string& code, kj::Promise<void> p,
                  const std::string& contains = "") {
  try {
    p.wait(cl.wait_scope());
    FAIL("expected tessera." << code);
  } catch (const kj::Exception& e) {
    std::string d = e.getDescription().cStr();
    INFO(d);
    CHECK(error_code(e) == code);
    if (!contains.empty()) CHECK(d.find(contains) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("v2 activates, rolls back and activates again under load with zero failed requests",
          "[lifecycle]") {
  model_fixture v1{spec(42)};
  model_fixture v2{spec(43)};  // different embedder and classifier weights
  local_cluster c;
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  REQUIRE(load_model(admin, v1.path, "m") == 1);
  auto texts = mixed_texts(v1.spec, v2.spec, 300);
  // The two versions must disagree somewhere, or matching "the right one" proves nothing.
  size_t differ = 0;
  for (const auto& t : texts)
    differ += v1.ref->top_k(v1.ref->probabilities(v1.ref->pool_text(t)), 1)[0].first !=
              v2.ref->top_k(v2.ref->probabilities(v2.ref->pool_text(t)), 1)[0].first;
  REQUIRE(differ > 30);
  // External steady load from `tessera bench`, plus an in-test generator checking answers.
  std::ofstream(c.config_path() + ".texts") << [&] {
    std::string all;
    for (const auto& t : texts) all += t + "\n";
    return all;
  }();
  auto bench_out = c.config_path() + ".bench.json";
  auto bench = spawn_to_file(
      {bin_path("tessera"), "--connect", c.gateway(), "--token", c.user_token(), "bench", "--model",
       "m", "--concurrency", "2", "--duration", "6", "--json", c.config_path() + ".texts"},
      bench_out);
  bool stop = false;
  traffic t;
  std::map<uint64_t, const reference_model*> refs{{1, v1.ref.get()}, {2, v2.ref.get()}};
  auto generator = run_traffic(users, "m", texts, refs, 4, stop, t);
  uint64_t rolled_back_to = 0;
  auto swap = after(admin, 500ms)
                  .then([&] {
                    auto req = admin.admin().loadRequest();
                    auto o = req.initOptions();
                    o.setPath(v2.path);
                    o.setName("m");
                    o.setActivate(true);
                    return req.send().ignoreResult();
                  })
                  .then([&] { return after(admin, 800ms); })
                  .then([&] {
                    auto req = admin.admin().rollbackRequest();
                    req.setName("m");
                    return req.send().then([&](auto&& r) { rolled_back_to = r.getVersion(); });
                  })
                  .then([&] { return after(admin, 800ms); })
                  .then([&] {
                    auto req = admin.admin().activateRequest();
                    req.setName("m");
                    req.setVersion(2);
                    return req.send().ignoreResult();
                  })
                  .then([&] { return after(admin, 800ms); })
                  .then([&] { stop = true; });
  swap.wait(admin.wait_scope());
  generator.wait(admin.wait_scope());
  CHECK(rolled_back_to == 1);
  INFO((t.errors.empty() ? std::string{} : t.errors.front()));
  CHECK(t.failed == 0);
  CHECK(t.by_version[1] > 0);
  CHECK(t.by_version[2] > 0);
  CHECK(take_status(admin).active["m"] == 2);
  REQUIRE(wait_child(bench) == 0);
  std::ifstream in(bench_out);
  auto j = nlohmann::json::parse(in);
  INFO(j.dump());
  CHECK(j.value("requests", 0) > 0);
  CHECK(j.value("error_count", 1) == 0);
}

TEST_CASE("a failed load reports why and leaves the serving version untouched", "[lifecycle]") {
  model_fixture v1{spec(42)};
  cluster_options opts;
  opts.memory_budget = "64MiB";
  local_cluster c{opts};
  client admin{c.gateway(), c.admin_token()};
  REQUIRE(load_model(admin, v1.path, "m") == 1);
  auto before = take_status(admin);
  SECTION("a package that does not fit the budgets is refused with the byte figures") {
    model_fixture big{spec(44, 0, 2000000)};  // 2M x 64 floats: 512 MB > 3 x 64 MiB
    auto req = admin.admin().loadRequest();
    req.initOptions().setPath(big.path);
    req.getOptions().setName("m");
    expect_error(admin, "insufficient_memory", req.send().ignoreResult(), "bytes");
  }
  SECTION("a corrupt package is refused") {
    model_fixture v2{spec(42, 7)};
    {
      std::fstream f(v2.path + "/classifier.l0.weight.f32",
                     std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(16);
      f.put('\x7f');
    }
    auto req = admin.admin().loadRequest();
    req.initOptions().setPath(v2.path);
    req.getOptions().setName("m");
    req.getOptions().setActivate(true);
    expect_error(admin, "corrupt_package", req.send().ignoreResult(), "classifier.l0.weight");
  }
  auto now = take_status(admin);
  CHECK(now.active["m"] == 1);
  for (const auto& [name, m] : before.members) CHECK(now.members[name].used == m.used);
  client users{c.gateway(), c.user_token()};
  auto t = traffic_for(users, "m", random_texts(v1.spec, 20, 1), {{1, v1.ref.get()}}, 2, 300ms);
  CHECK(t.failed == 0);
  CHECK(t.ok > 0);
}

TEST_CASE("unloading a model frees its nodes' memory", "[lifecycle]") {
  model_fixture big{spec(45, 0, 1000000)};  // ~256 MB of rows, ~85 MB per node
  local_cluster c;
  client admin{c.gateway(), c.admin_token()};
  auto idle = take_status(admin);
  load_model(admin, big.path, "big");
  auto loaded = take_status(admin);
  load_model(admin, big.path, "other");  // same embedder: shared, not loaded twice
  for (const auto& [name, m] : loaded.members) {
    INFO(name);
    CHECK(m.used > 80'000'000);
    CHECK(m.rss > idle.members[name].rss + m.used * 8 / 10);
  }
  auto req = admin.admin().unloadRequest();
  req.setName("big");
  req.send().wait(admin.wait_scope());
  req = admin.admin().unloadRequest();
  req.setName("other");
  req.send().wait(admin.wait_scope());
  status_snapshot freed;
  for (int i = 0; i < 50; ++i) {
    freed = take_status(admin);
    bool all = true;
    for (const auto& [name, m] : freed.members) all = all && m.used == 0;
    if (all) break;
    std::this_thread::sleep_for(100ms);
  }
  for (const auto& [name, m] : freed.members) {
    INFO(name << " rss idle " << idle.members[name].rss << " loaded " << loaded.members[name].rss
              << " freed " << m.rss);
    CHECK(m.used == 0);
    CHECK(m.rss + loaded.members[name].used * 8 / 10 < loaded.members[name].rss);
  }
}

TEST_CASE("two classifiers share one loaded embedder, counted once", "[lifecycle]") {
  model_fixture a{spec(42, 0, 400000)};
  model_fixture b{spec(42, 9, 400000)};  // same embedder, another classifier
  local_cluster c;
  client admin{c.gateway(), c.admin_token()};
  load_model(admin, a.path, "a");
  auto one = take_status(admin);
  load_model(admin, b.path, "b");
  auto two = take_status(admin);
  CHECK(two.embedder["a@1"] == two.embedder["b@1"]);
  CHECK(two.embedder["b@1"].find("2 users") != std::string::npos);
  for (const auto& [name, m] : two.members) {
    INFO(name);
    // The second model adds only its classifier (a few KB), not another third of the table.
    CHECK(m.used - one.members[name].used < 100'000);
  }
  client users{c.gateway(), c.user_token()};
  auto texts = random_texts(a.spec, 50, 2);
  bool stop = false;
  traffic ta, tb;
  auto pa = run_traffic(users, "a", texts, {{1, a.ref.get()}}, 2, stop, ta);
  auto pb = run_traffic(users, "b", texts, {{1, b.ref.get()}}, 2, stop, tb);
  after(users, 500ms).wait(users.wait_scope());
  stop = true;
  pa.wait(users.wait_scope());
  pb.wait(users.wait_scope());
  CHECK(ta.failed + tb.failed == 0);
  CHECK(ta.ok > 0);
  CHECK(tb.ok > 0);
}

TEST_CASE("with two replicas a killed node costs no request once the coordinator sees it down",
          "[lifecycle][fault]") {
  model_fixture m{spec(46)};
  local_cluster c;
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  load_model(admin, m.path, "m", 2);
  auto texts = random_texts(m.spec, 200, 6);
  bool stop = false;
  traffic during, after_down;
  auto p = run_traffic(users, "m", texts, {{1, m.ref.get()}}, 4, stop, during);
  after(users, 300ms).wait(users.wait_scope());
  ::kill(c.node_pid("shard-2"), SIGKILL);
  bool down = false;
  for (int i = 0; i < 100 && !down; ++i) {
    after(admin, 50ms).wait(admin.wait_scope());
    down = !take_status(admin).members["shard-2"].up;
  }
  stop = true;
  p.wait(users.wait_scope());
  REQUIRE(down);
  after_down = traffic_for(users, "m", texts, {{1, m.ref.get()}}, 4, 1000ms);
  INFO((after_down.errors.empty() ? std::string{} : after_down.errors.front()));
  CHECK(after_down.failed == 0);
  CHECK(after_down.ok > 50);
  // In-flight requests to the dead node were retried on the other replica too.
  INFO((during.errors.empty() ? std::string{} : during.errors.front()));
  CHECK(during.failed == 0);
}

TEST_CASE("a model larger than any one node's budget loads across four nodes", "[lifecycle]") {
  synthetic_spec s = spec(47, 0, (uint64_t{1} << 22) - 2000);  // 4 Mi rows x 64 = 1 GiB table
  model_fixture big{s};
  cluster_options opts;
  opts.shard_nodes = 4;
  opts.memory_budget = "320MiB";  // each node holds a quarter (256 MiB), none the whole table
  local_cluster c{opts};
  client admin{c.gateway(), c.admin_token()};
  load_model(admin, big.path, "big");
  auto st = take_status(admin);
  for (const auto& [name, m] : st.members) {
    INFO(name << " rss " << m.rss << " used " << m.used << " budget " << m.budget);
    CHECK(m.used > 200'000'000);
    CHECK(m.rss < m.budget);
  }
  client users{c.gateway(), c.user_token()};
  auto t =
      traffic_for(users, "big", random_texts(big.spec, 200, 8), {{1, big.ref.get()}}, 4, 1000ms);
  CHECK(t.failed == 0);
  CHECK(t.ok > 50);
}

TEST_CASE("requests pick a version by number, by label, or get the active one", "[lifecycle]") {
  model_fixture v1{spec(42)};
  model_fixture v2{spec(42, 5)};  // a new classifier head on the same embedder
  local_cluster c;
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  REQUIRE(load_model(admin, v1.path, "m") == 1);
  REQUIRE(load_model(admin, v2.path, "m") == 2);  // loaded, not activated
  auto label = [&](const std::string& l, uint64_t v) {
    auto req = admin.admin().setLabelRequest();
    req.setName("m");
    req.setLabel(l);
    req.setVersion(v);
    return req.send().ignoreResult();
  };
  label("stable", 1).wait(admin.wait_scope());
  label("canary", 2).wait(admin.wait_scope());
  auto text = random_texts(v1.spec, 1, 3)[0];
  auto served_by = [&](auto set_ref) {
    auto req = users.session().predictRequest();
    set_ref(req.initModel());
    req.setTopK(1);
    req.initInputs(1)[0].setText(text);
    return req.send().then([&](capnp::Response<Session::PredictResults>&& r) {
      auto v = r.getServedBy().getVersion();
      const auto& ref = v == 1 ? *v1.ref : *v2.ref;
      check_prediction(ref, ref.pool_text(text), r.getResults()[0], 1);
      return v;
    });
  };
  auto& ws = users.wait_scope();
  CHECK(served_by([](auto m) { m.setName("m"); }).wait(ws) == 1);
  CHECK(served_by([](auto m) {
          m.setName("m");
          m.setLabel("canary");
        }).wait(ws) == 2);
  CHECK(served_by([](auto m) {
          m.setName("m");
          m.setLabel("stable");
        }).wait(ws) == 1);
  CHECK(served_by([](auto m) {
          m.setName("m");
          m.setVersion(2);
        }).wait(ws) == 2);
  expect_error(users, "unknown_model", served_by([](auto m) {
                                         m.setName("m");
                                         m.setLabel("nightly");
                                       }).ignoreResult());
  expect_error(admin, "unknown_model", label("stable", 9));
  // The active version of a model with other versions cannot be unloaded.
  auto unload = [&](uint64_t v) {
    auto req = admin.admin().unloadRequest();
    req.setName("m");
    req.setVersion(v);
    return req.send().ignoreResult();
  };
  expect_error(admin, "invalid_argument", unload(1));
  unload(2).wait(admin.wait_scope());
  expect_error(users, "unknown_model", served_by([](auto m) {
                                         m.setName("m");
                                         m.setLabel("canary");
                                       }).ignoreResult());
  CHECK(served_by([](auto m) { m.setName("m"); }).wait(ws) == 1);
}

TEST_CASE("a node dying mid-load fails that load at once and leaves the serving version",
          "[lifecycle][fault]") {
  model_fixture v1{spec(48)};
  model_fixture v2{spec(49)};
  local_cluster c;
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  REQUIRE(load_model(admin, v1.path, "m", 2) == 1);  // two replicas: survives a node
  // Freeze shard-3 so its part of the load cannot finish, then kill it mid-load.
  auto victim = c.node_pid("shard-3");
  ::kill(victim, SIGSTOP);
  auto req = admin.admin().loadRequest();
  req.initOptions().setPath(v2.path);
  req.getOptions().setName("m");
  req.getOptions().setActivate(true);
  auto t0 = std::chrono::steady_clock::now();
  auto load = req.send().ignoreResult();
  after(admin, 300ms).wait(admin.wait_scope());
  ::kill(victim, SIGKILL);
  expect_error(admin, "unavailable", kj::mv(load), "shard-3");
  // Failed as soon as the node went down, not at the 600 s load timeout.
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  auto st = take_status(admin);
  CHECK(st.active["m"] == 1);
  auto t = traffic_for(users, "m", random_texts(v1.spec, 50, 9), {{1, v1.ref.get()}}, 2, 500ms);
  CHECK(t.failed == 0);
  CHECK(t.ok > 0);
}

TEST_CASE("unloading a model while it loads cancels the node's read and frees its bytes",
          "[lifecycle]") {
  // One shard node: the ~490 MB embedding table is one replica, read by one loader thread.
  temp_dir dir;
  REQUIRE_FALSE(write_synthetic_package(dir / "big", spec(50, 0, 2000000)));
  cluster_options o;
  o.shard_nodes = 1;
  local_cluster c{o};
  client admin{c.gateway(), c.admin_token()};
  auto wait_until = [&](const char* what, auto done) {
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!done()) {
      INFO("waiting for " << what);
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      after(admin, 10ms).wait(admin.wait_scope());
    }
  };
  auto req = admin.admin().loadRequest();
  req.initOptions().setPath(dir / "big");
  req.getOptions().setName("big");
  auto load = req.send().ignoreResult();
  // Once status lists the version, the coordinator has sent the node its loads.
  wait_until("the version to be committed", [&] {
    auto res = admin.admin().statusRequest().send().wait(admin.wait_scope());
    for (auto m : res.getStatus().getModels())
      if (m.getName() == "big" && m.getVersions().size() > 0) return true;
    return false;
  });
  auto unload = admin.admin().unloadRequest();
  unload.setName("big");
  unload.send().wait(admin.wait_scope());
  bool load_failed = false;
  try {
    load.wait(admin.wait_scope());
  } catch (const kj::Exception& e) {
    INFO(e.getDescription().cStr());
    // The unload, not a node, is why the load failed: not "retry later".
    CHECK(error_code(e) == "unknown_model");
    CHECK(std::string{e.getDescription().cStr()}.find("unloaded while it loaded") !=
          std::string::npos);
    load_failed = true;
  }
  wait_until("the node's used bytes to return to 0",
             [&] { return take_status(admin).members["shard-1"].used == 0; });
  const std::string log = c.node_log("shard-1");
  if (!load_failed || log.find("embedder.input/0/r0 ready") != std::string::npos) {
    // The whole table was read before the unload reached the node: nothing was left to cancel.
    WARN("the load finished before the unload; the cancellation was not exercised");
    return;
  }
  INFO(log);
  CHECK(log.find("cancelled after") != std::string::npos);  // the read stopped mid-table
}
