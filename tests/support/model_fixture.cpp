#include "tests/support/model_fixture.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <stdexcept>

namespace tessera::test {

model_fixture::model_fixture(synthetic_spec s) : spec(std::move(s)) {
  path = dir / "model";
  if (auto err = write_synthetic_package(path, spec))
    throw std::runtime_error("cannot write package: " + describe(err));
  auto r = reference_model::load(path);
  if (!r) throw std::runtime_error("cannot load reference: " + describe(r.error()));
  ref = std::make_unique<reference_model>(std::move(*r));
  features = std::make_unique<hashing_reference>(
      hashing_reference::from_package(path, spec.buckets, spec.word_ngrams));
  if (features->vocab_size() != spec.vocab)
    throw std::runtime_error("the package's vocab.txt does not have the spec's word count");
}

Eigen::VectorXf model_fixture::pool_text(std::string_view text) const {
  return ref->pool_ids(features->ids(text));
}

std::vector<std::string> random_texts(const synthetic_spec& spec, size_t n, uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    auto len = 1 + rng() % 30;
    std::string text = synthetic_word(spec.seed, rng() % spec.vocab);
    for (size_t t = 1; t < len; ++t) {
      text += rng() % 4 == 0 ? "  " : " ";
      if (rng() % 10 == 0)
        text += "oov" + std::to_string(rng() % 1000);
      else
        text += synthetic_word(spec.seed, rng() % spec.vocab);
    }
    out.push_back(std::move(text));
  }
  return out;
}

std::vector<id_input> random_id_inputs(uint64_t rows, size_t n, uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::vector<id_input> out(n);
  for (auto& in : out) {
    auto len = 1 + rng() % 50;
    bool weighted = rng() % 2 == 0;
    for (size_t j = 0; j < len; ++j) {
      in.ids.push_back(static_cast<int64_t>(rng() % rows));
      if (weighted) in.weights.push_back(0.1f + static_cast<float>(rng() % 1900) / 1000.0f);
    }
  }
  return out;
}

namespace {

// Compares `got` with the reference labels `want` (best first): same count, same labels in
// order except where the reference probabilities of a swapped pair are within 1e-6 (a true
// tie), and each probability as fastText prints it: within 1e-5 of p + 1e-5.
void check_labels(const reference_model& ref, const Eigen::VectorXf& probs,
                  const std::vector<std::pair<uint32_t, float>>& want, Prediction::Reader got) {
  auto labels = got.getLabels();
  CHECK(labels.size() == want.size());  // CHECK: this also runs inside kj callbacks
  if (labels.size() != want.size()) return;
  for (uint32_t j = 0; j < labels.size(); ++j) {
    auto g = labels[j].getIndex();
    auto w = want[j].first;
    CHECK(g < static_cast<uint32_t>(probs.size()));
    if (g >= static_cast<uint32_t>(probs.size())) return;
    if (g != w) {
      // Only a true tie may reorder labels.
      CHECK(std::fabs(probs[g] - probs[w]) < 1e-6f);
    }
    CHECK(std::string{labels[j].getLabel().cStr()} == ref.labels()[g]);
    CHECK(std::fabs(labels[j].getProb() - (probs[g] + 1e-5f)) < 1e-5f);
  }
}

}  // namespace

void check_prediction(const reference_model& ref, const Eigen::VectorXf& pooled,
                      Prediction::Reader got, int k) {
  auto probs = ref.probabilities(pooled);
  check_labels(ref, probs, ref.top_k(probs, k), got);
}

void check_prediction(const reference_model& ref, const Eigen::VectorXf& pooled,
                      Prediction::Reader got, int k, float threshold) {
  constexpr float margin = 1e-6f;
  auto probs = ref.probabilities(pooled);
  std::vector<std::pair<uint32_t, float>> sure, maybe;  // p >= t + margin, p >= t - margin
  for (const auto& [label, p] : ref.top_k(probs, -1)) {
    if (p >= threshold + margin && (k < 0 || sure.size() < static_cast<size_t>(k)))
      sure.emplace_back(label, p);
    if (p >= threshold - margin && (k < 0 || maybe.size() < static_cast<size_t>(k)))
      maybe.emplace_back(label, p);
  }
  auto n = got.getLabels().size();
  CHECK(n >= sure.size());
  CHECK(n <= maybe.size());
  if (n < sure.size() || n > maybe.size()) return;
  maybe.resize(n);
  check_labels(ref, probs, maybe, got);
}

void check_embedding(const Eigen::VectorXf& want, capnp::List<float>::Reader got) {
  CHECK(got.size() == static_cast<uint32_t>(want.size()));
  if (got.size() != static_cast<uint32_t>(want.size())) return;
  float worst = 0;
  for (uint32_t j = 0; j < got.size(); ++j) worst = std::max(worst, std::fabs(got[j] - want[j]));
  CHECK(worst < 1e-5f);
}

}  // namespace tessera::test
