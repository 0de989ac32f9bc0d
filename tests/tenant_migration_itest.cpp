// A registry written before tenants were a type (format 1, where tenant T's model N was named
// "T/N") is migrated when a coordinator starts on it: each tenant gets back its own model of
// a shared name, its answers compared with that model's reference, and the next write is
// format 2 with the tenant in a field of its own.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tenant_config.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

// `text` (a format-2 registry) as a format-1 coordinator wrote it: "T/N" names, the retired
// names as one object.
std::string as_format_1(const std::string& text) {
  auto root = json::parse(text);
  REQUIRE(root.at("format") == 2);
  root["format"] = 1;
  for (auto& m : root.at("models")) {
    const auto tenant = m.at("tenant").get<std::string>();
    if (tenant != "default") m["name"] = tenant + "/" + m.at("name").get<std::string>();
    m.erase("tenant");
  }
  json retired = json::object();
  for (const auto& r : root.at("retired")) {
    const auto tenant = r.at("tenant").get<std::string>();
    retired[(tenant == "default" ? "" : tenant + "/") + r.at("name").get<std::string>()] =
        r.at("next_version");
  }
  root["retired"] = retired;
  return root.dump(1);
}

}  // namespace

TEST_CASE("a format-1 registry comes back with each tenant's own model of one name") {
  model_fixture mine{small_model(21)}, theirs{small_model(22)};
  temp_dir state;
  cluster_options o;
  o.shard_nodes = 2;
  o.state_dir = state.path();
  o.extra_toml = token_entry("acme-admin", "acme-admin", true, "acme") +
                 token_entry("acme-user", "acme-user", false, "acme") +
                 tenant_entry("acme", theirs.dir.path());
  local_cluster c{o};
  {
    client ops{c.gateway(), c.admin_token()};
    REQUIRE(load_model(ops, mine.path, "m", 1, true) == 1);
    client acme{c.gateway(), "acme-admin"};
    REQUIRE(load_model(acme, theirs.path, "m", 1, true) == 1);
    REQUIRE(load_model(acme, theirs.path, "gone", 1, true) == 1);
    auto r = acme.admin().unloadRequest();
    r.setName("gone");
    r.setVersion(0);
    r.send().wait(acme.wait_scope());
  }
  const auto path = state / "registry.json";
  const auto coord = c.node_pid("coord");
  REQUIRE(::kill(coord, SIGTERM) == 0);
  // The old process must be gone before its file is rewritten (it writes on the way out too).
  for (auto until = std::chrono::steady_clock::now() + 60s; ::kill(coord, 0) == 0;) {
    REQUIRE(std::chrono::steady_clock::now() < until);
    std::this_thread::sleep_for(100ms);  // waiting for a process to exit; no event loop
  }
  const auto old = as_format_1(read_text(path));
  // The premise: the file names acme's model the old way, and both models "m".
  REQUIRE(old.find("\"acme/m\"") != std::string::npos);
  REQUIRE(old.find("\"acme/gone\"") != std::string::npos);
  REQUIRE(old.find("\"name\": \"m\"") != std::string::npos);
  std::ofstream(path) << old;
  c.restart_node("coord");
  auto ops = reconnect_coordinator(c, coord, c.admin_token());
  // What the restarted coordinator wrote (stdout, then stderr where its log goes).
  const auto log =
      c.node_log("coord.restarted") +
      read_text(std::filesystem::path(c.config_path()).parent_path() / "coord.restarted.log.err");
  INFO(log.substr(log.size() > 2000 ? log.size() - 2000 : 0));
  CHECK(log.find("recovered 2 model versions") != std::string::npos);

  client users{c.gateway(), c.user_token()};
  expect_reference_predictions(users, mine, "m", 20, 5);
  client acme_user{c.gateway(), "acme-user"};
  expect_reference_predictions(acme_user, theirs, "m", 20, 5);
  // acme's retired name keeps its numbers: a new "gone" is v2, not a second v1.
  client acme{c.gateway(), "acme-admin"};
  CHECK(load_model(acme, theirs.path, "gone", 1, true) == 2);
  // Written again in format 2, the tenant in its own field.
  auto now = json::parse(read_text(path));
  CHECK(now.at("format") == 2);
  bool acme_m = false;
  for (const auto& m : now.at("models"))
    acme_m = acme_m || (m.at("tenant") == "acme" && m.at("name") == "m");
  CHECK(acme_m);
  CHECK(read_text(path).find("acme/") == std::string::npos);
}
