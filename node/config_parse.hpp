#pragma once
// Internal to the config parser (node/config.cpp, node/config_size.cpp,
// node/config_tenants.cpp): the helpers those files share to read and check TOML keys, and the
// section parsers one of them defines for another. Not part of the public API (node/config.hpp).
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "base/toml.hpp"
#include "node/config.hpp"

namespace tessera::config_detail {

// Thrown inside the parser only; parse_config turns it into an invalid_argument error.
struct config_error {
  std::string key;
  std::string what;
};

[[noreturn]] inline void fail(const std::string& key, const std::string& what) {
  throw config_error{key, what};
}

inline std::string key_of(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Refuses keys of `t` outside `allowed`.
void check_keys(const toml::table& t, const std::string& prefix,
                std::initializer_list<const char*> allowed);

// A key of the given type; nullopt when absent, fail() when of another type.
std::optional<std::string> get_string(const toml::table& t, const std::string& prefix,
                                      const char* name);
std::optional<int64_t> get_int(const toml::table& t, const std::string& prefix, const char* name);
std::optional<bool> get_bool(const toml::table& t, const std::string& prefix, const char* name);
std::optional<std::vector<std::string>> get_strings(const toml::table& t, const std::string& prefix,
                                                    const char* name);

// A byte count: an integer >= 0 or a string parse_size takes; 0 when absent (config_size.cpp).
uint64_t get_size(const toml::table& t, const std::string& prefix, const char* name);
// A size key that keeps `fallback` when absent; present, it must be above zero.
uint64_t get_size_or(const toml::table& t, const std::string& prefix, const char* name,
                     uint64_t fallback);

// [[tokens]] and [[tenants]] (config_tenants.cpp).
token_config parse_token(const toml::table& t, const std::string& prefix);
tenant_config parse_tenant(const toml::table& t, const std::string& prefix);
void validate_tokens(const cluster_config& cfg);  // unique names, tenant admins' package roots

}  // namespace tessera::config_detail
