#pragma once
// Confines a tenant admin's load paths to its [[tenants]] package_root, so an admin can make
// the servers read its own packages only (not another tenant's weights, nor probe the file
// system through error texts).
//
// Thread: any; reads the file system (realpath of the root and of the path's existing prefix).
#include <string>

#include "base/errors.hpp"

namespace tessera {

// The path to load for `path` when the tenant's packages must lie under `root`: `path` (a
// relative one taken relative to `root`) with every symlink and `..` of its existing prefix
// resolved (realpath) and the rest normalized lexically, when the result is `root`'s own
// realpath or lies under it. That resolved path is what the servers should open, so a link
// changed later by whoever may write under `root` is not followed unchecked.
// Error: permission_denied, with the same text for every refusal (outside the root, existing
// or not; a root that does not exist; an empty path), naming the tenant but not the path.
caf::expected<std::string> confine_to_root(const std::string& root, const std::string& path,
                                           const std::string& tenant);

}  // namespace tessera
