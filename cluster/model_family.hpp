#pragma once
// The model family: the one place that knows what kind of model a version is. It is chosen
// once, when a version is described (make_family, from its package), and kept immutable in the
// version's route. The serving plane orchestrates fan-outs and never branches on the family;
// it asks the family for every rule that differs between families:
// - how inputs become bags of row ids, one per table (bags_of);
// - each table's pooling: the shard operation and its reduction across shards (tables());
// - the output rule and top-k (topk_on_shards, shard_k, from_partials, from_logits,
//   answers_empty_inputs).
//
// Families (docs/MODELS.md):
// - "fasttext": text featurized by fastText's rules or tessera's hashing featurizer into one
//   table; mean or sum pooling; softmax, ova or hs outputs; answers byte-for-byte those of
//   `fasttext predict-prob` (FASTTEXT.md);
// - "embedding_bag": PyTorch EmbeddingBag tables (sum, mean, max; padding_idx; weights with
//   sum only), each input giving a bag per table; Linear layers; softmax, sigmoid or none.
//
// Thread: any; nothing changes after construction.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "cluster/model_input.hpp"
#include "cluster/topk.hpp"
#include "package/package.hpp"

namespace tessera {

// One embedding table of a family, in concatenation order.
struct table_shape {
  std::string name;    // how inputs name it ("user"); the tensor's name for fastText
  std::string tensor;  // the package's tensor
  uint64_t rows = 0;
  uint64_t cols = 0;
  pooling_kind pooling = pooling_kind::mean;
  int64_t padding_idx = -1;  // a row that pooling skips; -1: none
};

class model_family {
 public:
  virtual ~model_family() = default;

  virtual const char* name() const = 0;  // "fasttext" | "embedding_bag"
  const std::vector<table_shape>& tables() const { return tables_; }
  // Width of the pooled vector: the tables' cols, concatenated in order.
  uint64_t dim() const;

  // Validates a call's inputs and makes one bag per table per input (result.tables ==
  // tables().size()), ids global rows of their table, in the order pooling must take them.
  // Errors: invalid_argument (an input this family does not take, weights not parallel or not
  // finite, ...), limit_exceeded (more than max_ids_per_input ids in one input after
  // featurizing), id_out_of_range or invalid_argument (an id outside its table; see each
  // family).
  virtual caf::expected<bag_inputs> bags_of(const std::vector<input_item>& inputs,
                                            uint32_t max_ids_per_input) const = 0;

  // Whether an output layer of `rows` rows fits `labels` labels: one row per label, except for
  // fastText's hierarchical softmax (checked when the family was made). Errors: corrupt_package.
  virtual caf::error check_output_rows(uint64_t rows, uint64_t labels) const;

  // Whether a version may be loaded with exact pooling (gather rows, sum them in id order on
  // the serving actor: fastText's bit-exact sums). Errors: unsupported.
  virtual caf::error allows_exact_pooling() const = 0;

  // Whether an input whose bags hold no row is answered (from a zero pooled vector) or gets
  // no labels (fastText predicts nothing for a text without a known word).
  virtual bool answers_empty_inputs() const = 0;

  // Whether the last layer's shards reduce their logits to top-k partials (topk_atom) that
  // from_partials merges; else they send every logit and from_logits applies the rule.
  virtual bool topk_on_shards() const = 0;
  // The k the output shards are asked for (-1: every logit) for a batch with these ks, on an
  // output layer of `labels` rows; `exact` is the version's exact pooling.
  virtual int32_t shard_k(uint64_t labels, const std::vector<int32_t>& ks, bool exact) const = 0;
  // One input's answer from its shards' partials (shard order) of a `labels`-row output
  // layer, asked with shard_k `asked`.
  virtual std::vector<scored_label> from_partials(std::vector<topk_partial> parts, uint32_t labels,
                                                  int32_t asked, bool exact, int32_t k,
                                                  float threshold) const = 0;
  // One input's answer from its `n` full logits (after the last layer's activation).
  virtual std::vector<scored_label> from_logits(const float* logits, uint32_t n, int32_t k,
                                                float threshold) const = 0;

 protected:
  std::vector<table_shape> tables_;
};

using family_ptr = std::shared_ptr<const model_family>;

// The family a package's manifest describes (its embedder's featurizer kind; the classifier's
// output rule and last activation), reading the files it needs (vocabulary, label counts).
// Requires a package with an embedder. Errors: corrupt_package, unsupported (an unknown
// featurizer kind, or an output rule the family does not have), io_error.
caf::expected<family_ptr> make_family(const package& pkg);

// The same for a model composed of two packages: the embedder of `embedder` and the classifier
// (if any) of `classifier` (they may be the same package). The caller checks that the
// classifier's first layer takes the embedder's width (model_family::dim()).
caf::expected<family_ptr> make_family(const package& embedder, const package& classifier);

// Exact ranking shared by the embedding-bag family's outputs: the `values` (label index =
// position) best first, equal values by lower index; k < 0 or above the labels: all; values
// below `threshold` are dropped unless `use_threshold` is false. prob = score = the value.
std::vector<scored_label> rank_values(const std::vector<double>& values, int32_t k, float threshold,
                                      bool use_threshold);

}  // namespace tessera
