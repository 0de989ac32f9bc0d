#pragma once
// An independent reference of hierarchical softmax as fastText 0.9.2 predicts with it
// (HierarchicalSoftmaxLoss in loss.cc), written from that description without calling the
// server's cluster/fasttext_output code, for the tests that compare hs models with the Eigen
// reference (which computes the logits but has no hs rule of its own).
//
// The tree: Huffman over the label counts (labels stored by decreasing count). Leaves are
// nodes [0, n), inner nodes n .. 2n - 2 are created in order by joining the two smallest
// counts, taken from two queues (leaves from the last one down, inner nodes in creation
// order), a leaf only when its count is strictly smaller; the first pick is the left child.
// The root is 2n - 2; inner node i reads output row i - n.
//
// A label's score is the sum over its path of log(q + 1e-5), q = sigmoid(logit) towards the
// right child and 1 - sigmoid(logit) towards the left. fastText prints exp(score), keeps a
// label when score >= log(threshold + 1e-5), and ranks by score.
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Dense>

namespace tessera::test {

class hs_reference {
 public:
  explicit hs_reference(const std::vector<int64_t>& counts);
  // Reads the label counts of the package at `dir` (throws std::runtime_error if it has none).
  static hs_reference from_package(const std::string& dir);

  // Per label, exp(score) - 1e-5 (computed in double): the "probability" p for which the
  // printed value is p + 1e-5 and the threshold rule is p >= threshold, as for softmax and
  // ova, so the same checks apply. `logits` is the output layer (at least n - 1 values).
  Eigen::VectorXf probabilities(const Eigen::VectorXf& logits) const;

  size_t labels() const { return n_; }

 private:
  size_t n_ = 0;
  std::vector<int64_t> parent_;  // per node; -1 for the root
  std::vector<bool> right_;      // per node: it is its parent's right child
};

}  // namespace tessera::test
