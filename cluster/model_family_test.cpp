// The model families: how inputs become bags and how outputs are ranked, without an actor
// system. The serving path's pooling is covered in sharding_test; answers against PyTorch in
// tests/torch_itest.cpp.
#include "cluster/model_family.hpp"

#include <catch2/catch.hpp>

#include <cmath>

#include "cluster/bag_family.hpp"
#include "cluster/fasttext_family.hpp"

using namespace tessera;

namespace {

family_ptr three_tables(output_kind output = output_kind::softmax,
                        activation_kind last = activation_kind::none) {
  return make_bag_family({{"user", "embedder.user", 10, 4, pooling_kind::sum, 0},
                          {"item", "embedder.item", 20, 2, pooling_kind::mean, -1},
                          {"ctx", "embedder.ctx", 5, 3, pooling_kind::max, -1}},
                         output, last);
}

input_item bags(std::vector<table_bag> t) {
  input_item in;
  in.kind = input_kind::tables;
  in.tables = std::move(t);
  return in;
}

table_bag named(std::string name, std::vector<int64_t> ids, std::vector<float> w = {}) {
  table_bag b;
  b.name = std::move(name);
  b.ids = std::move(ids);
  b.weights = std::move(w);
  return b;
}

}  // namespace

TEST_CASE("embedding-bag inputs: a bag per table by name or index, padding dropped, others empty") {
  auto f = three_tables();
  CHECK(f->dim() == 9);
  table_bag by_index;
  by_index.index = 2;
  by_index.ids = {4, 4};
  auto got = f->bags_of(
      {bags({named("item", {3, 19}), named("user", {0, 5, 0, 9}, {1, 2, 3, 4}), by_index}),
       bags({})},
      100);
  REQUIRE(got);
  REQUIRE(got->tables == 3);
  REQUIRE(got->inputs() == 2);
  CHECK(got->ids[0] == std::vector<int64_t>{5, 9});  // padding_idx 0 dropped with its weights
  CHECK(got->weights[0] == std::vector<float>{2, 4});
  CHECK(got->ids[1] == std::vector<int64_t>{3, 19});
  CHECK(got->weights[1].empty());
  CHECK(got->ids[2] == std::vector<int64_t>{4, 4});
  for (size_t t = 3; t < 6; ++t) CHECK(got->ids[t].empty());  // the second input: empty bags
  CHECK(f->answers_empty_inputs());
  // An ids input is a bag into the first table.
  input_item ids;
  ids.kind = input_kind::ids;
  ids.ids = {1, 2};
  auto one = f->bags_of({ids}, 100);
  REQUIRE(one);
  CHECK(one->ids[0] == std::vector<int64_t>{1, 2});
}

TEST_CASE("embedding-bag inputs are refused with invalid_argument naming the table at fault") {
  auto f = three_tables();
  auto refused = [&](input_item in, const std::string& part) {
    auto got = f->bags_of({std::move(in)}, 100);
    REQUIRE_FALSE(got);
    CHECK(code_of(got.error()) == errc::invalid_argument);
    CHECK_THAT(describe(got.error()), Catch::Contains(part));
  };
  refused(bags({named("item", {20})}), "table 'item': id 20 outside [0, 20)");
  refused(bags({named("user", {-1})}), "table 'user': id -1");
  refused(bags({named("item", {1}, {0.5f})}), "weights need pooling 'sum'");
  refused(bags({named("ctx", {1}, {0.5f})}), "this table pools by max");
  refused(bags({named("user", {1, 2}, {0.5f})}), "1 weights for 2 ids");
  refused(bags({named("user", {1}, {NAN})}), "not finite");
  refused(bags({named("nope", {1})}), "no table 'nope' (the model has user, item, ctx)");
  refused(bags({named("user", {1}), named("user", {2})}), "'user' is given twice");
  table_bag far;
  far.index = 3;
  refused(bags({far}), "table index 3 outside [0, 3)");
  input_item text;
  text.text = "hello";
  refused(text, "takes ids per table, not text");
  auto big = f->bags_of({bags({named("user", std::vector<int64_t>(60, 1)),
                               named("item", std::vector<int64_t>(60, 1))})},
                        100);
  REQUIRE_FALSE(big);
  CHECK(code_of(big.error()) == errc::limit_exceeded);
  CHECK_FALSE(f->allows_exact_pooling() == caf::none);
}

TEST_CASE("embedding-bag outputs: softmax and sigmoid probabilities and raw scores, best first") {
  const std::vector<float> logits = {1.0f, 3.0f, -2.0f, 3.0f};
  double z = 0;
  for (float x : logits) z += std::exp(double{x} - 3.0);
  auto softmax = three_tables(output_kind::softmax)->from_logits(logits.data(), 4, -1, 0.0f);
  REQUIRE(softmax.size() == 4);
  CHECK(softmax[0].label == 1);  // equal scores: lower index first
  CHECK(softmax[1].label == 3);
  CHECK(softmax[2].label == 0);
  CHECK(softmax[0].prob == Approx(1.0 / z).epsilon(1e-7));
  CHECK(softmax[3].prob == Approx(std::exp(-5.0) / z).epsilon(1e-6));  // no +1e-5 as fastText
  auto sigmoid = three_tables(output_kind::sigmoid)->from_logits(logits.data(), 4, 2, 0.5f);
  REQUIRE(sigmoid.size() == 2);
  CHECK(sigmoid[0].prob == Approx(1.0 / (1.0 + std::exp(-3.0))));
  auto none = three_tables(output_kind::none)->from_logits(logits.data(), 4, -1, 0.5f);
  REQUIRE(none.size() == 4);  // the threshold is for probabilities: raw scores all stay
  CHECK(none[3].prob == -2.0f);
  auto high = three_tables(output_kind::sigmoid)->from_logits(logits.data(), 4, -1, 0.99f);
  CHECK(high.empty());
}

TEST_CASE("embedding-bag softmax merged from shard partials equals the softmax of every logit") {
  auto f = three_tables(output_kind::softmax);
  CHECK(f->topk_on_shards());
  CHECK_FALSE(three_tables(output_kind::softmax, activation_kind::relu)->topk_on_shards());
  CHECK_FALSE(three_tables(output_kind::sigmoid)->topk_on_shards());
  std::vector<float> logits(10);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(float(i)) * 4;
  const auto want = f->from_logits(logits.data(), 10, 3, 0.0f);
  std::vector<topk_partial> parts = {shard_topk(logits.data(), 4, 0, 3),
                                     shard_topk(logits.data() + 4, 6, 4, 3)};
  const auto got = f->from_partials(parts, 10, 3, false, 3, 0.0f);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].label == want[i].label);
    CHECK(got[i].prob == Approx(want[i].prob).epsilon(1e-6));
  }
  CHECK(f->shard_k(10, {3, 1}, false) == -1);   // few labels: every logit
  CHECK(f->shard_k(5000, {3, 1}, false) == 3);  // many: the largest k
  CHECK(f->shard_k(5000, {3, -1}, false) == -1);
}

TEST_CASE("rank_values keeps k best, equal values by lower index, and all for k -1") {
  auto r = rank_values({0.1, 0.5, 0.5, 0.2}, 2, 0.0f, true);
  REQUIRE(r.size() == 2);
  CHECK(r[0].label == 1);
  CHECK(r[1].label == 2);
  CHECK(rank_values({0.1, 0.5}, -1, 0.2f, true).size() == 1);
  CHECK(rank_values({-3.0, 0.5}, -1, 0.2f, false).size() == 2);
}
