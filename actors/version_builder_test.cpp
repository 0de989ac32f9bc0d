// describe_version: what a load builds from a package, and what it refuses before any replica
// is placed.
#include "actors/version_builder.hpp"

#include <catch2/catch.hpp>

#include "testing/package_builder.hpp"
#include "testing/torch_package.hpp"

using namespace tessera;

TEST_CASE("an hs package builds fastText's label tree from its counts") {
  testing::temp_dir dir;
  REQUIRE_FALSE(testing::write_tiny_package(dir.sub("p"), pooling_kind::mean, output_kind::hs));
  auto pkg = package::open(dir.sub("p"));
  REQUIRE(pkg);
  version_entry v;
  REQUIRE_FALSE(describe_version(v, *pkg));
  REQUIRE(v.family);
  CHECK(std::string(v.family->name()) == "fasttext");
  // The tree reads 2 inner-node logits and ranks all 3 labels.
  const std::vector<float> inner(2, 0.0f);
  CHECK(v.family->from_logits(inner.data(), 2, -1, 0.0f).size() == 3);
}

TEST_CASE("an hs package whose label counts cannot build the tree is refused as corrupt") {
  // A valid, checksummed package with a label count of 1e15 or more (fastText's "no node
  // yet"): the tree used to read past its arrays and link nodes into cycles, so the first
  // predict recursed without end (found by fuzz/fasttext_bin_fuzz.cpp). Negative counts were
  // already refused.
  for (const std::vector<std::string>& counts :
       std::vector<std::vector<std::string>>{{"2000000000000000", "3000000000000000", "1"},
                                             {"9223372036854775807", "9223372036854775807", "1"},
                                             {"5", "-1", "1"}}) {
    testing::temp_dir dir;
    REQUIRE_FALSE(
        testing::write_tiny_package(dir.sub("p"), pooling_kind::mean, output_kind::hs, counts));
    auto pkg = package::open(dir.sub("p"));
    REQUIRE(pkg);
    version_entry v;
    auto err = describe_version(v, *pkg);
    REQUIRE(err);
    CHECK(is(err, errc::corrupt_package));
    CHECK_FALSE(v.family);
  }
}

namespace {

// Writes `spec` next to a safetensors file of an embedding-bag model (table "t": 6 x 3 sum;
// layer "w": `in` -> 2) and imports it into dir/out.
std::string import_part(testing::temp_dir& dir, const std::string& out, uint64_t in,
                        const std::string& spec) {
  std::vector<float> table(18), w(2 * in);
  for (size_t i = 0; i < table.size(); ++i) table[i] = 0.25f * float(i);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.5f - 0.125f * float(i);
  REQUIRE_FALSE(testing::write_torch_package(dir.sub(out),
                                             {{"t", "F32", {6, 3}, testing::f32_bytes(table)},
                                              {"w", "F32", {2, in}, testing::f32_bytes(w)}},
                                             spec));
  return dir.sub(out);
}

const char* const tables_only = "[[tables]]\nname = \"t\"\ntensor = \"t\"\nmode = \"sum\"\n";
const char* const layers_only = "[[layers]]\nweight = \"w\"\n[output]\nkind = \"softmax\"\n";

}  // namespace

TEST_CASE("a classifier package composed on another package's embedder takes its tables") {
  testing::temp_dir dir;
  auto emb = package::open(import_part(dir, "emb", 3, tables_only));
  auto cls = package::open(import_part(dir, "cls", 3, layers_only));
  REQUIRE(emb);
  REQUIRE(cls);
  version_entry v;
  REQUIRE_FALSE(describe_version(v, *cls, &*emb));
  CHECK(std::string(v.family->name()) == "embedding_bag");
  CHECK(v.embedder->path == emb->dir());
  CHECK(v.classifier->path == cls->dir());
  CHECK(v.embedder->fingerprint == embedder_fingerprint(emb->meta()));  // shared by content
  REQUIRE(v.meta.find_tensor("embedder.t"));  // placed and digested by name from v.meta
  CHECK(v.dim() == 3);
  // The same classifier alone is refused, and so is a package with its own embedder on one.
  version_entry alone;
  auto err = describe_version(alone, *cls);
  REQUIRE(err);
  CHECK(code_of(err) == errc::invalid_argument);
  CHECK_THAT(message_of(err), Catch::Contains("holds only a classifier"));
  version_entry twice;
  err = describe_version(twice, *emb, &*emb);
  REQUIRE(err);
  CHECK_THAT(message_of(err), Catch::Contains("not a classifier-only package"));
}

TEST_CASE("a composed classifier whose first layer does not take the embedder's width is refused") {
  testing::temp_dir dir;
  auto emb = package::open(import_part(dir, "emb", 3, tables_only));
  auto cls = package::open(import_part(dir, "cls", 5, layers_only));
  REQUIRE(emb);
  REQUIRE(cls);
  version_entry v;
  auto err = describe_version(v, *cls, &*emb);
  REQUIRE(err);
  CHECK(code_of(err) == errc::invalid_argument);
  CHECK(message_of(err) ==
        "the classifier's first layer 'classifier.l0.weight' takes 5 inputs, but embedder "
        "m.embedder@1 gives 3");
}
