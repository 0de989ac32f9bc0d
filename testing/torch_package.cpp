#include "testing/torch_package.hpp"

#include <fstream>

#include "importers/safetensors_import.hpp"

namespace tessera::testing {

caf::error write_torch_package(const std::string& dir, const std::vector<st_tensor>& tensors,
                               const std::string& spec, const std::string& name) {
  const std::string file = dir + ".safetensors", spec_file = dir + ".toml";
  std::ofstream(file, std::ios::binary) << safetensors_bytes(tensors);
  std::ofstream(spec_file) << spec;
  auto r = import_safetensors(file, spec_file, dir, name, {});
  return r ? caf::error{} : r.error();
}

}  // namespace tessera::testing
