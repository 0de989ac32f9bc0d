#include "node/package_root.hpp"

#include <filesystem>
#include <system_error>

namespace tessera {

namespace fs = std::filesystem;

caf::expected<std::string> confine_to_root(const std::string& root, const std::string& path,
                                           const std::string& tenant) {
  auto refused = make_error(
      errc::permission_denied,
      "tenant '" + tenant + "' may load packages only from under its [[tenants]] package_root");
  if (root.empty() || path.empty()) return refused;
  std::error_code ec;
  const fs::path real_root = fs::canonical(root, ec);
  if (ec) return refused;
  fs::path p(path);
  if (p.is_relative()) p = real_root / p;
  // weakly_canonical: realpath of the longest existing prefix, the rest lexically normal.
  const fs::path real = fs::weakly_canonical(p, ec);
  if (ec) return refused;
  auto r = real_root.begin();
  auto q = real.begin();
  for (; r != real_root.end(); ++r, ++q) {
    if (r->empty()) continue;  // a trailing "/" of the root
    if (q == real.end() || *q != *r) return refused;
  }
  return real.string();
}

}  // namespace tessera
