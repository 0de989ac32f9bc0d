#include "testing/reference_model.hpp"

#include <catch2/catch.hpp>

#include <cmath>

#include "importers/synthetic_model.hpp"
#include "testing/package_builder.hpp"

using namespace tessera;
using Catch::Detail::Approx;
using tessera::testing::temp_dir;
using tessera::testing::write_tiny_package;

// The tiny package (package_test_util.hpp): table row r = (r + 1, -(r + 1) / 2),
// W = [[1, 0], [0, 1], [1, 1]], b = [0, 0, 0.5], labels x, y, z.

namespace {

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

void require_vec(const Eigen::VectorXf& v, std::initializer_list<double> expect) {
  REQUIRE(v.size() == static_cast<Eigen::Index>(expect.size()));
  Eigen::Index i = 0;
  for (double e : expect) REQUIRE(v[i++] == Approx(e).margin(1e-6));
}

reference_model load(const std::string& dir) {
  auto r = reference_model::load(dir);
  if (!r) FAIL(describe(r.error()));
  return std::move(*r);
}

}  // namespace

TEST_CASE("mean pooling averages the rows of a bag, with or without weights") {
  temp_dir tmp;
  REQUIRE_FALSE(write_tiny_package(tmp.path));
  auto ref = load(tmp.path);
  REQUIRE(ref.rows() == 5);
  REQUIRE(ref.dim() == 2);
  require_vec(ref.pool_ids({0, 2}), {2.0, -1.0});          // ((1, -.5) + (3, -1.5)) / 2
  require_vec(ref.pool_ids({0, 4}, {3, 1}), {2.0, -1.0});  // (3 (1, -.5) + (5, -2.5)) / 4
  require_vec(ref.pool_ids({1, 1, 1}), {2.0, -1.0});
  require_vec(ref.pool_ids({}), {0.0, 0.0});
  require_vec(ref.pool_ids({3}, {0}), {0.0, 0.0});         // weights sum to zero
  require_vec(ref.pool_ids({0, 99, -1, 2}), {2.0, -1.0});  // out-of-range ids are skipped
}

TEST_CASE("sum pooling adds the rows of a bag") {
  temp_dir tmp;
  REQUIRE_FALSE(write_tiny_package(tmp.path, pooling_kind::sum));
  auto ref = load(tmp.path);
  require_vec(ref.pool_ids({0, 2}), {4.0, -2.0});
  require_vec(ref.pool_ids({0, 2}, {1, 0.5f}), {2.5, -1.25});
  require_vec(ref.pool_ids({}), {0.0, 0.0});
}

TEST_CASE("softmax probabilities and top-k match a hand computation") {
  temp_dir tmp;
  REQUIRE_FALSE(write_tiny_package(tmp.path));
  auto ref = load(tmp.path);
  Eigen::VectorXf pooled(2);
  pooled << 2.0f, -1.0f;
  require_vec(ref.logits(pooled), {2.0, -1.0, 1.5});
  // exp(0) = 1, exp(-3) = 0.0497871, exp(-0.5) = 0.6065307; sum 1.6563178.
  auto p = ref.probabilities(pooled);
  require_vec(p, {0.6037489, 0.0300589, 0.3661922});
  auto top = ref.top_k(p, 2);
  REQUIRE(top.size() == 2);
  REQUIRE(top[0].first == 0);
  REQUIRE(top[1].first == 2);
  REQUIRE(top[1].second == Approx(0.3661922));
  REQUIRE(ref.top_k(p, -1).size() == 3);
  REQUIRE(ref.top_k(p, 10).size() == 3);
  REQUIRE(ref.top_k(p, 0).empty());
  REQUIRE(ref.labels() == std::vector<std::string>{"__label__x", "__label__y", "__label__z"});
}

TEST_CASE("top-k breaks ties by the lower label index") {
  temp_dir tmp;
  REQUIRE_FALSE(write_tiny_package(tmp.path));
  auto ref = load(tmp.path);
  Eigen::VectorXf p(4);
  p << 0.2f, 0.5f, 0.5f, 0.1f;
  auto top = ref.top_k(p, -1);
  REQUIRE(top ==
          std::vector<std::pair<uint32_t, float>>{{1, 0.5f}, {2, 0.5f}, {0, 0.2f}, {3, 0.1f}});
}

TEST_CASE("pool_text featurizes with the package vocabulary and bigram buckets") {
  temp_dir tmp;
  REQUIRE_FALSE(write_tiny_package(tmp.path));
  auto ref = load(tmp.path);
  const double b = 3 + static_cast<double>(fnv1a64("a c") % 2);  // bigram row, 3 or 4
  // rows 0, 2 and b: ((1 + 3 + (b + 1)) / 3, -(1 + 3 + (b + 1)) / 6)
  const double s = 1 + 3 + (b + 1);
  require_vec(ref.pool_text("a c"), {s / 3, -s / 6});
  require_vec(ref.pool_text("zzz"), {0.0, 0.0});
  std::vector<int64_t> ids;
  ref.text_featurizer().featurize("b", ids);
  REQUIRE(ids == std::vector<int64_t>{1});
}

TEST_CASE("ova applies a sigmoid per label") {
  temp_dir tmp;
  REQUIRE_FALSE(write_tiny_package(tmp.sub("ova"), pooling_kind::mean, output_kind::ova));
  auto ova = load(tmp.sub("ova"));
  Eigen::VectorXf pooled(2);
  pooled << 2.0f, -1.0f;
  require_vec(ova.probabilities(pooled), {0.8807971, 0.2689414, 0.8175745});
}

TEST_CASE("hidden layers apply their activation between layers") {
  temp_dir tmp;
  auto w = package_writer::create(tmp.path);
  REQUIRE(w);
  REQUIRE_FALSE(w->write_lines("vocab", "vocab.txt", {"a"}));
  REQUIRE_FALSE(w->write_lines("labels", "labels.txt", {"p", "q"}));
  const float table[] = {2, -1};
  const float w0[] = {-1, 0, 1, -1}, b0[] = {0, -1};  // pre-activation (-2, 2) for (2, -1)
  const float w1[] = {1, 0, 0, 1}, b1[] = {0.25f, 0};
  REQUIRE_FALSE(w->write_tensor("emb", 1, 2, table));
  REQUIRE_FALSE(w->write_tensor("w0", 2, 2, w0));
  REQUIRE_FALSE(w->write_tensor("b0", 2, 1, b0));
  REQUIRE_FALSE(w->write_tensor("w1", 2, 2, w1));
  REQUIRE_FALSE(w->write_tensor("b1", 2, 1, b1));
  manifest m;
  m.name = "deep";
  m.embedder = embedder_spec{"deep.e", 1, {"emb"}, pooling_kind::mean, {}, {}};
  m.embedder->featurizer.vocab = "vocab";
  classifier_spec c;
  c.name = "deep.c";
  c.labels = "labels";
  c.layers = {{"w0", "b0", activation_kind::relu}, {"w1", "b1", activation_kind::none}};
  m.classifier = c;
  REQUIRE_FALSE(w->finish(m));
  auto ref = load(tmp.path);
  auto pooled = ref.pool_text("a");
  require_vec(pooled, {2.0, -1.0});
  require_vec(ref.logits(pooled), {0.25, 2.0});  // relu clips -2 to 0, then + 0.25
}

TEST_CASE("hs output is not evaluated by the reference: probabilities are empty") {
  temp_dir tmp;
  synthetic_spec spec;
  spec.vocab = 20;
  spec.buckets = 10;
  spec.dim = 4;
  spec.hidden = {};
  spec.labels = 3;
  spec.output = output_kind::hs;
  REQUIRE_FALSE(write_synthetic_package(tmp.path, spec));
  auto ref = load(tmp.path);
  auto pooled = ref.pool_ids({0, 1});
  REQUIRE(ref.logits(pooled).size() == 2);  // hs: one row per inner node, labels - 1
  REQUIRE(ref.probabilities(pooled).size() == 0);
}

TEST_CASE("loading a package with a corrupted table fails with corrupt_package") {
  temp_dir tmp;
  REQUIRE_FALSE(write_tiny_package(tmp.path));
  std::string bytes = testing::slurp(tmp.sub("embedder.input.f32"));
  bytes[5] = static_cast<char>(bytes[5] ^ 1);
  testing::spit(tmp.sub("embedder.input.f32"), bytes);
  auto r = reference_model::load(tmp.path);
  REQUIRE_FALSE(r);
  REQUIRE(code_of(r.error()) == errc::corrupt_package);
  REQUIRE_THAT(message_of(r.error()), Catch::Contains("embedder.input"));
}
