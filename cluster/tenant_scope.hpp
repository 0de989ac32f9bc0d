#pragma once
// Tenants' model namespaces. Each tenant's models live under their own names: the registry
// keys a model of tenant T named N as "T/N", while the default tenant's models keep their bare
// names (so clusters without tenants are unchanged). Model names never contain '/' (they are
// [A-Za-z0-9_.-]), so no name a client sends can reach another tenant's namespace: a name with
// '/' is refused as unknown_model, exactly like a model that does not exist.
//
// Used by the gateway, which qualifies every name a session sends and shows a session only the
// models of its own tenant, under their bare names.
#include <optional>
#include <string>

#include "base/errors.hpp"

namespace tessera {

// The tenant of tokens that name none.
inline constexpr const char* k_default_tenant = "default";

// A registry name as (tenant, bare model name): "acme/m" is ("acme", "m"), "m" is ("default",
// "m"). A tenant's prefix alone ("acme/") is ("acme", "").
struct registry_name_parts {
  std::string tenant;
  std::string model;
};
registry_name_parts split_registry_name(const std::string& registry_name);

// The tenant prefix of a registry name ("acme/m" -> "acme/", "m" -> "").
std::string tenant_prefix_of(const std::string& registry_name);

class tenant_scope {
 public:
  explicit tenant_scope(std::string tenant);

  const std::string& tenant() const { return tenant_; }

  // The registry name of this tenant's model `name`. Error: unknown_model for a name holding
  // '/' (no tenant's model can be named that way), worded like the registry's own.
  caf::expected<std::string> qualify(const std::string& name) const;

  // The name this tenant knows a registry model by; nullopt when it is another tenant's.
  std::optional<std::string> local_name(const std::string& registry_name) const;

  // `text` with this tenant's prefix removed from quoted model names ("'acme/m'" -> "'m'"),
  // for error messages and status lines that name the registry's models.
  std::string localize(std::string text) const;

 private:
  std::string tenant_;
  std::string prefix_;  // "T/", or "" for the default tenant
};

}  // namespace tessera
