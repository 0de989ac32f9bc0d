#include "cluster/topk.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "cluster/predict_options.hpp"

// Parity notes (fastText 0.9.2, src/loss.cc and src/fasttext.cc):
// - softmax: e_i = (float)exp((double)(x_i - max)), z = sequential float sum in label order,
//   p_i = e_i / z (a float division);
// - ranking: Loss::findKBest walks labels in index order with a min-heap on the score under
//   comparePairs (l.first > r.first), then std::sort_heap with the same comparator; the heap
//   calls below are the same std calls so libstdc++ breaks ties the same way;
// - the printed probability is std::exp(score) on a float.
//
// Known limit of the sharded merge: a label outside every shard's candidates can only differ
// from fastText's choice when its score equals the k-th score although its logit is smaller
// (probabilities below ~1e-11 all score (float)log(1e-5)); such true ties may then resolve to
// a different label than fastText's.

namespace tessera {
namespace {

using heap_entry = std::pair<float, uint32_t>;  // (score, label), as fastText's Predictions

bool compare_pairs(const heap_entry& l, const heap_entry& r) {
  return l.first > r.first;
}

float std_log(float p) {
  return static_cast<float>(std::log(static_cast<double>(p) + 1e-5));
}

float exp_shifted(float x, float max) {
  return static_cast<float>(std::exp(static_cast<double>(x - max)));
}

void put_u32(std::vector<char>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}

void put_f32(std::vector<char>& out, float f) {
  uint32_t v;
  std::memcpy(&v, &f, sizeof v);
  put_u32(out, v);
}

// Reads little-endian values from a byte buffer; every read is bounds-checked.
class reader {
 public:
  explicit reader(const std::vector<char>& bytes) : bytes_(bytes) {}
  size_t remaining() const { return bytes_.size() - pos_; }
  bool u32(uint32_t& v) {
    if (remaining() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i)
      v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes_[pos_ + i])) << (8 * i);
    pos_ += 4;
    return true;
  }
  bool f32(float& f) {
    uint32_t v;
    if (!u32(v)) return false;
    std::memcpy(&f, &v, sizeof f);
    return true;
  }

 private:
  const std::vector<char>& bytes_;
  size_t pos_ = 0;
};

}  // namespace

topk_partial shard_topk(const float* logits, uint32_t n, uint32_t label_offset, int32_t k) {
  topk_partial out;
  if (n == 0) {
    // No rows: contributes nothing to the merge (sumexp 0 marks it empty).
    out.max = -std::numeric_limits<float>::infinity();
    out.sumexp = 0.0f;
    return out;
  }
  float max = logits[0];
  for (uint32_t i = 0; i < n; ++i) max = std::max(logits[i], max);
  float z = 0.0f;
  for (uint32_t i = 0; i < n; ++i) z += exp_shifted(logits[i], max);
  out.max = max;
  out.sumexp = z;

  std::vector<uint32_t> picked;
  const size_t kk = labels_for_k(k, n);
  if (kk == n) {
    picked.resize(n);
    for (uint32_t i = 0; i < n; ++i) picked[i] = i;
  } else if (kk > 0) {
    std::vector<uint32_t> order(n);
    for (uint32_t i = 0; i < n; ++i) order[i] = i;
    // Largest logit first; equal logits by lower index first.
    std::partial_sort(order.begin(), order.begin() + kk, order.end(),
                      [logits](uint32_t a, uint32_t b) {
                        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
                      });
    const float kth = logits[order[kk - 1]];
    picked.assign(order.begin(), order.begin() + kk);
    for (size_t i = kk; i < n; ++i)
      if (logits[order[i]] == kth) picked.push_back(order[i]);
    std::sort(picked.begin(), picked.end());
  }
  out.candidates.reserve(picked.size());
  for (uint32_t i : picked) out.candidates.emplace_back(label_offset + i, logits[i]);
  return out;
}

std::vector<scored_label> select_topk(const std::vector<std::pair<uint32_t, float>>& probs,
                                      int32_t k, float threshold) {
  const size_t limit = labels_for_k(k, static_cast<uint32_t>(probs.size()));
  std::vector<scored_label> out;
  if (limit == 0) return out;
  std::vector<heap_entry> heap;
  heap.reserve(limit + 1);
  for (const auto& [label, p] : probs) {
    if (p < threshold) continue;
    const float score = std_log(p);
    if (heap.size() == limit && score < heap.front().first) continue;
    heap.emplace_back(score, label);
    std::push_heap(heap.begin(), heap.end(), compare_pairs);
    if (heap.size() > limit) {
      std::pop_heap(heap.begin(), heap.end(), compare_pairs);
      heap.pop_back();
    }
  }
  std::sort_heap(heap.begin(), heap.end(), compare_pairs);
  out.reserve(heap.size());
  for (const auto& [score, label] : heap)
    out.push_back(scored_label{label, std::exp(score), score});
  return out;
}

std::vector<scored_label> merge_topk(const std::vector<topk_partial>& parts, int32_t k,
                                     float threshold) {
  // Global max over the non-empty shards.
  bool any = false;
  float global_max = 0.0f;
  for (const auto& part : parts) {
    if (part.sumexp == 0.0f) continue;
    global_max = any ? std::max(part.max, global_max) : part.max;
    any = true;
  }
  if (!any) return {};
  // Z in shard order; a shard already relative to the global max is taken as is, so one
  // shard gives fastText's z bit for bit.
  float z = 0.0f;
  for (const auto& part : parts) {
    if (part.sumexp == 0.0f) continue;
    z += part.max == global_max ? part.sumexp : part.sumexp * exp_shifted(part.max, global_max);
  }
  std::vector<std::pair<uint32_t, float>> candidates;
  for (const auto& part : parts)
    candidates.insert(candidates.end(), part.candidates.begin(), part.candidates.end());
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& c : candidates) c.second = exp_shifted(c.second, global_max) / z;
  return select_topk(candidates, k, threshold);
}

// Wire layout (little-endian): u32 inputs; per input: f32 max, f32 sumexp, u32 candidates,
// then per candidate u32 label, f32 logit.
std::vector<char> encode_topk(const std::vector<topk_partial>& batch) {
  std::vector<char> out;
  size_t bytes = 4;
  for (const auto& p : batch) bytes += 12 + 8 * p.candidates.size();
  out.reserve(bytes);
  put_u32(out, static_cast<uint32_t>(batch.size()));
  for (const auto& p : batch) {
    put_f32(out, p.max);
    put_f32(out, p.sumexp);
    put_u32(out, static_cast<uint32_t>(p.candidates.size()));
    for (const auto& [label, logit] : p.candidates) {
      put_u32(out, label);
      put_f32(out, logit);
    }
  }
  return out;
}

bool decode_topk(const std::vector<char>& bytes, std::vector<topk_partial>& out) {
  out.clear();
  reader in(bytes);
  uint32_t inputs = 0;
  if (!in.u32(inputs)) return false;
  if (inputs > in.remaining() / 12) return false;  // each input takes at least 12 bytes
  std::vector<topk_partial> result(inputs);
  for (auto& p : result) {
    uint32_t count = 0;
    if (!in.f32(p.max) || !in.f32(p.sumexp) || !in.u32(count)) return false;
    if (count > in.remaining() / 8) return false;
    p.candidates.resize(count);
    for (auto& [label, logit] : p.candidates)
      if (!in.u32(label) || !in.f32(logit)) return false;
  }
  if (in.remaining() != 0) return false;
  out = std::move(result);
  return true;
}

topk_partial join_all_logits(const std::vector<topk_partial>& parts, uint32_t labels) {
  std::vector<float> logits(labels, 0.0f);
  for (const auto& p : parts)
    for (const auto& [label, logit] : p.candidates)
      if (label < labels) logits[label] = logit;
  return shard_topk(logits.data(), labels, 0, -1);
}

}  // namespace tessera
