#pragma once
// What a coordinator keeps of a loaded package so that it can describe the version again
// without the package: manifest.toml and its text files (vocabulary, labels), never tensor
// files (the rows live in the nodes' block stores). A restarted coordinator whose package
// directory was deleted after the load recovers the version from this copy.
#include <chrono>
#include <set>
#include <string>

#include "package/package.hpp"

namespace tessera {

// Copies `pkg`'s manifest.toml and every text file it lists, each verified against the
// manifest, into `dir` unless `dir` holds them already: written into a temp directory beside
// it, fsynced, then renamed, so `dir` is whole or absent. package::open_metadata(dir) then
// reads it. Errors: io_error, corrupt_package (a text file that fails its checksum).
caf::error keep_package_meta(const package& pkg, const std::string& dir);

// Deletes the kept packages under `root` whose directory name is not in `live` and that were
// kept more than `min_age` ago (a load in progress keeps its package before it is
// registered), and leftover temp directories as old; returns how many it deleted.
size_t sweep_kept(const std::string& root, const std::set<std::string>& live,
                  std::chrono::seconds min_age);

}  // namespace tessera
