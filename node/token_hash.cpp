#include "node/token_hash.hpp"

#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace tessera {
namespace {

constexpr size_t k_salt_bytes = 16;
constexpr size_t k_digest_bytes = 32;
constexpr const char* k_scheme = "sha256";

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  // Failure means the OS has no entropy source; no token may be made then.
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  return out;
}

std::string hex(const std::string& raw) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is refused: the stored form is canonical
}

caf::expected<std::string> unhex(const std::string& text, size_t bytes, const char* what) {
  if (text.size() != bytes * 2)
    return make_error(errc::invalid_argument,
                      std::string(what) + " must be " + std::to_string(bytes * 2) + " hex digits");
  std::string out(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) {
    int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return make_error(errc::invalid_argument,
                        std::string(what) + " must be lower-case hex digits");
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return out;
}

}  // namespace

caf::expected<token_hash> parse_token_hash(const std::string& text) {
  auto c1 = text.find(':');
  auto c2 = c1 == std::string::npos ? c1 : text.find(':', c1 + 1);
  if (c2 == std::string::npos || text.substr(0, c1) != k_scheme)
    return make_error(errc::invalid_argument,
                      "must read sha256:<salt>:<digest> (made by `tessera token create`)");
  auto salt = unhex(text.substr(c1 + 1, c2 - c1 - 1), k_salt_bytes, "the salt");
  if (!salt) return salt.error();
  auto digest = unhex(text.substr(c2 + 1), k_digest_bytes, "the digest");
  if (!digest) return digest.error();
  return token_hash{std::move(*salt), std::move(*digest)};
}

std::string to_string(const token_hash& h) {
  return std::string(k_scheme) + ":" + hex(h.salt) + ":" + hex(h.digest);
}

token_hash hash_token(const std::string& token, const std::string& salt) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  std::string input = salt + token;
  if (EVP_Digest(input.data(), input.size(), md, &len, EVP_sha256(), nullptr) != 1 ||
      len != k_digest_bytes)
    throw std::runtime_error("OpenSSL EVP_Digest(sha256) failed");
  OPENSSL_cleanse(input.data(), input.size());
  return token_hash{salt, std::string(reinterpret_cast<const char*>(md), len)};
}

token_hash hash_token(const std::string& token) {
  return hash_token(token, random_bytes(k_salt_bytes));
}

bool token_matches(const token_hash& h, const std::string& token) {
  if (h.digest.size() != k_digest_bytes) return false;
  auto mine = hash_token(token, h.salt);
  return CRYPTO_memcmp(mine.digest.data(), h.digest.data(), k_digest_bytes) == 0;
}

std::string new_token_secret() {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  auto raw = random_bytes(32);
  std::string out = "tsr_";
  // base64url without padding: 32 bytes = 256 bits = 42 full sextets + 4 bits.
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += alphabet[(acc << (6 - bits)) & 63];
  return out;
}

}  // namespace tessera
