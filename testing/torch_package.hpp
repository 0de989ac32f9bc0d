#pragma once
// Packages of PyTorch embedding-bag models for tests: a safetensors file and a spec written
// next to each other, then imported with import_safetensors (docs/MODELS.md).
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "testing/safetensors_writer.hpp"

namespace tessera::testing {

// Writes `tensors` to dir + ".safetensors" and `spec` to dir + ".toml", then imports them into
// the package directory `dir` as model `name`. Errors: import_safetensors's.
caf::error write_torch_package(const std::string& dir, const std::vector<st_tensor>& tensors,
                               const std::string& spec, const std::string& name = "m");

}  // namespace tessera::testing
