#pragma once
// Exact softmax top-k merged from output-row shards (fastText 0.9.2 semantics).
//
// Each shard computes, per input, its candidates (its k largest logits, plus every further
// logit equal to the k-th), its maximum m_s and z_s = sequential float sum over its rows of
// (float)exp((double)(x - m_s)). The merge takes M = max m_s, Z = sum_s z_s * exp(m_s - M)
// (in shard order; with one shard Z == z_s bit for bit), p = (float)exp((double)(x - M)) / Z,
// and ranks the candidates with fastText's heap on score = (float)log((double)p + 1e-5).
#include <cstdint>
#include <utility>
#include <vector>

namespace tessera {

struct topk_partial {
  std::vector<std::pair<uint32_t, float>> candidates;  // (global label index, logit)
  float max = 0;
  float sumexp = 0;
};

// Shard side, for one input: logits of rows [label_offset, label_offset + n).
// k < 0 or k >= n: all rows are candidates (labels_for_k, cluster/predict_options.hpp).
topk_partial shard_topk(const float* logits, uint32_t n, uint32_t label_offset, int32_t k);

struct scored_label {
  uint32_t label = 0;
  float prob = 0;   // expf(score): what fastText prints
  float score = 0;  // (float)log(p + 1e-5)
};

// Coordinator side, for one input: exact top-k (k < 0 or above the candidates: all) with
// probabilities >= threshold, best first, in fastText's order.
std::vector<scored_label> merge_topk(const std::vector<topk_partial>& parts, int32_t k,
                                     float threshold);
// Among labels with exactly equal scores, fastText's pick and order depend on every label its
// heap saw, not only the candidates; shards asked with k < 0 (all candidates) make the merge
// replay that heap exactly, at the cost of sending every logit.

// When the shards sent every logit (k < 0), one partial over all `labels` rows in label order,
// as a single shard would compute it: merge_topk of it sums exp() sequentially like fastText
// instead of rescaling per-shard sums, so the result is bit-identical however the output
// layer is split. Labels no partial names get logit 0 (callers pass complete partials).
topk_partial join_all_logits(const std::vector<topk_partial>& parts, uint32_t labels);

// fastText's heap selection over explicit (label, p) in label order: the ranking step shared
// with the ova and hs outputs. Keeps probabilities >= threshold; k < 0 or k above the labels
// means all, sized by the labels (labels_for_k), never by k.
std::vector<scored_label> select_topk(const std::vector<std::pair<uint32_t, float>>& probs,
                                      int32_t k, float threshold);

// Wire encoding of a batch of partials (one per input), as bytes.
std::vector<char> encode_topk(const std::vector<topk_partial>& batch);
bool decode_topk(const std::vector<char>& bytes, std::vector<topk_partial>& out);

}  // namespace tessera
