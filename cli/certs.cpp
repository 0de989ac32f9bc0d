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
x509_ptr new_cert(const std::string& cn, EVP_PKEY* key, const std::string& ou = "") {
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
  if (!ou.empty())
    X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(ou.c_str()), -1, -1, 0);
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

// Names of the files ensure_certs makes beside the node certificates: no node may use them.
constexpr const char* k_reserved[] = {"ca", "gateway", "client-ca", "client"};

// A node name becomes a file name and a DNS SAN: letters, digits, '.', '_', '-'.
void check_node_name(const std::string& name) {
  bool ok = !name.empty() && name[0] != '.';
  for (char c : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  if (!ok)
    throw command_error("tessera.invalid_argument: certs: node name '" + name +
                        "' cannot name a certificate file (use letters, digits, '.', '_', '-')");
  for (const char* r : k_reserved)
    if (name == r)
      throw command_error("tessera.invalid_argument: certs: node name '" + name +
                          "' is taken by the file " + name + ".pem; rename the node");
}

// "IP:<host>" or "DNS:<host>".
std::string san_of(const std::string& host) {
  return (is_ip(host) ? "IP:" : "DNS:") + host;
}

// A CA as <dir>/<stem>.pem + <stem>.key: made when the certificate is missing; its key is read
// only when a certificate must be signed (hosts may hold the CA certificate alone).
class authority {
 public:
  authority(const std::string& dir, const std::string& stem, const std::string& cn,
            std::vector<std::string>& written)
      : pem_(dir + "/" + stem + ".pem"), key_path_(dir + "/" + stem + ".key") {
    if (exists(pem_)) return;
    if (exists(key_path_))
      throw command_error("tessera.invalid_argument: certs: " + key_path_ + " exists without " +
                          stem + ".pem; move it away or restore " + stem + ".pem");
    key_ = new_key();
    cert_ = new_cert(cn, key_.get());
    X509_set_issuer_name(cert_.get(), X509_get_subject_name(cert_.get()));
    add_ext(cert_.get(), cert_.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_ext(cert_.get(), cert_.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(cert_.get(), cert_.get(), NID_subject_key_identifier, "hash");
    if (X509_sign(cert_.get(), key_.get(), EVP_sha256()) == 0) fail("cannot sign " + cn);
    write_key(key_path_, key_.get());
    write_cert(pem_, cert_.get());
    written.push_back(key_path_);
    written.push_back(pem_);
  }

  // Signs `cert` (issuer, extensions with `cert_exts`); `what` names it in errors.
  void sign(X509* cert, const std::string& what) {
    if (!key_) {
      if (!exists(key_path_))
        throw command_error("tessera.invalid_argument: certs: cannot sign a certificate for " +
                            what + ": " + key_path_ + " (the CA's key) is not here");
      cert_ = read_cert(pem_);
      key_ = read_key(key_path_);
      if (X509_check_private_key(cert_.get(), key_.get()) != 1)
        fail(key_path_ + " does not belong to " + pem_);
    }
    X509_set_issuer_name(cert, X509_get_subject_name(cert_.get()));
    add_ext(cert, cert_.get(), NID_authority_key_identifier, "keyid:always");
    if (X509_sign(cert, key_.get(), EVP_sha256()) == 0)
      fail("cannot sign the certificate of " + what);
  }

  // Whether sign() can work here: the key is loaded or its file exists.
  bool can_sign() const { return key_ != nullptr || exists(key_path_); }

 private:
  std::string pem_, key_path_;
  x509_ptr cert_;
  pkey_ptr key_;
};

// What one end-entity certificate says.
struct cert_spec {
  std::string stem;  // <dir>/<stem>.pem + <stem>.key
  std::string cn;
  std::string san;  // subjectAltName value; empty = none
  std::string eku;  // extendedKeyUsage value
  std::string ou;   // organizational unit: the role ("" = none)
};

// Makes <dir>/<stem>.pem + .key signed by `ca` unless both exist; a half-present pair is an
// error.
void issue(const std::string& dir, const cert_spec& spec, authority& ca,
           std::vector<std::string>& written) {
  const std::string pem = dir + "/" + spec.stem + ".pem", key_path = dir + "/" + spec.stem + ".key";
  const bool has_pem = exists(pem), has_key = exists(key_path);
  if (has_pem && has_key) return;
  if (has_pem != has_key)
    throw command_error("tessera.invalid_argument: certs: " + (has_pem ? pem : key_path) +
                        " exists without " + (has_pem ? key_path : pem) +
                        "; remove it to have both made again");
  auto key = new_key();
  auto cert = new_cert(spec.cn, key.get(), spec.ou);
  // sign() adds the authority key identifier, which needs the CA's certificate.
  add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert.get(), cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_ext(cert.get(), cert.get(), NID_ext_key_usage, spec.eku);
  if (!spec.san.empty()) add_ext(cert.get(), cert.get(), NID_subject_alt_name, spec.san);
  add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  ca.sign(cert.get(), spec.stem);
  write_key(key_path, key.get());
  write_cert(pem, cert.get());
  written.push_back(key_path);
  written.push_back(pem);
}

// The gateway's names: the coordinator's host, and loopback as clients on that host write it.
// An address is named twice, as an IP SAN and as a DNS SAN: kj-tls 0.9.2 checks the name a
// client connects to (X509_VERIFY_PARAM_set1_host) against DNS names only, IP literals too.
std::string gateway_san(const cluster_config& cfg) {
  std::string san = "DNS:localhost";
  auto add = [&](const std::string& host) {
    san += "," + san_of(host);
    if (is_ip(host)) san += ",DNS:" + host;
  };
  add("127.0.0.1");
  add("::1");
  const node_config* coord = cfg.coordinator();
  if (coord != nullptr && !is_loopback_host(coord->host)) add(coord->host);
  return san;
}

// A node's certificate by role (node/node_transport.hpp): the coordinator only dials members
// (clientAuth; its own shard actor, if any, is local), a shard only accepts the coordinator
// (serverAuth). A certificate of one role cannot complete a handshake in the other.
cert_spec node_cert_spec(const node_config& node, const std::string& san) {
  if (node.has_role("coordinator"))
    return {node.name, node.name, san, "clientAuth", "tessera coordinator"};
  if (node.has_role("shard")) return {node.name, node.name, san, "serverAuth", "tessera shard"};
  return {node.name, node.name, san, "serverAuth,clientAuth", ""};
}

}  // namespace

std::vector<std::string> ensure_certs(const cluster_config& cfg, const std::string& dir) {
  std::vector<std::string> written;
  make_dir(dir);
  for (const auto& node : cfg.nodes) check_node_name(node.name);
  authority ca(dir, "ca", "tessera " + cfg.name + " CA", written);
  for (const auto& node : cfg.nodes) {
    std::string san = "DNS:" + node.name;
    if (node.host != node.name) san += "," + san_of(node.host);
    issue(dir, node_cert_spec(node, san), ca, written);
  }
  // Client TLS files, made only where the cluster CA's key is (the machine that makes
  // certificates): a host holding ca.pem and its own node files needs none of them.
  if (!ca.can_sign()) return written;
  issue(dir,
        {"gateway", "tessera " + cfg.name + " gateway", gateway_san(cfg), "serverAuth",
         "tessera gateway"},
        ca, written);
  // Client certificates come from a CA of their own: the cluster CA admits node peers, and a
  // client certificate must never open a node port.
  authority client_ca(dir, "client-ca", "tessera " + cfg.name + " client CA", written);
  issue(dir, {"client", "tessera " + cfg.name + " client", "", "clientAuth", "tessera client"},
        client_ca, written);
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
  if (!exists(dir + "/gateway.pem"))
    std::fprintf(stderr,
                 "tessera: note: no gateway.pem or client certificate made: %s/ca.key is not "
                 "here\n",
                 dir.c_str());
  else if (auto err = check_key_pair(dir + "/gateway.pem", dir + "/gateway.key", ""))
    throw command_error(describe(err));
  if (!cfg->gateway.tls())
    std::fprintf(stderr,
                 "tessera: note: client TLS at the gateway is off in this config; to turn it on,"
                 " set [gateway] cert = \"%s/gateway.pem\" and key = \"%s/gateway.key\" (and"
                 " client_ca = \"%s/client-ca.pem\" to require client certificates)\n",
                 dir.c_str(), dir.c_str(), dir.c_str());
  if (cfg->tls.insecure && opts.dir.empty())
    std::fprintf(stderr,
                 "tessera: note: this config has [tls] insecure = true, so its nodes do not "
                 "use these files\n");
  return 0;
}

}  // namespace tessera::cli
