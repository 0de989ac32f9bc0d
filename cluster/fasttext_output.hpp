#pragma once
// fastText 0.9.2's one-vs-all and hierarchical-softmax output rules (loss.cc), applied to
// output-layer logits computed elsewhere. Softmax lives in cluster/topk.hpp.
//
// Float contract: given the same logits as fastText's `wo_->dotRow(hidden, i)`, the results
// (labels, order, scores, probs) are bit-identical to `fasttext predict-prob`.
#include <cstdint>
#include <vector>

#include "base/errors.hpp"
#include "cluster/topk.hpp"

namespace tessera {

// Loss::sigmoid: the 512-entry lookup table over [-8, 8] (0 below, 1 above).
float fasttext_table_sigmoid(float x);
// std_log: (float)log((double)x + 1e-5), the ranking score of a probability.
float fasttext_std_log(float x);

// ova (and supervised ns): table sigmoid per label, then fastText's findKBest.
// logits[i] belongs to label i; k < 0 or above nlabels means every label.
std::vector<scored_label> fasttext_ova_topk(const float* logits, uint32_t nlabels, int32_t k,
                                            float threshold);

// Whether fasttext_hs_tree can be built over `counts`: every count in [0, 1e15) (buildTree's
// marker for "no node yet" is 1e15; a count at or above it makes the construction take nodes
// that do not exist yet) and their total at most INT64_MAX (inner nodes hold sums). Label
// counts come from files (a package's label_counts, a model's dictionary), so check them
// before building. Errors: corrupt_package naming the label and its count, or the total.
caf::error check_hs_counts(const std::vector<int64_t>& counts);

// The Huffman tree of HierarchicalSoftmaxLoss::buildTree over label counts (label order).
// Nodes [0, nlabels) are the leaves (labels), inner node n uses output row n - nlabels, the
// root is 2 * nlabels - 2.
class fasttext_hs_tree {
 public:
  // Requires check_hs_counts(counts) to pass: a caller that did not check is our bug, and
  // TESSERA_CHECK aborts rather than build a tree with cycles.
  explicit fasttext_hs_tree(const std::vector<int64_t>& counts);

  uint32_t nlabels() const { return nlabels_; }
  // Output rows the tree reads: nlabels - 1 (0 for one label).
  uint32_t inner_nodes() const { return nlabels_ == 0 ? 0 : nlabels_ - 1; }

  // HierarchicalSoftmaxLoss::predict: `inner_logits[n - nlabels]` is the logit of inner node
  // n (inner_nodes() values). Depth-first walk with fastText's pruning; k < 0 or above
  // nlabels means every label (fastText's k = output rows = nlabels), and nothing is sized by
  // a larger k (labels_for_k). Best first.
  std::vector<scored_label> predict(const float* inner_logits, int32_t k, float threshold) const;

 private:
  struct node {
    int32_t left = -1, right = -1;
  };
  using heap_t = std::vector<std::pair<float, int32_t>>;
  void dfs(int32_t k, float threshold, int32_t n, float score, heap_t& heap,
           const float* inner_logits) const;

  uint32_t nlabels_ = 0;
  std::vector<node> tree_;
};

}  // namespace tessera
