#pragma once
// Tenants and the names of their models, as types. A model is named by (tenant, name): two
// tenants may each have a model "m", and nothing a client sends can name another tenant's
// model, because the tenant never comes from the client's text but from its token (the
// gateway builds every key from the session's tenant_id). The registry, the coordinator's
// messages, its metrics and its persisted state all carry the tenant as its own field.
#include <string>

namespace tessera {

// The tenant of tokens that name none.
inline constexpr const char* k_default_tenant = "default";

// A tenant, by its config name ([[tenants]] name). Default-constructed: the default tenant.
class tenant_id {
 public:
  tenant_id() : name_(k_default_tenant) {}
  // "" is the default tenant too (a token that names none).
  explicit tenant_id(std::string name) : name_(name.empty() ? k_default_tenant : std::move(name)) {}

  const std::string& name() const { return name_; }
  bool is_default() const { return name_ == k_default_tenant; }

  friend bool operator==(const tenant_id& a, const tenant_id& b) { return a.name_ == b.name_; }
  friend bool operator!=(const tenant_id& a, const tenant_id& b) { return a.name_ != b.name_; }
  friend bool operator<(const tenant_id& a, const tenant_id& b) { return a.name_ < b.name_; }

 private:
  std::string name_;
};

// A model of one tenant. `name` is what the tenant's clients call it ([A-Za-z0-9_.-]).
struct model_key {
  tenant_id tenant;
  std::string name;

  // For operators (logs, the cluster-wide status): "acme/m", or "m" for the default tenant.
  // Tenant and model names never hold '/', so no two keys display alike.
  std::string display() const;
  // The key a display() string names ("acme/m" -> (acme, m), "m" -> (default, m)); how
  // registry files written before tenants were a type named tenants' models.
  static model_key from_display(const std::string& shown);

  friend bool operator==(const model_key& a, const model_key& b) {
    return a.tenant == b.tenant && a.name == b.name;
  }
  friend bool operator!=(const model_key& a, const model_key& b) { return !(a == b); }
  friend bool operator<(const model_key& a, const model_key& b) {
    if (a.tenant != b.tenant) return a.tenant < b.tenant;
    return a.name < b.name;
  }
};

}  // namespace tessera
