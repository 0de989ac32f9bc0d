#include "tests/support/model_fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <numeric>
#include <sstream>
#include <stdexcept>

namespace tessera::test {

model_fixture::model_fixture(synthetic_spec s) : spec(std::move(s)) {
  path = dir / "model";
  if (auto err = write_synthetic_package(path, spec))
    throw std::runtime_error("cannot write package: " + describe(err));
  auto r = reference_model::load(path);
  if (!r) throw std::runtime_error("cannot load reference: " + describe(r.error()));
  ref = std::make_unique<reference_model>(std::move(*r));
  features = std::make_unique<testing::hashing_reference>(
      testing::hashing_reference::from_package(path, spec.buckets, spec.word_ngrams));
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
// order except where the reference probabilities of a swapped pair are within bar.tie (1e-6:
// a true tie), and each probability as fastText prints it: within bar.prob + bar.rel * p
// (1e-5) of p + 1e-5. Each failure is
// reported with the values involved (passing labels add no assertion: a 20,000-label answer
// would otherwise cost 80,000 of them).
void check_labels(const reference_model& ref, const Eigen::VectorXf& probs,
                  const std::vector<std::pair<uint32_t, float>>& want, Prediction::Reader got,
                  const answer_bar& bar = {}) {
  auto labels = got.getLabels();
  CHECK(labels.size() == want.size());  // CHECK: this also runs inside kj callbacks
  if (labels.size() != want.size()) return;
  for (uint32_t j = 0; j < labels.size(); ++j) {
    const auto g = labels[j].getIndex();
    const auto w = want[j].first;
    if (g >= static_cast<uint32_t>(probs.size())) {
      FAIL_CHECK("rank " << j << ": label index " << g << " out of range");
      return;
    }
    auto what = [&] {
      std::ostringstream s;
      s << std::setprecision(9) << "rank " << j << ": label " << g << " (reference p " << probs[g]
        << "), reference label " << w << " (p " << probs[w] << "), printed " << labels[j].getProb();
      return s.str();
    };
    // Only a true tie may reorder labels.
    if (g != w && !(std::fabs(probs[g] - probs[w]) < bar.tie)) FAIL_CHECK(what() << ": not a tie");
    if (ref.labels()[g] != labels[j].getLabel().cStr())
      FAIL_CHECK(what() << ": label text " << labels[j].getLabel().cStr());
    if (!(std::fabs(labels[j].getProb() - (probs[g] + 1e-5f)) < bar.prob + bar.rel * probs[g]))
      FAIL_CHECK(what() << ": printed probability not within " << bar.prob << " + " << bar.rel
                        << " p of p + 1e-5");
  }
}

}  // namespace

void check_prediction(const reference_model& ref, const Eigen::VectorXf& pooled,
                      Prediction::Reader got, int k) {
  auto probs = ref.probabilities(pooled);
  check_labels(ref, probs, ref.top_k(probs, k), got);
}

expected_labels expect_labels(Eigen::VectorXf probs) {
  expected_labels out;
  out.order.resize(static_cast<size_t>(probs.size()));
  std::iota(out.order.begin(), out.order.end(), 0u);
  std::stable_sort(out.order.begin(), out.order.end(),
                   [&](uint32_t a, uint32_t b) { return probs[a] > probs[b]; });
  out.probs = std::move(probs);
  return out;
}

void check_prediction(const reference_model& ref, const expected_labels& want,
                      Prediction::Reader got, int k, float threshold, const answer_bar& bar) {
  // The best k of the labels with p >= threshold (fastText's rule, before the + 1e-5). A
  // label whose p is within bar.tie of the threshold may be in or out.
  const float margin = bar.tie;
  const size_t limit = k < 0 ? want.order.size() : static_cast<size_t>(k);
  size_t sure = 0, maybe = 0;  // p >= t + margin, p >= t - margin: prefixes of `order`
  for (uint32_t label : want.order) {
    const float p = want.probs[label];
    if (p < threshold - margin || maybe == limit) break;
    ++maybe;
    sure += p >= threshold + margin;
  }
  auto n = got.getLabels().size();
  CHECK(n >= sure);
  CHECK(n <= maybe);
  if (n < sure || n > maybe) return;
  std::vector<std::pair<uint32_t, float>> expected;
  expected.reserve(n);
  for (size_t j = 0; j < n; ++j) expected.emplace_back(want.order[j], want.probs[want.order[j]]);
  check_labels(ref, want.probs, expected, got, bar);
}

void check_prediction(const reference_model& ref, const Eigen::VectorXf& pooled,
                      Prediction::Reader got, int k, float threshold) {
  check_prediction(ref, expect_labels(ref.probabilities(pooled)), got, k, threshold);
}

void check_embedding(const Eigen::VectorXf& want, capnp::List<float>::Reader got) {
  CHECK(got.size() == static_cast<uint32_t>(want.size()));
  if (got.size() != static_cast<uint32_t>(want.size())) return;
  float worst = 0;
  for (uint32_t j = 0; j < got.size(); ++j) worst = std::max(worst, std::fabs(got[j] - want[j]));
  CHECK(worst < 1e-5f);
}

void expect_reference_predictions(client& cl, const model_fixture& m, const std::string& name,
                                  size_t n, uint64_t seed, int k) {
  auto texts = random_texts(m.spec, n, seed);
  auto req = cl.session().predictRequest();
  req.initModel().setName(name);
  req.setTopK(k);
  auto in = req.initInputs(static_cast<unsigned>(texts.size()));
  for (size_t i = 0; i < texts.size(); ++i) in[i].setText(texts[i]);
  auto res = req.send().wait(cl.wait_scope());
  REQUIRE(res.getResults().size() == texts.size());
  for (size_t i = 0; i < texts.size(); ++i)
    check_prediction(*m.ref, m.ref->pool_text(texts[i]), res.getResults()[i], k);
}

}  // namespace tessera::test
