// describe_version: what a load builds from a package, and what it refuses before any replica
// is placed.
#include "actors/version_builder.hpp"

#include <catch2/catch.hpp>

#include "testing/package_builder.hpp"

using namespace tessera;

namespace {

// A hashing model with an hs output over three labels whose counts are `counts` (lines of
// label_counts.txt, written as they are).
caf::error write_hs_package(const std::string& dir, const std::vector<std::string>& counts) {
  auto w = package_writer::create(dir);
  if (!w) return w.error();
  if (auto e = w->write_lines("vocab", "vocab.txt", {"a", "b"})) return e;
  if (auto e = w->write_lines("labels", "labels.txt", {"__label__x", "__label__y", "__label__z"}))
    return e;
  if (auto e = w->write_lines("label_counts", "label_counts.txt", counts)) return e;
  const float table[] = {1, 2, 3, 4};
  if (auto e = w->write_tensor("embedder.input", 2, 2, table)) return e;
  const float inner[] = {1, 0, 0, 1};  // labels - 1 inner nodes
  if (auto e = w->write_tensor("classifier.output", 2, 2, inner)) return e;
  manifest m;
  m.name = "hs";
  embedder_spec emb;
  emb.name = "hs.embedder";
  emb.tables = {"embedder.input"};
  emb.featurizer.vocab = "vocab";
  m.embedder = emb;
  classifier_spec cls;
  cls.name = "hs.classifier";
  cls.output = output_kind::hs;
  cls.labels = "labels";
  cls.label_counts = "label_counts";
  cls.layers = {{"classifier.output", "", activation_kind::none}};
  m.classifier = cls;
  return w->finish(m);
}

}  // namespace

TEST_CASE("an hs package builds fastText's label tree from its counts") {
  testing::temp_dir dir;
  REQUIRE_FALSE(write_hs_package(dir.sub("p"), {"5", "3", "1"}));
  auto pkg = package::open(dir.sub("p"));
  REQUIRE(pkg);
  version_entry v;
  REQUIRE_FALSE(describe_version(v, *pkg));
  REQUIRE(v.hs_tree);
  CHECK(v.hs_tree->nlabels() == 3);
}

TEST_CASE("an hs package whose label counts cannot build the tree is refused as corrupt") {
  // A valid, checksummed package with a count of 1e15 or more (fastText's "no node yet") or
  // counts whose total overflows: the tree used to read past its arrays and link nodes into
  // cycles, so the first predict recursed without end (found by fuzz/fasttext_bin_fuzz.cpp).
  for (const std::vector<std::string>& counts :
       std::vector<std::vector<std::string>>{{"2000000000000000", "3000000000000000", "1"},
                                             {"9223372036854775807", "9223372036854775807", "1"},
                                             {"5", "-1", "1"}}) {
    testing::temp_dir dir;
    REQUIRE_FALSE(write_hs_package(dir.sub("p"), counts));
    auto pkg = package::open(dir.sub("p"));
    REQUIRE(pkg);
    version_entry v;
    auto err = describe_version(v, *pkg);
    REQUIRE(err);
    CHECK(is(err, errc::corrupt_package));
    CHECK_FALSE(v.hs_tree);
  }
}
