// The manifest's plain parts (package/package.hpp): the names of its enums, its lookups by
// name, the embedder's pooled width and the default checksum block size. Parsing and writing
// are in manifest_toml.cpp, checking against a directory in package.cpp.
#include <algorithm>

#include "package/package.hpp"

namespace tessera {

const char* to_string(pooling_kind k) {
  switch (k) {
    case pooling_kind::mean:
      return "mean";
    case pooling_kind::sum:
      return "sum";
    case pooling_kind::max:
      return "max";
  }
  return "mean";
}

const char* to_string(activation_kind k) {
  switch (k) {
    case activation_kind::none:
      return "none";
    case activation_kind::relu:
      return "relu";
    case activation_kind::tanh:
      return "tanh";
    case activation_kind::sigmoid:
      return "sigmoid";
  }
  return "none";
}

const char* to_string(output_kind k) {
  switch (k) {
    case output_kind::softmax:
      return "softmax";
    case output_kind::ova:
      return "ova";
    case output_kind::hs:
      return "hs";
    case output_kind::sigmoid:
      return "sigmoid";
    case output_kind::none:
      return "none";
  }
  return "softmax";
}

uint64_t embedder_dim(const manifest& m) {
  if (!m.embedder) return 0;
  uint64_t dim = 0;
  for (const auto& name : m.embedder->tables) {
    const tensor_info* t = m.find_tensor(name);
    if (!t) return 0;
    dim += t->cols;
    if (m.embedder->featurizer.kind != "ids") break;
  }
  return dim;
}

const tensor_info* manifest::find_tensor(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const text_file_info* manifest::find_file(const std::string& key) const {
  for (const auto& f : files)
    if (f.first == key) return &f.second;
  return nullptr;
}

uint64_t default_block_rows(uint64_t cols) {
  constexpr uint64_t target = 1u << 20;  // bytes per block
  uint64_t row_bytes = cols * sizeof(float);
  return row_bytes == 0 || row_bytes >= target ? 1 : target / row_bytes;
}

}  // namespace tessera
