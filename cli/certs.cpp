#include "cli/certs.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli/client.hpp"
#include "node/openssl_ptr.hpp"
#include "node/tls.hpp"

namespace tessera::cli {
namespace {

constexpr long k_validity_days = 3650;

using namespace ossl;

[[noreturn]] void fail(const std::string& what) {
  std::string detail;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    detail += std::string(detail.empty() ? ": " : "; ") + buf;
  }
  throw command_error("tessera.io_error: certs: " + what + detail);
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

void make_dir(const std::string& dir) {
  for (size_t pos = 0; pos != std::string::npos;) {
    pos = dir.find('/', pos + 1);
    std::string part = dir.substr(0, pos);
    if (part.empty()) continue;
    bool last = pos == std::string::npos;
    if (::mkdir(part.c_str(), last ? 0700 : 0755) != 0 && errno != EEXIST)
      fail("cannot create " + part + ": " + std::strerror(errno));
  }
}

pkey_ptr new_key() {
  pkey_ptr key{EVP_EC_gen("P-256")};
  if (!key) fail("cannot generate an EC P-256 key");
  return key;
}

// Writes `text` through `write(bio)` to `path` atomically (temp file + rename) with `mode`.
template <class Write>
void write_pem(const std::string& path, mode_t mode, Write write) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  if (fd < 0) fail("cannot create " + tmp + ": " + std::strerror(errno));
  ::fchmod(fd, mode);  // whatever the umask
  FILE* f = ::fdopen(fd, "w");
  if (f == nullptr) {
    ::close(fd);
    fail("cannot open " + tmp);
  }
  std::unique_ptr<BIO, free_bio> bio{BIO_new_fp(f, BIO_CLOSE)};
  bool ok = bio && write(bio.get()) == 1 && BIO_flush(bio.get()) == 1;
  bio.reset();
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    fail("cannot write " + path);
  }
}

void write_key(const std::string& path, EVP_PKEY* key) {
  write_pem(path, 0600, [key](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

void write_cert(const std::string& path, X509* cert) {
  write_pem(path, 0644, [cert](BIO* b) { return PEM_write_bio_X509(b, cert); });
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) fail("cannot build extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `cn` and `key`, not yet signed: v3, random 128-bit serial, valid from an
// hour ago (clock skew) for k_validity_days.
x509_ptr new_cert(const std::string& cn, EVP_PKEY* key) {
  x509_ptr cert{X509_new()};
  if (!cert) fail("cannot allocate a certificate");
  X509_set_version(cert.get(), 2);
  std::unique_ptr<BIGNUM, free_bn> serial{BN_new()};
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr)
    fail("cannot make a serial number");
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), k_validity_days * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("tessera"), -1, -1, 0);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1)
    fail("cannot set CN " + cn);
  X509_set_pubkey(cert.get(), key);
  return cert;
}

x509_ptr read_cert(const std::string& path) {
  std::unique_ptr<BIO, free_bio> bio{BIO_new_file(path.c_str(), "r")};
  if (!bio) fail("cannot read " + path);
  x509_ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
  if (!cert) fail(path + " is not a PEM certificate");
  return cert;
}

pkey_ptr read_key(const std::string& path) {
  std::unique_ptr<BIO, free_bio> bio{BIO_new_file(path.c_str(), "r")};
  if (!bio) fail("cannot read " + path);
  pkey_ptr key{PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)};
  if (!key) fail(path + " is not an unencrypted PEM private key");
  return key;
}

bool is_ip(const std::string& host) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// A node name becomes a file name and a DNS SAN: letters, digits, '.', '_', '-'.
void check_node_name(const std::string& name) {
  bool ok = !name.empty() && name[0] != '.';
  for (char c : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  if (!ok)
    throw command_error("tessera.invalid_argument: certs: node name '" + name +
                        "' cannot name a certificate file (use letters, digits, '.', '_', '-')");
}

}  // namespace

std::vector<std::string> ensure_certs(const cluster_config& cfg, const std::string& dir) {
  std::vector<std::string> written;
  make_dir(dir);
  const std::string ca_pem = dir + "/ca.pem", ca_key_path = dir + "/ca.key";
  x509_ptr ca;
  pkey_ptr ca_key;
  if (!exists(ca_pem)) {
    if (exists(ca_key_path))
      throw command_error("tessera.invalid_argument: certs: " + ca_key_path +
                          " exists without ca.pem; move it away or restore ca.pem");
    ca_key = new_key();
    ca = new_cert("tessera " + cfg.name + " CA", ca_key.get());
    X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get()));
    add_ext(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_ext(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
    if (X509_sign(ca.get(), ca_key.get(), EVP_sha256()) == 0) fail("cannot sign the CA");
    write_key(ca_key_path, ca_key.get());
    write_cert(ca_pem, ca.get());
    written.push_back(ca_key_path);
    written.push_back(ca_pem);
  }
  for (const auto& node : cfg.nodes) {
    check_node_name(node.name);
    const std::string pem = dir + "/" + node.name + ".pem",
                      key_path = dir + "/" + node.name + ".key";
    const bool has_pem = exists(pem), has_key = exists(key_path);
    if (has_pem && has_key) continue;
    if (has_pem != has_key)
      throw command_error("tessera.invalid_argument: certs: " + (has_pem ? pem : key_path) +
                          " exists without " + (has_pem ? key_path : pem) +
                          "; remove it to have both made again");
    if (!ca_key) {
      if (!exists(ca_key_path))
        throw command_error("tessera.invalid_argument: certs: cannot sign a certificate for " +
                            node.name + ": " + ca_key_path + " (the CA's key) is not here");
      ca = read_cert(ca_pem);
      ca_key = read_key(ca_key_path);
      if (X509_check_private_key(ca.get(), ca_key.get()) != 1)
        fail(ca_key_path + " does not belong to " + ca_pem);
    }
    auto key = new_key();
    auto cert = new_cert(node.name, key.get());
    X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
    std::string san = "DNS:" + node.name;
    if (node.host != node.name) san += (is_ip(node.host) ? ",IP:" : ",DNS:") + node.host;
    add_ext(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
    add_ext(cert.get(), ca.get(), NID_ext_key_usage, "serverAuth,clientAuth");
    add_ext(cert.get(), ca.get(), NID_subject_alt_name, san);
    add_ext(cert.get(), ca.get(), NID_subject_key_identifier, "hash");
    add_ext(cert.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
    if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0)
      fail("cannot sign the certificate of " + node.name);
    write_key(key_path, key.get());
    write_cert(pem, cert.get());
    written.push_back(key_path);
    written.push_back(pem);
  }
  return written;
}

int run_certs_init(const certs_options& opts) {
  auto cfg = opts.config_path.empty() ? parse_config(embedded_local_config())
                                      : load_config_file(opts.config_path);
  if (!cfg) throw command_error(describe(cfg.error()));
  // --dir is a command-line path: relative to the current directory.
  std::string dir = opts.dir;
  if (dir.empty()) {
    dir = resolve_tls_dir(cfg->tls);
  } else if (dir[0] != '/') {
    char buf[4096];
    if (::getcwd(buf, sizeof buf) != nullptr) dir = std::string(buf) + "/" + dir;
  }
  auto written = ensure_certs(*cfg, dir);
  for (const auto& f : written) std::printf("wrote %s\n", f.c_str());
  if (written.empty()) std::printf("%s: every certificate is already there\n", dir.c_str());
  for (const auto& node : cfg->nodes)
    if (auto err = check_tls_files(tls_files_for(tls_config{dir, false}, node.name), node.name))
      throw command_error(describe(err));
  if (cfg->tls.insecure && opts.dir.empty())
    std::fprintf(stderr,
                 "tessera: note: this config has [tls] insecure = true, so its nodes do not "
                 "use these files\n");
  return 0;
}

}  // namespace tessera::cli
