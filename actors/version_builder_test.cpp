// describe_version: what a load builds from a package, and what it refuses before any replica
// is placed.
#include "actors/version_builder.hpp"

#include <catch2/catch.hpp>

#include "testing/package_builder.hpp"

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
