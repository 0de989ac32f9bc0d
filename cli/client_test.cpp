// The client's TLS options and failure descriptions, and gateway_link against the gateway's TLS
// listener (node/gateway_tls.hpp) in this process, on the thread's one event loop: a trusted
// server, an untrusted one, plaintext against TLS, client certificates, and a listener that
// goes on accepting after garbage and silence.
#include "cli/client.hpp"

#include <catch2/catch.hpp>

#include <capnp/rpc-twoparty.h>

#include "cli/certs.hpp"
#include "node/gateway_tls.hpp"
#include "testing/package_builder.hpp"

namespace tessera::cli {
namespace {

using tessera::testing::temp_dir;

// A gateway stand-in whose authenticate refuses every token: reaching it proves that the
// transport, TLS included, works.
class refusing_gateway final : public ::Tessera::Server {
  kj::Promise<void> authenticate(AuthenticateContext) override {
    return KJ_EXCEPTION(FAILED, "tessera.unauthenticated: test gateway");
  }
};

// Serves refusing_gateway on 127.0.0.1 through secure_listener, on this thread's event loop.
struct test_gateway {
  std::shared_ptr<kj::AsyncIoContext> io = thread_io();
  kj::Own<kj::ConnectionReceiver> listener;
  capnp::TwoPartyServer server{kj::heap<refusing_gateway>()};
  kj::Promise<void> serving = nullptr;
  std::string address;
  uint16_t port = 0;

  explicit test_gateway(const gateway_tls_options& tls) {
    auto addr = io->provider->getNetwork().parseAddress("127.0.0.1", 0).wait(io->waitScope);
    listener = secure_listener(addr->listen(), tls, io->provider->getTimer());
    port = static_cast<uint16_t>(listener->getPort());
    address = "127.0.0.1:" + std::to_string(port);
    serving = server.listen(*listener).eagerlyEvaluate(nullptr);
  }
};

// The cluster CA, gateway and client files `tessera certs init` makes, once per directory.
struct certs {
  temp_dir dir;
  certs() {
    auto cfg = parse_config(
        "[[nodes]]\nname = \"c\"\nport = 7400\nroles = [\"coordinator\", \"shard\"]\n"
        "gateway_port = 7300\n");
    REQUIRE(cfg);
    ensure_certs(*cfg, dir.path);
  }
  std::string operator/(const std::string& name) const { return dir.sub(name); }
  gateway_tls_options server(bool client_ca) const {
    gateway_tls_options o;
    o.cert = *this / "gateway.pem";
    o.key = *this / "gateway.key";
    if (client_ca) o.client_ca = *this / "client-ca.pem";
    return o;
  }
  tls_client_options client(bool with_cert) const {
    tls_client_options o;
    o.ca = *this / "ca.pem";
    if (with_cert) {
      o.cert = *this / "client.pem";
      o.key = *this / "client.key";
    }
    return o;
  }
};

// The description of what one authenticate call over a new link ends with.
std::string outcome(const std::string& address, const tls_client_options& tls) {
  gateway_link link(address, tls);
  auto req = link.bootstrap().authenticateRequest();
  req.setToken("t");
  try {
    link.timer().timeoutAfter(30 * kj::SECONDS, req.send()).wait(link.wait_scope());
    return "authenticated";
  } catch (const kj::Exception& e) {
    return describe_rpc_failure(e, address, 30);
  }
}

const std::string k_reached = "tessera.unauthenticated: test gateway";

// A raw TCP connection to the gateway (the kernel completes it before any accept).
kj::Own<kj::AsyncIoStream> raw_connect(const test_gateway& gw) {
  auto& io = *gw.io;
  return io.provider->getNetwork()
      .parseAddress(gw.address)
      .wait(io.waitScope)
      ->connect()
      .wait(io.waitScope);
}

}  // namespace

TEST_CASE("the host a certificate must name is the address without its port") {
  CHECK(host_of("127.0.0.1:7300") == "127.0.0.1");
  CHECK(host_of("gw.example:7300") == "gw.example");
  CHECK(host_of("gw.example") == "gw.example");
  CHECK(host_of("[::1]:7300") == "::1");
  CHECK(host_of("::1") == "::1");
}

TEST_CASE("a client certificate needs its key and a CA, before any connection") {
  auto usage = [](tls_client_options o) {
    try {
      check_tls_options(o);
      return std::string("accepted");
    } catch (const command_error& e) {
      CHECK(e.exit_code == 2);
      return std::string(e.what());
    }
  };
  CHECK(usage({}) == "accepted");
  CHECK(usage({"ca.pem", "", ""}) == "accepted");
  CHECK(usage({"ca.pem", "c.pem", "c.key"}) == "accepted");
  CHECK_THAT(usage({"ca.pem", "c.pem", ""}), Catch::Contains("--tls-cert needs --tls-key"));
  CHECK_THAT(usage({"ca.pem", "", "c.key"}), Catch::Contains("--tls-key needs --tls-cert"));
  CHECK_THAT(usage({"", "c.pem", "c.key"}), Catch::Contains("--tls-cert needs --tls-ca"));
}

TEST_CASE("TLS failures are described as unavailable, naming the address and what to fix") {
  auto failed = [](const char* text) {
    return describe_rpc_failure(
        kj::Exception(kj::Exception::Type::DISCONNECTED, __FILE__, __LINE__, kj::str(text)),
        "gw:7300", 5);
  };
  CHECK(failed("OpenSSL error; message = error:0A00045C:SSL routines::tlsv13 alert certificate "
               "required") ==
        "tessera.unavailable: TLS with gw:7300 failed: the gateway requires a client certificate "
        "(--tls-cert and --tls-key) (tlsv13 alert certificate required)");
  CHECK_THAT(failed("OpenSSL error; message = error:0A000418:SSL routines::tlsv1 alert unknown ca"),
             Catch::StartsWith("tessera.unavailable: TLS with gw:7300 failed: the gateway refused "
                               "the client certificate"));
  CHECK_THAT(failed("ssl connection ended during write"),
             Catch::StartsWith("tessera.unavailable: TLS with gw:7300 failed: the gateway ended"));
  CHECK(failed("Peer disconnected.") ==
        "tessera.unavailable: connection to gw:7300 failed: Peer disconnected.");
}

TEST_CASE("a lost connection is described by what its history makes likely") {
  using type = kj::Exception::Type;
  auto ex = [](type t, const char* text) {
    return kj::Exception(t, __FILE__, __LINE__, kj::str(text));
  };
  auto described = [](const kj::Exception& e, bool tls, bool answered) {
    return describe_connection_failure(e, "gw:7300", 5, tls, answered);
  };
  const std::string lost = "tessera.unavailable: connection to gw:7300 failed: ";
  const std::string coordinator_gone =
      " (the gateway had answered on it: the coordinator may have stopped or restarted)";
  const auto eof = ex(type::DISCONNECTED, "Peer disconnected.");
  // Plaintext, ended before any answer: a gateway with TLS is likely.
  CHECK_THAT(described(eof, false, false),
             Catch::StartsWith(lost + "Peer disconnected.") && Catch::Contains("give --tls-ca"));
  // Ended after an answer: the coordinator went away, over TLS or not; no TLS hint.
  CHECK(described(eof, false, true) == lost + "Peer disconnected." + coordinator_gone);
  CHECK(described(eof, true, true) == lost + "Peer disconnected." + coordinator_gone);
  // A TLS client gets no --tls-ca hint: its failures have their own words.
  CHECK(described(eof, true, false) == describe_rpc_failure(eof, "gw:7300", 5));
  // A TLS stream cut without a close, in OpenSSL's words: a handshake problem only when the
  // gateway never answered.
  const char* cut =
      "OpenSSL error; message = error:0A000126:SSL routines::unexpected eof while reading";
  const auto cut_ex = ex(type::FAILED, cut);
  CHECK_THAT(described(cut_ex, true, false),
             Catch::StartsWith("tessera.unavailable: TLS with gw:7300 failed: no TLS handshake"));
  CHECK(described(cut_ex, true, true) == lost + cut + coordinator_gone);
  // The gateway's own answers and the client's deadline read the same whatever the history.
  for (const auto& e :
       {ex(type::OVERLOADED, "remote exception: tessera.unavailable: no live replica"),
        ex(type::DISCONNECTED, "tessera.unavailable: TLS handshake with gw:7300 failed: x"),
        ex(type::OVERLOADED, "operation timed out")})
    for (bool tls : {false, true})
      for (bool answered : {false, true}) {
        INFO(e.getDescription().cStr() << " tls " << tls << " answered " << answered);
        CHECK(described(e, tls, answered) == describe_rpc_failure(e, "gw:7300", 5));
      }
}

TEST_CASE("a link trusting the gateway's CA reaches it over TLS; others fail typed") {
  certs c;
  test_gateway gw{c.server(false)};
  CHECK(outcome(gw.address, c.client(false)) == k_reached);
  CHECK(outcome("localhost:" + std::to_string(gw.port), c.client(false)) == k_reached);
  certs other;
  std::string foreign = outcome(gw.address, other.client(false));
  CHECK_THAT(foreign, Catch::StartsWith("tessera.unavailable: TLS handshake with " + gw.address +
                                        " failed: the gateway's certificate is not trusted"));
  std::string plain = outcome(gw.address, {});
  CHECK_THAT(plain, Catch::StartsWith("tessera.unavailable: connection to " + gw.address));
  // A command's connection says what is likely: this gateway wants TLS.
  try {
    connection conn({gw.address, "t", 30, {}});
    FAIL("a plaintext connection to a TLS gateway logged in");
  } catch (const command_error& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("tessera.unavailable: connection to " + gw.address) &&
                             Catch::Contains("give --tls-ca"));
  }
  CHECK(outcome(gw.address, c.client(false)) == k_reached);  // still serving
}

TEST_CASE("a gateway that asks for client certificates admits only those of its client CA") {
  certs c, other;
  test_gateway gw{c.server(true)};
  CHECK(outcome(gw.address, c.client(true)) == k_reached);
  CHECK_THAT(outcome(gw.address, c.client(false)),
             Catch::StartsWith("tessera.unavailable: TLS with " + gw.address + " failed"));
  auto foreign = c.client(false);
  foreign.cert = other / "client.pem";
  foreign.key = other / "client.key";
  CHECK_THAT(outcome(gw.address, foreign), Catch::StartsWith("tessera.unavailable: TLS"));
  auto node_cert = c.client(false);  // signed by the cluster CA, which vouches for nodes only
  node_cert.cert = c / "c.pem";
  node_cert.key = c / "c.key";
  CHECK_THAT(outcome(gw.address, node_cert), Catch::StartsWith("tessera.unavailable: TLS"));
  CHECK(outcome(gw.address, c.client(true)) == k_reached);
}

TEST_CASE("garbage ends its own connection, and a silent one frees its slot at the timeout") {
  certs c;
  auto opts = c.server(false);
  opts.max_pending = 1;  // one silent client holds the only handshake slot
  opts.handshake_timeout = std::chrono::milliseconds(200);
  test_gateway gw{opts};
  auto junk = raw_connect(gw);
  const kj::StringPtr bytes = "GET / HTTP/1.1\r\n\r\n";
  junk->write(bytes.begin(), bytes.size()).wait(gw.io->waitScope);
  auto silent = raw_connect(gw);
  // Served once the silent connection's handshake has timed out (no bound asserted here).
  CHECK(outcome(gw.address, c.client(false)) == k_reached);
  // The gateway ended both: reads reach the end (after a TLS alert, if any).
  for (auto* s : {junk.get(), silent.get()}) {
    char buf[256];
    auto& timer = gw.io->provider->getTimer();
    while (timer.timeoutAfter(30 * kj::SECONDS, s->tryRead(buf, 1, sizeof buf))
               .wait(gw.io->waitScope) > 0) {
    }
  }
  CHECK(outcome(gw.address, c.client(false)) == k_reached);
}

}  // namespace tessera::cli
