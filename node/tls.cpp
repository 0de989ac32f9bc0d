#include "node/tls.hpp"

#include "node/node_sockets.hpp"
#include "node/openssl_ptr.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace tessera {
namespace {

using namespace ossl;

const char* k_hint =
    " (make the files with `tessera certs init --config FILE`, or turn TLS off with [tls] "
    "insecure = true)";

// OpenSSL's queued errors as one string (and the queue cleared); a PEM read that failed
// without queuing one had no PEM data.
std::string openssl_errors() {
  auto out = ssl_errors();
  return out.empty() ? "no PEM data" : out;
}

caf::error unreadable(const std::string& path, const char* hint) {
  return make_error(errc::io_error,
                    "tls: " + path + ": cannot read: " + std::strerror(errno) + hint);
}

// Opens `path` for reading, failing with the OS's reason (missing, permissions, a directory).
caf::error check_readable(const std::string& path, const char* hint) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return unreadable(path, hint);
  char c;
  ssize_t n = ::read(fd, &c, 1);
  int saved = errno;
  ::close(fd);
  errno = saved;
  if (n < 0) return unreadable(path, hint);
  if (n == 0) return make_error(errc::invalid_argument, "tls: " + path + ": is empty" + hint);
  return caf::none;
}

caf::error bad_file(const std::string& path, const std::string& what) {
  return make_error(errc::invalid_argument, "tls: " + path + ": " + what);
}

// A passphrase callback that supplies none: an encrypted key fails to load, clearly.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

x509_ptr read_cert(const std::string& path) {
  std::unique_ptr<BIO, free_bio> bio{BIO_new_file(path.c_str(), "r")};
  if (!bio) return nullptr;
  return x509_ptr{PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)};
}

pkey_ptr read_key(const std::string& path) {
  std::unique_ptr<BIO, free_bio> bio{BIO_new_file(path.c_str(), "r")};
  if (!bio) return nullptr;
  return pkey_ptr{PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)};
}

std::string common_name(X509* cert) {
  char buf[256] = {0};
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string{};
}

}  // namespace

std::string tls_base_dir() {
  if (const char* env = std::getenv("TESSERA_STATE_DIR"); env != nullptr && *env != '\0')
    return env;
  char buf[4096];
  if (::getcwd(buf, sizeof buf) == nullptr) return ".";
  return buf;
}

std::string resolve_tls_dir(const tls_config& tls) {
  std::string dir = tls.dir;
  if (dir.empty() || dir[0] != '/') dir = tls_base_dir() + "/" + dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

std::string resolve_state_path(const std::string& dir) {
  if (dir.empty()) return dir;
  tls_config as_dir;
  as_dir.dir = dir;
  return resolve_tls_dir(as_dir);
}

tls_files tls_files_for(const tls_config& tls, const std::string& node) {
  tls_files f;
  f.dir = resolve_tls_dir(tls);
  f.ca = f.dir + "/ca.pem";
  f.cert = f.dir + "/" + node + ".pem";
  f.key = f.dir + "/" + node + ".key";
  return f;
}

std::string certificate_common_name(const std::string& pem_path) {
  auto cert = read_cert(pem_path);
  ERR_clear_error();
  return cert ? common_name(cert.get()) : std::string{};
}

caf::error check_key_pair(const std::string& cert_path, const std::string& key_path,
                          const char* hint) {
  for (const auto* path : {&cert_path, &key_path})
    if (auto err = check_readable(*path, hint)) return err;
  auto cert = read_cert(cert_path);
  if (!cert) return bad_file(cert_path, "not a PEM certificate: " + openssl_errors());
  auto key = read_key(key_path);
  if (!key) return bad_file(key_path, "not an unencrypted PEM private key: " + openssl_errors());
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return bad_file(key_path, "does not belong to the certificate " + cert_path);
  }
  return caf::none;
}

caf::error check_certificate_file(const std::string& path, const char* hint) {
  if (auto err = check_readable(path, hint)) return err;
  if (!read_cert(path)) return bad_file(path, "not a PEM certificate: " + openssl_errors());
  return caf::none;
}

caf::error check_tls_files(const tls_files& files, const std::string& node) {
  if (auto err = check_readable(files.ca, k_hint)) return err;
  if (auto err = check_key_pair(files.cert, files.key, k_hint)) return err;
  auto ca = read_cert(files.ca);
  if (!ca) return bad_file(files.ca, "not a PEM certificate: " + openssl_errors());
  auto cert = read_cert(files.cert);
  std::unique_ptr<X509_STORE, free_store> store{X509_STORE_new()};
  std::unique_ptr<X509_STORE_CTX, free_store_ctx> ctx{X509_STORE_CTX_new()};
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca.get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1)
    return make_error(errc::internal, "tls: cannot set up verification: " + openssl_errors());
  if (X509_verify_cert(ctx.get()) != 1) {
    int e = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return bad_file(files.cert, std::string("is not verified by the CA ") + files.ca + ": " +
                                    X509_verify_cert_error_string(e));
  }
  if (X509_check_host(cert.get(), node.c_str(), node.size(), 0, nullptr) != 1 &&
      common_name(cert.get()) != node) {
    ERR_clear_error();
    return bad_file(files.cert,
                    "names '" + common_name(cert.get()) + "', not the node '" + node + "'");
  }
  return caf::none;
}

}  // namespace tessera
