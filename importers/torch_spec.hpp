#pragma once
// The spec (TOML) that names the parts of a PyTorch embedding-bag model in a safetensors file,
// for `tessera import safetensors MODEL.safetensors --spec SPEC.toml OUT_DIR` (docs/MODELS.md):
//
//   name = "ctr"                    # optional: the default model name
//   [[tables]]                      # torch.nn.EmbeddingBag, in concatenation order
//   name = "user"                   # the table's name in inputs
//   tensor = "emb.user.weight"      # [rows, dim]
//   mode = "sum"                    # sum | mean | max
//   padding_idx = 0                 # optional; negative counts from the end, as in PyTorch
//   [[layers]]                      # torch.nn.Linear, then its activation, in order
//   weight = "mlp.0.weight"         # [out, in]
//   bias = "mlp.0.bias"             # optional, [out]
//   activation = "relu"             # relu | tanh | sigmoid | none
//   [output]                        # with layers only
//   kind = "softmax"                # softmax | sigmoid | none
//   labels = ["click", "skip"]      # optional; "0", "1", ... otherwise
//
// A spec has tables (an embedder), layers (a classifier) or both. parse_torch_spec checks the
// TOML alone; check_torch_spec checks it against the file's tensors. Both refuse with
// invalid_argument naming the key or tensor at fault.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/errors.hpp"
#include "importers/safetensors.hpp"
#include "package/package.hpp"

namespace tessera {

// torch.nn.EmbeddingBag's mode.
enum class bag_mode { sum, mean, max };
// What the last layer's outputs become: probabilities over labels (softmax), one probability
// per label (sigmoid), or the raw scores (none).
enum class torch_output_kind { softmax, sigmoid, none };

const char* to_string(bag_mode m);
const char* to_string(torch_output_kind k);

struct torch_table_spec {
  std::string name;
  std::string tensor;
  bag_mode mode = bag_mode::mean;  // EmbeddingBag's default
  std::optional<int64_t> padding_idx;
};

struct torch_layer_spec {
  std::string weight;
  std::string bias;  // empty: no bias
  activation_kind activation = activation_kind::none;
};

struct torch_spec {
  std::string name;
  std::vector<torch_table_spec> tables;
  std::vector<torch_layer_spec> layers;
  torch_output_kind output = torch_output_kind::none;
  std::vector<std::string> labels;  // empty: "0", "1", ... (filled by check_torch_spec)
};

// What a checked spec holds, from the file: each table's rows and dim (padding_idx made
// non-negative), each layer's out and in.
struct torch_shapes {
  struct table {
    uint64_t rows = 0, dim = 0;
    std::optional<uint64_t> padding_idx;
  };
  struct layer {
    uint64_t out = 0, in = 0;
  };
  std::vector<table> tables;
  std::vector<layer> layers;
  uint64_t pooled_dim() const;  // the tables' dims summed: the first layer's input
};

// Parses the spec text; `origin` names it in messages. Errors: invalid_argument (TOML syntax,
// an unknown key, a missing or mistyped key, an unknown mode, activation or output kind, two
// tables of one name, [output] without layers, neither tables nor layers).
caf::expected<torch_spec> parse_torch_spec(std::string_view text, const std::string& origin);

// Checks `spec` against the tensors of `file` and fills the default labels. Errors:
// invalid_argument: a tensor the file lacks, a table that is not 2-D or has no rows, a
// padding_idx outside [-rows, rows), a weight that is not 2-D, a bias that is not [out], a
// layer whose in is not the previous layer's out (the first: the tables' dims summed, when the
// spec has tables), labels whose count is not the last layer's out, or a tensor used twice.
caf::expected<torch_shapes> check_torch_spec(torch_spec& spec, const st::reader& file);

}  // namespace tessera
