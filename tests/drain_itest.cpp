// Draining and removing a shard node, over real processes (3 shard nodes, `tessera up` without
// restarts):
// - `tessera drain shard-2` moves its replicas to the other nodes while traffic runs, every
//   answer checked against the reference: none fails (R=1: the old copy serves until the new
//   one is ready; R=2 too). Status shows shard-2 DRAINED with 0 replicas; a new load places
//   nothing on it. Killed then, it is missed by no request; and a coordinator restarted with
//   shard-2's entry removed from the config serves exactly, its state naming shard-2 nowhere.
// - a node whose entry is removed without a drain: after the coordinator restarts, the replicas
//   recorded on it are re-placed on the members left, and answers are exact again.
#include <catch2/catch.hpp>

#include <signal.h>

#include <filesystem>
#include <set>
#include <stdexcept>
#include <thread>

#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

// Every shard of `key` ("m@1") has `r` ready replicas, none on `node`, and `node` holds no
// replica of it that is not unloaded.
bool served_without(const status_snapshot& s, const std::string& key, const std::string& node,
                    size_t r) {
  auto it = s.shards.find(key);
  if (it == s.shards.end() || it->second.empty()) return false;
  for (const auto& sh : it->second) {
    size_t ready = 0;
    for (const auto& [n, state] : sh.replicas) {
      if (n == node && state != "unloaded") return false;
      ready += state == "ready" ? 1 : 0;
    }
    if (ready != r) return false;
  }
  return true;
}

// Replicas on `node` in any state (moved ones are listed "unloaded" until a restart), of
// model version `only` ("n@1"), or of every one when it is empty.
size_t replicas_on(const status_snapshot& s, const std::string& node,
                   const std::string& only = "") {
  size_t n = 0;
  for (const auto& [key, shards] : s.shards)
    for (const auto& sh : shards)
      for (const auto& [where, state] : sh.replicas)
        n += where == node && (only.empty() || key == only) ? 1 : 0;
  return n;
}

// shard-2 is draining, reports no replica, and m@1 is served at R without it.
bool drained(const status_snapshot& s, size_t r) {
  const auto& m = s.members.at("shard-2");
  return m.up && m.draining && m.replicas == 0 && served_without(s, "m@1", "shard-2", r) &&
         s.under_replicated.empty();
}

// Removes the [[nodes]] entry named `name` from the config at `path`.
void remove_node_entry(const std::string& path, const std::string& name) {
  auto lines = lines_of(read_text(path));
  std::vector<std::string> kept, block;
  bool drop = false;
  auto flush = [&] {
    if (!drop) kept.insert(kept.end(), block.begin(), block.end());
    block.clear();
    drop = false;
  };
  for (const auto& l : lines) {
    if (l.rfind("[", 0) == 0) flush();
    if (l == "name = \"" + name + "\"" && !block.empty() && block.front() == "[[nodes]]")
      drop = true;
    block.push_back(l);
  }
  flush();
  write_lines(path, kept);
}

// Stops the coordinator (SIGTERM, as an operator's restart does), removes `node`'s entry from
// the config and starts the coordinator again; returns a client once its gateway answers.
std::unique_ptr<client> restart_coordinator_without(local_cluster& c, const std::string& node,
                                                    const std::string& token) {
  remove_node_entry(c.config_path(), node);
  REQUIRE(read_text(c.config_path()).find("\"" + node + "\"") == std::string::npos);
  REQUIRE(::kill(c.node_pid("coord"), SIGTERM) == 0);
  auto until = std::chrono::steady_clock::now() + 60s;
  for (bool started = false; !started;) {
    try {
      c.restart_node("coord");
      started = true;
    } catch (const std::runtime_error&) {  // the old process is not gone yet
      REQUIRE(std::chrono::steady_clock::now() < until);
      std::this_thread::sleep_for(100ms);  // waiting for a process to exit; no event loop
    }
  }
  while (std::chrono::steady_clock::now() < until + 30s) {
    try {
      auto cl = std::make_unique<client>(c.gateway(), token);
      take_status(*cl);
      return cl;
    } catch (const kj::Exception&) {  // not listening yet
    }
    std::this_thread::sleep_for(100ms);  // polling a starting process; no event loop
  }
  FAIL("the coordinator did not come back");
  return nullptr;
}

// The coordinator's persisted registry (state_dir is <temp dir>/state beside the config).
std::string state_file(const local_cluster& c) {
  return read_text(
      (std::filesystem::path(c.config_path()).parent_path() / "state" / "registry.json").string());
}

}  // namespace

TEST_CASE(
    "a drained node's R=1 replicas move while traffic runs and no answer fails; new loads "
    "avoid it; killed and removed from the config, the cluster still answers exactly") {
  model_fixture m{split_table_model(83)};
  model_fixture other{small_model(17)};
  local_cluster c;
  auto admin = std::make_unique<client>(c.gateway(), c.admin_token());
  auto users = std::make_unique<client>(c.gateway(), c.user_token());
  load_model(*admin, m.path, "m", 1);
  REQUIRE(tensor_row_ranges(*admin, "m", "embedder.input").size() == 3);
  REQUIRE(take_status(*admin).members.at("shard-2").replicas > 0);
  auto texts = random_texts(m.spec, 200, 41);
  const std::map<uint64_t, const reference_model*> refs{{1, m.ref.get()}};

  bool stop = false;
  traffic during;
  auto p = run_traffic(*users, "m", texts, refs, 4, stop, during);
  REQUIRE(wait_for_answers(*users, during, 50));
  std::string out, err;
  REQUIRE(c.cli({"drain", "shard-2"}, &out, &err) == 0);
  CHECK(out.find("shard-2 is draining") != std::string::npos);
  status_snapshot seen;
  REQUIRE(wait_for_status(
      *admin, 120s, [](const status_snapshot& s) { return drained(s, 1); }, &seen));
  REQUIRE(wait_for_answers(*users, during, during.answered() + 100));

  // Status names it DRAINED (text) and draining (JSON).
  REQUIRE(c.cli({"status"}, &out) == 0);
  bool shown = false;
  for (const auto& l : lines_of(out))
    shown = shown || (l.rfind("shard-2 ", 0) == 0 && l.find("DRAINED") != std::string::npos);
  CHECK(shown);
  REQUIRE(c.cli({"status", "--json"}, &out) == 0);
  CHECK(out.find("\"draining\":true") != std::string::npos);

  // A new load goes to the other members, although shard-2 is now the emptiest.
  load_model(*admin, other.path, "n", 1);
  auto after = take_status(*admin);
  CHECK(replicas_on(after, "shard-2", "n@1") == 0);
  CHECK(after.members.at("shard-2").replicas == 0);

  stop = true;
  p.wait(users->wait_scope());
  INFO(during.first_error());
  CHECK(during.failed == 0);

  // Stopped by pid: nothing was left on it, so no request notices.
  REQUIRE(::kill(c.node_pid("shard-2"), SIGKILL) == 0);
  REQUIRE(wait_for_status(*admin, 60s,
                          [](const status_snapshot& s) { return !s.members.at("shard-2").up; }));
  auto without = traffic_n(*users, "m", texts, refs, 4, 200);
  INFO(without.first_error());
  CHECK(without.failed == 0);
  CHECK(without.ok == 200);

  // Its entry removed and the coordinator restarted: the same answers, and nothing refers to
  // shard-2 any more.
  admin.reset();
  users.reset();
  admin = restart_coordinator_without(c, "shard-2", c.admin_token());
  REQUIRE(wait_for_status(
      *admin, 90s, [](const status_snapshot& s) { return s.ready; }, &seen));
  CHECK(seen.members.count("shard-2") == 0);
  CHECK(replicas_on(seen, "shard-2") == 0);
  users = std::make_unique<client>(c.gateway(), c.user_token());
  auto restarted = traffic_n(*users, "m", texts, refs, 4, 200);
  INFO(restarted.first_error());
  CHECK(restarted.failed == 0);
  CHECK(restarted.ok == 200);
  CHECK(state_file(c).find("shard-2") == std::string::npos);
}

TEST_CASE(
    "a drain at R=2 leaves every shard with 2 ready replicas on the other nodes and no "
    "failed answer; undrain keeps them there; an unknown node is refused") {
  model_fixture m{split_table_model(83)};
  local_cluster c;
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  load_model(admin, m.path, "m", 2);
  REQUIRE(take_status(admin).members.at("shard-2").replicas > 0);
  auto texts = random_texts(m.spec, 200, 43);
  const std::map<uint64_t, const reference_model*> refs{{1, m.ref.get()}};
  bool stop = false;
  traffic during;
  auto p = run_traffic(users, "m", texts, refs, 4, stop, during);
  REQUIRE(wait_for_answers(users, during, 50));
  std::string out, err;
  REQUIRE(c.cli({"drain", "shard-2"}, &out, &err) == 0);
  REQUIRE(wait_for_status(admin, 120s, [](const status_snapshot& s) { return drained(s, 2); }));
  REQUIRE(wait_for_answers(users, during, during.answered() + 100));
  stop = true;
  p.wait(users.wait_scope());
  INFO(during.first_error());
  CHECK(during.failed == 0);

  REQUIRE(c.cli({"undrain", "shard-2"}, &out, &err) == 0);
  auto s = take_status(admin);
  CHECK_FALSE(s.members.at("shard-2").draining);
  CHECK(s.members.at("shard-2").replicas == 0);  // moved replicas stay where they are
  CHECK(served_without(s, "m@1", "shard-2", 2));

  CHECK(c.cli({"drain", "shard-9"}, &out, &err) != 0);
  CHECK(err.find("tessera.invalid_argument") != std::string::npos);
  CHECK(err.find("shard-9") != std::string::npos);
}

TEST_CASE(
    "a node removed from the config without a drain: after the coordinator restarts, its "
    "replicas are re-placed on the members left and answers are exact") {
  model_fixture m{split_table_model(83)};
  local_cluster c;
  auto admin = std::make_unique<client>(c.gateway(), c.admin_token());
  load_model(*admin, m.path, "m", 1);
  REQUIRE(take_status(*admin).members.at("shard-2").replicas > 0);
  REQUIRE(::kill(c.node_pid("shard-2"), SIGKILL) == 0);
  admin.reset();
  admin = restart_coordinator_without(c, "shard-2", c.admin_token());
  status_snapshot seen;
  REQUIRE(wait_for_status(
      *admin, 120s,
      [](const status_snapshot& s) {
        return s.ready && served_without(s, "m@1", "shard-2", 1) && s.under_replicated.empty();
      },
      &seen));
  CHECK(seen.members.count("shard-2") == 0);
  client users{c.gateway(), c.user_token()};
  auto texts = random_texts(m.spec, 200, 47);
  auto t = traffic_n(users, "m", texts, {{1, m.ref.get()}}, 4, 200);
  INFO(t.first_error());
  CHECK(t.failed == 0);
  CHECK(t.ok == 200);
  // The moves were persisted: the state names the new nodes only.
  REQUIRE(wait_for_status(*admin, 60s, [&](const status_snapshot&) {
    return state_file(c).find("shard-2") == std::string::npos;
  }));
}
