#include "node/tls.hpp"

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

// OpenSSL's queued errors as one string (and the queue cleared).
std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no PEM data" : out;
}

caf::error unreadable(const std::string& path) {
  return make_error(errc::io_error,
                    "tls: " + path + ": cannot read: " + std::strerror(errno) + k_hint);
}

// Opens `path` for reading, failing with the OS's reason (missing, permissions, a directory).
caf::error check_readable(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return unreadable(path);
  char c;
  ssize_t n = ::read(fd, &c, 1);
  int saved = errno;
  ::close(fd);
  errno = saved;
  if (n < 0) return unreadable(path);
  if (n == 0) return make_error(errc::invalid_argument, "tls: " + path + ": is empty" + k_hint);
  return caf::none;
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

caf::error check_tls_files(const tls_files& files, const std::string& node) {
  for (const auto* path : {&files.ca, &files.cert, &files.key})
    if (auto err = check_readable(*path)) return err;
  auto bad = [](const std::string& path, const std::string& what) {
    return make_error(errc::invalid_argument, "tls: " + path + ": " + what);
  };
  auto ca = read_cert(files.ca);
  if (!ca) return bad(files.ca, "not a PEM certificate: " + openssl_errors());
  auto cert = read_cert(files.cert);
  if (!cert) return bad(files.cert, "not a PEM certificate: " + openssl_errors());
  auto key = read_key(files.key);
  if (!key) return bad(files.key, "not an unencrypted PEM private key: " + openssl_errors());
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return bad(files.key, "does not belong to the certificate " + files.cert);
  }
  std::unique_ptr<X509_STORE, free_store> store{X509_STORE_new()};
  std::unique_ptr<X509_STORE_CTX, free_store_ctx> ctx{X509_STORE_CTX_new()};
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca.get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1)
    return make_error(errc::internal, "tls: cannot set up verification: " + openssl_errors());
  if (X509_verify_cert(ctx.get()) != 1) {
    int e = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return bad(files.cert, std::string("is not verified by the CA ") + files.ca + ": " +
                               X509_verify_cert_error_string(e));
  }
  if (X509_check_host(cert.get(), node.c_str(), node.size(), 0, nullptr) != 1 &&
      common_name(cert.get()) != node) {
    ERR_clear_error();
    return bad(files.cert, "names '" + common_name(cert.get()) + "', not the node '" + node + "'");
  }
  return caf::none;
}

}  // namespace tessera
