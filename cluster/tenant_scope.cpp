#include "cluster/tenant_scope.hpp"

namespace tessera {

registry_name_parts split_registry_name(const std::string& registry_name) {
  auto slash = registry_name.find('/');
  if (slash == std::string::npos) return {k_default_tenant, registry_name};
  return {registry_name.substr(0, slash), registry_name.substr(slash + 1)};
}

std::string tenant_prefix_of(const std::string& registry_name) {
  auto slash = registry_name.find('/');
  return slash == std::string::npos ? std::string() : registry_name.substr(0, slash + 1);
}

tenant_scope::tenant_scope(std::string tenant) : tenant_(std::move(tenant)) {
  if (tenant_.empty()) tenant_ = k_default_tenant;
  if (tenant_ != k_default_tenant) prefix_ = tenant_ + "/";
}

caf::expected<std::string> tenant_scope::qualify(const std::string& name) const {
  if (name.find('/') != std::string::npos)
    return make_error(errc::unknown_model, "no model '" + name + "'");
  return prefix_ + name;
}

std::optional<std::string> tenant_scope::local_name(const std::string& registry_name) const {
  auto slash = registry_name.find('/');
  if (prefix_.empty()) {
    if (slash != std::string::npos) return std::nullopt;
    return registry_name;
  }
  if (registry_name.compare(0, prefix_.size(), prefix_) != 0) return std::nullopt;
  return registry_name.substr(prefix_.size());
}

std::string tenant_scope::localize(std::string text) const {
  if (prefix_.empty()) return text;
  const std::string quoted = "'" + prefix_;
  for (auto at = text.find(quoted); at != std::string::npos; at = text.find(quoted, at + 1))
    text.erase(at + 1, prefix_.size());
  return text;
}

}  // namespace tessera
