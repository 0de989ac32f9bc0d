// Client TLS at the gateway, over real processes: a client that trusts the cluster CA gets the
// reference's answers; a client that does not, a plaintext client, and raw connections that
// send garbage or nothing each fail or end alone while the gateway keeps serving (a failed
// handshake is counted in /metrics); with mutual TLS only a client certificate of the client
// CA gets in; one address holding hundreds of silent connections takes only its share of the
// handshake slots; and a gateway that would serve plaintext on a non-loopback host never
// starts.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <thread>

#include "cli/client.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/lifecycle_support.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

// A small model: the tests are about the transport, the answers only need checking.
synthetic_spec small_spec() {
  synthetic_spec s;
  s.vocab = 2000;
  s.buckets = 50000;
  return s;
}

model_fixture& model() {
  static model_fixture m{small_spec()};
  return m;
}

// A cluster with client TLS at the gateway (mutual when `client_ca`), the model loaded as "m"
// over TLS.
local_cluster& tls_gateway(bool client_ca) {
  auto start = [](bool mtls) {
    cluster_options o;
    o.shard_nodes = 2;
    o.memory_budget = "1GiB";
    o.gateway_tls = true;
    o.gateway_client_ca = mtls;
    o.handshake_timeout_ms = 1000;  // so that the silent-connection case ends soon
    o.http = true;                  // /metrics counts the failed handshakes
    return o;
  };
  static local_cluster tls{start(false)};
  static local_cluster mtls{start(true)};
  local_cluster& c = client_ca ? mtls : tls;
  static bool loaded[2] = {false, false};
  if (!loaded[client_ca]) {
    client cl{c.gateway(), c.admin_token(), c.client_tls()};
    load_model(cl, model().path, "m");
    loaded[client_ca] = true;
  }
  return c;
}

// A CA, gateway, client CA and client of another cluster: trusted by nobody here.
const temp_dir& foreign_certs() {
  static temp_dir d;
  static bool made = [] {
    std::string out, err;
    int rc = run_capture({bin_path("tessera"), "certs", "init", "--dir", d.path()}, &out, &err);
    INFO(err);
    REQUIRE(rc == 0);
    return true;
  }();
  (void)made;
  return d;
}

// 50 random texts predicted through `cl` equal the in-process reference.
void expect_serving(client& cl, uint64_t seed) {
  expect_reference_predictions(cl, model(), "m", 50, seed);
}

void expect_serving(const local_cluster& c, uint64_t seed) {
  client cl{c.gateway(), c.user_token(), c.client_tls()};
  expect_serving(cl, seed);
}

// What a CLI connection with `tls` reports, or "" when it authenticates; each call is bounded
// by a 20 s deadline, so a connection the gateway never answered would read deadline_exceeded.
std::string connect_failure(const local_cluster& c, const cli::tls_client_options& tls) {
  cli::client_options o;
  o.address = c.gateway();
  o.token = c.user_token();
  o.timeout_s = 20;
  o.tls = tls;
  try {
    cli::connection conn(o);
    conn.wait(conn.session().listModelsRequest().send());
    return "";
  } catch (const cli::command_error& e) {
    return e.what();
  }
}

int connect_raw(const std::string& gateway) {
  return connect_loopback(port_of(gateway));
}

// Reads until the peer closes; true when it did (EOF or reset), false on the 30 s guard.
bool closed_by_peer(int fd) {
  char buf[512];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) continue;  // a TLS alert
    return n == 0 || errno == ECONNRESET;
  }
}

// Whether the peer has closed `fd` (EOF or reset), without waiting.
bool closed_now(int fd) {
  char b;
  ssize_t n = ::recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

}  // namespace

TEST_CASE("a client that trusts the cluster CA gets the reference's predictions over TLS",
          "[gateway_tls]") {
  auto& c = tls_gateway(false);
  expect_serving(c, 1);
  CHECK_THAT(c.node_log("coord"),
             Catch::Contains("client TLS at the gateway") && Catch::Contains("(TLS)"));
  // The CLI: --tls-ca with the CA `tessera up` made; the same answers.
  temp_dir d;
  auto texts = random_texts(model().spec, 20, 11);
  std::ofstream(d / "in.txt") << [&] {
    std::string all;
    for (const auto& t : texts) all += t + "\n";
    return all;
  }();
  std::string out, err;
  INFO(err);
  REQUIRE(c.cli({"predict", "--model", "m", "--k", "1", "--format", "json", d / "in.txt"}, &out,
                &err) == 0);
  CHECK(std::count(out.begin(), out.end(), '\n') == static_cast<long>(texts.size()));
  // The same through localhost, a name the gateway's certificate also carries.
  std::string port = c.gateway().substr(c.gateway().rfind(':') + 1);
  client by_name{"localhost:" + port, c.user_token(), c.client_tls()};
  expect_serving(by_name, 2);
}

TEST_CASE("a client with a foreign CA fails with a typed TLS error; the gateway keeps serving",
          "[gateway_tls]") {
  auto& c = tls_gateway(false);
  cli::tls_client_options foreign;
  foreign.ca = foreign_certs() / "ca.pem";
  const std::string failure = connect_failure(c, foreign);
  INFO(failure);
  CHECK(failure.rfind("tessera.unavailable: TLS handshake with " + c.gateway() + " failed", 0) ==
        0);
  CHECK_THAT(failure, Catch::Contains("not trusted"));
  // The same from the command line: exit 1, the typed error on stderr.
  std::string out, err;
  CHECK(run_capture({bin_path("tessera"), "--connect", c.gateway(), "--token", c.user_token(),
                     "--tls-ca", foreign.ca, "--timeout", "20", "models"},
                    &out, &err) == 1);
  CHECK_THAT(err, Catch::StartsWith("tessera: tessera.unavailable: TLS handshake with " +
                                    c.gateway() + " failed"));
  // A test client sees the same failure as the exception of its first call.
  client cl{c.gateway(), c.user_token(), foreign};
  try {
    cl.session().listModelsRequest().send().wait(cl.wait_scope());
    FAIL("a gateway certificate of another CA was trusted");
  } catch (const kj::Exception& e) {
    CHECK(error_code(e) == "unavailable");
  }
  expect_serving(c, 3);
}

TEST_CASE("a plaintext client against the TLS gateway fails cleanly within its timeout",
          "[gateway_tls]") {
  auto& c = tls_gateway(false);
  const std::string counted = "tessera_gateway_tls_handshake_failures_total";
  auto failures = [&] {
    return metric_value(http_get(c.http_port("coord"), "/metrics").body, counted);
  };
  const double was = failures();
  REQUIRE(was >= 0);
  const std::string failure = connect_failure(c, {});
  INFO(failure);
  // The gateway ended the connection: unavailable, not our own 20 s deadline.
  CHECK(failure.rfind("tessera.unavailable: connection to " + c.gateway(), 0) == 0);
  // Counted once, for /metrics (the count may land just after the close the client saw).
  client tls_client{c.gateway(), c.user_token(), c.client_tls()};
  CHECK(wait_until(tls_client, std::chrono::seconds(10), [&] { return failures() > was; }));
  CHECK(failures() - was == 1);
  CHECK_THAT(failure, Catch::Contains("--tls-ca"));
  std::string out, err;
  CHECK(run_capture({bin_path("tessera"), "--connect", c.gateway(), "--token", c.user_token(),
                     "--timeout", "20", "models"},
                    &out, &err) == 1);
  CHECK_THAT(err, Catch::StartsWith("tessera: tessera.unavailable: connection to " + c.gateway()));
  expect_serving(c, 4);
  // Logged at info level, throttled: the first failure, then at most a line a minute.
  CHECK_THAT(c.node_log("coord"), Catch::Contains("TLS handshake failed since the last report"));
}

TEST_CASE("raw connections that send garbage or nothing hold up no other client", "[gateway_tls]") {
  auto& c = tls_gateway(false);
  std::vector<int> silent, garbage;
  for (int i = 0; i < 16; ++i) silent.push_back(connect_raw(c.gateway()));
  const std::string junk[] = {std::string(64, '\0'), "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                              std::string("\x16\x03\x01\xff\xff", 5) + std::string(300, 'A')};
  for (const auto& j : junk) {
    int fd = connect_raw(c.gateway());
    CHECK(::send(fd, j.data(), j.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(j.size()));
    garbage.push_back(fd);
  }
  // While every one of them is still open, others are served.
  expect_serving(c, 5);
  for (int fd : garbage) {
    CHECK(closed_by_peer(fd));  // the failed handshake ended that connection alone
    ::close(fd);
  }
  // A silent connection is closed once handshake_timeout_ms has passed, freeing its slot.
  for (int fd : silent) {
    CHECK(closed_by_peer(fd));
    ::close(fd);
  }
  expect_serving(c, 6);
  CHECK(::kill(c.node_pid("coord"), 0) == 0);
}

TEST_CASE("300 silent connections from one address take only its share of handshake slots",
          "[gateway_tls]") {
  // Silent connections hold their slot for the whole handshake timeout (60 s here): without
  // a bound per address, 256 of them took every slot and new clients waited that long.
  local_cluster c{[] {
    cluster_options o;
    o.shard_nodes = 1;
    o.gateway_tls = true;
    o.gateway_client_ca = true;
    o.handshake_timeout_ms = 60000;
    o.http = true;
    return o;
  }()};
  {
    client cl{c.gateway(), c.admin_token(), c.client_tls()};
    load_model(cl, model().path, "m");
  }
  const auto port = port_of(c.gateway());
  std::vector<int> held;
  for (int i = 0; i < 300; ++i) {
    int fd = connect_from("127.0.0.5", port);
    if (fd >= 0) held.push_back(fd);
  }
  REQUIRE(held.size() == 300);
  // Past max_prelogin_per_source (32) handshakes from 127.0.0.5, each is closed at once.
  size_t closed = 0;
  for (auto until = steady::now() + 20s; steady::now() < until;
       std::this_thread::sleep_for(100ms)) {
    closed = 0;
    for (int fd : held) closed += closed_now(fd) ? 1 : 0;
    if (closed >= 300 - 32) break;
  }
  CHECK(closed == 300 - 32);
  // A client from 127.0.0.1 gets its handshake, logs in and is answered right ...
  expect_serving(c, 21);
  // ... while the attacker's 32 still hold their slots (they would time out after 60 s).
  size_t open = 0;
  for (int fd : held) open += closed_now(fd) ? 0 : 1;
  CHECK(open == 32);
  const std::string refused = "tessera_gateway_refused_connections_total{reason=\"tls_source\"}";
  CHECK(metric_value(http_get(c.http_port("coord"), "/metrics").body, refused) == 300 - 32);
  for (int fd : held) ::close(fd);
  CHECK(::kill(c.node_pid("coord"), 0) == 0);
}

TEST_CASE("with mutual TLS only a client certificate of the client CA gets in", "[gateway_tls]") {
  auto& c = tls_gateway(true);
  // The proper certificate: served like the reference, also from the command line.
  expect_serving(c, 7);
  std::string out, err;
  CHECK(c.cli({"models", "--json"}, &out, &err) == 0);
  CHECK_THAT(out, Catch::Contains("\"m\""));

  cli::tls_client_options none;
  none.ca = c.client_tls().ca;
  std::string failure = connect_failure(c, none);
  INFO(failure);
  CHECK(failure.rfind("tessera.unavailable: TLS", 0) == 0);
  CHECK_THAT(failure, Catch::Contains("client certificate"));

  cli::tls_client_options foreign = none;  // a client certificate of another cluster
  foreign.cert = foreign_certs() / "client.pem";
  foreign.key = foreign_certs() / "client.key";
  failure = connect_failure(c, foreign);
  INFO(failure);
  CHECK(failure.rfind("tessera.unavailable: TLS", 0) == 0);

  cli::tls_client_options node_cert = none;  // the cluster CA admits nodes, not clients
  node_cert.cert = c.tls_dir() + "/coord.pem";
  node_cert.key = c.tls_dir() + "/coord.key";
  failure = connect_failure(c, node_cert);
  INFO(failure);
  CHECK(failure.rfind("tessera.unavailable: TLS", 0) == 0);

  CHECK(run_capture({bin_path("tessera"), "--connect", c.gateway(), "--token", c.user_token(),
                     "--tls-ca", none.ca, "--timeout", "20", "models"},
                    &out, &err) == 1);
  CHECK_THAT(
      err, Catch::StartsWith("tessera: tessera.unavailable: TLS") && Catch::Contains(c.gateway()));
  expect_serving(c, 8);
}

TEST_CASE("a gateway on a non-loopback host without TLS or insecure = true never starts",
          "[gateway_tls]") {
  temp_dir d;
  auto write = [&](const std::string& name, const std::string& gateway) {
    std::ofstream(d / name) << "name = \"wide\"\nstate_dir = \"\"\n[tls]\ninsecure = true\n"
                            << gateway
                            << "[[nodes]]\nname = \"coord\"\nhost = \"0.0.0.0\"\nport = 1\n"
                               "roles = [\"coordinator\", \"shard\"]\ngateway_port = 2\n";
    return d / name;
  };
  std::string out, err;
  // Refused while reading the config: nothing is bound (ports 1 and 2 would need root).
  CHECK(run_capture(
            {bin_path("tessera-node"), "--config", write("plain.toml", ""), "--name", "coord"},
            &out, &err) == 2);
  CHECK_THAT(err, Catch::Contains("gateway") && Catch::Contains("0.0.0.0") &&
                      Catch::Contains("insecure = true"));
  CHECK(run_capture({bin_path("tessera"), "up", "--config", d / "plain.toml"}, &out, &err) == 1);
  CHECK_THAT(err, Catch::Contains("0.0.0.0") && Catch::Contains("not loopback"));
  // With TLS asked for but a certificate that is not there: refused, naming the file.
  const std::string missing = d / "nowhere/gateway.pem";
  CHECK(run_capture({bin_path("tessera-node"), "--config",
                     write("missing.toml", "[gateway]\ncert = \"" + missing + "\"\nkey = \"" +
                                               d / "nowhere/gateway.key" + "\"\n"),
                     "--name", "coord"},
                    &out, &err) == 2);
  CHECK_THAT(err, Catch::Contains(missing));
}
