#pragma once
// Config fragments for tests that run tenants: [[tokens]] and [[tenants]] entries.
#include <string>

namespace tessera::test {

// A [[tokens]] entry for secret `secret` named `name`, of `tenant`, allowed every model.
std::string token_entry(const std::string& secret, const std::string& name, bool admin,
                        const std::string& tenant);

// A [[tenants]] entry whose admins load from under `package_root`, plus `more` lines.
std::string tenant_entry(const std::string& tenant, const std::string& package_root,
                         const std::string& more = "");

}  // namespace tessera::test
