#include "importers/synthetic_model.hpp"

#include <sys/resource.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <set>

#include "testing/package_builder.hpp"
#include "testing/reference_model.hpp"

using namespace tessera;
using tessera::testing::slurp;
using tessera::testing::temp_dir;

namespace {

synthetic_spec small_spec(uint64_t seed) {
  synthetic_spec s;
  s.vocab = 300;
  s.buckets = 1000;
  s.dim = 16;
  s.hidden = {8};
  s.labels = 5;
  s.seed = seed;
  return s;
}

std::vector<std::string> checksums(const std::string& dir) {
  auto pkg = package::open(dir);
  REQUIRE(pkg);
  std::vector<std::string> out;
  for (const auto& t : pkg->meta().tensors)
    for (const checksum128& c : t.block_checksums) out.push_back(t.name + ":" + to_hex(c));
  for (const auto& [key, f] : pkg->meta().files) out.push_back(key + ":" + to_hex(f.checksum));
  return out;
}

long max_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

}  // namespace

TEST_CASE("the same seed gives identical packages and another seed different ones") {
  temp_dir tmp;
  REQUIRE_FALSE(write_synthetic_package(tmp.sub("a"), small_spec(1)));
  REQUIRE_FALSE(write_synthetic_package(tmp.sub("b"), small_spec(1)));
  REQUIRE_FALSE(write_synthetic_package(tmp.sub("c"), small_spec(2)));
  REQUIRE(slurp(tmp.sub("a/manifest.toml")) == slurp(tmp.sub("b/manifest.toml")));
  REQUIRE(slurp(tmp.sub("a/embedder.input.f32")) == slurp(tmp.sub("b/embedder.input.f32")));
  auto a = checksums(tmp.sub("a")), c = checksums(tmp.sub("c"));
  REQUIRE(a.size() == c.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] != c[i]);
}

TEST_CASE("changed rows differ from the same seed's and every other byte is identical") {
  temp_dir tmp;
  auto spec = small_spec(1);
  REQUIRE_FALSE(write_synthetic_package(tmp.sub("a"), spec));
  const uint64_t rows = spec.vocab + spec.buckets;
  spec.changed_begin = rows / 2;
  spec.changed_end = rows / 2 + 7;
  REQUIRE_FALSE(write_synthetic_package(tmp.sub("b"), spec));
  const auto a = slurp(tmp.sub("a/embedder.input.f32")), b = slurp(tmp.sub("b/embedder.input.f32"));
  REQUIRE(a.size() == b.size());
  const size_t row_bytes = spec.dim * sizeof(float);
  for (uint64_t r = 0; r < rows; ++r) {
    const bool same = a.compare(r * row_bytes, row_bytes, b, r * row_bytes, row_bytes) == 0;
    INFO("row " << r);
    CHECK(same == (r < spec.changed_begin || r >= spec.changed_end));
  }
  for (const auto* f : {"classifier.l0.weight.f32", "vocab.txt", "labels.txt"})
    CHECK(slurp(tmp.sub(std::string{"a/"} + f)) == slurp(tmp.sub(std::string{"b/"} + f)));
  spec.changed_end = rows + 1;
  CHECK(code_of(write_synthetic_package(tmp.sub("c"), spec)) == errc::invalid_argument);
}

TEST_CASE("the generated package has the spec's shapes, vocabulary and labels") {
  temp_dir tmp;
  synthetic_spec s = small_spec(3);
  s.hidden = {12, 6};
  REQUIRE_FALSE(write_synthetic_package(tmp.path, s));
  auto pkg = package::open(tmp.path);
  REQUIRE(pkg);
  const manifest& m = pkg->meta();
  REQUIRE(m.name == "synthetic");
  REQUIRE(m.find_tensor("embedder.input")->rows == 1300);
  REQUIRE(m.find_tensor("embedder.input")->cols == 16);
  REQUIRE(m.classifier->layers.size() == 3);
  REQUIRE(m.find_tensor("classifier.l0.weight")->cols == 16);
  REQUIRE(m.find_tensor("classifier.l1.weight")->rows == 6);
  REQUIRE(m.find_tensor("classifier.l2.weight")->rows == 5);
  REQUIRE(m.classifier->layers[0].activation == activation_kind::relu);
  REQUIRE(m.classifier->layers[2].activation == activation_kind::none);
  auto vocab = pkg->read_lines("vocab");
  REQUIRE(vocab);
  REQUIRE((*vocab)[7] == synthetic_word(3, 7));
  REQUIRE(std::set<std::string>(vocab->begin(), vocab->end()).size() == 300);
  auto labels = pkg->read_lines("labels");
  REQUIRE(labels->size() == 5);
  for (const auto& l : *labels) REQUIRE(l.rfind("__label__", 0) == 0);
  // Every value of the table is in [-1, 1).
  auto rows = pkg->read_rows("embedder.input", 0, 1300);
  REQUIRE(rows);
  for (uint64_t i = 0; i < 1300 * 16; ++i) {
    float x = rows->data.get()[i];
    REQUIRE((x >= -1.0f && x < 1.0f));
  }
}

TEST_CASE("synthetic words are distinct, lowercase letters and depend on the seed") {
  std::set<std::string> seen;
  for (uint64_t i = 0; i < 20000; ++i) {
    std::string w = synthetic_word(42, i);
    REQUIRE(w.size() >= 4);
    for (char c : w) REQUIRE((c >= 'a' && c <= 'z'));
    REQUIRE(seen.insert(w).second);
  }
  std::string a, b;
  for (uint64_t i = 0; i < 20; ++i) a += synthetic_word(42, i), b += synthetic_word(43, i);
  REQUIRE(a != b);
}

TEST_CASE("the default demo model's softmax is far from uniform and uses several labels") {
  temp_dir tmp;
  synthetic_spec s;  // the defaults: 5000 words, 200000 buckets, dim 64, hidden 32, 8 labels
  REQUIRE_FALSE(write_synthetic_package(tmp.path, s));
  auto ref = reference_model::load(tmp.path);
  REQUIRE(ref);
  std::set<uint32_t> winners;
  double mean_top = 0;
  const int texts = 200;
  for (int t = 0; t < texts; ++t) {
    std::string text;
    for (int w = 0; w < 1 + t % 12; ++w)
      text += synthetic_word(s.seed, (t * 7919 + w * 131) % 5000) + " ";
    auto p = ref->probabilities(ref->pool_text(text));
    REQUIRE(p.size() == 8);
    REQUIRE(std::abs(p.sum() - 1.0f) < 1e-5f);
    auto top = ref->top_k(p, 1);
    winners.insert(top[0].first);
    mean_top += top[0].second / texts;
  }
  WARN("mean top-1 probability " << mean_top << ", distinct winners " << winners.size());
  CHECK(mean_top > 0.45);  // uniform would be 0.125
  CHECK(winners.size() >= 4);
}

TEST_CASE("ova and hs specs write their output rule, hs with label counts") {
  temp_dir tmp;
  synthetic_spec s = small_spec(4);
  s.output = output_kind::hs;
  REQUIRE_FALSE(write_synthetic_package(tmp.sub("hs"), s));
  auto pkg = package::open(tmp.sub("hs"));
  REQUIRE(pkg);
  REQUIRE(pkg->meta().classifier->output == output_kind::hs);
  REQUIRE(pkg->read_lines("label_counts")->size() == 5);
  // One output row per inner node of the label tree, as the cluster's loader requires.
  REQUIRE(pkg->meta().find_tensor("classifier.l1.weight")->rows == 4);
  REQUIRE(pkg->meta().find_tensor("classifier.l1.bias")->rows == 4);
  s.output = output_kind::ova;
  s.pooling = pooling_kind::sum;
  REQUIRE_FALSE(write_synthetic_package(tmp.sub("ova"), s));
  pkg = package::open(tmp.sub("ova"));
  REQUIRE(pkg->meta().classifier->output == output_kind::ova);
  REQUIRE(pkg->meta().embedder->pooling == pooling_kind::sum);
}

TEST_CASE("output_scale and output_bias change only the output layer; the defaults are 10 and 0") {
  temp_dir tmp;
  synthetic_spec s = small_spec(6);
  REQUIRE(s.output_scale == 10.0f);
  REQUIRE(s.output_bias == 0.0f);
  REQUIRE_FALSE(write_synthetic_package(tmp.sub("default"), s));
  s.output_scale = 20.0f;
  s.output_bias = -3.0f;
  REQUIRE_FALSE(write_synthetic_package(tmp.sub("scaled"), s));
  for (const char* f : {"embedder.input.f32", "classifier.l0.weight.f32", "classifier.l0.bias.f32"})
    CHECK(slurp(tmp.sub("default/") + f) == slurp(tmp.sub("scaled/") + f));
  auto a = package::open(tmp.sub("default")), b = package::open(tmp.sub("scaled"));
  REQUIRE(a);
  REQUIRE(b);
  auto wa = a->read_rows("classifier.l1.weight", 0, 5),
       wb = b->read_rows("classifier.l1.weight", 0, 5);
  auto ba = a->read_rows("classifier.l1.bias", 0, 5), bb = b->read_rows("classifier.l1.bias", 0, 5);
  REQUIRE(wa);
  REQUIRE(wb);
  REQUIRE(ba);
  REQUIRE(bb);
  for (uint64_t i = 0; i < 5 * 8; ++i) CHECK(wb->data.get()[i] == 2.0f * wa->data.get()[i]);
  for (uint64_t i = 0; i < 5; ++i)
    CHECK(std::abs(bb->data.get()[i] - (ba->data.get()[i] - 3.0f)) < 1e-6f);
  s.output_scale = std::numeric_limits<float>::infinity();
  REQUIRE(code_of(write_synthetic_package(tmp.sub("bad"), s)) == errc::invalid_argument);
}

TEST_CASE("a bad spec is invalid_argument and an existing package is already_exists") {
  temp_dir tmp;
  synthetic_spec s = small_spec(5);
  s.dim = 0;
  REQUIRE(code_of(write_synthetic_package(tmp.sub("x"), s)) == errc::invalid_argument);
  s = small_spec(5);
  s.hidden = {4, 0};
  REQUIRE(code_of(write_synthetic_package(tmp.sub("x"), s)) == errc::invalid_argument);
  s = small_spec(5);
  s.output = output_kind::hs;
  s.labels = 1;
  REQUIRE(code_of(write_synthetic_package(tmp.sub("x"), s)) == errc::invalid_argument);
  REQUIRE_FALSE(write_synthetic_package(tmp.sub("y"), small_spec(5)));
  REQUIRE(code_of(write_synthetic_package(tmp.sub("y"), small_spec(5))) == errc::already_exists);
}

// ctest runs every TEST_CASE in its own process (catch_discover_tests), so the peak RSS
// (ru_maxrss) measured here is this case's own. About 5 s and 1 GiB of temporary disk.
TEST_CASE("a 1 GiB table streams out and reads back by range with bounded memory") {
  temp_dir tmp;
  synthetic_spec s;
  s.vocab = 5000;
  s.buckets = (uint64_t{1} << 22) - 5000;  // 4 Mi rows x 64 floats = 1 GiB
  const long rss0 = max_rss_kib();
  uint64_t last = 0;
  REQUIRE_FALSE(write_synthetic_package(tmp.path, s, [&](uint64_t d, uint64_t) { last = d; }));
  const long rss1 = max_rss_kib();
  REQUIRE(last > (uint64_t{1} << 30));
  auto pkg = package::open(tmp.path);
  REQUIRE(pkg);
  const uint64_t rows = uint64_t{1} << 22, chunk = uint64_t{1} << 18;  // 64 MiB per read
  for (uint64_t r = 0; r < rows; r += chunk) {
    auto block = pkg->read_rows("embedder.input", r, r + chunk);  // verifies the checksums
    REQUIRE(block);
    REQUIRE(block->rows == chunk);
  }
  const long rss2 = max_rss_kib();
  INFO("peak RSS growth: writing " << (rss1 - rss0) / 1024 << " MiB, reading "
                                   << (rss2 - rss0) / 1024 << " MiB");
  // The writer holds about one block, never the table.
  CHECK(rss1 - rss0 < 64 * 1024);
  // A read holds its 64 MiB range plus at most a block of scratch, never the table.
  CHECK(rss2 - rss0 < 96 * 1024);
}
