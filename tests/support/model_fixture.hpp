#pragma once
// A generated model package plus its in-process Eigen reference, and the comparisons the
// integration tests make between the cluster's answers and the reference.
#include <random>
#include <string>
#include <vector>

#include "importers/synthetic_model.hpp"
#include "testing/hashing_reference.hpp"
#include "testing/reference_model.hpp"
#include "tests/support/cluster_fixture.hpp"

namespace tessera::test {

struct model_fixture {
  temp_dir dir;
  synthetic_spec spec;
  std::string path;
  std::unique_ptr<reference_model> ref;
  // The test's own featurizer (testing/hashing_reference.hpp), independent of the
  // server's: `ref->pool_text` featurizes with the server's code, `pool_text` below does not.
  std::unique_ptr<testing::hashing_reference> features;
  // Writes the package for `spec` under a temp dir and loads the reference.
  explicit model_fixture(synthetic_spec s);
  // The reference pooled vector of `text`: the independent featurizer's ids, pooled by the
  // Eigen reference.
  Eigen::VectorXf pool_text(std::string_view text) const;
};

// Random texts of 1..30 tokens, mostly vocabulary words with some unknown ones; each has at
// least one vocabulary word.
std::vector<std::string> random_texts(const synthetic_spec& spec, size_t n, uint64_t seed);

struct id_input {
  std::vector<int64_t> ids;
  std::vector<float> weights;  // empty or one per id
};
std::vector<id_input> random_id_inputs(uint64_t rows, size_t n, uint64_t seed);

// Checks (with Catch2 CHECKs) one prediction against the reference probabilities: the same
// labels in order except where neighbouring reference probabilities are within 1e-6, and
// each printed probability within 1e-5 of p + 1e-5 (fastText prints exp(log(p + 1e-5))).
void check_prediction(const reference_model& ref, const Eigen::VectorXf& pooled,
                      Prediction::Reader got, int k);
// The same for a call with a threshold: the best k of the reference labels whose probability
// is at least `threshold` (fastText's rule: p >= threshold, before the + 1e-5). A label whose
// reference probability is within 1e-6 of the threshold may be in or out.
void check_prediction(const reference_model& ref, const Eigen::VectorXf& pooled,
                      Prediction::Reader got, int k, float threshold);

// The reference answer for one input, computed once and checked for any k and threshold (a
// 20,000-label softmax costs a product and a sort per input; checks then cost their labels).
struct expected_labels {
  // Per label its probability p: the answer prints p + 1e-5 and keeps the label when
  // p >= threshold (softmax and ova: reference_model::probabilities; hs: see hs_reference).
  Eigen::VectorXf probs;
  std::vector<uint32_t> order;  // every label, best first; equal p by lower index
};
expected_labels expect_labels(Eigen::VectorXf probs);

// The bar an answer is held to; the defaults are check_prediction's.
struct answer_bar {
  // Labels whose reference probabilities are within `tie` of each other may come in either
  // order, and a label within `tie` of the threshold may be in or out.
  float tie = 1e-6f;
  // Each printed probability within prob + rel * p of p + 1e-5.
  float prob = 1e-5f;
  float rel = 0.0f;
};
// check_prediction with a threshold, against a precomputed answer.
void check_prediction(const reference_model& ref, const expected_labels& want,
                      Prediction::Reader got, int k, float threshold, const answer_bar& bar = {});

// Predicts `n` random texts (random_texts with `seed`) with model `name` through `cl`, top
// `k`, and checks every answer against `m`'s reference (check_prediction).
void expect_reference_predictions(client& cl, const model_fixture& m, const std::string& name,
                                  size_t n, uint64_t seed, int k = 3);

// Checks an embedding against the reference pooled vector, within 1e-5 per element.
void check_embedding(const Eigen::VectorXf& want, capnp::List<float>::Reader got);

}  // namespace tessera::test
