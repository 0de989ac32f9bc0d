#pragma once
// Client tokens at rest: the config holds only a salted hash of each token, never the secret.
//
// Format of a stored hash: "sha256:<salt>:<digest>", salt 16 random bytes and digest
// SHA-256(salt || token), both lower-case hex. Tokens made by `tessera token create` carry 32
// random bytes (256 bits), so one salted SHA-256 is as strong as a slow KDF for them and keeps a
// login cheap on the gateway thread; the two development tokens of config/local.toml are
// guessable by design and must be replaced on any shared machine.
#include <string>

#include "base/errors.hpp"

namespace tessera {

struct token_hash {
  std::string salt;    // raw bytes (16)
  std::string digest;  // raw bytes (32)
};

// Parses "sha256:<salt hex>:<digest hex>". Error: invalid_argument saying what is wrong.
caf::expected<token_hash> parse_token_hash(const std::string& text);

// The stored form of `h` (inverse of parse_token_hash).
std::string to_string(const token_hash& h);

// Hashes `token` with `salt` (raw bytes).
token_hash hash_token(const std::string& token, const std::string& salt);

// Hashes `token` with a fresh random salt (OpenSSL RAND_bytes).
token_hash hash_token(const std::string& token);

// True when `token` hashes to `h`. Runs in time independent of where the digests differ
// (CRYPTO_memcmp); the cost is one SHA-256 of the token.
bool token_matches(const token_hash& h, const std::string& token);

// A new random token: "tsr_" then 43 base64url characters (32 random bytes).
std::string new_token_secret();

}  // namespace tessera
