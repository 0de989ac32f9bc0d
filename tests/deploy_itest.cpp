// The deployment files at work on four hosts. Each host is a network namespace of a netns_lab
// and runs one node of the shipped four-host config (config/multihost.toml, its 10.0.0.x
// addresses replaced by the lab's), started as deploy/systemd/tessera-node@.service says: its
// ExecStart with `%i` and the variables of deploy/systemd/tessera.env, in its
// WorkingDirectory, with that environment. The install paths are moved per host
// (/etc/tessera and /var/lib/tessera under the host's directory, /usr/local/bin to the build's
// bin dir); systemd itself (User=, sandboxing, restarts) is not imitated. Certificates come
// from `tessera certs init` in an "operator's" directory, and each host gets only its own
// files, as docs/DEPLOY.md says. Needs root, `ip netns` and promtool; without them the program
// exits 77 (tests/support/skip.hpp). No timing assertions: conditions are awaited with limits.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "node/token_hash.hpp"
#include "tests/support/deploy_files.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/lifecycle_support.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/skip.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const program_precondition needs_lab{[] {
  auto why = netns_unavailable();
  if (!why.empty()) return "network namespaces unavailable: " + why;
  return promtool_missing();
}};

// multihost.toml's nodes in its order; node i (0-based) is on 10.0.0.<i+1>, lab host i + 2.
const std::vector<std::string> node_names{"coord", "shard-a", "shard-b", "shard-c"};
constexpr uint16_t gateway_port = 7300;  // multihost.toml, the same on every host
constexpr uint16_t http_port = 7500;
const std::string scrape_token = "deploy-itest-scrape";
const std::string scrape_header = "Authorization: Bearer " + scrape_token + "\r\n";

synthetic_spec model_spec(uint64_t seed) {
  synthetic_spec s;  // a 102,000-row table: over 16 MiB, so it is split across nodes
  s.vocab = 2000;
  s.buckets = 100000;
  s.seed = seed;
  return s;
}

// One deployment of multihost.toml over a four-host lab; the constructor returns once the
// cluster is ready, else the test fails with every node's output. The lab, declared after the
// directory, is destroyed first: it stops every node by pid (also after a failed REQUIRE or
// an exception in the constructor) before the files go.
class deployment {
 public:
  deployment() {
    auto config = read_text(source_path("config/multihost.toml"));
    REQUIRE(!config.empty());
    for (size_t i = 0; i < node_names.size(); ++i) {
      host_of_[node_names[i]] = i + 2;
      config = rewrite_paths(config, {{"10.0.0." + std::to_string(i + 1), lab_.address(i + 2)}});
    }
    // The shipped token hashes are placeholders; the operator adds a real one.
    config += "\n[[tokens]]\nhash = \"" + to_string(hash_token(token_)) +
              "\"\nname = \"deploy-itest\"\nadmin = true\nmodels = [\"*\"]\n";
    // Prometheus scrapes each host from elsewhere: /metrics public, with a bearer token.
    config +=
        "\n[http]\npublic = true\ntoken_hash = \"" + to_string(hash_token(scrape_token)) + "\"\n";
    fs::create_directories(ops("tls"));
    std::ofstream(ops("cluster.toml")) << config;
    make_certs();
    for (const auto& n : node_names) install(n, config);
    for (const auto& n : node_names) start(n);
    await_ready("after starting");
  }

  std::string gateway() const { return address("coord") + ":" + std::to_string(gateway_port); }
  const std::string& token() const { return token_; }
  // What the operator's clients use: `certs init`'s CA and client certificate.
  cli::tls_client_options client_tls() const {
    return {ops("tls/ca.pem"), ops("tls/client.pem"), ops("tls/client.key")};
  }
  std::string address(const std::string& node) const { return lab_.address(host_of_.at(node)); }
  // A file under the node's install root, e.g. "etc/tessera/tls/shard-a.pem".
  std::string host_file(const std::string& node, const std::string& path) const {
    return dir_ / ("hosts/" + node + "/" + path);
  }

  // Runs the CLI against the gateway as an operator does; returns its exit code.
  int cli(std::vector<std::string> args, std::string* out, std::string* err) const {
    auto tls = client_tls();
    std::vector<std::string> argv{bin_path("tessera"), "--connect", gateway(), "--token", token_};
    argv.insert(argv.end(), {"--tls-ca", tls.ca, "--tls-cert", tls.cert, "--tls-key", tls.key});
    argv.insert(argv.end(), args.begin(), args.end());
    return run_capture(argv, out, err);
  }

  // Replaces certificate pairs (stems such as "shard-b", "gateway") as DEPLOY.md tells: on the
  // operator's machine, removes them and runs `certs init` again, which makes what is missing
  // signed by the same CA; then copies `node`'s files to its host. CHECKs that each changed.
  void replace_pairs(const std::string& node, const std::vector<std::string>& stems) {
    std::map<std::string, std::string> old;
    for (const auto& st : stems) {
      old[st] = read_text(host_file(node, "etc/tessera/tls/" + st + ".pem"));
      fs::remove(ops("tls/" + st + ".pem"));
      fs::remove(ops("tls/" + st + ".key"));
    }
    make_certs();
    copy_tls(node);
    for (const auto& st : stems) {
      INFO(st);
      CHECK(read_text(host_file(node, "etc/tessera/tls/" + st + ".pem")) != old[st]);
    }
  }

  // Starts the node as its systemd unit instance would start (see the file comment).
  void start(const std::string& node) {
    auto unit = read_service_unit(source_path("deploy/systemd/tessera-node@.service"));
    auto moves = moves_for(node);
    auto env = read_env_file(rewrite_paths(unit.environment_file, moves));
    std::vector<std::string> argv{"/usr/bin/env", "-C",
                                  rewrite_paths(unit.working_directory, moves)};
    for (const auto& [k, v] : env) argv.push_back(k + "=" + v);
    for (auto& a : expand_exec_start(rewrite_paths(unit.exec_start, moves), node, env))
      argv.push_back(a);
    auto log = dir_ / (node + "." + std::to_string(++starts_) + ".log");
    logs_.push_back(log);
    pids_[node] = lab_.spawn(host_of_.at(node), argv, log);
  }

  // `systemctl stop`: SIGTERM, up to the unit's TimeoutStopSec=10s, then SIGKILL.
  void stop(const std::string& node) { lab_.stop(pids_.at(node), 10s); }

  // A client of the gateway, as the operator's (TLS with `certs init`'s client files).
  client connect() const { return client{gateway(), token_, client_tls()}; }

  // Fails the test with every node's output unless the cluster is ready within 60 s.
  void await_ready(const std::string& when) const {
    if (!wait_cluster_ready(gateway(), token_, 60s, client_tls()))
      FAIL("not ready within 60 s " << when << "\n" << logs());
  }

  // Every node's output so far, for failure messages.
  std::string logs() const {
    std::string all;
    for (const auto& l : logs_) all += "--- " + l + "\n" + read_text(l + ".err") + read_text(l);
    return all;
  }

 private:
  // Copies a node's own TLS files from the operator's machine to its host.
  void copy_tls(const std::string& node) {
    std::vector<std::string> files{"ca.pem", node + ".pem", node + ".key"};
    if (node == "coord")  // the gateway's, as [gateway] in multihost.toml names them
      for (std::string f : {"gateway.pem", "gateway.key", "client-ca.pem"}) files.push_back(f);
    for (const auto& f : files)
      fs::copy_file(ops("tls/" + f), host_file(node, "etc/tessera/tls/" + f),
                    fs::copy_options::overwrite_existing);
  }

  std::string ops(const std::string& path) const { return dir_ / ("ops/" + path); }

  void make_certs() {
    std::string out, err;
    int rc = run_capture({bin_path("tessera"), "certs", "init", "--config", ops("cluster.toml"),
                          "--dir", ops("tls")},
                         &out, &err);
    INFO(out << err);
    REQUIRE(rc == 0);
  }

  std::vector<std::pair<std::string, std::string>> moves_for(const std::string& node) const {
    auto bin = fs::absolute(fs::path(bin_path("tessera-node")).parent_path()).string();
    return {{"/etc/tessera", host_file(node, "etc/tessera")},
            {"/var/lib/tessera", host_file(node, "var/lib/tessera")},
            {"/usr/local/bin", bin}};
  }

  // The install steps of DEPLOY.md's "systemd" section, under the host's own root.
  void install(const std::string& node, const std::string& config) {
    auto moves = moves_for(node);
    fs::create_directories(host_file(node, "etc/tessera/tls"));
    fs::create_directories(host_file(node, "var/lib/tessera"));
    std::ofstream(host_file(node, "etc/tessera/cluster.toml")) << rewrite_paths(config, moves);
    std::ofstream(host_file(node, "etc/tessera/tessera.env"))
        << rewrite_paths(read_text(source_path("deploy/systemd/tessera.env")), moves);
    copy_tls(node);
  }

  temp_dir dir_;
  netns_lab lab_{node_names.size()};
  std::string token_ = "deploy-itest-admin";
  std::map<std::string, size_t> host_of_;
  std::map<std::string, pid_t> pids_;
  std::vector<std::string> logs_;
  size_t starts_ = 0;
};

// The nodes holding a replica of the embedding table of model@version.
std::set<std::string> table_nodes(const status_snapshot& s, const std::string& key) {
  std::set<std::string> nodes;
  auto it = s.shards.find(key);
  if (it == s.shards.end()) return nodes;
  for (const auto& shard : it->second)
    if (shard.tensor == "embedder.input")
      for (const auto& [node, state] : shard.replicas) nodes.insert(node);
  return nodes;
}

// Loads the model with the CLI as an operator would, and checks the premise of the test: the
// table is split, one row range per host.
void load_split(deployment& d, const model_fixture& model, client& cl) {
  std::string out, err;
  int rc = d.cli({"load", model.path, "--name", "m"}, &out, &err);
  INFO(out << err << d.logs());
  REQUIRE(rc == 0);
  // With one replica per shard, four holders mean four row ranges or more.
  REQUIRE(table_nodes(take_status(cl), "m@1") ==
          std::set<std::string>(node_names.begin(), node_names.end()));
}

}  // namespace

TEST_CASE(
    "four hosts started from the systemd unit and its environment file serve a sharded model "
    "exactly, with every probe and metric in order",
    "[netns][deploy]") {
  model_fixture model{model_spec(51)};
  deployment d;
  auto cl = d.connect();
  for (const auto& [name, m] : take_status(cl).members) {
    INFO(name);
    CHECK(m.up);
  }
  load_split(d, model, cl);
  expect_reference_predictions(cl, model, "m", 300, 11);
  for (const auto& [name, m] : take_status(cl).members)  // DEPLOY.md's headroom figure
    WARN(name << ": replicas " << m.used / 1048576.0 << " MiB, RSS " << m.rss / 1048576.0
              << " MiB");

  // Every host's HTTP port, on its own address.
  for (const auto& node : node_names) {
    INFO(node);
    CHECK(wait_until(
        cl, 60s, [&] { return http_get(d.address(node), http_port, "/readyz").status == 200; }));
    CHECK(http_get(d.address(node), http_port, "/healthz").status == 200);
    CHECK(http_get(d.address(node), http_port, "/metrics").status == 401);
    auto metrics = http_get(d.address(node), http_port, "/metrics", "GET", 10s, scrape_header);
    REQUIRE(metrics.status == 200);
    std::string complaints;
    int rc = promtool_check(metrics.body, &complaints);
    INFO(complaints);
    CHECK(rc == 0);
    CHECK(metric_value(metrics.body, "tessera_node_replica_bytes") > 0);
  }
  auto coord = http_get(d.address("coord"), http_port, "/metrics", "GET", 10s, scrape_header).body;
  CHECK(metric_value(coord, "tessera_members_up") == 4);
  CHECK(metric_value(coord, "tessera_serving") == 1);
  CHECK(metric_value(coord, "tessera_model_active_version{model=\"m\"}") == 1);
}

TEST_CASE(
    "a node certificate and the gateway's, replaced under the same CA with one node restarted "
    "at a time, keep the cluster serving the same version exactly",
    "[netns][deploy]") {
  model_fixture model{model_spec(52)};
  deployment d;
  {
    auto cl = d.connect();
    load_split(d, model, cl);
  }

  // A shard host: its node stops (the coordinator sees it down), its new pair is put in place,
  // and the node, started again, rejoins and loads its rows again.
  {
    auto cl = d.connect();
    d.stop("shard-b");
    REQUIRE(wait_for_status(cl, 60s,
                            [](const status_snapshot& s) { return !s.members.at("shard-b").up; }));
  }
  d.replace_pairs("shard-b", {"shard-b"});
  d.start("shard-b");
  d.await_ready("after restarting shard-b");
  {
    auto cl = d.connect();
    auto s = take_status(cl);
    CHECK(s.members["shard-b"].used > 0);
    CHECK(table_nodes(s, "m@1").count("shard-b") == 1);
    expect_reference_predictions(cl, model, "m", 300, 12);
  }

  // The coordinator's host: stopped, its node and gateway pairs replaced, started again. The
  // registry in its state_dir brings the same version back; clients keep the same ca.pem.
  d.stop("coord");
  d.replace_pairs("coord", {"coord", "gateway"});
  d.start("coord");
  d.await_ready("after restarting coord");
  auto cl = d.connect();
  auto s = take_status(cl);
  CHECK(s.active["m"] == 1);
  CHECK(s.state.size() == 1);  // one version: nothing was loaded again as a new one
  CHECK(table_nodes(s, "m@1") == std::set<std::string>(node_names.begin(), node_names.end()));
  expect_reference_predictions(cl, model, "m", 300, 13);
}
