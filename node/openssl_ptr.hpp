#pragma once
// Owning pointers for the OpenSSL objects tessera creates (certificates, keys, stores, BIOs,
// bignums): each frees with its OpenSSL function when it goes out of scope.
#include <memory>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

namespace tessera::ossl {

struct free_x509 {
  void operator()(X509* p) const { X509_free(p); }
};
struct free_pkey {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct free_bio {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct free_bn {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct free_store {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct free_store_ctx {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};

using x509_ptr = std::unique_ptr<X509, free_x509>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, free_pkey>;
using bio_ptr = std::unique_ptr<BIO, free_bio>;
using bn_ptr = std::unique_ptr<BIGNUM, free_bn>;
using store_ptr = std::unique_ptr<X509_STORE, free_store>;
using store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, free_store_ctx>;

}  // namespace tessera::ossl
