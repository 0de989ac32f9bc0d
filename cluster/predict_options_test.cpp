#include "cluster/predict_options.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <random>
#include <set>

#include <catch2/catch.hpp>

#include "cluster/fasttext_output.hpp"
#include "cluster/sharding.hpp"
#include "cluster/topk.hpp"

// This program's operator new records the largest single request of this thread and refuses
// (bad_alloc) any above 1 GiB, so a size taken from k shows up as a failure, never as a 16 GB
// allocation that overcommit happens to grant.
namespace {
thread_local size_t largest_request = 0;
constexpr size_t refused_above = size_t{1} << 30;

void* counted_new(size_t n) {
  largest_request = std::max(largest_request, n);
  if (n > refused_above) throw std::bad_alloc();
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(size_t n) {
  return counted_new(n);
}
void* operator new[](size_t n) {
  return counted_new(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, size_t) noexcept {
  std::free(p);
}
// The nothrow forms too (Catch2 uses them): every form this program allocates with is freed
// by the matching free() above (ASan reports a mismatch otherwise).
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted_new(n);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](size_t n, const std::nothrow_t& t) noexcept {
  return operator new(n, t);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

using namespace tessera;

TEST_CASE("k of at least 1, or -1 for every label, is accepted") {
  CHECK_FALSE(check_predict_options(1, 0.0f));
  CHECK_FALSE(check_predict_options(5, 0.5f));
  CHECK_FALSE(check_predict_options(-1, 0.0f));
  CHECK_FALSE(check_predict_options(std::numeric_limits<int32_t>::max(), 1.0f));
}

TEST_CASE("k of 0 or below -1 is refused with invalid_argument") {
  for (int32_t k : {0, -2, -100, std::numeric_limits<int32_t>::min()}) {
    auto err = check_predict_options(k, 0.0f);
    CHECK(is(err, errc::invalid_argument));
    CHECK(message_of(err).find(std::to_string(k)) != std::string::npos);
  }
}

TEST_CASE("a threshold that is NaN or infinite is refused; any finite one is accepted") {
  for (float t : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity()})
    CHECK(is(check_predict_options(1, t), errc::invalid_argument));
  for (float t : {-0.5f, 0.0f, 0.001f, 1.0f, 2.0f}) CHECK_FALSE(check_predict_options(-1, t));
}

TEST_CASE("labels_for_k gives every label for k < 0 or k above the count, else k") {
  CHECK(labels_for_k(-1, 7) == 7);
  CHECK(labels_for_k(3, 7) == 3);
  CHECK(labels_for_k(7, 7) == 7);
  CHECK(labels_for_k(8, 7) == 7);
  CHECK(labels_for_k(std::numeric_limits<int32_t>::max(), 7) == 7);
  CHECK(labels_for_k(std::numeric_limits<int32_t>::max(), 0) == 0);
  CHECK(labels_for_k(0, 7) == 0);
}

namespace {

constexpr int32_t huge_k = std::numeric_limits<int32_t>::max();
constexpr uint32_t labels = 300;

std::vector<float> random_logits(uint32_t n, uint32_t seed, float sd = 3.0f) {
  std::mt19937 rng{seed};
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> out(n);
  for (auto& x : out) x = d(rng);
  return out;
}

// The answers are equal label for label, score for score.
void check_equal(const std::vector<scored_label>& got, const std::vector<scored_label>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].label == want[i].label);
    CHECK(got[i].score == want[i].score);
    CHECK(got[i].prob == want[i].prob);
  }
}

// Every label exactly once.
void check_all_labels(const std::vector<scored_label>& got, uint32_t n) {
  std::set<uint32_t> seen;
  for (const auto& l : got) seen.insert(l.label);
  CHECK(got.size() == n);
  CHECK(seen.size() == n);
  CHECK((seen.empty() || *seen.rbegin() == n - 1));
}

// Runs f with the largest-request record reset; returns the largest single request it made.
template <class F>
size_t largest_during(F&& f) {
  largest_request = 0;
  f();
  return largest_request;
}

// An allocation proportional to k would be gigabytes; the outputs below need a few KiB.
constexpr size_t bound = size_t{1} << 20;

}  // namespace

TEST_CASE("softmax top-k with k = INT32_MAX is every label, as k = -1, and sizes nothing by k") {
  auto logits = random_logits(labels, 1);
  for (size_t shards : {1, 3}) {
    CAPTURE(shards);
    auto run = [&](int32_t k) {
      std::vector<topk_partial> parts;
      for (const auto& r : split_rows(labels, shards))
        parts.push_back(shard_topk(logits.data() + r.begin, static_cast<uint32_t>(r.size()),
                                   static_cast<uint32_t>(r.begin), k));
      return merge_topk(parts, k, 0.0f);
    };
    std::vector<scored_label> huge;
    CHECK(largest_during([&] { huge = run(huge_k); }) < bound);
    check_all_labels(huge, labels);
    check_equal(huge, run(-1));
  }
}

TEST_CASE("ova top-k with k = INT32_MAX is every label, as k = -1, and sizes nothing by k") {
  auto logits = random_logits(labels, 2);
  std::vector<scored_label> huge;
  CHECK(largest_during([&] { huge = fasttext_ova_topk(logits.data(), labels, huge_k, 0.0f); }) <
        bound);
  check_all_labels(huge, labels);
  check_equal(huge, fasttext_ova_topk(logits.data(), labels, -1, 0.0f));
  std::vector<std::pair<uint32_t, float>> probs;
  for (uint32_t i = 0; i < labels; ++i) probs.emplace_back(i, 1.0f / (1.0f + std::exp(-logits[i])));
  CHECK(largest_during([&] { huge = select_topk(probs, huge_k, 0.0f); }) < bound);
  check_all_labels(huge, labels);
  check_equal(huge, select_topk(probs, -1, 0.0f));
}

TEST_CASE("hs top-k with k = INT32_MAX is every label, as k = -1, and sizes nothing by k") {
  std::vector<int64_t> counts(labels);
  for (uint32_t i = 0; i < labels; ++i) counts[i] = 10 * (labels - i);  // decreasing, as stored
  fasttext_hs_tree tree(counts);
  // Near-even splits keep every leaf above fastText's pruning floor (log(1e-5)), so k = -1 is
  // every label here.
  auto inner = random_logits(tree.inner_nodes(), 3, 0.05f);
  std::vector<scored_label> huge;
  CHECK(largest_during([&] { huge = tree.predict(inner.data(), huge_k, 0.0f); }) < bound);
  check_all_labels(huge, labels);
  check_equal(huge, tree.predict(inner.data(), -1, 0.0f));
  // k just above the count, and exactly the count, walk the same tree the same way.
  check_equal(tree.predict(inner.data(), labels + 1, 0.0f), huge);
  check_equal(tree.predict(inner.data(), labels, 0.0f), huge);
}
