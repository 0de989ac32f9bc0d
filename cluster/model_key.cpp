#include "cluster/model_key.hpp"

namespace tessera {

std::string model_key::display() const {
  return tenant.is_default() ? name : tenant.name() + "/" + name;
}

model_key model_key::from_display(const std::string& shown) {
  auto slash = shown.find('/');
  if (slash == std::string::npos) return {tenant_id{}, shown};
  return {tenant_id{shown.substr(0, slash)}, shown.substr(slash + 1)};
}

}  // namespace tessera
