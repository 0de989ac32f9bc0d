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
  CHECK(written.size() == 8);  // ca + 3 nodes, key and certificate each
  CHECK(mode_of(dir) == 0700);
  for (std::string n : {"ca", "coord", "shard-1", "shard-2"}) {
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
    CHECK(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_CLIENT, 0) == 1);
    CHECK(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0) == 1);
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

}  // namespace tessera::cli
