#include "cluster/fasttext_output.hpp"

#include <algorithm>
#include <cmath>

#include "base/check.hpp"
#include "cluster/predict_options.hpp"

namespace tessera {

namespace {

constexpr int64_t sigmoid_table_size = 512;
constexpr int64_t max_sigmoid = 8;

// Loss::Loss's t_sigmoid_: x_i = float(i * 16) / 512 - 8, value (float)(1 / (1 + expf(-x))).
const std::vector<float>& sigmoid_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t;
    t.reserve(sigmoid_table_size + 1);
    for (int64_t i = 0; i < sigmoid_table_size + 1; ++i) {
      float x = static_cast<float>(i * 2 * max_sigmoid) / sigmoid_table_size - max_sigmoid;
      t.push_back(static_cast<float>(1.0 / (1.0 + std::exp(-x))));
    }
    return t;
  }();
  return table;
}

// loss.cc's comparePairs: a min-heap on score under std::push_heap.
bool compare_pairs(const std::pair<float, int32_t>& l, const std::pair<float, int32_t>& r) {
  return l.first > r.first;
}

}  // namespace

float fasttext_table_sigmoid(float x) {
  if (x < -max_sigmoid) return 0.0f;
  if (x > max_sigmoid) return 1.0f;
  if (std::isnan(x)) return 0.0f;  // fastText throws on NaN logits; never index with one
  auto i = static_cast<int64_t>((x + max_sigmoid) * sigmoid_table_size / max_sigmoid / 2);
  return sigmoid_table()[static_cast<size_t>(i)];
}

float fasttext_std_log(float x) {
  return static_cast<float>(std::log(x + 1e-5));
}

std::vector<scored_label> fasttext_ova_topk(const float* logits, uint32_t nlabels, int32_t k,
                                            float threshold) {
  std::vector<std::pair<uint32_t, float>> probs(nlabels);
  for (uint32_t i = 0; i < nlabels; ++i) probs[i] = {i, fasttext_table_sigmoid(logits[i])};
  return select_topk(probs, k, threshold);
}

caf::error check_hs_counts(const std::vector<int64_t>& counts) {
  constexpr int64_t no_node = static_cast<int64_t>(1e15);
  int64_t total = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] < 0 || counts[i] >= no_node)
      return make_error(errc::corrupt_package, "hs label count " + std::to_string(counts[i]) +
                                                   " of label " + std::to_string(i) +
                                                   " is outside [0, 1e15)");
    if (__builtin_add_overflow(total, counts[i], &total))
      return make_error(
          errc::corrupt_package,
          "hs label counts: their total overflows 64 bits at label " + std::to_string(i));
  }
  return caf::none;
}

fasttext_hs_tree::fasttext_hs_tree(const std::vector<int64_t>& counts)
    : nlabels_(static_cast<uint32_t>(counts.size())) {
  TESSERA_CHECK(!check_hs_counts(counts), "hs tree over unchecked label counts");
  if (counts.empty()) return;
  const int32_t osz = static_cast<int32_t>(counts.size());
  tree_.resize(static_cast<size_t>(2 * osz - 1));
  std::vector<int64_t> count(tree_.size(), static_cast<int64_t>(1e15));
  for (int32_t i = 0; i < osz; ++i) count[i] = counts[i];
  // Two queues: leaves by decreasing index (labels are stored by decreasing count), and the
  // inner nodes in creation order; the smaller front wins, a leaf only when strictly smaller.
  int32_t leaf = osz - 1;
  int32_t next = osz;
  for (int32_t i = osz; i < 2 * osz - 1; ++i) {
    int32_t mini[2] = {0, 0};
    for (int32_t& m : mini) {
      if (leaf >= 0 && count[leaf] < count[next]) {
        m = leaf--;
      } else {
        m = next++;
      }
    }
    tree_[i].left = mini[0];
    tree_[i].right = mini[1];
    count[i] = count[mini[0]] + count[mini[1]];
  }
}

void fasttext_hs_tree::dfs(int32_t k, float threshold, int32_t n, float score, heap_t& heap,
                           const float* inner_logits) const {
  if (score < fasttext_std_log(threshold)) return;
  if (heap.size() == static_cast<size_t>(k) && score < heap.front().first) return;
  const node& nd = tree_[static_cast<size_t>(n)];
  if (nd.left == -1 && nd.right == -1) {
    heap.emplace_back(score, n);
    std::push_heap(heap.begin(), heap.end(), compare_pairs);
    if (heap.size() > static_cast<size_t>(k)) {
      std::pop_heap(heap.begin(), heap.end(), compare_pairs);
      heap.pop_back();
    }
    return;
  }
  // The exact sigmoid here (not the table), with fastText's float/double mix.
  float f = inner_logits[n - static_cast<int32_t>(nlabels_)];
  f = static_cast<float>(1. / (1 + std::exp(-f)));
  dfs(k, threshold, nd.left, score + fasttext_std_log(static_cast<float>(1.0 - f)), heap,
      inner_logits);
  dfs(k, threshold, nd.right, score + fasttext_std_log(f), heap, inner_logits);
}

std::vector<scored_label> fasttext_hs_tree::predict(const float* inner_logits, int32_t k,
                                                    float threshold) const {
  std::vector<scored_label> out;
  if (nlabels_ == 0) return out;
  // A k above the label count walks exactly like k = nlabels: the heap never fills first.
  k = static_cast<int32_t>(labels_for_k(k, nlabels_));
  if (k == 0) return out;
  heap_t heap;
  heap.reserve(static_cast<size_t>(k) + 1);
  dfs(k, threshold, static_cast<int32_t>(2 * nlabels_ - 2), 0.0f, heap, inner_logits);
  std::sort_heap(heap.begin(), heap.end(), compare_pairs);
  out.reserve(heap.size());
  for (const auto& [score, n] : heap)
    out.push_back(scored_label{static_cast<uint32_t>(n), std::exp(score), score});
  return out;
}

}  // namespace tessera
