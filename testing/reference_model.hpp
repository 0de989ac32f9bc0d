#pragma once
// The in-process reference model: a whole package read into memory and evaluated with plain
// Eigen products, independently of cluster/sharding.hpp. Integration tests and benchmarks
// compare the distributed path against it. Holds every tensor in memory: for tests and
// benchmarks, not for serving.
//
// Float contract: mean pooling with unit weights sums rows sequentially in float32 in id order
// and multiplies by (float)(1.0 / n), as fastText's computeHidden does.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <Eigen/Dense>

#include "cluster/featurizer.hpp"
#include "package/package.hpp"

namespace tessera {

class reference_model {
 public:
  using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  // Opens the package at `dir` and reads every tensor it uses (verifying checksums), its
  // labels and its featurizer. The package needs an embedder and a classifier. Errors: those
  // of package::open / read_rows / make_featurizer, unsupported (no embedder or classifier).
  static caf::expected<reference_model> load(const std::string& dir);

  // Pooled vector of a bag of rows of the embedding table. `weights` empty = all 1, otherwise
  // one weight per id. mean = weighted sum / sum of weights, sum = weighted sum; an empty bag
  // (or weights summing to 0 under mean) gives zeros. Ids outside [0, rows()) are skipped: the
  // cluster rejects them, the reference only must not crash.
  Eigen::VectorXf pool_ids(const std::vector<int64_t>& ids,
                           const std::vector<float>& weights = {}) const;
  // Featurizes `text` with the package's featurizer, then pool_ids.
  Eigen::VectorXf pool_text(std::string_view text) const;
  // Output logits: every layer W x + b, each followed by its own activation.
  Eigen::VectorXf logits(const Eigen::VectorXf& pooled) const;
  // softmax (max-subtracted) or per-label sigmoid (ova) of the logits. hs is unsupported here:
  // returns an empty vector.
  Eigen::VectorXf probabilities(const Eigen::VectorXf& pooled) const;
  // (label index, value), best first; ties broken by lower label index; k < 0 = all.
  std::vector<std::pair<uint32_t, float>> top_k(const Eigen::VectorXf& probs, int k) const;

  const std::vector<std::string>& labels() const { return labels_; }
  uint64_t rows() const { return static_cast<uint64_t>(table_.rows()); }
  uint32_t dim() const { return static_cast<uint32_t>(table_.cols()); }
  const featurizer& text_featurizer() const { return *featurizer_; }
  const manifest& meta() const { return meta_; }

 private:
  struct layer {
    matrix weight;         // out x in
    Eigen::VectorXf bias;  // out, zeros when the layer has no bias
    activation_kind activation = activation_kind::none;
  };
  manifest meta_;
  matrix table_;  // the embedder's tables[0]
  std::vector<layer> layers_;
  std::vector<std::string> labels_;
  std::unique_ptr<featurizer> featurizer_;
};

}  // namespace tessera
