// `tessera certs init` / ensure_certs: the CA and the node certificates verify, keys are
// private, nothing is overwritten, and the node-side check refuses every wrong file.
#include "cli/certs.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli/client.hpp"
#include "node/openssl_ptr.hpp"
#include "node/tls.hpp"

namespace tessera::cli {
namespace {

const char* k_config = R"(
name = "t"
[[nodes]]
name = "coord"
host = "127.0.0.1"
port = 7400
roles = ["coordinator"]
gateway_port = 7300
[[nodes]]
name = "shard-1"
host = "10.0.0.2"
port = 7401
roles = ["shard"]
[[nodes]]
name = "shard-2"
host = "db.example"
port = 7402
roles = ["shard"]
)";

struct temp_dir {
  temp_dir() {
    char tmpl[] = "/tmp/tessera-certs-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

cluster_config config() {
  auto cfg = parse_config(k_config);
  REQUIRE(cfg);
  return *cfg;
}

tls_files files(const std::string& dir, const std::string& node) {
  tls_config tls;
  tls.dir = dir;
  return tls_files_for(tls, node);
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

struct free_x509 {
  void operator()(X509* p) const { X509_free(p); }
};
std::unique_ptr<X509, free_x509> read_cert(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  REQUIRE(f != nullptr);
  std::unique_ptr<X509, free_x509> cert{PEM_read_X509(f, nullptr, nullptr, nullptr)};
  std::fclose(f);
  REQUIRE(cert);
  return cert;
}

}  // namespace

TEST_CASE("certs init makes a CA and one verified certificate per node, keys 0600") {
  temp_dir d;
  const std::string dir = d.path + "/tls";
  auto written = ensure_certs(config(), dir);
  CHECK(written.size() == 14);  // ca + 3 nodes + gateway + client-ca + client, key and cert each
  CHECK(mode_of(dir) == 0700);
  for (std::string n : {"ca", "coord", "shard-1", "shard-2", "gateway", "client-ca", "client"}) {
    CHECK(mode_of(dir + "/" + n + ".key") == 0600);
    CHECK(mode_of(dir + "/" + n + ".pem") == 0644);
  }
  auto ca = read_cert(dir + "/ca.pem");
  CHECK(X509_check_ca(ca.get()) == 1);  // CA:TRUE in basicConstraints
  for (std::string n : {"coord", "shard-1", "shard-2"}) {
    INFO(n);
    CHECK_FALSE(check_tls_files(files(dir, n), n));
    auto cert = read_cert(dir + "/" + n + ".pem");
    CHECK(X509_check_ca(cert.get()) == 0);
    CHECK(X509_check_host(cert.get(), n.c_str(), n.size(), 0, nullptr) == 1);
    // By role: the coordinator only dials (client), a shard only accepts (server).
    const bool coord = n == "coord";
    CHECK(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_CLIENT, 0) == (coord ? 1 : 0));
    CHECK(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0) == (coord ? 0 : 1));
    CHECK(certificate_common_name(dir + "/" + n + ".pem") == n);
  }
  CHECK(X509_check_ip_asc(read_cert(dir + "/shard-1.pem").get(), "10.0.0.2", 0) == 1);
  CHECK(X509_check_host(read_cert(dir + "/shard-2.pem").get(), "db.example", 0, 0, nullptr) == 1);
}

TEST_CASE("certs init never overwrites and makes only what is missing") {
  temp_dir d;
  auto cfg = config();
  ensure_certs(cfg, d.path);
  CHECK(ensure_certs(cfg, d.path).empty());
  std::filesystem::remove(d.path + "/shard-2.pem");
  std::filesystem::remove(d.path + "/shard-2.key");
  auto again = ensure_certs(cfg, d.path);
  CHECK(again == std::vector<std::string>{d.path + "/shard-2.key", d.path + "/shard-2.pem"});
  CHECK_FALSE(check_tls_files(files(d.path, "shard-2"), "shard-2"));  // same CA

  std::filesystem::remove(d.path + "/shard-1.key");  // half a pair
  CHECK_THROWS_AS(ensure_certs(cfg, d.path), command_error);
  std::filesystem::remove(d.path + "/shard-1.pem");
  std::filesystem::remove(d.path + "/ca.key");  // cannot sign without the CA key
  CHECK_THROWS_WITH(ensure_certs(cfg, d.path), Catch::Contains("ca.key"));
}

TEST_CASE("a host without ca.key keeps its node files and gets no client TLS files") {
  temp_dir trusted, host;
  auto cfg = config();
  ensure_certs(cfg, trusted.path);
  for (std::string f : {"ca.pem", "coord.pem", "coord.key"})  // what DEPLOY.md copies
    std::filesystem::copy_file(trusted.path + "/" + f, host.path + "/" + f);
  cfg.nodes.resize(1);
  CHECK(ensure_certs(cfg, host.path).empty());
  CHECK_FALSE(std::filesystem::exists(host.path + "/gateway.pem"));
  CHECK_FALSE(std::filesystem::exists(host.path + "/client-ca.pem"));
}

TEST_CASE("a node refuses a certificate of another CA, a foreign key or another node's name") {
  temp_dir a, b;
  auto cfg = config();
  ensure_certs(cfg, a.path);
  ensure_certs(cfg, b.path);
  auto mixed = files(a.path, "shard-1");
  mixed.cert = b.path + "/shard-1.pem";
  mixed.key = b.path + "/shard-1.key";
  auto err = check_tls_files(mixed, "shard-1");
  REQUIRE(err);
  CHECK_THAT(message_of(err), Catch::Contains("is not verified by the CA"));

  auto foreign_key = files(a.path, "shard-1");
  foreign_key.key = a.path + "/shard-2.key";
  err = check_tls_files(foreign_key, "shard-1");
  REQUIRE(err);
  CHECK_THAT(message_of(err), Catch::Contains("does not belong to the certificate"));

  err = check_tls_files(files(a.path, "shard-2"), "shard-1");
  REQUIRE(err);
  CHECK_THAT(message_of(err), Catch::Contains("not the node 'shard-1'"));

  auto empty = files(a.path, "coord");
  std::FILE* f = std::fopen(empty.cert.c_str(), "w");
  std::fclose(f);
  err = check_tls_files(empty, "coord");
  REQUIRE(err);
  CHECK_THAT(message_of(err), Catch::Contains("is empty"));
}

namespace {

// Whether `ca_path`'s certificate verifies `cert_path`'s for `purpose` (X509_PURPOSE_*).
bool verifies(const std::string& ca_path, const std::string& cert_path, int purpose) {
  auto ca = read_cert(ca_path);
  auto cert = read_cert(cert_path);
  std::unique_ptr<X509_STORE, ossl::free_store> store{X509_STORE_new()};
  std::unique_ptr<X509_STORE_CTX, ossl::free_store_ctx> ctx{X509_STORE_CTX_new()};
  REQUIRE(X509_STORE_add_cert(store.get(), ca.get()) == 1);
  REQUIRE(X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) == 1);
  X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  return X509_verify_cert(ctx.get()) == 1;
}

}  // namespace

TEST_CASE("certs init makes a gateway server certificate for loopback and the coordinator host") {
  temp_dir d;
  auto cfg = config();
  cfg.nodes[0].host = "gw.example";  // the coordinator, as clients on other hosts name it
  ensure_certs(cfg, d.path);
  const std::string gw = d.path + "/gateway.pem";
  CHECK_FALSE(check_key_pair(gw, d.path + "/gateway.key", ""));
  CHECK(verifies(d.path + "/ca.pem", gw, X509_PURPOSE_SSL_SERVER));
  CHECK_FALSE(verifies(d.path + "/ca.pem", gw, X509_PURPOSE_SSL_CLIENT));  // not a node peer
  auto cert = read_cert(gw);
  CHECK(X509_check_host(cert.get(), "gw.example", 0, 0, nullptr) == 1);
  CHECK(X509_check_host(cert.get(), "localhost", 0, 0, nullptr) == 1);
  CHECK(X509_check_ip_asc(cert.get(), "127.0.0.1", 0) == 1);
  CHECK(X509_check_ip_asc(cert.get(), "::1", 0) == 1);
  // kj-tls checks a client's IP literal against DNS names: each address is one too.
  CHECK(X509_check_host(cert.get(), "127.0.0.1", 0, 0, nullptr) == 1);
  CHECK(X509_check_host(cert.get(), "::1", 0, 0, nullptr) == 1);
  CHECK(X509_check_host(cert.get(), "other.example", 0, 0, nullptr) != 1);
  temp_dir by_ip;
  cfg.nodes[0].host = "10.0.0.1";
  ensure_certs(cfg, by_ip.path);
  auto ip_cert = read_cert(by_ip.path + "/gateway.pem");
  CHECK(X509_check_ip_asc(ip_cert.get(), "10.0.0.1", 0) == 1);
  CHECK(X509_check_host(ip_cert.get(), "10.0.0.1", 0, 0, nullptr) == 1);
}

TEST_CASE("client certificates come from a CA of their own, never accepted at a node port") {
  temp_dir d;
  ensure_certs(config(), d.path);
  const std::string client = d.path + "/client.pem";
  CHECK_FALSE(check_key_pair(client, d.path + "/client.key", ""));
  CHECK(verifies(d.path + "/client-ca.pem", client, X509_PURPOSE_SSL_CLIENT));
  CHECK_FALSE(verifies(d.path + "/client-ca.pem", client, X509_PURPOSE_SSL_SERVER));
  CHECK_FALSE(verifies(d.path + "/ca.pem", client, X509_PURPOSE_SSL_CLIENT));
  CHECK(X509_check_ca(read_cert(d.path + "/client-ca.pem").get()) == 1);
  // The client CA's key is needed only while a client certificate is made.
  std::filesystem::remove(d.path + "/client-ca.key");
  CHECK(ensure_certs(config(), d.path).empty());
  std::filesystem::remove(d.path + "/client.pem");
  std::filesystem::remove(d.path + "/client.key");
  CHECK_THROWS_WITH(ensure_certs(config(), d.path), Catch::Contains("client-ca.key"));
}

TEST_CASE("a node named like a file certs init makes is refused") {
  for (std::string name : {"ca", "gateway", "client", "client-ca"}) {
    INFO(name);
    temp_dir d;
    auto cfg = config();
    cfg.nodes[1].name = name;
    CHECK_THROWS_WITH(ensure_certs(cfg, d.path), Catch::Contains("'" + name + "' is taken"));
  }
}

}  // namespace tessera::cli
