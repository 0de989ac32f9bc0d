#include "tests/support/tenant_config.hpp"

#include "node/token_hash.hpp"

namespace tessera::test {

std::string token_entry(const std::string& secret, const std::string& name, bool admin,
                        const std::string& tenant) {
  return "[[tokens]]\nhash = \"" + to_string(hash_token(secret)) + "\"\nname = \"" + name +
         "\"\nadmin = " + (admin ? "true" : "false") + "\nmodels = [\"*\"]\ntenant = \"" + tenant +
         "\"\n";
}

std::string tenant_entry(const std::string& tenant, const std::string& package_root,
                         const std::string& more) {
  return "[[tenants]]\nname = \"" + tenant + "\"\npackage_root = \"" + package_root + "\"\n" + more;
}

}  // namespace tessera::test
