// fastText's ova and hierarchical-softmax output rules: the sigmoid table, the Huffman tree,
// the pruned depth-first walk and the ranking, against hand-computed values.
#include "cluster/fasttext_output.hpp"

#include <catch2/catch.hpp>
#include <cmath>

using namespace tessera;

TEST_CASE("the table sigmoid quantizes to 512 steps over [-8, 8] and saturates outside") {
  CHECK(fasttext_table_sigmoid(0.0f) == 0.5f);
  CHECK(fasttext_table_sigmoid(0.01f) == 0.5f);  // same table cell as 0
  CHECK(fasttext_table_sigmoid(-8.0f) == static_cast<float>(1.0 / (1.0 + std::exp(8.0f))));
  CHECK(fasttext_table_sigmoid(8.0f) == static_cast<float>(1.0 / (1.0 + std::exp(-8.0f))));
  CHECK(fasttext_table_sigmoid(8.5f) == 1.0f);
  CHECK(fasttext_table_sigmoid(-8.5f) == 0.0f);
  // Cell of 1.0: int((1 + 8) * 512 / 8 / 2) = 288, x = 288 * 16 / 512 - 8 = 1.
  CHECK(fasttext_table_sigmoid(1.01f) == static_cast<float>(1.0 / (1.0 + std::exp(-1.0f))));
  CHECK(fasttext_std_log(0.5f) == static_cast<float>(std::log(0.5 + 1e-5)));
}

TEST_CASE("ova ranks table sigmoids best first with fastText's scores and threshold") {
  const float logits[] = {0.0f, 3.0f, -2.0f, 3.0f};
  auto all = fasttext_ova_topk(logits, 4, -1, 0.0f);
  REQUIRE(all.size() == 4);
  CHECK(all[0].score == all[1].score);  // labels 1 and 3 tie
  CHECK(((all[0].label == 1 && all[1].label == 3) || (all[0].label == 3 && all[1].label == 1)));
  CHECK(all[2].label == 0);
  CHECK(all[2].score == fasttext_std_log(0.5f));
  CHECK(all[2].prob == std::exp(fasttext_std_log(0.5f)));
  CHECK(all[3].label == 2);
  auto top = fasttext_ova_topk(logits, 4, 2, 0.0f);
  CHECK(top.size() == 2);
  auto above = fasttext_ova_topk(logits, 4, -1, 0.6f);
  CHECK(above.size() == 2);
}

// counts {5, 3, 1, 1}: node 4 = (3, 2), node 5 = (4, 1), root 6 = (5, 0); the right child of
// a node is taken with probability sigmoid(logit), the left with 1 - sigmoid.
TEST_CASE("hs builds fastText's Huffman tree and walks it best first") {
  fasttext_hs_tree tree({5, 3, 1, 1});
  CHECK(tree.inner_nodes() == 3);
  const float zero[] = {0.0f, 0.0f, 0.0f};
  auto all = tree.predict(zero, -1, 0.0f);
  REQUIRE(all.size() == 4);
  const float h = fasttext_std_log(0.5f);
  CHECK(all[0].label == 0);
  CHECK(all[0].score == h);
  CHECK(all[1].label == 1);
  CHECK(all[1].score == h + h);
  CHECK(all[2].score == h + h + h);
  CHECK(all[3].score == h + h + h);
  CHECK(all[0].prob == std::exp(h));

  // A skewed root: label 0 gets sigmoid(2), everything under node 5 gets 1 - sigmoid(2).
  const float skew[] = {-1.0f, 0.5f, 2.0f};
  auto s = tree.predict(skew, 2, 0.0f);
  REQUIRE(s.size() == 2);
  auto sig = [](float x) { return static_cast<float>(1. / (1 + std::exp(-x))); };
  CHECK(s[0].label == 0);
  CHECK(s[0].score == fasttext_std_log(sig(2.0f)));
  CHECK(s[1].label == 1);
  CHECK(s[1].score ==
        fasttext_std_log(static_cast<float>(1.0 - sig(2.0f))) + fasttext_std_log(sig(0.5f)));
}

TEST_CASE("hs prunes subtrees under the threshold and below the k-th best") {
  fasttext_hs_tree tree({5, 3, 1, 1});
  const float zero[] = {0.0f, 0.0f, 0.0f};
  auto above = tree.predict(zero, -1, 0.2f);  // 0.5 and 0.25 pass, 0.125 does not
  REQUIRE(above.size() == 2);
  CHECK(above[0].label == 0);
  CHECK(above[1].label == 1);
  auto one = tree.predict(zero, 1, 0.0f);
  REQUIRE(one.size() == 1);
  CHECK(one[0].label == 0);
  CHECK(tree.predict(zero, 0, 0.0f).empty());
}

TEST_CASE("hs with a single label predicts it with probability 1 (score 0)") {
  fasttext_hs_tree tree({7});
  CHECK(tree.inner_nodes() == 0);
  auto r = tree.predict(nullptr, -1, 0.0f);
  REQUIRE(r.size() == 1);
  CHECK(r[0].label == 0);
  CHECK(r[0].score == 0.0f);
  CHECK(r[0].prob == 1.0f);
}

TEST_CASE("hs label counts that cannot build fastText's tree are refused, naming the count") {
  // buildTree uses 1e15 for "no node yet": a count at or above it made the construction
  // read past its arrays and link nodes into cycles (found by fuzz/fasttext_bin_fuzz.cpp:
  // ASan, heap-buffer-overflow in the constructor).
  CHECK_FALSE(check_hs_counts({5, 3, 1, 1}));
  CHECK_FALSE(check_hs_counts({999999999999999, 0}));
  CHECK_FALSE(check_hs_counts({}));
  for (const std::vector<int64_t>& bad :
       std::vector<std::vector<int64_t>>{{1000000000000000, 1}, {3, -1}, {INT64_MAX, INT64_MAX}}) {
    auto err = check_hs_counts(bad);
    REQUIRE(err);
    CHECK(is(err, errc::corrupt_package));
    CHECK(message_of(err).find("label count") != std::string::npos);
  }
  // Each count fits, their total does not: the inner nodes' counts would overflow int64.
  std::vector<int64_t> many(10000, 999999999999999);
  auto err = check_hs_counts(many);
  REQUIRE(err);
  CHECK(message_of(err).find("total") != std::string::npos);
}
