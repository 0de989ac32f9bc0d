#pragma once
// Offline subcommands that write model packages: `import fasttext`, `import safetensors` and
// `gen-model`.
#include <cstdint>
#include <string>
#include <vector>

namespace tessera::cli {

struct import_options {
  std::string bin_path;
  std::string out_dir;
  std::string label_prefix = "__label__";
  std::string name;
};
// Converts a fastText .bin into a package; progress on stderr.
int run_import_fasttext(const import_options& opts);

struct import_safetensors_options {
  std::string model_path;  // MODEL.safetensors
  std::string spec_path;   // --spec SPEC.toml (importers/torch_spec.hpp)
  std::string out_dir;
  std::string name;  // empty: the spec's name, else the model file's stem
};
// Converts a PyTorch embedding-bag model into a package; progress on stderr, then what was
// written (tables, layers, output) on stdout.
int run_import_safetensors(const import_safetensors_options& opts);

struct gen_model_options {
  std::string out_dir;
  std::string name = "synthetic";
  uint64_t vocab = 5000;
  uint64_t buckets = 200000;
  uint32_t word_ngrams = 2;
  uint32_t dim = 64;
  std::vector<uint32_t> hidden = {32};
  uint32_t labels = 8;
  std::string output = "softmax";  // softmax, ova, hs
  std::string pooling = "mean";    // mean, sum
  uint64_t seed = 42;
  uint64_t classifier_seed = 0;  // 0: same as seed
  uint64_t classifier_version = 1;
  std::string changed_rows;  // "A:B": rows [A, B) of the table from another stream; "" = none
};
// Writes a deterministic synthetic package; progress on stderr.
int run_gen_model(const gen_model_options& opts);

}  // namespace tessera::cli
