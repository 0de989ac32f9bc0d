#include "cluster/featurizer.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "testing/package_builder.hpp"

using namespace tessera;
using ids_t = std::vector<int64_t>;

namespace {

// Textbook FNV-1a 64 over a whole string (the featurizer hashes token by token).
uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

ids_t run(const featurizer& f, std::string_view text) {
  ids_t ids;
  f.featurize(text, ids);
  return ids;
}

}  // namespace

TEST_CASE("the test's FNV-1a reference matches the published test vectors") {
  REQUIRE(fnv1a64("") == 0xcbf29ce484222325ULL);
  REQUIRE(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  REQUIRE(fnv1a64("foobar") == 0x85944171f73967e8ULL);
}

TEST_CASE("in-vocabulary tokens give their line index in token order, repeats included") {
  auto f = make_hashing_featurizer({"the", "cat", "sat"}, 0, 1);
  REQUIRE(run(*f, "the cat sat the") == ids_t{0, 1, 2, 0});
  REQUIRE(run(*f, "sat") == ids_t{2});
  REQUIRE(f->rows() == 3);
}

TEST_CASE("out-of-vocabulary tokens give no unigram id") {
  auto f = make_hashing_featurizer({"the", "cat", "sat"}, 0, 1);
  REQUIRE(run(*f, "the dog sat") == ids_t{0, 2});
  REQUIRE(run(*f, "dog").empty());
  REQUIRE(run(*f, "The CAT").empty());  // case matters
  REQUIRE(run(*f, "").empty());
}

TEST_CASE("space, tab, newline, CR, VT, FF and NUL all separate tokens, runs count once") {
  auto f = make_hashing_featurizer({"a", "b"}, 0, 1);
  const std::string text("  a\tb\na\rb\va\fb", 14);
  REQUIRE(run(*f, text) == ids_t{0, 1, 0, 1, 0, 1});
  const std::string with_nul("a\0b", 3);
  REQUIRE(run(*f, with_nul) == ids_t{0, 1});
  REQUIRE(run(*f, " \t\n\r\v\f ").empty());
  REQUIRE(run(*f, "a  \t\n b\n") == ids_t{0, 1});
  REQUIRE(run(*f, "ab").empty());  // no separator, one OOV token
}

TEST_CASE("word n-grams hash every window, in or out of vocabulary, after all unigrams") {
  const uint64_t buckets = 1000;
  auto f = make_hashing_featurizer({"the", "cat", "sat"}, buckets, 3);
  auto bucket = [&](const std::string& s) {
    return 3 + static_cast<int64_t>(fnv1a64(s) % buckets);
  };
  const ids_t expect{0, 2, bucket("the dog"), bucket("dog sat"), bucket("the dog sat")};
  REQUIRE(run(*f, "the dog sat") == expect);
  // Tabs and repeated spaces between tokens do not change the joined form.
  REQUIRE(run(*f, "the\t\tdog   sat\n") == expect);
  REQUIRE(f->rows() == 1003);
  // Only unigrams (and no n-grams) for a single token.
  REQUIRE(run(*f, "cat") == ids_t{1});
}

TEST_CASE("word_ngrams = 2 gives bigrams only and buckets = 0 turns n-grams off") {
  auto bi = make_hashing_featurizer({"x"}, 7, 2);
  REQUIRE(run(*bi, "x y z") == ids_t{0, 1 + static_cast<int64_t>(fnv1a64("x y") % 7),
                                     1 + static_cast<int64_t>(fnv1a64("y z") % 7)});
  auto none = make_hashing_featurizer({"x"}, 0, 3);
  REQUIRE(run(*none, "x y z") == ids_t{0});
}

TEST_CASE("non-ASCII bytes are ordinary token bytes") {
  auto f = make_hashing_featurizer({"caf\xc3\xa9", "\xe2\x82\xac"}, 10, 2);
  REQUIRE(run(*f, "\xe2\x82\xac caf\xc3\xa9") ==
          ids_t{1, 0, 2 + static_cast<int64_t>(fnv1a64("\xe2\x82\xac caf\xc3\xa9") % 10)});
}

TEST_CASE("featurize appends to the id vector the caller passes") {
  auto f = make_hashing_featurizer({"a"}, 0, 1);
  ids_t ids{42};
  f->featurize("a a", ids);
  REQUIRE(ids == ids_t{42, 0, 0});
}

TEST_CASE("make_featurizer builds the package's hashing featurizer from its vocabulary") {
  testing::temp_dir tmp;
  REQUIRE_FALSE(testing::write_tiny_package(tmp.path));
  auto pkg = package::open(tmp.path);
  REQUIRE(pkg);
  auto f = make_featurizer(*pkg);
  REQUIRE(f);
  REQUIRE((*f)->rows() == 5);
  auto b = [](const std::string& s) { return 3 + static_cast<int64_t>(fnv1a64(s) % 2); };
  REQUIRE(run(**f, "a b c") == ids_t{0, 1, 2, b("a b"), b("b c")});
}

TEST_CASE("make_featurizer refuses an unknown featurizer kind as unsupported") {
  testing::temp_dir tmp;
  REQUIRE_FALSE(testing::write_tiny_package(tmp.path));
  testing::rewrite_manifest(tmp.path, [](manifest& m) { m.embedder->featurizer.kind = "bpe"; });
  auto pkg = package::open(tmp.path);
  REQUIRE(pkg);
  auto unknown = make_featurizer(*pkg);
  REQUIRE(code_of(unknown.error()) == errc::unsupported);
  REQUIRE_THAT(message_of(unknown.error()), Catch::Contains("bpe"));
}

TEST_CASE("make_featurizer reports a changed vocabulary file as corrupt_package") {
  testing::temp_dir tmp;
  REQUIRE_FALSE(testing::write_tiny_package(tmp.path));
  testing::spit(tmp.sub("vocab.txt"), "a\nb\nx\n");
  auto pkg = package::open(tmp.path);
  REQUIRE(pkg);
  REQUIRE(code_of(make_featurizer(*pkg).error()) == errc::corrupt_package);
}
