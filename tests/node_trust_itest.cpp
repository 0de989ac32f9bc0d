// Trust between nodes (node/node_transport.hpp), attacked for real against real processes: a
// stolen shard certificate opens no other node and reaches no coordinator; an authenticated
// peer's malformed and oversized BASP closes its own connection only; silent, half-handshake
// and connect/close floods above a node's fd limit leave it alive, small and serving; and a
// process holding shard-1's certificate on shard-3's port is not taken for shard-3.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "actors/control.hpp"
#include "node/config.hpp"
#include "node/token_hash.hpp"
#include "tests/support/caf_peer.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"

using namespace tessera;
using namespace tessera::test;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

model_fixture& model() {
  static model_fixture m{[] {
    synthetic_spec s;
    s.vocab = 2000;
    s.buckets = 100000;
    return s;
  }()};
  return m;
}

// One cluster for the file: 3 shards, mutual TLS, "m" loaded with 2 replicas per shard.
local_cluster& trust_cluster() {
  static local_cluster c{[] {
    cluster_options o;
    o.memory_budget = "1GiB";
    o.http = true;  // /metrics: the node transport's counters
    return o;
  }()};
  static bool loaded = [] {
    client cl{c.gateway(), c.admin_token()};
    auto req = cl.admin().loadRequest();
    req.initOptions().setPath(model().path);
    req.getOptions().setName("m");
    req.getOptions().setReplicas(2);
    REQUIRE(req.send().wait(cl.wait_scope()).getVersion() == 1);
    return true;
  }();
  (void)loaded;
  return c;
}

// Every node's CAF port of a config, the coordinator's too.
std::map<std::string, uint16_t> node_ports(const std::string& config_path) {
  auto cfg = load_config_file(config_path);
  REQUIRE(cfg);
  std::map<std::string, uint16_t> out;
  for (const auto& n : cfg->nodes) out[n.name] = n.port;
  return out;
}

// A 32-byte BASP header as CAF 0.17.6 writes it (network byte order).
std::string basp_header(uint8_t op, uint8_t flags, uint32_t payload_len, uint64_t op_data,
                        uint64_t dest = 0) {
  std::string h(32, '\0');
  h[0] = static_cast<char>(op);
  h[3] = static_cast<char>(flags);
  for (int i = 0; i < 4; ++i) h[4 + i] = static_cast<char>(payload_len >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) h[8 + i] = static_cast<char>(op_data >> (56 - 8 * i));
  for (int i = 0; i < 8; ++i) h[24 + i] = static_cast<char>(dest >> (56 - 8 * i));
  return h;
}

// A blocking TLS client connection to 127.0.0.1:port presenting `cert`/`key`, verifying the
// node with the cluster CA. Reads give up after 10 s (a guard, not a timing assertion).
class tls_client {
 public:
  tls_client(uint16_t port, const std::string& ca, const std::string& cert,
             const std::string& key) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    REQUIRE(ctx_ != nullptr);
    REQUIRE(SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr) == 1);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    REQUIRE(SSL_CTX_use_certificate_chain_file(ctx_, cert.c_str()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM) == 1);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    ERR_clear_error();
    handshake_ = connected_ && SSL_connect(ssl_) == 1;
  }
  ~tls_client() {
    SSL_free(ssl_);
    ::close(fd_);
    SSL_CTX_free(ctx_);
    ERR_clear_error();
  }
  bool connected() const { return connected_; }
  bool handshake() const { return handshake_; }
  // Reads at least `n` bytes (or until the peer closes / 10 s); returns what came.
  std::string read_at_least(size_t n) {
    std::string got;
    char buf[4096];
    while (got.size() < n) {
      ERR_clear_error();
      int r = SSL_read(ssl_, buf, sizeof buf);
      if (r <= 0) {
        closed_ = true;
        break;
      }
      got.append(buf, static_cast<size_t>(r));
    }
    return got;
  }
  void send(const std::string& bytes) {
    ERR_clear_error();
    SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
  }
  // Reads until the node closes; true when it did within the 10 s guard.
  bool closed_by_node() {
    char buf[4096];
    auto until = steady::now() + 10s;
    for (;;) {
      ERR_clear_error();
      int r = SSL_read(ssl_, buf, sizeof buf);
      if (r > 0) continue;
      int e = SSL_get_error(ssl_, r);
      bool timeout = e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK);
      if (!timeout) return true;
      if (steady::now() >= until) return false;
    }
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool connected_ = false, handshake_ = false, closed_ = false;
};

// The node sent any application byte (BASP) within a short wait, or closed first.
bool node_speaks_basp(uint16_t port, const std::string& ca, const std::string& cert,
                      const std::string& key) {
  tls_client t{port, ca, cert, key};
  if (!t.handshake()) return false;
  return !t.read_at_least(1).empty();
}

bool can_connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

void expect_cluster_whole(local_cluster& c, uint64_t seed) {
  client cl{c.gateway(), c.user_token()};
  expect_reference_predictions(cl, model(), "m", 100, seed);
  client adm{c.gateway(), c.admin_token()};
  auto st = take_status(adm);
  for (const auto& [name, m] : st.members) {
    INFO(name);
    CHECK(m.up);
  }
}

// What a rogue shard (rogue_shard) saw and did; written on its actor's thread, read by the test.
struct rogue_counts {
  std::atomic<int> asked{0};     // messages the rogue got (the coordinator's polls)
  std::atomic<int> commands{0};  // requests it sent back to their senders
  std::atomic<int> answered{0};  // ... that got an answer: a command obeyed or a leak
  std::atomic<int> failed{0};    // ... that failed (unanswered until their timeout)
  std::atomic<int> sent{0};      // messages without a reply it sent (member registration)
};

// An insider's shard-1: a real CAF node actor stand-in holding shard-1's certificate and key.
// It answers nothing, and turns every sender that asks it something (the coordinator polling
// its member) into a target: unload, drain, label, rollback, activate, status, and
// registering itself as shard-2. (A load cannot even be put on the wire: its request type is
// not among the types nodes exchange, actors/messages.hpp.)
caf::behavior rogue_shard(caf::event_based_actor* self, std::shared_ptr<rogue_counts> n) {
  auto attacked = std::make_shared<std::set<caf::actor_addr>>();
  self->set_default_handler([self, n, attacked](caf::scheduled_actor*,
                                                caf::message_view&) -> caf::result<caf::message> {
    ++n->asked;
    auto sender = self->current_sender();
    if (!sender || !attacked->insert(caf::actor_cast<caf::actor_addr>(sender)).second)
      return caf::make_error(caf::sec::unexpected_message);
    auto target = caf::actor_cast<caf::actor>(sender);
    auto fail = [n](caf::error&) { ++n->failed; };
    auto obeyed = [n](auto&&...) { ++n->answered; };
    const auto t = std::chrono::seconds(5);
    n->commands += 6;
    self->request(target, t, unload_atom::value, std::string("m"), uint64_t{0})
        .then([obeyed](bool) { obeyed(); }, fail);
    self->request(target, t, drain_atom::value, std::string("shard-2"))
        .then([obeyed](bool) { obeyed(); }, fail);
    self->request(target, t, label_atom::value, std::string("m"), std::string("evil"), uint64_t{1})
        .then([obeyed](bool) { obeyed(); }, fail);
    self->request(target, t, rollback_atom::value, std::string("m"))
        .then([obeyed](uint64_t) { obeyed(); }, fail);
    self->request(target, t, activate_atom::value, std::string("m"), uint64_t{1})
        .then([obeyed](bool) { obeyed(); }, fail);
    self->request(target, t, status_atom::value)
        .then([obeyed](cluster_status&) { obeyed(); }, fail);
    self->send(target, member_atom::value, std::string("shard-2"),
               caf::actor_cast<node_actor>(self));
    ++n->sent;
    return caf::make_error(caf::sec::unexpected_message);
  });
  return {[](tick_atom) {}};
}

// The counter `series` of `node`'s /metrics; -1 when absent.
double node_metric(const local_cluster& c, const std::string& node, const std::string& series) {
  return metric_value(http_get(c.http_port(node), "/metrics").body, series);
}

}  // namespace

TEST_CASE(
    "every command that an insider's shard-1 (a real CAF stack with shard-1's key) sends to the "
    "coordinator dialing it is dropped unanswered",
    "[trust]") {
  auto& c = trust_cluster();
  const auto ports = node_ports(c.config_path());
  const pid_t coord = c.node_pid("coord");
  const std::string dropped_series = "tessera_node_transport_dropped_messages_total";
  const double dropped_before = node_metric(c, "coord", dropped_series);
  REQUIRE(dropped_before >= 0);
  const pid_t shard1 = c.node_pid("shard-1");
  REQUIRE(::kill(shard1, SIGTERM) == 0);
  for (auto until = steady::now() + 20s; alive(shard1) && steady::now() < until;)
    std::this_thread::sleep_for(50ms);
  REQUIRE_FALSE(alive(shard1));
  auto n = std::make_shared<rogue_counts>();
  {
    // The rogue publishes on shard-1's port with shard-1's own certificate, announcing the
    // node actor's interface, as the real node does.
    caf_peer_config cfg{c.tls_dir(), "shard-1"};
    caf::actor_system sys{cfg};
    auto rogue = sys.spawn(rogue_shard, n);
    caf::expected<uint16_t> port{caf::sec::runtime_error};
    {
      caf::scoped_actor self{sys};
      self->request(sys.openssl_manager().actor_handle(), caf::infinite, caf::publish_atom::value,
                    ports.at("shard-1"), caf::actor_cast<caf::strong_actor_ptr>(rogue),
                    sys.message_types<node_actor>(), std::string("127.0.0.1"), true)
          .receive([&](uint16_t p) { port = p; }, [&](caf::error& e) { port = std::move(e); });
    }
    REQUIRE(port);
    // The coordinator dials shard-1 (once a second) and polls what answers there.
    for (auto until = steady::now() + 30s; n->commands == 0 && steady::now() < until;)
      std::this_thread::sleep_for(100ms);
    REQUIRE(n->commands > 0);  // the premise: the rogue got the coordinator's handle
    for (auto until = steady::now() + 30s;
         n->answered + n->failed < n->commands && steady::now() < until;)
      std::this_thread::sleep_for(100ms);
    CHECK(n->answered == 0);
    CHECK(n->failed == n->commands);
    // Every command and the registration were dropped by the coordinator's transport.
    CHECK(node_metric(c, "coord", dropped_series) - dropped_before >= n->commands + n->sent);
    caf::anon_send_exit(rogue, caf::exit_reason::user_shutdown);
  }
  CHECK(alive(coord));
  client adm{c.gateway(), c.admin_token()};
  auto st = take_status(adm);
  CHECK(st.active["m"] == 1);
  CHECK(st.active.count("evil") == 0);
  CHECK(st.labels.count("m@evil") == 0);
  CHECK_FALSE(st.members.at("shard-2").draining);
  CHECK(st.members.at("shard-2").up);
  c.restart_node("shard-1");
  CHECK(wait_for_status(adm, 30000ms, [](const status_snapshot& s) {
    auto it = s.members.find("shard-1");
    return it != s.members.end() && it->second.up;
  }));
  expect_cluster_whole(c, 11);
}

TEST_CASE("a stolen shard certificate opens no other node and no way to the coordinator",
          "[trust]") {
  auto& c = trust_cluster();
  const auto ports = node_ports(c.config_path());
  const std::string ca = c.tls_dir() + "/ca.pem";
  const std::string cert = c.tls_dir() + "/shard-1.pem", key = c.tls_dir() + "/shard-1.key";
  std::map<std::string, pid_t> pids;
  for (const auto& [name, port] : ports) pids[name] = c.node_pid(name);
  // Every shard port, shard-1's own too: the certificate is not the coordinator's (nor, as
  // `certs init` makes it, a client certificate), so no BASP byte comes back (CAF 0.17.6
  // alone sends its server handshake to any certificate of the cluster CA).
  for (std::string n : {"shard-1", "shard-2", "shard-3"}) {
    INFO(n);
    for (int i = 0; i < 3; ++i) CHECK_FALSE(node_speaks_basp(ports.at(n), ca, cert, key));
  }
  // A certificate for shard-1 with clientAuth too (as `certs init` made them before roles),
  // signed by the cluster CA: refused by name.
  temp_dir legacy;
  for (std::string f : {"ca.pem", "ca.key"})
    write_lines(legacy / f, lines_of(read_text(c.tls_dir() + "/" + f)));
  write_lines(
      legacy / "legacy.toml",
      {"name = \"legacy\"", "state_dir = \"\"", "[[nodes]]", "name = \"shard-1\"", "port = 1",
       "roles = [\"coordinator\"]", "gateway_port = 2", "[[nodes]]", "name = \"x\"", "port = 3",
       "roles = [\"shard\"]", "[[tokens]]", "hash = \"" + to_string(hash_token("adm")) + "\"",
       "name = \"adm\"", "admin = true", "models = [\"*\"]"});
  std::string out, err;
  REQUIRE(run_capture({bin_path("tessera"), "certs", "init", "--config", legacy / "legacy.toml",
                       "--dir", legacy.path()},
                      &out, &err) == 0);
  for (std::string n : {"shard-1", "shard-2", "shard-3"}) {
    INFO(n);
    CHECK_FALSE(node_speaks_basp(ports.at(n), ca, legacy / "shard-1.pem", legacy / "shard-1.key"));
  }
  CHECK_THAT(c.node_log("shard-2"), Catch::Contains("certificate of 'shard-1', not of 'coord'"));
  // The coordinator accepts no node connection at all: nothing listens on its node port.
  CHECK_FALSE(can_connect(ports.at("coord")));
  // The coordinator's own certificate is admitted by a shard (the BASP server handshake).
  CHECK(node_speaks_basp(ports.at("shard-2"), ca, c.tls_dir() + "/coord.pem",
                         c.tls_dir() + "/coord.key"));
  for (const auto& [name, pid] : pids) {
    INFO(name);
    CHECK(alive(pid));
  }
  expect_cluster_whole(c, 1);
}

TEST_CASE("an authenticated peer's malformed and 1 GiB BASP frames close only its connection",
          "[trust]") {
  auto& c = trust_cluster();
  const auto ports = node_ports(c.config_path());
  const std::string ca = c.tls_dir() + "/ca.pem";
  const std::string cert = c.tls_dir() + "/coord.pem", key = c.tls_dir() + "/coord.key";
  std::map<std::string, uint64_t> rss_before;
  for (std::string n : {"shard-1", "shard-2", "shard-3"}) rss_before[n] = vm_rss_kib(c.node_pid(n));
  const std::string crash = basp_header(0x00, 0x01, 0, ~0ull);  // segfaults a plain 0.17.6 node
  const std::string huge = basp_header(0x02, 0x00, 1u << 30, 0, 1);
  for (std::string n : {"shard-1", "shard-2", "shard-3"}) {
    INFO(n);
    const uint16_t port = ports.at(n);
    for (const auto* first : {&crash, &huge}) {
      tls_client t{port, ca, cert, key};
      REQUIRE(t.handshake());
      std::string hs = t.read_at_least(64);  // the BASP server handshake: authenticated
      REQUIRE(hs.size() >= 64);
      t.send(*first);
      CHECK(t.closed_by_node());
    }
    // After a well-formed client handshake, a header claiming 1 GiB, then the crash header.
    for (const auto* later : {&huge, &crash}) {
      tls_client t{port, ca, cert, key};
      REQUIRE(t.handshake());
      std::string hs = t.read_at_least(64);
      REQUIRE(hs.size() >= 64);
      std::string node_id = hs.substr(32, 32);
      node_id[8] = static_cast<char>(node_id[8] ^ 0x55);  // another pid: a node of its own
      t.send(basp_header(0x01, 0x00, 32, 0) + node_id);
      t.send(*later);
      CHECK(t.closed_by_node());
    }
  }
  for (std::string n : {"shard-1", "shard-2", "shard-3"}) {
    INFO(n);
    pid_t pid = c.node_pid(n);
    CHECK(alive(pid));
    CHECK(vm_rss_kib(pid) < rss_before[n] + 64 * 1024);  // a 1 GiB allocation would show
  }
  for (std::string n : {"shard-1", "shard-2", "shard-3"})
    WARN(n << " RSS " << rss_before[n] / 1024 << " -> " << vm_rss_kib(c.node_pid(n)) / 1024
           << " MiB after malformed and 1 GiB headers");
  CHECK_THAT(c.node_log("shard-2"), Catch::Contains("BASP payload of 1073741824"));
  expect_cluster_whole(c, 2);
}

TEST_CASE("silent, half-handshake and connect/close floods above a node's fd limit", "[trust]") {
  auto& c = trust_cluster();
  const auto ports = node_ports(c.config_path());
  const uint16_t port = ports.at("shard-2");
  const pid_t pid = c.node_pid("shard-2");
  // The node may hold 512 fds; the floods open 2,300 at once and 2,000 more one by one.
  rlimit old{};
  REQUIRE(::prlimit(pid, RLIMIT_NOFILE, nullptr, &old) == 0);
  rlimit low{512, 512};
  REQUIRE(::prlimit(pid, RLIMIT_NOFILE, &low, nullptr) == 0);
  rlimit mine{};
  ::getrlimit(RLIMIT_NOFILE, &mine);
  if (mine.rlim_cur < 4096 && mine.rlim_max >= 4096) {
    mine.rlim_cur = 4096;
    ::setrlimit(RLIMIT_NOFILE, &mine);
  }
  const uint64_t rss_before = vm_rss_kib(pid);
  auto open_nonblocking = [&]() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    return fd;
  };
  std::vector<int> held;
  const auto t0 = steady::now();
  for (int i = 0; i < 2000 && held.size() + 64 < mine.rlim_cur; ++i)
    held.push_back(open_nonblocking());
  // Half a handshake: a TLS record header announcing a ClientHello that never comes.
  for (int i = 0; i < 300 && held.size() + 64 < mine.rlim_cur; ++i) {
    int fd = connect_loopback(port);
    ::send(fd, "\x16\x03\x01\x02\x00", 5, MSG_NOSIGNAL);
    held.push_back(fd);
  }
  // Served throughout, with every flood connection held.
  expect_cluster_whole(c, 3);
  for (int i = 0; i < 2000; ++i) ::close(open_nonblocking());
  expect_cluster_whole(c, 4);
  CHECK(alive(pid));
  const uint64_t rss_peak = vm_rss_kib(pid);
  for (int fd : held) ::close(fd);
  ::prlimit(pid, RLIMIT_NOFILE, &old, nullptr);
  INFO("held " << held.size() << " connections; shard-2 RSS " << rss_before / 1024 << " -> "
               << rss_peak / 1024 << " MiB; "
               << std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count()
               << " ms");
  WARN("flood: held " << held.size() << " connections, 2000 connect/close; shard-2 RSS "
                      << rss_before / 1024 << " -> " << rss_peak / 1024 << " MiB");
  CHECK(held.size() >= 2000);
  CHECK(rss_peak < rss_before + 64 * 1024);
  CHECK(alive(pid));
  // The coordinator's certificate still gets in (a reconnect would work).
  CHECK(node_speaks_basp(port, c.tls_dir() + "/ca.pem", c.tls_dir() + "/coord.pem",
                         c.tls_dir() + "/coord.key"));
  expect_cluster_whole(c, 5);
}

// Last: it stops shard-3 and starts it again.
TEST_CASE("a process with shard-1's certificate on shard-3's port is not taken for shard-3",
          "[trust]") {
  auto& c = trust_cluster();
  const auto ports = node_ports(c.config_path());
  const pid_t coord = c.node_pid("coord");
  const pid_t shard3 = c.node_pid("shard-3");
  REQUIRE(::kill(shard3, SIGTERM) == 0);
  for (auto until = steady::now() + 20s; alive(shard3) && steady::now() < until;)
    std::this_thread::sleep_for(50ms);
  REQUIRE_FALSE(alive(shard3));
  // The rogue: TLS with shard-1's certificate on shard-3's port; it answers a handshake with
  // the BASP header that crashes a 0.17.6 node.
  int lst = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(lst, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(ports.at("shard-3"));
  REQUIRE(::bind(lst, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(lst, 16) == 0);
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  REQUIRE(SSL_CTX_use_certificate_chain_file(ctx, (c.tls_dir() + "/shard-1.pem").c_str()) == 1);
  REQUIRE(SSL_CTX_use_PrivateKey_file(ctx, (c.tls_dir() + "/shard-1.key").c_str(),
                                      SSL_FILETYPE_PEM) == 1);
  std::atomic<int> dialed{0};
  std::atomic<bool> stop{false};
  std::thread rogue{[&] {
    while (!stop) {
      pollfd p{lst, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int fd = ::accept(lst, nullptr, nullptr);
      if (fd < 0) continue;
      timeval tv{2, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      SSL* ssl = SSL_new(ctx);
      SSL_set_fd(ssl, fd);
      ++dialed;
      if (SSL_accept(ssl) == 1) {
        std::string h = basp_header(0x00, 0x01, 0, ~0ull);
        SSL_write(ssl, h.data(), static_cast<int>(h.size()));
        char buf[256];
        SSL_read(ssl, buf, sizeof buf);
      }
      SSL_free(ssl);
      ERR_clear_error();
      ::close(fd);
    }
  }};
  struct joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~joiner() {
      stop = true;
      t.join();
    }
  } join_rogue{stop, rogue};
  client adm{c.gateway(), c.admin_token()};
  // The coordinator dials shard-3's port (once a second) and never takes the rogue for it.
  for (auto until = steady::now() + 20s; dialed < 3 && steady::now() < until;)
    std::this_thread::sleep_for(100ms);
  CHECK(dialed >= 3);
  auto st = take_status(adm);
  CHECK_FALSE(st.members.at("shard-3").up);
  CHECK(alive(coord));
  CHECK_THAT(c.node_log("coord"), Catch::Contains("certificate of 'shard-1', not of 'shard-3'"));
  {
    client cl{c.gateway(), c.user_token()};
    expect_reference_predictions(cl, model(), "m", 100, 6);  // from the replicas left
  }
  stop = true;
  rogue.join();
  stop = false;
  rogue = std::thread{[] {}};
  ::close(lst);
  SSL_CTX_free(ctx);
  c.restart_node("shard-3");
  CHECK(wait_for_status(adm, 30000ms, [](const status_snapshot& s) {
    auto it = s.members.find("shard-3");
    return it != s.members.end() && it->second.up;
  }));
  expect_cluster_whole(c, 7);
}
