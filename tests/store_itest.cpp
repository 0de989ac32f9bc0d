// ctest: release only
// Node-local block stores (issue: ship rows, not paths). Each shard node keeps the blocks of
// its replicas in its data_dir (package/block_store.hpp), named by checksum. These cases check,
// against the in-process reference model:
// - a shard node killed with SIGKILL and restarted serves from its store, with the package
//   directory deleted after the load: nothing reads the package again;
// - a new version that changes 1% of the rows (a contiguous range) ships at most 2% of its
//   bytes (from the nodes' counters in status), answers like its own reference, and rolls back;
// - a node killed mid-write (every fsync and syncfs slowed to a second, so the kill lands while
//   its blocks wait in temp files) leaves no block that fails its checksum, and its restart no
//   temp file; the failed load leaves the other nodes'
//   stores empty, and the serving version answers exactly throughout;
// - R=2: a node lost for good has its replicas rebuilt on the survivors from their stores
//   (the package deleted first), and a drained node's replicas move from its store;
// - a coordinator restarted after the package was deleted describes the version again from the
//   metadata the load kept in state_dir;
// - disk_budget refuses a load whose blocks do not fit, before any block is written.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "package/package.hpp"
#include "testing/package_builder.hpp"
#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Block files under a node's store, and whether each holds the bytes its name says.
struct store_scan {
  size_t blocks = 0;
  size_t temp_files = 0;
  size_t bad = 0;  // a block file whose XXH3-128 or size is not the one in its name
  uint64_t bytes = 0;
};

store_scan scan_store(const std::string& dir) {
  store_scan out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir + "/tmp", ec); !ec && it != fs::directory_iterator();
       it.increment(ec))
    ++out.temp_files;
  ec.clear();
  for (auto it = fs::recursive_directory_iterator(dir + "/blocks", ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    ++out.blocks;
    const auto name = it->path().filename().string();
    const auto bytes = testing::slurp(it->path().string());
    out.bytes += bytes.size();
    const bool good = name.size() > 33 &&
                      name.substr(0, 32) == to_hex(xxh3_128(bytes.data(), bytes.size())) &&
                      name.substr(33) == std::to_string(bytes.size());
    out.bad += good ? 0 : 1;
  }
  return out;
}

// Block files only, cheaply (no reading), for polling.
size_t count_blocks(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir + "/blocks", ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    n += it->is_regular_file() ? 1 : 0;
  return n;
}

struct version_bytes {
  uint64_t shipped = 0, stored = 0, replica = 0;
  bool found = false;
};

version_bytes bytes_of(client& cl, const std::string& model, uint64_t version) {
  auto resp = cl.admin().statusRequest().send().wait(cl.wait_scope());
  auto st = resp.getStatus();
  version_bytes out;
  for (auto m : st.getModels()) {
    if (m.getName() != model) continue;
    for (auto v : m.getVersions())
      if (v.getVersion() == version) {
        out.found = true;
        out.shipped = v.getShippedBytes();
        out.stored = v.getStoredBytes();
        out.replica = v.getReplicaBytes();
      }
  }
  return out;
}

// Per node, the fetched and stored bytes its replicas of `model`@`version` report.
std::map<std::string, std::pair<uint64_t, uint64_t>> replica_bytes_by_node(client& cl,
                                                                           const std::string& model,
                                                                           uint64_t version) {
  auto resp = cl.admin().statusRequest().send().wait(cl.wait_scope());
  auto st = resp.getStatus();
  std::map<std::string, std::pair<uint64_t, uint64_t>> out;
  for (auto m : st.getModels()) {
    if (m.getName() != model) continue;
    for (auto v : m.getVersions()) {
      if (v.getVersion() != version) continue;
      for (auto s : v.getShards())
        for (auto r : s.getReplicas()) {
          auto& [f, k] = out[r.getNode().cStr()];
          f += r.getFetchedBytes();
          k += r.getStoredBytes();
        }
    }
  }
  return out;
}

// Waits until every replica of the version has reported its load's figures (their fetched
// and stored bytes cover the version's bytes).
version_bytes wait_for_figures(client& cl, const std::string& model, uint64_t version) {
  version_bytes b;
  wait_until(cl, 20s, [&] {
    b = bytes_of(cl, model, version);
    return b.found && b.replica > 0 && b.shipped + b.stored >= b.replica;
  });
  return b;
}

void activate(client& cl, const std::string& model, uint64_t version) {
  auto r = cl.admin().activateRequest();
  r.setName(model);
  r.setVersion(version);
  r.send().wait(cl.wait_scope());
}

// A copy of the package at `from` in `to` whose embedder.input rows [begin, end) are negated,
// with the manifest's block checksums of that tensor made right again.
void write_changed_copy(const std::string& from, const std::string& to, uint64_t begin,
                        uint64_t end) {
  fs::copy(from, to, fs::copy_options::recursive);
  auto pkg = package::open(to);
  REQUIRE(pkg);
  const auto* t = pkg->meta().find_tensor("embedder.input");
  REQUIRE(t);
  REQUIRE(end <= t->rows);
  const std::string file = to + "/" + t->file;
  auto bytes = testing::slurp(file);
  REQUIRE(bytes.size() == t->bytes());
  auto* rows = reinterpret_cast<float*>(bytes.data());
  for (uint64_t i = begin * t->cols; i < end * t->cols; ++i) rows[i] = -rows[i] - 0.25f;
  testing::spit(file, bytes);
  testing::rewrite_manifest(to, [&](manifest& m) {
    for (auto& ti : m.tensors) {
      if (ti.name != "embedder.input") continue;
      const uint64_t row_bytes = ti.cols * sizeof(float);
      for (uint64_t b = 0; b < ti.block_checksums.size(); ++b) {
        const uint64_t b0 = b * ti.block_rows, b1 = std::min(b0 + ti.block_rows, ti.rows);
        ti.block_checksums[b] = xxh3_128(bytes.data() + b0 * row_bytes, (b1 - b0) * row_bytes);
      }
    }
  });
}

synthetic_spec split_model(uint64_t seed) {
  synthetic_spec s = small_model(seed);
  s.buckets = 200000;  // 52 MB: the table is split over the three nodes
  return s;
}

// A cluster of three shard nodes whose state (and so the nodes' stores) is under `state`.
cluster_options under(const testing::temp_dir& state) {
  cluster_options o;
  o.state_dir = state.path;
  return o;
}

void require_split(client& cl, const std::string& model) {
  REQUIRE(tensor_row_ranges(cl, model, "embedder.input").size() == 3);
}

}  // namespace

TEST_CASE("a shard node killed with SIGKILL restarts and serves from its store, the package gone",
          "[store][release]") {
  model_fixture model{split_model(61)};
  testing::temp_dir state;
  local_cluster c{under(state)};
  client cl{c.gateway(), c.admin_token()};
  REQUIRE(load_model(cl, model.path, "m") == 1);  // R = 1: the answers need every node
  require_split(cl, "m");
  const auto first = wait_for_figures(cl, "m", 1);
  INFO("shipped " << first.shipped << " stored " << first.stored << " of " << first.replica);
  // A first load ships every block it needs; nothing was stored before.
  CHECK(first.stored == 0);
  CHECK(first.shipped >= first.replica);
  CHECK(first.shipped < first.replica + 3 * 2 * (uint64_t{1} << 20));  // block rounding
  for (const auto* n : {"shard-1", "shard-2", "shard-3"}) {
    auto s = scan_store(state.path + "/nodes/" + n);
    INFO(n);
    CHECK(s.blocks > 0);
    CHECK(s.bad == 0);
    CHECK(s.temp_files == 0);
  }
  expect_reference_predictions(cl, model, "m", 200, 3);

  fs::remove_all(model.path);  // from here, only the stores hold the rows
  REQUIRE_FALSE(fs::exists(model.path));
  const std::string victim = "shard-2";
  const auto old_pid = c.node_pid(victim);
  REQUIRE(old_pid > 0);
  ::kill(old_pid, SIGKILL);
  REQUIRE(
      wait_for_status(cl, 60s, [&](const status_snapshot& s) { return !s.members.at(victim).up; }));
  REQUIRE(wait_until(cl, 60s, [&] { return ::kill(old_pid, 0) != 0; }));
  c.restart_node(victim);
  const bool back = wait_for_status(cl, 120s, [&](const status_snapshot& s) {
    if (!s.ready || !s.members.at(victim).up) return false;
    for (const auto& sh : s.shards.at("m@1"))
      for (const auto& [node, st] : sh.replicas)
        if (st != "ready") return false;
    return true;
  });
  INFO(victim << " log after restart:\n" << c.node_log(victim + ".restarted"));
  REQUIRE(back);
  // The restarted node found every block in its store and fetched none.
  std::pair<uint64_t, uint64_t> figures;
  REQUIRE(wait_until(cl, 20s, [&] {
    figures = replica_bytes_by_node(cl, "m", 1)[victim];
    return figures.second > 0;
  }));
  CHECK(figures.first == 0);
  expect_reference_predictions(cl, model, "m", 300, 4);
}

TEST_CASE("a version changing 1% of its rows ships at most 2% of its bytes, flips and rolls back",
          "[store][release]") {
  // 205 MB: 1% of its rows is about 2 MB, so the 1 MiB checksum blocks (the unit a store
  // shares) that a contiguous 1% touches are at most 1.5% of the version's bytes.
  synthetic_spec spec = split_model(62);
  spec.buckets = 800000;
  model_fixture v1{spec};
  testing::temp_dir work;
  const uint64_t rows = v1.spec.vocab + v1.spec.buckets;
  const uint64_t begin = rows / 2, end = begin + rows / 100;  // 1% of the rows, contiguous
  write_changed_copy(v1.path, work.path + "/v2", begin, end);
  auto ref2 = reference_model::load(work.path + "/v2");
  REQUIRE(ref2);
  // The premise: the change shows in the pooled vectors of the changed rows.
  REQUIRE(ref2->pool_ids({static_cast<uint32_t>(begin)}) !=
          v1.ref->pool_ids({static_cast<uint32_t>(begin)}));

  testing::temp_dir state;
  local_cluster c{under(state)};
  client cl{c.gateway(), c.admin_token()};
  REQUIRE(load_model(cl, v1.path, "m") == 1);
  require_split(cl, "m");
  const auto full = wait_for_figures(cl, "m", 1);
  REQUIRE(load_model(cl, work.path + "/v2", "m") == 2);
  const auto delta = wait_for_figures(cl, "m", 2);
  INFO("v1 shipped " << full.shipped << " of " << full.replica << "; v2 shipped " << delta.shipped
                     << ", stored " << delta.stored << " of " << delta.replica);
  REQUIRE(delta.replica == full.replica);
  CHECK(delta.shipped > 0);  // the changed blocks did ship
  CHECK(delta.shipped * 50 <= delta.replica);
  CHECK(delta.stored + delta.shipped >= delta.replica);

  const auto texts = random_texts(v1.spec, 300, 9);
  const std::map<uint64_t, const reference_model*> refs{{1, v1.ref.get()}, {2, &*ref2}};
  auto t = traffic_n(cl, "m", texts, refs, 4, 200);
  CHECK(t.failed == 0);
  CHECK(t.by_version[1] == 200);
  activate(cl, "m", 2);
  t = traffic_n(cl, "m", texts, refs, 4, 200);
  INFO(t.first_error());
  CHECK(t.failed == 0);
  CHECK(t.by_version[2] == 200);
  auto rb = cl.admin().rollbackRequest();
  rb.setName("m");
  CHECK(rb.send().wait(cl.wait_scope()).getVersion() == 1);
  t = traffic_n(cl, "m", texts, refs, 4, 200);
  CHECK(t.failed == 0);
  CHECK(t.by_version[1] == 200);
  // Unloading v2 deletes only the blocks v1 does not use: v1 still answers from its blocks.
  auto un = cl.admin().unloadRequest();
  un.setName("m");
  un.setVersion(2);
  un.send().wait(cl.wait_scope());
  uint64_t stored = 0;
  REQUIRE(wait_until(cl, 20s, [&] {
    stored = 0;
    for (const auto* n : {"shard-1", "shard-2", "shard-3"})
      stored += scan_store(state.path + "/nodes/" + n).bytes;
    return stored <= full.shipped;
  }));
  CHECK(stored == full.shipped);
  t = traffic_n(cl, "m", texts, refs, 4, 100);
  CHECK(t.failed == 0);
}

TEST_CASE("a node killed mid-write leaves no corrupt block, and a failed load leaves no blocks",
          "[store][release]") {
  model_fixture small{small_model(63)};  // not split: each copy on one node
  model_fixture big{split_model(64)};
  testing::temp_dir state;
  const auto shim = bin_path("libtessera_slow_fsync.so");
  REQUIRE(fs::exists(shim));
  std::unique_ptr<local_cluster> c;
  {
    scoped_env preload{"LD_PRELOAD", shim};
    // A second per flush: a load's blocks wait in temp files that long before they are
    // installed, which is when the kill lands.
    scoped_env delay{"TESSERA_TEST_FSYNC_DELAY_MS", "1000"};
    const char* asan = std::getenv("ASAN_OPTIONS");
    scoped_env asan_order{"ASAN_OPTIONS",
                          std::string(asan ? asan : "") + ":verify_asan_link_order=0"};
    c = std::make_unique<local_cluster>(under(state));
  }
  client cl{c->gateway(), c->admin_token()};
  // R = 2: it answers with any one node down.
  REQUIRE(load_model(cl, small.path, "serving", 2, true) == 1);
  const auto texts = random_texts(small.spec, 200, 10);
  const std::map<uint64_t, const reference_model*> serving_refs{{1, small.ref.get()}};
  std::map<std::string, size_t> before;
  for (const auto* n : {"shard-1", "shard-2", "shard-3"})
    before[n] = count_blocks(state.path + "/nodes/" + n);

  // Load the split model and kill shard-2 while its blocks wait in temp files for the flush.
  const std::string victim = "shard-2";
  const std::string victim_dir = state.path + "/nodes/" + victim;
  auto req = cl.admin().loadRequest();
  req.initOptions().setPath(big.path);
  req.getOptions().setName("big");
  auto load = req.send();
  REQUIRE(wait_until(cl, 60s, [&] {
    std::error_code ec;
    return std::distance(fs::directory_iterator(victim_dir + "/tmp", ec),
                         fs::directory_iterator()) >= 3;
  }));
  const auto pid = c->node_pid(victim);
  ::kill(pid, SIGKILL);
  try {
    load.wait(cl.wait_scope());
    FAIL("the load should fail: a node it loads on was killed");
  } catch (const kj::Exception& e) {
    INFO(e.getDescription().cStr());
    CHECK(error_code(e) == "unavailable");
  }
  // The serving model answered throughout and still does.
  auto t = traffic_n(cl, "serving", texts, serving_refs, 4, 200);
  CHECK(t.failed == 0);
  // The failed load's blocks leave the surviving nodes' stores.
  REQUIRE(wait_until(cl, 30s, [&] {
    return count_blocks(state.path + "/nodes/shard-1") == before["shard-1"] &&
           count_blocks(state.path + "/nodes/shard-3") == before["shard-3"];
  }));
  // Every block file the killed node left is whole; the restart clears its temp files.
  REQUIRE(wait_until(cl, 60s, [&] { return ::kill(pid, 0) != 0; }));
  auto left = scan_store(victim_dir);
  CHECK(left.bad == 0);
  CHECK(left.temp_files > 0);  // the premise: the kill came mid-write
  c->restart_node(victim);
  REQUIRE(wait_for_status(
      cl, 60s, [&](const status_snapshot& s) { return s.members.at(victim).up && s.ready; }));
  auto after = scan_store(victim_dir);
  CHECK(after.temp_files == 0);
  CHECK(after.bad == 0);
  // Loaded again, the model answers exactly (the kept blocks verified, the rest fetched).
  REQUIRE(load_model(cl, big.path, "big") == 2);
  expect_reference_predictions(cl, big, "big", 200, 11);
  t = traffic_n(cl, "serving", texts, serving_refs, 4, 100);
  CHECK(t.failed == 0);
}

TEST_CASE("R=2: a lost node's replicas are rebuilt from the surviving replicas' stores",
          "[store][release]") {
  model_fixture model{split_model(67)};
  testing::temp_dir state;
  auto o = under(state);
  o.top_toml = "replacement_grace_ms = 2000\n";
  local_cluster c{o};
  client cl{c.gateway(), c.admin_token()};
  REQUIRE(load_model(cl, model.path, "m", 2) == 1);
  require_split(cl, "m");
  wait_for_figures(cl, "m", 1);
  expect_reference_predictions(cl, model, "m", 100, 13);
  // From here the package is gone: the new copies can only come from the survivors' stores.
  fs::remove_all(model.path);
  const std::string victim = "shard-3";
  const auto pid = c.node_pid(victim);
  const auto before = replica_bytes_by_node(cl, "m", 1);
  ::kill(pid, SIGKILL);
  status_snapshot last;
  const bool rebuilt = wait_for_status(
      cl, 120s,
      [&](const status_snapshot& s) {
        if (s.members.at(victim).up || !s.under_replicated.empty()) return false;
        for (const auto& sh : s.shards.at("m@1")) {
          size_t ready = 0;
          for (const auto& [node, st] : sh.replicas) ready += node != victim && st == "ready";
          if (ready < 2) return false;
        }
        return true;
      },
      &last);
  INFO("coordinator log:\n" << c.node_log("coord"));
  REQUIRE(rebuilt);
  // The survivors fetched the new copies' blocks (from each other: the package is deleted).
  std::map<std::string, std::pair<uint64_t, uint64_t>> after;
  REQUIRE(wait_until(cl, 20s, [&] {
    after = replica_bytes_by_node(cl, "m", 1);
    return after["shard-1"].first + after["shard-2"].first >
           before.at("shard-1").first + before.at("shard-2").first;
  }));
  CHECK(c.node_log("coord").find("copying ") != std::string::npos);
  expect_reference_predictions(cl, model, "m", 300, 14);
  // The node comes back: it gets replicas from its store or its peers, still exact.
  REQUIRE(wait_until(cl, 60s, [&] { return ::kill(pid, 0) != 0; }));
  c.restart_node(victim);
  REQUIRE(wait_for_status(cl, 120s, [&](const status_snapshot& s) {
    return s.members.at(victim).up && s.ready && s.under_replicated.empty();
  }));
  expect_reference_predictions(cl, model, "m", 200, 15);
}

TEST_CASE("a drained node's replicas move from its store to the others, the package gone",
          "[store][release]") {
  model_fixture model{split_model(68)};
  testing::temp_dir state;
  local_cluster c{under(state)};
  client cl{c.gateway(), c.admin_token()};
  REQUIRE(load_model(cl, model.path, "m") == 1);  // R = 1: the moved copies must be exact
  require_split(cl, "m");
  wait_for_figures(cl, "m", 1);
  fs::remove_all(model.path);  // the moves can only copy from shard-2's store
  const auto before = replica_bytes_by_node(cl, "m", 1);
  std::string out, err;
  REQUIRE(c.cli({"drain", "shard-2"}, &out, &err) == 0);
  const bool drained = wait_for_status(cl, 120s, [](const status_snapshot& s) {
    const auto& m = s.members.at("shard-2");
    if (!m.draining || m.replicas != 0 || !s.ready) return false;
    for (const auto& sh : s.shards.at("m@1"))
      for (const auto& [node, st] : sh.replicas)
        if (node == "shard-2" || st != "ready") return false;
    return true;
  });
  INFO("coordinator log:\n" << c.node_log("coord"));
  REQUIRE(drained);
  CHECK(c.node_log("coord").find("copying ") != std::string::npos);
  const auto after = replica_bytes_by_node(cl, "m", 1);
  CHECK(after.count("shard-2") == 0);
  // The other nodes fetched what they took over (copied in: the package is gone).
  CHECK(after.at("shard-1").first + after.at("shard-3").first >
        before.at("shard-1").first + before.at("shard-3").first);
  expect_reference_predictions(cl, model, "m", 300, 16);
  // shard-2's store lets go of what no replica there uses any more.
  REQUIRE(wait_until(cl, 30s, [&] { return count_blocks(state.path + "/nodes/shard-2") == 0; }));
}

TEST_CASE("a coordinator restarted after the package was deleted recovers from kept metadata",
          "[store][release]") {
  model_fixture model{split_model(69)};
  testing::temp_dir state;
  auto o = under(state);
  o.supervise = true;  // up restarts the killed coordinator
  // Kept metadata no version uses is deleted once older than the load timeout.
  o.limits_toml = "load_timeout_ms = 5000\n";
  local_cluster c{o};
  auto cl = std::make_unique<client>(c.gateway(), c.admin_token());
  const auto loaded_at = std::chrono::steady_clock::now();
  REQUIRE(load_model(*cl, model.path, "m") == 1);
  const auto kept = state.path + "/packages";
  REQUIRE(std::distance(fs::directory_iterator(kept), fs::directory_iterator()) == 1);
  require_split(*cl, "m");
  expect_reference_predictions(*cl, model, "m", 100, 17);
  fs::remove_all(model.path);
  const auto pid = c.node_pid("coord");
  REQUIRE(::kill(pid, SIGKILL) == 0);
  cl = reconnect_coordinator(c, pid, c.admin_token());
  REQUIRE(cl);
  // The model is back, described from the manifest and vocabulary the load kept in state_dir,
  // its rows still on the nodes: every answer exact.
  CHECK(take_status(*cl).active.at("m") == 1);
  expect_reference_predictions(*cl, model, "m", 300, 18);
  CHECK(c.node_log("coord").find("kept metadata") != std::string::npos);
  // Unloaded, its kept metadata goes (it is older than the load timeout by then).
  std::this_thread::sleep_until(loaded_at + 6s);
  auto un = cl->admin().unloadRequest();
  un.setName("m");
  un.send().wait(cl->wait_scope());
  CHECK(wait_until(*cl, 20s, [&] {
    return std::distance(fs::directory_iterator(kept), fs::directory_iterator()) == 0;
  }));
}

TEST_CASE("disk_budget refuses a load whose blocks do not fit before writing any",
          "[store][release]") {
  model_fixture big{split_model(65)};  // about 17 MB per node
  synthetic_spec tiny_spec = small_model(66);
  tiny_spec.buckets = 5000;  // 1.8 MB on one node
  model_fixture tiny{tiny_spec};
  testing::temp_dir state;
  auto o = under(state);
  o.shard_toml = "disk_budget = \"8MiB\"\n";
  local_cluster c{o};
  client cl{c.gateway(), c.admin_token()};
  auto req = cl.admin().loadRequest();
  req.initOptions().setPath(big.path);
  req.getOptions().setName("big");
  try {
    req.send().wait(cl.wait_scope());
    FAIL("a load over every node's disk_budget should be refused");
  } catch (const kj::Exception& e) {
    INFO(e.getDescription().cStr());
    CHECK(error_code(e) == "insufficient_storage");
    CHECK(std::string{e.getDescription().cStr()}.find("disk_budget 8388608") != std::string::npos);
  }
  // Nothing of it stays on any node.
  REQUIRE(wait_until(cl, 30s, [&] {
    size_t n = 0;
    for (const auto* node : {"shard-1", "shard-2", "shard-3"})
      n += count_blocks(state.path + "/nodes/" + node);
    return n == 0;
  }));
  REQUIRE(load_model(cl, tiny.path, "tiny", 1, true) == 1);
  expect_reference_predictions(cl, tiny, "tiny", 100, 12);
  auto resp = cl.admin().statusRequest().send().wait(cl.wait_scope());
  auto st = resp.getStatus();
  uint64_t stored = 0;
  for (auto m : st.getMembers()) {
    if (!m.getRoles().size() || std::string{m.getRoles()[0].cStr()} != "shard") continue;
    CHECK(m.getDiskBudgetBytes() == (uint64_t{8} << 20));
    stored += m.getStoreBytes();
  }
  CHECK(stored > 0);
  CHECK(stored < (uint64_t{8} << 20));
}
