// The `tessera` CLI against a real local cluster: what a user of the command line sees.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/support/model_fixture.hpp"

using namespace tessera;
using namespace tessera::test;

namespace {

// The first label of a text-format output line ("label<TAB>prob...").
std::string first_label(const std::string& line) {
  return line.substr(0, line.find('\t'));
}

}  // namespace

TEST_CASE(
    "predict on a file with over-long lines answers every other line in order, names the "
    "bad lines' numbers and exits 1",
    "[cli]") {
  synthetic_spec spec;
  spec.vocab = 2000;
  spec.buckets = 50000;
  model_fixture m{spec};
  local_cluster c;  // limits.max_text_bytes is the default 1 MiB
  std::string out, err;
  REQUIRE(c.cli({"load", m.path, "--name", "m"}, &out, &err) == 0);

  // 40 good lines; lines 3 and 19 (1-based) are over the server's limit.
  auto lines = random_texts(spec, 40, 7);
  std::string huge;
  while (huge.size() <= (1u << 20)) huge += lines[huge.size() % lines.size()] + " ";
  const std::vector<size_t> bad = {2, 18};  // 0-based
  std::vector<std::string> good_only;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i == bad[0] || i == bad[1])
      lines[i] = huge;
    else
      good_only.push_back(lines[i]);
  }
  temp_dir d;
  write_lines(d / "mixed.txt", lines);
  write_lines(d / "good.txt", good_only);

  // The good lines alone: the answers the mixed file must reproduce.
  REQUIRE(c.cli({"predict", "--model", "m", "--k", "3", d / "good.txt"}, &out, &err) == 0);
  const auto clean = lines_of(out);
  REQUIRE(clean.size() == good_only.size());
  for (size_t i = 0; i < good_only.size(); ++i) {
    // And they are right: the reference's best label (when it is not a near tie).
    auto top = m.ref->top_k(m.ref->probabilities(m.ref->pool_text(good_only[i])), 2);
    if (top[0].second - top[1].second > 1e-5f)
      CHECK(first_label(clean[i]) == m.ref->labels()[top[0].first]);
  }

  // --batch 8 puts each bad line in its own batch with good ones; the default puts all 40 in
  // one call, so both bad lines share it.
  for (const std::string batch : {"8", "256"}) {
    INFO("--batch " << batch);
    int rc = c.cli({"predict", "--model", "m", "--k", "3", "--batch", batch, d / "mixed.txt"}, &out,
                   &err);
    INFO("stderr: " << err.substr(0, 2000));
    CHECK(rc == 1);
    auto got = lines_of(out);
    REQUIRE(got.size() == lines.size());  // one output line per input line, in order
    size_t g = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      INFO("line " << i + 1);
      if (i == bad[0] || i == bad[1]) {
        CHECK(got[i].empty());
      } else {
        CHECK(got[i] == clean[g]);
        ++g;
      }
    }
    CHECK_THAT(err, Catch::Contains("tessera: line 3: tessera.limit_exceeded: text of"));
    CHECK_THAT(err, Catch::Contains("tessera: line 19: tessera.limit_exceeded: text of"));
    CHECK_THAT(err, !Catch::Contains(": input "));  // no position inside a call
    CHECK_THAT(err, Catch::Contains("2 of 40 input lines failed"));
  }
}

TEST_CASE(
    "a token from `tessera token create` logs in once its table is in the config, and "
    "`status --watch` prints the status again and again",
    "[cli]") {
  std::string out, err;
  REQUIRE(run_capture({bin_path("tessera"), "token", "create", "--name", "scripted", "--admin",
                       "--tenant", "scripts"},
                      &out, &err) == 0);
  const std::string secret = out.substr(0, out.find('\n'));
  const std::string table = out.substr(out.find('\n') + 1);
  REQUIRE(secret.rfind("tsr_", 0) == 0);
  REQUIRE(table.find(secret) == std::string::npos);
  synthetic_spec spec;
  spec.vocab = 2000;
  spec.buckets = 50000;
  model_fixture m{spec};
  cluster_options o;
  o.shard_nodes = 1;
  // A tenant's admins load from its package_root only (docs/SECURITY.md).
  o.extra_toml =
      table + "[[tenants]]\nname = \"scripts\"\npackage_root = \"" + m.dir.path() + "\"\n";
  local_cluster c{o};
  // The CLI as a script would run it, with a token of its choice.
  auto as = [&](const std::string& token, std::vector<std::string> args) {
    args.insert(args.begin(), {bin_path("tessera"), "--connect", c.gateway(), "--token", token});
    return run_capture(args, &out, &err);
  };
  // The new token works (and is an admin of its own tenant); one character off does not.
  CHECK(as(secret, {"load", m.path, "--name", "mine"}) == 0);
  CHECK(as(secret, {"models"}) == 0);
  CHECK_THAT(out, Catch::Contains("mine"));
  CHECK(as(secret + "x", {"models"}) == 1);
  CHECK_THAT(err, Catch::Contains("tessera.unauthenticated"));
  // Its model lives in its tenant: the default tenant's user does not see it.
  CHECK(as(c.user_token(), {"models"}) == 0);
  CHECK_THAT(out, !Catch::Contains("mine"));

  REQUIRE(c.cli({"status", "--json", "--watch", "0.2", "--count", "3"}, &out, &err) == 0);
  auto prints = lines_of(out);
  REQUIRE(prints.size() == 3);  // not a terminal: one JSON object per line, no screen clearing
  for (const auto& p : prints) {
    INFO(p.substr(0, 200));
    CHECK(p.rfind("{", 0) == 0);
    CHECK_THAT(p, Catch::Contains("\"coordinator\":{"));
    CHECK_THAT(p, Catch::Contains("\"rss_bytes\":"));
    // Each member's process overhead is measured (RSS beyond its rows), and with nothing
    // loading there is no rate and no time left.
    auto j = nlohmann::json::parse(p);
    REQUIRE(j.at("members").size() == 1);
    for (const auto& mem : j.at("members")) {
      CHECK(mem.at("overhead_bytes").get<uint64_t>() > 0);
      CHECK(mem.at("overhead_bytes").get<uint64_t>() <= mem.at("rss_bytes").get<uint64_t>());
      CHECK(mem.at("used_bytes").get<uint64_t>() > 0);
      CHECK(mem.at("loading_bytes_total").get<uint64_t>() == 0);
      CHECK(mem.at("loading_bytes_per_s").get<uint64_t>() == 0);
      CHECK(mem.at("loading_ms_left").get<int64_t>() == -1);
    }
  }
}

TEST_CASE(
    "a connection whose coordinator dies during a call is described as lost, without the "
    "TLS hint, over plaintext and over TLS",
    "[cli]") {
  for (bool tls : {false, true}) {
    INFO("gateway TLS " << tls);
    cluster_options o;
    o.shard_nodes = 1;
    o.gateway_tls = tls;
    local_cluster c{o};
    cli::client_options co;
    co.address = c.gateway();
    co.token = c.user_token();
    co.timeout_s = 20;
    co.tls = c.client_tls();
    cli::connection conn(co);
    conn.wait(conn.session().listModelsRequest().send());  // the gateway has answered
    // Stopped, the coordinator cannot answer the call; killed, its sockets close under it.
    const pid_t coord = c.node_pid("coord");
    REQUIRE(::kill(coord, SIGSTOP) == 0);
    auto call = conn.session().listModelsRequest().send();
    conn.wait_scope().poll();  // the call is written
    REQUIRE(::kill(coord, SIGKILL) == 0);
    std::string failure;
    try {
      conn.wait(kj::mv(call));
    } catch (const cli::command_error& e) {
      failure = e.what();
    }
    INFO(failure);
    CHECK(failure.rfind("tessera.unavailable: connection to " + c.gateway() + " failed", 0) == 0);
    CHECK_THAT(failure, Catch::Contains("the coordinator may have stopped"));
    CHECK_THAT(failure, !Catch::Contains("--tls-ca") && !Catch::Contains("handshake"));
  }
}
