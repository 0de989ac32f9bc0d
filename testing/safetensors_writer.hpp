#pragma once
// Writes safetensors files for tests, seeds and benchmarks: the format as its specification
// states it (u64 little-endian header length, JSON header, data back to back), independent of
// the reader in importers/safetensors.hpp.
#include <cstdint>
#include <string>
#include <vector>

namespace tessera::testing {

struct st_tensor {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16" (or any other spelling, for refusals)
  std::vector<uint64_t> shape;
  std::string bytes;  // little-endian data, row-major
};

// A whole file holding `tensors`, their data in the given order; `metadata` (may be empty) is
// the "__metadata__" object's entries.
std::string safetensors_bytes(
    const std::vector<st_tensor>& tensors,
    const std::vector<std::pair<std::string, std::string>>& metadata = {});

// Little-endian float32 bytes of `values`.
std::string f32_bytes(const std::vector<float>& values);

}  // namespace tessera::testing
