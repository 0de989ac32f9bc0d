// Mutual TLS between nodes, over real processes: a TLS cluster serves like the reference; the
// malformed and oversized BASP headers that crash or bloat a plaintext node end in the TLS
// handshake; a TLS client without a cluster certificate is refused; a node with a certificate
// of another CA never joins; and (with tcpdump) node-to-node traffic carries no plaintext.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "node/config.hpp"
#include "node/token_hash.hpp"
#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/skip.hpp"

using namespace tessera;
using namespace tessera::test;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

std::string tcpdump_binary() {
  for (std::string p : {"/usr/bin/tcpdump", "/usr/sbin/tcpdump"})
    if (::access(p.c_str(), X_OK) == 0) return p;
  return "";
}

// The capture test needs tcpdump (scripts/setup.sh installs it) and root to capture on lo.
const program_precondition needs_tcpdump{[] {
  if (tcpdump_binary().empty()) return std::string("tcpdump is not installed (scripts/setup.sh)");
  if (::geteuid() != 0) return std::string("capturing on lo needs root");
  return std::string();
}};

model_fixture& model() {
  static model_fixture m{[] {
    synthetic_spec s;
    s.vocab = 2000;
    s.buckets = 100000;
    return s;
  }()};
  return m;
}

// Polls `cond` every 100 ms until it holds or `limit` passes; returns whether it held.
template <class F>
bool wait_until(F cond, std::chrono::seconds limit) {
  auto until = steady::now() + limit;
  for (;;) {
    if (cond()) return true;
    if (steady::now() >= until) return false;
    std::this_thread::sleep_for(100ms);
  }
}

// The shard-role nodes' CAF ports of a config.
std::map<std::string, uint16_t> shard_ports(const std::string& config_path) {
  auto cfg = load_config_file(config_path);
  REQUIRE(cfg);
  std::map<std::string, uint16_t> out;
  for (const auto& n : cfg->nodes)
    if (n.has_role("shard")) out[n.name] = n.port;
  return out;
}

// A 32-byte BASP header as CAF 0.17.6 serializes it (network byte order): operation, two
// padding bytes, flags, payload_len, operation_data, source and destination actor ids.
std::string basp_header(uint8_t operation, uint32_t payload_len, uint64_t operation_data) {
  std::string h(32, '\0');
  h[0] = static_cast<char>(operation);
  for (int i = 0; i < 4; ++i) h[4 + i] = static_cast<char>(payload_len >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) h[8 + i] = static_cast<char>(operation_data >> (56 - 8 * i));
  return h;
}

// Sends `bytes` over plain TCP and reads until the node closes the connection. Returns the
// bytes the node sent before closing; `closed` says whether it closed (not the 30 s guard).
std::string send_plain(uint16_t port, const std::string& bytes, bool& closed) {
  int fd = connect_loopback(port);
  ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  CHECK(sent == static_cast<ssize_t>(bytes.size()));
  std::string got;
  char buf[4096];
  closed = false;
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
      continue;
    }
    closed = n == 0 || errno == ECONNRESET;
    break;
  }
  ::close(fd);
  return got;
}

struct tls_probe {
  bool handshake_done = false;  // SSL_connect returned 1 (TLS 1.3 clients finish first)
  int app_bytes = 0;            // application bytes read (BASP's server handshake if accepted)
  bool closed_by_node = false;  // the node ended the connection (alert or EOF), no timeout
  std::string error;
};

// A TLS client on `port` that verifies the node with `ca` and presents `cert`/`key` (none when
// empty); it reads what the node sends first.
tls_probe probe_tls(uint16_t port, const std::string& ca, const std::string& cert,
                    const std::string& key) {
  tls_probe out;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  REQUIRE(ctx != nullptr);
  REQUIRE(SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) == 1);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!cert.empty()) {
    REQUIRE(SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) == 1);
  }
  int fd = connect_loopback(port);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  ERR_clear_error();
  out.handshake_done = SSL_connect(ssl) == 1;
  if (out.handshake_done) {
    char buf[256];
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n > 0) out.app_bytes = n;
    int e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, n);
    out.closed_by_node = e == SSL_ERROR_SSL || e == SSL_ERROR_ZERO_RETURN ||
                         (e == SSL_ERROR_SYSCALL && errno != EAGAIN && errno != EWOULDBLOCK);
  } else {
    out.closed_by_node = errno != EAGAIN && errno != EWOULDBLOCK;
  }
  char err[256] = {0};
  if (unsigned long e = ERR_peek_error()) ERR_error_string_n(e, err, sizeof err);
  out.error = err;
  ERR_clear_error();
  SSL_free(ssl);
  ::close(fd);
  SSL_CTX_free(ctx);
  return out;
}

void load(client& cl, bool exact_pooling = false) {
  auto req = cl.admin().loadRequest();
  req.initOptions().setPath(model().path);
  req.getOptions().setName("m");
  req.getOptions().setExactPooling(exact_pooling);
  auto res = req.send().wait(cl.wait_scope());
  REQUIRE(res.getVersion() == 1);
}

// 200 random texts predicted by the cluster equal the in-process reference.
void expect_serving(const std::string& gateway, const std::string& token, uint64_t seed) {
  client cl{gateway, token};
  expect_reference_predictions(cl, model(), "m", 200, seed);
}

local_cluster& tls_cluster() {
  static local_cluster c{[] {
    cluster_options o;
    o.memory_budget = "1GiB";
    return o;
  }()};
  static bool loaded = [] {
    client cl{c.gateway(), c.admin_token()};
    load(cl);
    return true;
  }();
  (void)loaded;
  return c;
}

// Processes a test started itself, stopped by pid when it ends (also on failure).
struct processes {
  std::vector<pid_t> pids;
  ~processes() {
    for (pid_t p : pids) ::kill(p, SIGTERM);
    for (pid_t p : pids) {
      auto until = steady::now() + 10s;
      while (::waitpid(p, nullptr, WNOHANG) == 0 && steady::now() < until)
        std::this_thread::sleep_for(20ms);
      if (::kill(p, 0) == 0) {
        ::kill(p, SIGKILL);
        ::waitpid(p, nullptr, 0);
      }
    }
  }
};

}  // namespace

TEST_CASE("a cluster with mutual TLS between nodes serves like the reference", "[tls]") {
  auto& c = tls_cluster();
  expect_serving(c.gateway(), c.user_token(), 1);
  // `tessera up` made the CA and one certificate per node; keys are private.
  for (std::string n : {"ca", "coord", "shard-1", "shard-2", "shard-3"}) {
    struct stat st {};
    REQUIRE(::stat((c.tls_dir() + "/" + n + ".key").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(::access((c.tls_dir() + "/" + n + ".pem").c_str(), R_OK) == 0);
  }
  for (std::string n : {"shard-1", "shard-2", "shard-3"})
    CHECK_THAT(c.node_log(n), Catch::Contains("published on") && Catch::Contains("(TLS)"));
  CHECK_THAT(c.node_log("coord"), !Catch::Contains("TLS between nodes is OFF"));
}

TEST_CASE("malformed and 1 GiB BASP headers leave every node alive, serving and its RSS flat",
          "[tls]") {
  auto& c = tls_cluster();
  std::map<std::string, pid_t> pids;
  std::map<std::string, uint64_t> rss_before;
  for (std::string n : {"coord", "shard-1", "shard-2", "shard-3"}) {
    pids[n] = c.node_pid(n);
    REQUIRE(pids[n] > 0);
    rss_before[n] = vm_rss_kib(pids[n]);
  }
  const std::string crash = basp_header(0x00, 0, 1);  // segfaults a plaintext 0.17.6 node
  const std::string huge_hs = basp_header(0x00, 1u << 30, 0);
  const std::string huge_msg = basp_header(0x02, 1u << 30, 0);
  for (int round = 0; round < 3; ++round)
    for (const auto& [name, port] : shard_ports(c.config_path()))
      for (const auto* attack : {&crash, &huge_hs, &huge_msg}) {
        INFO(name << " round " << round);
        bool closed = false;
        std::string answer = send_plain(port, *attack, closed);
        CHECK(closed);  // the node ended it (a TLS alert at most), no 30 s guard
        CHECK(answer.find("\x00\x00\x00\x00", 0, 4) == std::string::npos);  // no BASP reply
      }
  for (const auto& [name, pid] : pids) {
    INFO(name);
    CHECK(alive(pid));
    const uint64_t after = vm_rss_kib(pid);
    CHECK(after < rss_before[name] + 64 * 1024);  // +64 MiB: a 1 GiB allocation would show
  }
  expect_serving(c.gateway(), c.user_token(), 2);
  client cl{c.gateway(), c.admin_token()};
  auto st = take_status(cl);
  for (const auto& [name, m] : st.members) {
    INFO(name);
    CHECK(m.up);
  }
}

TEST_CASE("a TLS client without a cluster certificate cannot complete a handshake", "[tls]") {
  auto& c = tls_cluster();
  const std::string dir = c.tls_dir();
  temp_dir other;
  std::string out, err;
  REQUIRE(run_capture({bin_path("tessera"), "certs", "init", "--config", c.config_path(), "--dir",
                       other.path()},
                      &out, &err) == 0);
  for (const auto& [name, port] : shard_ports(c.config_path())) {
    INFO(name);
    // Control: a client with a cluster certificate gets BASP's first bytes.
    auto good = probe_tls(port, dir + "/ca.pem", dir + "/coord.pem", dir + "/coord.key");
    CHECK(good.handshake_done);
    CHECK(good.app_bytes > 0);
    // No certificate: the node refuses (TLS 1.3 lets the client finish first; then the node
    // sends its alert and closes) and not one application byte arrives.
    auto none = probe_tls(port, dir + "/ca.pem", "", "");
    INFO(none.error);
    CHECK(none.app_bytes == 0);
    CHECK(none.closed_by_node);
    // A certificate of another CA: the same.
    auto foreign = probe_tls(port, dir + "/ca.pem", other / "coord.pem", other / "coord.key");
    INFO(foreign.error);
    CHECK(foreign.app_bytes == 0);
    CHECK(foreign.closed_by_node);
  }
  expect_serving(c.gateway(), c.user_token(), 3);
  client cl{c.gateway(), c.admin_token()};
  for (const auto& [name, m] : take_status(cl).members) {
    INFO(name);
    CHECK(m.up);  // refused strangers do not disturb the members' connections
  }
}

TEST_CASE("a node with a certificate of another CA cannot join; the cluster keeps serving",
          "[tls]") {
  temp_dir dir;
  // Ports: coordinator, gateway, shard-1..3; any two free ones the kernel hands out.
  std::vector<uint16_t> ports;
  std::vector<int> held;
  for (int i = 0; i < 5; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ports.push_back(ntohs(a.sin_port));
    held.push_back(fd);
  }
  for (int fd : held) ::close(fd);
  auto config = [&](const std::string& tls_dir) {
    std::ostringstream t;
    t << "name = \"rogue-itest\"\nstate_dir = \"\"\n[tls]\ndir = \"" << tls_dir << "\"\n"
      << "[[nodes]]\nname = \"coord\"\nport = " << ports[0]
      << "\nroles = [\"coordinator\"]\ngateway_port = " << ports[1] << "\n";
    for (int i = 1; i <= 3; ++i)
      t << "[[nodes]]\nname = \"shard-" << i << "\"\nport = " << ports[1 + i]
        << "\nroles = [\"shard\"]\nmemory_budget = \"1GiB\"\n";
    t << "[[tokens]]\nhash = \"" << to_string(hash_token("adm"))
      << "\"\nname = \"adm\"\nadmin = true\nmodels = [\"*\"]\n";
    return t.str();
  };
  const std::string good_cfg = dir / "cluster.toml", rogue_cfg = dir / "rogue.toml";
  std::ofstream(good_cfg) << config(dir / "tls");
  std::ofstream(rogue_cfg) << config(dir / "rogue-tls");
  for (const auto& cfg : {good_cfg, rogue_cfg}) {
    std::string out, err;
    INFO(cfg);
    REQUIRE(run_capture({bin_path("tessera"), "certs", "init", "--config", cfg}, &out, &err) == 0);
  }
  processes procs;
  auto node = bin_path("tessera-node");
  procs.pids.push_back(
      spawn_to_file({node, "--config", good_cfg, "--name", "shard-1"}, dir / "shard-1.log"));
  procs.pids.push_back(
      spawn_to_file({node, "--config", good_cfg, "--name", "shard-2"}, dir / "shard-2.log"));
  // shard-3 runs with a CA, certificate and key of its own: a valid TLS peer of another cluster.
  procs.pids.push_back(
      spawn_to_file({node, "--config", rogue_cfg, "--name", "shard-3"}, dir / "shard-3.log"));
  procs.pids.push_back(
      spawn_to_file({node, "--config", good_cfg, "--name", "coord"}, dir / "coord.log"));
  const pid_t rogue = procs.pids[2];
  const std::string gateway = "127.0.0.1:" + std::to_string(ports[1]);
  auto coord_log = [&] { return read_text(dir / "coord.log.err"); };
  auto logs = [&] {
    std::string all;
    for (std::string n : {"coord", "shard-1", "shard-2", "shard-3"})
      all += "--- " + n + "\n" + read_text(dir / (n + ".log.err"));
    return all;
  };
  // The coordinator has tried shard-3 four times and failed in the TLS handshake; any healthy
  // member dropped on the way (see node/ssl_error_queue.hpp) would show as "is down".
  bool tried = wait_until(
      [&] {
        return coord_log().find("member shard-3 at 127.0.0.1:" + std::to_string(ports[4]) +
                                " (TLS) (attempt 4)") != std::string::npos;
      },
      60s);
  INFO(logs());
  REQUIRE(tried);
  bool members_up = wait_until(
      [&] {
        try {
          client cl{gateway, "adm"};
          auto st = take_status(cl);
          return st.members["shard-1"].up && st.members["shard-2"].up;
        } catch (const kj::Exception&) {
          return false;
        }
      },
      60s);
  REQUIRE(members_up);
  {
    client cl{gateway, "adm"};
    load(cl);
    auto st = take_status(cl);
    CHECK_FALSE(st.ready);
    CHECK(st.members["shard-1"].up);
    CHECK(st.members["shard-2"].up);
    CHECK_FALSE(st.members["shard-3"].up);
  }
  expect_serving(gateway, "adm", 4);
  CHECK(alive(rogue));  // refused, not crashed: it simply never joins
  CHECK_THAT(coord_log(), !Catch::Contains("member shard-3 is up"));
  CHECK_THAT(coord_log(), !Catch::Contains("is down"));  // no healthy member was dropped
}

namespace {

// Appends `v` as little-endian bytes.
template <class T>
void put_le(std::string& out, T v) {
  unsigned char b[sizeof(T)];
  std::memcpy(b, &v, sizeof v);  // x86-64 is little-endian, as tessera's payloads are
  out.append(reinterpret_cast<const char*>(b), sizeof b);
}

struct capture_result {
  bool ids_seen = false;  // the request's row ids, as the coordinator sends them to a shard
  bool row_seen = false;  // an embedding row, as a shard sends it back (exact pooling gathers)
  size_t bytes = 0;       // size of the capture
};

// Starts a 3-shard cluster (TLS on or off), loads the model with exact pooling, captures the
// shard ports on loopback with tcpdump while predicting inputs given as row ids, and searches
// the capture for those ids and for the bytes of one of their rows.
capture_result capture_node_traffic(bool insecure) {
  cluster_options o;
  o.memory_budget = "1GiB";
  o.tls_insecure = insecure;
  local_cluster c{o};
  for (std::string n : {"coord", "shard-1", "shard-2", "shard-3"}) {
    INFO(n);  // an insecure config is announced by every node at every start
    CHECK((c.node_log(n).find("TLS between nodes is OFF") != std::string::npos) == insecure);
  }
  client cl{c.gateway(), c.admin_token()};
  load(cl, true);
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 24; ++i) ids.push_back(7 + 12 * i);  // all in the first row shard
  std::string id_bytes;
  for (auto id : ids) put_le(id_bytes, static_cast<uint32_t>(id));
  std::string row_bytes;
  auto row = model().ref->pool_ids({ids[0]}, {});  // mean of one row: the row itself
  for (Eigen::Index i = 0; i < row.size(); ++i) put_le(row_bytes, row[i]);

  // The end of the capture is known by a marker the test sends to a listener of its own, which
  // the filter also captures: tcpdump writes packets in order.
  uint16_t marker_port = 0;
  int listener = listen_loopback(&marker_port);
  const std::string marker = "tessera-capture-end-marker";

  temp_dir d;
  std::string filter = "tcp and (port " + std::to_string(marker_port);
  for (const auto& [name, port] : shard_ports(c.config_path()))
    filter += " or port " + std::to_string(port);
  filter += ")";
  processes dump;
  dump.pids.push_back(spawn_to_file({tcpdump_binary(), "-i", "lo", "-n", "-U", "--immediate-mode",
                                     "-s", "0", "-Z", "root", "-w", d / "cap.pcap", filter},
                                    d / "tcpdump.out"));
  bool listening = wait_until(
      [&] { return read_text(d / "tcpdump.out.err").find("listening on") != std::string::npos; },
      30s);
  INFO(read_text(d / "tcpdump.out.err"));
  REQUIRE(listening);
  for (int round = 0; round < 3; ++round) {
    auto req = cl.session().predictRequest();
    req.initModel().setName("m");
    req.setTopK(1);
    auto bag = req.initInputs(1)[0].initIds();
    auto list = bag.initIds(static_cast<unsigned>(ids.size()));
    for (size_t i = 0; i < ids.size(); ++i) list.set(i, ids[i]);
    auto res = req.send().wait(cl.wait_scope());
    REQUIRE(res.getResults().size() == 1);
  }
  int m = connect_loopback(marker_port);
  int a = ::accept(listener, nullptr, nullptr);
  CHECK(::send(m, marker.data(), marker.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(marker.size()));
  ::close(m);
  ::close(a);
  ::close(listener);
  bool ended =
      wait_until([&] { return read_text(d / "cap.pcap").find(marker) != std::string::npos; }, 30s);
  CHECK(ended);
  ::kill(dump.pids[0], SIGINT);
  int status = 0;
  ::waitpid(dump.pids[0], &status, 0);
  dump.pids.clear();
  std::string pcap = read_text(d / "cap.pcap");
  capture_result out;
  out.bytes = pcap.size();
  out.ids_seen = pcap.find(id_bytes) != std::string::npos;
  out.row_seen = pcap.find(row_bytes) != std::string::npos;
  return out;
}

}  // namespace

TEST_CASE("a capture of node-to-node traffic shows no plaintext ids or rows", "[tls]") {
  // Control: without TLS the same capture does show them, so the search can find them.
  auto plain = capture_node_traffic(true);
  CHECK(plain.bytes > 0);
  REQUIRE(plain.ids_seen);
  REQUIRE(plain.row_seen);
  auto tls = capture_node_traffic(false);
  CHECK(tls.bytes > plain.bytes / 2);  // the same conversation was captured
  CHECK_FALSE(tls.ids_seen);
  CHECK_FALSE(tls.row_seen);
}
