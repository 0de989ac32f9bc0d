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

void check_prediction(const reference_model& ref, const Eigen::VectorXf& pooled,
                      Prediction::Reader got, int k) {
  auto probs = ref.probabilities(pooled);
  auto want = ref.top_k(probs, k);
  auto labels = got.getLabels();
  CHECK(labels.size() == want.size());  // CHECK: this also runs inside kj callbacks
  if (labels.size() != want.size()) return;
  for (uint32_t j = 0; j < labels.size(); ++j) {
    auto g = labels[j].getIndex();
    auto w = want[j].first;
    if (g != w) {
      // Only a true tie may reorder labels.
      CHECK(std::fabs(probs[g] - probs[w]) < 1e-6f);
    }
    CHECK(std::string{labels[j].getLabel().cStr()} == ref.labels()[g]);
    CHECK(std::fabs(labels[j].getProb() - (probs[g] + 1e-5f)) < 1e-5f);
  }
}

void check_embedding(const Eigen::VectorXf& want, capnp::List<float>::Reader got) {
  CHECK(got.size() == static_cast<uint32_t>(want.size()));
  if (got.size() != static_cast<uint32_t>(want.size())) return;
  float worst = 0;
  for (uint32_t j = 0; j < got.size(); ++j) worst = std::max(worst, std::fabs(got[j] - want[j]));
  CHECK(worst < 1e-5f);
}

}  // namespace tessera::test
