// A cluster over several "hosts": each shard node runs in its own network namespace, joined to
// the coordinator (in the root namespace, so this process can reach its gateway) through a
// bridge in a switch namespace. The links are real kernel links, so a test can partition a
// host by pulling its cable at the switch, which a killed process cannot imitate: the peer
// does not close its connections, it just falls silent. Needs root, `ip` and namespaces (CI
// has them); without them the program exits 77, which ctest reports as skipped and CI fails.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>

#include "node/token_hash.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/lifecycle_support.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/skip.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

// The product defaults (config/local.toml): a host silent for 1 s is down, well within a
// request's 5 s deadline.
constexpr uint32_t default_request_timeout_ms = 5000;
constexpr uint32_t heartbeat_ms = 200;
constexpr uint32_t connection_timeout_ms = 1000;
constexpr uint16_t shard_port = 7400;  // the same on every host, as in multihost.toml
const std::vector<size_t> shard_hosts{2, 3, 4};

double ms_since(steady::time_point t0) {
  return std::chrono::duration<double, std::milli>(steady::now() - t0).count();
}

std::string shard_name(size_t h) {
  return "shard-" + std::to_string(h);
}

synthetic_spec model_spec(uint64_t seed) {
  synthetic_spec s;
  s.vocab = 2000;
  s.buckets = 100000;
  s.seed = seed;
  return s;
}

// The coordinator (gateway and CAF) in the root namespace on the lab's root address, one shard
// node in each of hosts 2..4. Members are destroyed in reverse: the lab stops every node and
// deletes its namespaces before the directory with the config and logs goes.
struct netns_cluster {
  temp_dir dir;
  netns_lab lab{shard_hosts.size()};
  std::string gateway;
  std::string admin_token = "itest-admin";
  uint16_t http_port = 0;  // the coordinator's (0 = none)

  // `request_timeout_ms` is the [limits] deadline of one client request. `http_table`: when
  // not empty, the coordinator serves HTTP on http_port and this is the config's [http] table
  // ("@DIR@" in it stands for the cluster's directory).
  explicit netns_cluster(uint32_t request_timeout_ms = default_request_timeout_ms,
                         std::string http_table = "") {
    for (auto at = http_table.find("@DIR@"); at != std::string::npos; at = http_table.find("@DIR@"))
      http_table.replace(at, 5, dir.path());
    auto coord_port = lab.free_root_port();
    auto gateway_port = lab.free_root_port();
    if (!http_table.empty()) http_port = lab.free_root_port();
    std::ostringstream toml;
    toml << "name = \"netns-itest\"\nlog_level = \"info\"\nstate_dir = \"" << dir / "state"
         << "\"\n"
         << "heartbeat_ms = " << heartbeat_ms
         << "\nconnection_timeout_ms = " << connection_timeout_ms << "\n"
         << "[limits]\nrequest_timeout_ms = " << request_timeout_ms << "\n"
         << "[tls]\ndir = \"" << dir / "tls"
         << "\"\n"
         // The gateway is on the lab's private network, not loopback: plaintext must be said.
         << "[gateway]\ninsecure = true\n"
         << http_table << "[[nodes]]\nname = \"coord\"\nhost = \"" << lab.root_address()
         << "\"\nport = " << coord_port
         << "\nroles = [\"coordinator\"]\ngateway_port = " << gateway_port << "\n";
    if (http_port != 0) toml << "http_port = " << http_port << "\n";
    for (auto h : shard_hosts)
      toml << "[[nodes]]\nname = \"" << shard_name(h) << "\"\nhost = \"" << lab.address(h)
           << "\"\nport = " << shard_port << "\nroles = [\"shard\"]\nmemory_budget = \"1GiB\"\n";
    toml << "[[tokens]]\nhash = \"" << to_string(hash_token(admin_token))
         << "\"\nname = \"itest-admin\"\nadmin = true\nmodels = [\"*\"]\n";
    auto config = dir / "cluster.toml";
    std::ofstream(config) << toml.str();
    gateway = lab.root_address() + ":" + std::to_string(gateway_port);
    std::string certs_out, certs_err;  // mutual TLS between the nodes, as in production
    int certs_rc = run_capture({bin_path("tessera"), "certs", "init", "--config", config},
                               &certs_out, &certs_err);
    INFO(certs_err);
    REQUIRE(certs_rc == 0);
    for (auto h : shard_hosts)
      lab.spawn(h, {bin_path("tessera-node"), "--config", config, "--name", shard_name(h)},
                dir / (shard_name(h) + ".log"));
    lab.spawn(1, {bin_path("tessera-node"), "--config", config, "--name", "coord"},
              dir / "coord.log");
  }

  // Every node's stderr (where spdlog writes), for failure messages.
  std::string logs() const {
    std::string all;
    for (std::string n : {"coord", "shard-2", "shard-3", "shard-4"})
      all += "--- " + n + "\n" + read_text(dir / (n + ".log.err")) + read_text(dir / (n + ".log"));
    return all;
  }
};

// Polls status until `pred(snapshot)` holds, for at most `limit`; returns the time it took in
// ms, or -1 if it never held.
template <class Pred>
double wait_status(client& cl, std::chrono::milliseconds limit, Pred pred) {
  auto t0 = steady::now();
  while (steady::now() - t0 < limit) {
    if (pred(take_status(cl))) return ms_since(t0);
    cl.timer().afterDelay(100 * kj::MILLISECONDS).wait(cl.wait_scope());
  }
  return -1;
}

// The nodes holding a replica of any shard of model `name`'s active version.
std::set<std::string> nodes_of(client& cl, const std::string& name) {
  auto res = cl.admin().statusRequest().send().wait(cl.wait_scope());
  std::set<std::string> out;
  for (auto m : res.getStatus().getModels()) {
    if (std::string{m.getName().cStr()} != name) continue;
    for (auto v : m.getVersions())
      for (auto s : v.getShards())
        for (auto r : s.getReplicas()) out.insert(r.getNode());
  }
  return out;
}

// The embedding-table shards (by row range) and the node of each replica.
std::vector<std::pair<std::string, std::string>> table_replicas(client& cl,
                                                                const std::string& name) {
  auto res = cl.admin().statusRequest().send().wait(cl.wait_scope());
  std::vector<std::pair<std::string, std::string>> out;
  for (auto m : res.getStatus().getModels()) {
    if (std::string{m.getName().cStr()} != name) continue;
    for (auto v : m.getVersions())
      for (auto s : v.getShards())
        if (std::string{s.getTensor().cStr()} == "embedder.input")
          for (auto r : s.getReplicas())
            out.emplace_back(std::to_string(s.getRowBegin()) + ":" + std::to_string(s.getRowEnd()),
                             r.getNode());
  }
  return out;
}

// Predicts and embeds every text (in batches) and checks each answer against the reference.
void check_serving(client& cl, const model_fixture& model, const std::string& name,
                   const std::vector<std::string>& texts) {
  const size_t batch = 50;
  for (size_t start = 0; start < texts.size(); start += batch) {
    auto n = std::min(batch, texts.size() - start);
    auto p = cl.session().predictRequest();
    p.initModel().setName(name);
    p.setTopK(3);
    auto pin = p.initInputs(n);
    auto e = cl.session().embedRequest();
    e.initModel().setName(name);
    auto ein = e.initInputs(n);
    for (size_t i = 0; i < n; ++i) {
      pin[i].setText(texts[start + i]);
      ein[i].setText(texts[start + i]);
    }
    auto pres = p.send();
    auto eres = e.send();
    auto predicted = pres.wait(cl.wait_scope());
    auto embedded = eres.wait(cl.wait_scope());
    REQUIRE(predicted.getResults().size() == n);
    REQUIRE(embedded.getVectors().size() == n);
    for (size_t i = 0; i < n; ++i) {
      auto pooled = model.pool_text(texts[start + i]);
      check_prediction(*model.ref, pooled, predicted.getResults()[i], 3);
      check_embedding(pooled, embedded.getVectors()[i]);
    }
  }
}

struct outcome {
  bool ok = false;
  std::string code;  // tessera error code when !ok
  std::string what;
  double ms = 0;
};

// One single-input predict and one single-input embed per text, all in flight at once.
std::vector<outcome> wave(client& cl, const std::string& name,
                          const std::vector<std::string>& texts) {
  std::vector<outcome> out(2 * texts.size());
  kj::Vector<kj::Promise<void>> all;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto t0 = steady::now();
    auto fail = [&out, t0](size_t slot) {
      return [&out, t0, slot](kj::Exception&& e) {
        out[slot] = {false, error_code(e), e.getDescription().cStr(), ms_since(t0)};
      };
    };
    auto p = cl.session().predictRequest();
    p.initModel().setName(name);
    p.setTopK(1);
    p.initInputs(1)[0].setText(texts[i]);
    all.add(p.send().then(
        [&out, t0, i](capnp::Response<Session::PredictResults>&&) {
          out[2 * i] = {true, "", "", ms_since(t0)};
        },
        fail(2 * i)));
    auto e = cl.session().embedRequest();
    e.initModel().setName(name);
    e.initInputs(1)[0].setText(texts[i]);
    all.add(e.send().then(
        [&out, t0, i](capnp::Response<Session::EmbedResults>&&) {
          out[2 * i + 1] = {true, "", "", ms_since(t0)};
        },
        fail(2 * i + 1)));
  }
  kj::joinPromises(all.releaseAsArray()).wait(cl.wait_scope());
  return out;
}

// Exits 77 (skipped) when this machine cannot run the lab.
void require_netns() {
  auto why = netns_unavailable();
  if (!why.empty()) skip_test("network namespaces unavailable: " + why);
}

}  // namespace

TEST_CASE("a cluster over three namespace hosts becomes ready and serves a sharded model exactly",
          "[netns]") {
  require_netns();
  model_fixture model{model_spec(42)};
  netns_cluster c;
  if (!wait_cluster_ready(c.gateway, c.admin_token, 30s))
    FAIL("not ready within 30 s\n" << c.logs());
  client cl{c.gateway, c.admin_token};
  {
    auto res = cl.admin().statusRequest().send().wait(cl.wait_scope());
    std::map<std::string, std::string> up;
    for (auto m : res.getStatus().getMembers())
      if (m.getUp()) up[m.getName()] = m.getAddress();
    std::map<std::string, std::string> want;
    for (auto h : shard_hosts)
      want[shard_name(h)] = c.lab.address(h) + ":" + std::to_string(shard_port);
    CHECK(up == want);
  }
  load_model(cl, model.path, "m");
  // Every host holds its own row range of the table and answers for it.
  std::set<std::string> ranges, table_nodes;
  for (const auto& [rows, node] : table_replicas(cl, "m")) {
    ranges.insert(rows);
    table_nodes.insert(node);
  }
  CHECK(ranges.size() == 3);
  CHECK(table_nodes == std::set<std::string>{"shard-2", "shard-3", "shard-4"});
  for (const auto& [name, m] : take_status(cl).members) {
    INFO(name);
    CHECK(m.used > 0);
  }
  check_serving(cl, model, "m", random_texts(model.spec, 300, 11));
}

TEST_CASE(
    "a partitioned shard host fails requests typed, shows down, and serves again once "
    "reconnected",
    "[netns][fault]") {
  require_netns();
  model_fixture model{model_spec(43)};
  netns_cluster c;
  if (!wait_cluster_ready(c.gateway, c.admin_token, 60s))
    FAIL("not ready within 60 s\n" << c.logs());
  client cl{c.gateway, c.admin_token};
  load_model(cl, model.path, "m");
  auto texts = random_texts(model.spec, 300, 12);
  check_serving(cl, model, "m", texts);
  const size_t victim = 3;
  auto victim_name = shard_name(victim);
  // With R = 1 every request pools over every table shard, one of them on the victim.
  bool victim_holds_table = false;
  for (const auto& [rows, node] : table_replicas(cl, "m"))
    victim_holds_table = victim_holds_table || node == victim_name;
  REQUIRE(victim_holds_table);

  c.lab.set_link(victim, false);
  auto cut = steady::now();
  // Requests until (and just after) the coordinator notices: each fails with a typed error
  // (a hang would stop the test here).
  std::vector<outcome> during;
  double seen_down_ms = -1;
  std::vector<std::string> few(texts.begin(), texts.begin() + 4);
  while (seen_down_ms < 0 && ms_since(cut) < 60000) {
    for (auto& o : wave(cl, "m", few)) during.push_back(o);
    if (!take_status(cl).members[victim_name].up) seen_down_ms = ms_since(cut);
  }
  if (seen_down_ms < 0) FAIL(victim_name << " never reported down within 60 s\n" << c.logs());
  std::map<std::string, size_t> codes;
  for (const auto& o : during) ++codes[o.ok ? "ok" : o.code];
  std::string summary;
  for (const auto& [code, n] : codes) summary += " " + code + " x" + std::to_string(n);
  INFO("member " << victim_name << " reported down " << seen_down_ms
                 << " ms after the cut; requests in between:" << summary);
  for (const auto& o : during) {
    INFO(o.what);
    CHECK(!o.ok);
    CHECK((o.code == "unavailable" || o.code == "deadline_exceeded"));
  }
  // Once down is known, requests fail because no replica is live (not by a timeout) and name
  // the shard that is missing.
  for (const auto& o : wave(cl, "m", few)) {
    INFO(o.what);
    CHECK(!o.ok);
    CHECK(o.code == "unavailable");
    CHECK(o.what.find("no live replica of shard") != std::string::npos);
  }

  c.lab.set_link(victim, true);
  auto back_ms = wait_status(
      cl, 60s, [&](const status_snapshot& s) { return s.members.at(victim_name).up && s.ready; });
  if (back_ms < 0) FAIL(victim_name << " did not rejoin within 60 s\n" << c.logs());
  CHECK(nodes_of(cl, "m").count(victim_name) == 1);
  CHECK(take_status(cl).members[victim_name].used > 0);
  check_serving(cl, model, "m", texts);
}

TEST_CASE(
    "with two replicas a host whose link is down for 3 s costs no request, during the "
    "partition or after it rejoins",
    "[netns][fault]") {
  require_netns();
  model_fixture model{model_spec(44)};
  // The claim holds when the coordinator sees the host down (connection_timeout_ms plus a
  // heartbeat) well before a request's deadline, so that in-flight shard requests to it are
  // retried on the other replica in time: the defaults (1 s against 5 s) leave room for that.
  netns_cluster c;
  if (!wait_cluster_ready(c.gateway, c.admin_token, 60s))
    FAIL("not ready within 60 s\n" << c.logs());
  client cl{c.gateway, c.admin_token};
  client users{c.gateway, c.admin_token};
  load_model(cl, model.path, "m2", 2);
  const size_t victim = 4;
  // Every table shard has two replicas on two different hosts, and the victim holds some.
  std::map<std::string, std::set<std::string>> by_shard;
  bool victim_holds_table = false;
  for (const auto& [rows, node] : table_replicas(cl, "m2")) {
    by_shard[rows].insert(node);
    victim_holds_table = victim_holds_table || node == shard_name(victim);
  }
  REQUIRE(by_shard.size() >= 2);
  for (const auto& [rows, nodes] : by_shard) CHECK(nodes.size() == 2);
  REQUIRE(victim_holds_table);
  auto texts = random_texts(model.spec, 200, 13);
  std::map<uint64_t, const reference_model*> refs{{1, model.ref.get()}};

  bool stop = false;
  traffic during;
  auto p = run_traffic(users, "m2", texts, refs, 4, stop, during);
  // Traffic is flowing before the cable is pulled.
  REQUIRE(wait_for_answers(users, during, 50));
  c.lab.set_link(victim, false);
  const auto cut_at = std::chrono::steady_clock::now();
  // Status calls run on `cl` while `users` streams; both share this thread's event loop.
  auto down_ms = wait_status(
      cl, 60s, [&](const status_snapshot& s) { return !s.members.at(shard_name(victim)).up; });
  // And keeps flowing after the coordinator saw the host down.
  REQUIRE(wait_for_answers(users, during, during.answered() + 50));
  // The cable stays out for 3 s (the fault's length, not a timing check), then goes back in.
  REQUIRE(wait_until(users, 60s, [&] { return std::chrono::steady_clock::now() >= cut_at + 3s; }));
  c.lab.set_link(victim, true);
  // The host rejoins: member up and every replica ready again, traffic still flowing.
  REQUIRE(wait_status(cl, 60s, [&](const status_snapshot& s) {
            return s.members.at(shard_name(victim)).up && s.ready;
          }) >= 0);
  REQUIRE(wait_for_answers(users, during, during.answered() + 50));
  stop = true;
  p.wait(users.wait_scope());
  WARN("R = 2: member down seen after " << down_ms << " ms; during the partition " << during.ok
                                        << " ok, " << during.failed << " failed");
  REQUIRE(down_ms >= 0);
  INFO(during.first_error());
  CHECK(during.failed == 0);
  auto after = traffic_n(users, "m2", texts, refs, 4, 200);
  INFO(after.first_error());
  CHECK(after.failed == 0);
  CHECK(after.ok == 200);
}

namespace {

// A TCP listener on `address`:port that never accepts by itself: listening() says whether
// anyone connected (a pending connection in its queue).
struct silent_listener {
  int fd = -1;
  silent_listener(const std::string& address, uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 8) == 0);
  }
  ~silent_listener() { ::close(fd); }
  bool connected() const {
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return false;
    ::close(c);
    return true;
  }
};

}  // namespace

TEST_CASE(
    "the CLI refuses a plaintext gateway off loopback before sending anything, unless "
    "--insecure; /metrics is on loopback only by default",
    "[netns]") {
  require_netns();
  netns_cluster c(default_request_timeout_ms, "[http]\n");
  if (!wait_cluster_ready(c.gateway, c.admin_token, 30s))
    FAIL("not ready within 30 s\n" << c.logs());
  // A listener at a non-loopback address of this machine: nothing reaches it without
  // --insecure, not even a connect.
  const auto port = c.lab.free_root_port();
  silent_listener trap(c.lab.root_address(), port);
  const std::string trap_address = c.lab.root_address() + ":" + std::to_string(port);
  std::string out, err;
  CHECK(run_capture(
            {bin_path("tessera"), "--connect", trap_address, "--token", c.admin_token, "models"},
            &out, &err) == 2);
  CHECK_THAT(err, Catch::Contains("tessera.permission_denied: refusing to send a token in plain "
                                  "text to " +
                                  trap_address));
  CHECK_THAT(err, Catch::Contains("--insecure"));
  CHECK_FALSE(trap.connected());
  // The same against the real gateway: refused; with --insecure it answers.
  CHECK(
      run_capture({bin_path("tessera"), "--connect", c.gateway, "--token", c.admin_token, "models"},
                  &out, &err) == 2);
  CHECK(run_capture({bin_path("tessera"), "--connect", c.gateway, "--token", c.admin_token,
                     "--insecure", "models"},
                    &out, &err) == 0);
  INFO(err);
  CHECK_THAT(out, Catch::Contains("no models loaded"));
  // /metrics: answered on 127.0.0.1, not at the node's own (non-loopback) address.
  CHECK(http_get("127.0.0.1", c.http_port, "/metrics").status == 200);
  CHECK(http_get(c.lab.root_address(), c.http_port, "/metrics", "GET", 3s).status == 0);
}

TEST_CASE("a public /metrics answers only with its bearer token (401 without)", "[netns]") {
  require_netns();
  const std::string scrape_token = "scrape-secret";
  netns_cluster c(default_request_timeout_ms, "[http]\npublic = true\ntoken_hash = \"" +
                                                  to_string(hash_token(scrape_token)) + "\"\n");
  if (!wait_cluster_ready(c.gateway, c.admin_token, 30s))
    FAIL("not ready within 30 s\n" << c.logs());
  const auto at = c.lab.root_address();
  auto without = http_get(at, c.http_port, "/metrics");
  CHECK(without.status == 401);
  CHECK(without.headers["www-authenticate"] == "Bearer");
  CHECK(without.body.find("tessera_") == std::string::npos);
  CHECK(
      http_get(at, c.http_port, "/metrics", "GET", 10s, "Authorization: Bearer wrong\r\n").status ==
      401);
  auto with = http_get(at, c.http_port, "/metrics", "GET", 10s,
                       "Authorization: Bearer " + scrape_token + "\r\n");
  CHECK(with.status == 200);
  CHECK(metric_value(with.body, "tessera_members_up") == static_cast<double>(shard_hosts.size()));
  // Health stays open (it tells nothing of tenants).
  CHECK(http_get(at, c.http_port, "/healthz").status == 200);
}

TEST_CASE("with [http] cert and key, /metrics is HTTPS with its bearer token", "[netns]") {
  require_netns();
  if (::access("/usr/bin/curl", X_OK) != 0) {
    WARN("curl not found: HTTPS on the HTTP port not tested");
    return;
  }
  const std::string scrape_token = "scrape-secret";
  // The certificate `certs init` makes for the gateway names the coordinator's host.
  netns_cluster c(default_request_timeout_ms,
                  "[http]\npublic = true\ntoken_hash = \"" + to_string(hash_token(scrape_token)) +
                      "\"\ncert = \"@DIR@/tls/gateway.pem\"\nkey = \"@DIR@/tls/gateway.key\"\n");
  if (!wait_cluster_ready(c.gateway, c.admin_token, 30s))
    FAIL("not ready within 30 s\n" << c.logs());
  const std::string url =
      "https://" + c.lab.root_address() + ":" + std::to_string(c.http_port) + "/metrics";
  auto curl = [&](const std::string& header, std::string* out) {
    std::string err;
    // The body, then a line with the status code.
    std::vector<std::string> argv{
        "/usr/bin/curl",      "-s", "-m", "10", "-w", "\n%{http_code}", "--cacert",
        c.dir / "tls/ca.pem", url};
    if (!header.empty()) argv.insert(argv.end(), {"-H", header});
    int rc = run_capture(argv, out, &err);
    INFO(err);
    while (!out->empty() && (out->back() == '\n' || out->back() == '\r')) out->pop_back();
    return rc;
  };
  std::string out;
  REQUIRE(curl("Authorization: Bearer " + scrape_token, &out) == 0);
  CHECK(out.substr(out.rfind('\n') + 1) == "200");
  CHECK(metric_value(out, "tessera_members_up") == static_cast<double>(shard_hosts.size()));
  REQUIRE(curl("", &out) == 0);
  CHECK(out.substr(out.rfind('\n') + 1) == "401");
  // Plain HTTP gets no answer from the TLS port.
  CHECK(http_get(c.lab.root_address(), c.http_port, "/metrics", "GET", 5s,
                 "Authorization: Bearer " + scrape_token + "\r\n")
            .status == 0);
}
