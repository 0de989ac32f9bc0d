// The sharded softmax top-k must equal fastText's prediction over all labels: same labels,
// probabilities within 1e-6, and bit for bit when one shard holds every label.
#include "cluster/topk.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "cluster/sharding.hpp"

namespace tessera {
namespace {

// The reference, written as fastText 0.9.2 does it (SoftmaxLoss::computeOutput, then
// Loss::findKBest and std::sort_heap, then std::exp of the score in FastText::predictLine).
std::vector<scored_label> reference_predict(const std::vector<float>& logits, int32_t k,
                                            float threshold) {
  const int32_t n = static_cast<int32_t>(logits.size());
  if (k < 0) k = n;
  std::vector<float> output = logits;
  float max = output[0], z = 0.0f;
  for (int32_t i = 0; i < n; i++) max = std::max(output[i], max);
  for (int32_t i = 0; i < n; i++) {
    output[i] = static_cast<float>(std::exp(static_cast<double>(output[i] - max)));
    z += output[i];
  }
  for (int32_t i = 0; i < n; i++) output[i] /= z;

  auto greater = [](const std::pair<float, int32_t>& l, const std::pair<float, int32_t>& r) {
    return l.first > r.first;
  };
  std::vector<std::pair<float, int32_t>> heap;
  for (int32_t i = 0; i < n; i++) {
    if (output[i] < threshold) continue;
    const float score = static_cast<float>(std::log(static_cast<double>(output[i]) + 1e-5));
    if (heap.size() == static_cast<size_t>(k) && score < heap.front().first) continue;
    heap.push_back({score, i});
    std::push_heap(heap.begin(), heap.end(), greater);
    if (heap.size() > static_cast<size_t>(k)) {
      std::pop_heap(heap.begin(), heap.end(), greater);
      heap.pop_back();
    }
  }
  std::sort_heap(heap.begin(), heap.end(), greater);
  std::vector<scored_label> out;
  for (const auto& [score, label] : heap)
    out.push_back({static_cast<uint32_t>(label), std::exp(score), score});
  return out;
}

// Runs the sharded path: split the labels over `shards`, shard_topk on each, merge.
std::vector<scored_label> sharded_predict(const std::vector<float>& logits, size_t shards,
                                          int32_t k, float threshold) {
  std::vector<topk_partial> parts;
  for (const auto& r : split_rows(logits.size(), shards))
    parts.push_back(shard_topk(logits.data() + r.begin, static_cast<uint32_t>(r.size()),
                               static_cast<uint32_t>(r.begin), k));
  return merge_topk(parts, k, threshold);
}

void check_same(const std::vector<scored_label>& got, const std::vector<scored_label>& ref,
                bool bitwise) {
  REQUIRE(got.size() == ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].label == ref[i].label);
    if (bitwise) {
      CHECK(got[i].prob == ref[i].prob);
      CHECK(got[i].score == ref[i].score);
    } else {
      CHECK(std::fabs(got[i].prob - ref[i].prob) <= 1e-6f);
    }
  }
}

}  // namespace

TEST_CASE("merged top-k over 1 to 5 shards equals fastText's prediction over all labels") {
  std::mt19937 rng(20240601);
  std::normal_distribution<float> logit(0.f, 2.f);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t labels = 1 + static_cast<size_t>(rng() % 60);
    std::vector<float> logits(labels);
    for (float& x : logits) x = logit(rng);
    for (int32_t k : {1, 3, -1}) {
      for (float threshold : {0.0f, 0.01f, 0.2f}) {
        const auto ref = reference_predict(logits, k, threshold);
        for (size_t shards = 1; shards <= 5; ++shards) {
          CAPTURE(trial, labels, k, threshold, shards);
          check_same(sharded_predict(logits, shards, k, threshold), ref, shards == 1);
        }
      }
    }
  }
}

TEST_CASE("joining every shard's logits reproduces fastText bit for bit on any split") {
  std::mt19937 rng(77);
  std::normal_distribution<float> logit(0.f, 3.f);
  for (int trial = 0; trial < 200; ++trial) {
    const auto labels = static_cast<uint32_t>(2 + rng() % 60);
    std::vector<float> logits(labels);
    for (float& x : logits) x = logit(rng);
    for (int32_t k : {1, 3, -1}) {
      const auto ref = reference_predict(logits, k, 0.0f);
      for (size_t shards = 2; shards <= 5; ++shards) {
        std::vector<topk_partial> parts;
        for (const auto& r : split_rows(labels, shards))
          parts.push_back(shard_topk(logits.data() + r.begin, static_cast<uint32_t>(r.size()),
                                     static_cast<uint32_t>(r.begin), -1));
        CAPTURE(trial, labels, k, shards);
        check_same(merge_topk({join_all_logits(parts, labels)}, k, 0.0f), ref, true);
      }
    }
  }
}

TEST_CASE("equal logits across shard boundaries are all kept as candidates") {
  // Label 2..5 tie at the k-th place and straddle the shards.
  const std::vector<float> logits = {0.5f, 3.f, 2.f, 2.f, 2.f, 2.f, -1.f, 1.f};
  for (int32_t k : {1, 2, 3, 5, -1}) {
    const auto ref = reference_predict(logits, k, 0.f);
    for (size_t shards = 1; shards <= 5; ++shards) {
      CAPTURE(k, shards);
      const auto got = sharded_predict(logits, shards, k, 0.f);
      REQUIRE(got.size() == ref.size());
      for (size_t i = 0; i < ref.size(); ++i) {
        // Among exactly equal scores fastText's choice depends on its whole heap history, so
        // only the scores and the probabilities must match; the label must carry that logit.
        if (shards == 1) CHECK(got[i].score == ref[i].score);
        CHECK(std::fabs(got[i].prob - ref[i].prob) <= 1e-6f);
        CHECK(logits[got[i].label] == logits[ref[i].label]);
      }
    }
  }
}

TEST_CASE("shards asked for every candidate replay fastText's tie order exactly") {
  const std::vector<float> logits = {0.5f, 3.f, 2.f, 2.f, 2.f, 2.f, -1.f, 1.f, 2.f};
  for (int32_t k : {1, 2, 3, 5, 9, -1}) {
    const auto ref = reference_predict(logits, k, 0.f);
    for (size_t shards = 1; shards <= 5; ++shards) {
      CAPTURE(k, shards);
      std::vector<topk_partial> parts;
      for (const auto& r : split_rows(logits.size(), shards))
        parts.push_back(shard_topk(logits.data() + r.begin, static_cast<uint32_t>(r.size()),
                                   static_cast<uint32_t>(r.begin), -1));
      check_same(merge_topk(parts, k, 0.f), ref, shards == 1);
    }
  }
}

TEST_CASE("ties that fit inside k are kept whole on any shard count") {
  const std::vector<float> logits = {1.f, 2.f, 1.f, 2.f, 2.f, 0.f, 1.f, 2.f, 1.f};
  for (size_t shards = 1; shards <= 4; ++shards) {
    std::vector<uint32_t> got, ref;
    for (const auto& s : sharded_predict(logits, shards, 4, 0.f)) got.push_back(s.label);
    for (const auto& s : reference_predict(logits, 4, 0.f)) ref.push_back(s.label);
    std::sort(got.begin(), got.end());
    std::sort(ref.begin(), ref.end());
    CHECK(got == ref);
  }
}

TEST_CASE("shard_topk keeps the k largest logits, lower index first, plus ties with the k-th") {
  const std::vector<float> logits = {1.f, 5.f, 3.f, 3.f, 0.f, 3.f};
  const auto p = shard_topk(logits.data(), 6, 100, 2);
  using cand = std::vector<std::pair<uint32_t, float>>;
  CHECK(p.candidates == cand{{101, 5.f}, {102, 3.f}, {103, 3.f}, {105, 3.f}});
  CHECK(p.max == 5.f);
  float z = 0.f;
  for (float x : logits) z += static_cast<float>(std::exp(static_cast<double>(x - 5.f)));
  CHECK(p.sumexp == z);
  CHECK(shard_topk(logits.data(), 6, 0, -1).candidates.size() == 6);
  CHECK(shard_topk(logits.data(), 6, 0, 10).candidates.size() == 6);
  CHECK(shard_topk(logits.data(), 6, 0, 0).candidates.empty());
  const auto none = shard_topk(nullptr, 0, 0, 3);
  CHECK(none.candidates.empty());
  CHECK(none.sumexp == 0.f);
}

TEST_CASE("merge_topk ignores empty shards and returns nothing when every shard is empty") {
  const std::vector<float> logits = {0.2f, 1.5f, -0.3f};
  std::vector<topk_partial> parts = {shard_topk(nullptr, 0, 0, 2),
                                     shard_topk(logits.data(), 3, 0, 2),
                                     shard_topk(nullptr, 0, 3, 2)};
  check_same(merge_topk(parts, 2, 0.f), reference_predict(logits, 2, 0.f), true);
  CHECK(merge_topk({shard_topk(nullptr, 0, 0, 2)}, 2, 0.f).empty());
  CHECK(merge_topk({}, 2, 0.f).empty());
  CHECK(merge_topk(parts, 0, 0.f).empty());
}

TEST_CASE("select_topk ranks explicit probabilities with fastText's heap and threshold") {
  const std::vector<std::pair<uint32_t, float>> probs = {
      {0, 0.1f}, {1, 0.5f}, {2, 0.05f}, {3, 0.3f}, {4, 0.05f}};
  const auto top = select_topk(probs, 2, 0.f);
  REQUIRE(top.size() == 2);
  CHECK(top[0].label == 1);
  CHECK(top[1].label == 3);
  CHECK(top[0].score == static_cast<float>(std::log(0.5 + 1e-5)));
  CHECK(top[0].prob == std::exp(top[0].score));
  CHECK(select_topk(probs, -1, 0.1f).size() == 3);
  CHECK(select_topk(probs, 0, 0.f).empty());
  CHECK(select_topk({}, 3, 0.f).empty());
}

TEST_CASE("top-k partials survive an encode/decode round trip bit for bit") {
  std::vector<topk_partial> batch(3);
  batch[0] = {{{7, 1.5f}, {9, -0.25f}}, 1.5f, 2.75f};
  batch[1] = {{}, -std::numeric_limits<float>::infinity(), 0.f};
  batch[2] = {{{4000000000u, 3e-38f}}, 3e-38f, 1.f};
  std::vector<topk_partial> out;
  REQUIRE(decode_topk(encode_topk(batch), out));
  REQUIRE(out.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(out[i].candidates == batch[i].candidates);
    CHECK(out[i].max == batch[i].max);
    CHECK(out[i].sumexp == batch[i].sumexp);
  }
  REQUIRE(decode_topk(encode_topk({}), out));
  CHECK(out.empty());
}

TEST_CASE("decode_topk rejects truncated, padded and garbage bytes") {
  std::vector<topk_partial> batch(2);
  batch[0] = {{{1, 1.f}, {2, 2.f}}, 2.f, 1.5f};
  batch[1] = {{{3, 0.f}}, 0.f, 1.f};
  const auto bytes = encode_topk(batch);
  std::vector<topk_partial> out;
  for (size_t n = 0; n < bytes.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(decode_topk(std::vector<char>(bytes.begin(), bytes.begin() + n), out));
  }
  auto padded = bytes;
  padded.push_back(0);
  CHECK_FALSE(decode_topk(padded, out));
  // Huge counts must fail cleanly rather than allocate or read past the end.
  CHECK_FALSE(decode_topk(std::vector<char>(4, '\xff'), out));
  auto huge_candidates = bytes;
  for (int i = 12; i < 16; ++i) huge_candidates[i] = '\xff';
  CHECK_FALSE(decode_topk(huge_candidates, out));
  std::mt19937 rng(1);
  for (int i = 0; i < 500; ++i) {
    std::vector<char> junk(rng() % 64);
    for (char& c : junk) c = static_cast<char>(rng());
    decode_topk(junk, out);  // must not crash; the result does not matter
  }
}

}  // namespace tessera
