// The fastText featurizer against ids computed by hand (an independent Python transcription
// of FASTTEXT.md's rules), plus package round trips through the importer.
#include "cluster/fasttext_featurizer.hpp"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "importers/fasttext_import.hpp"
#include "testing/fasttext_testing.hpp"
#include "testing/package_builder.hpp"

using namespace tessera;
using ids_t = std::vector<int64_t>;

namespace {

fasttext_dictionary_config small_dict(uint32_t minn, uint32_t maxn, uint32_t word_ngrams) {
  fasttext_dictionary_config c;
  c.entries = {"</s>", "hello", "world", "__label__a", "__label__b"};
  c.types = {0, 0, 0, 1, 1};
  c.bucket = 100;
  c.minn = minn;
  c.maxn = maxn;
  c.word_ngrams = word_ngrams;
  return c;
}

ids_t ids_of(const fasttext_featurizer& f, std::string_view text) {
  ids_t ids;
  f.featurize(text, ids);
  return ids;
}

}  // namespace

TEST_CASE("the hash is FNV-1a with bytes sign-extended before the xor") {
  CHECK(fasttext_hash("") == 2166136261u);
  CHECK(fasttext_hash("a") == 3826002220u);
  CHECK(fasttext_hash("hello") == 1335831723u);
  CHECK(fasttext_hash("\xc3\xa9") == 1023043777u);  // "é": 0xC3, 0xA9 both >= 0x80
}

TEST_CASE("an in-vocabulary word gives its id then its char n-grams; '\\n' gives </s>") {
  auto f = fasttext_featurizer::make(small_dict(2, 3, 2));
  REQUIRE(f);
  CHECK((*f)->rows() == 103);
  // hello, <he he el ... lo> (n = 2..3 per start), </s> (no n-grams), bigram(hello, </s>).
  CHECK(ids_of(**f, "hello\n") == ids_t{1, 20, 83, 57, 45, 35, 47, 40, 45, 83, 93, 47, 0, 17});
}

TEST_CASE("an OOV word gives only char n-grams but still joins the word n-grams") {
  auto f = fasttext_featurizer::make(small_dict(2, 3, 2));
  REQUIRE(f);
  CHECK(ids_of(**f, "zz world") ==
        ids_t{78, 70, 76, 44, 84, 2, 87, 36, 14, 70, 91, 67, 38, 40, 92, 80, 26, 73});
  auto plain = fasttext_featurizer::make(small_dict(0, 0, 1));
  REQUIRE(plain);
  CHECK(ids_of(**plain, "zz world").empty() == false);
  CHECK(ids_of(**plain, "zz world") == ids_t{2});
  CHECK(ids_of(**plain, "zz qq").empty());
}

TEST_CASE("char n-grams follow UTF-8 code points; a lone '<' or '>' is never one") {
  auto f = fasttext_featurizer::make(small_dict(1, 3, 1));
  REQUIRE(f);
  CHECK(ids_of(**f, "\xc3\xa9") == ids_t{30, 34, 80, 84});
}

TEST_CASE("word n-grams go by start position, each extended up to wordNgrams tokens") {
  auto f = fasttext_featurizer::make(small_dict(0, 0, 3));
  REQUIRE(f);
  // hello(1), zz (OOV, nothing), world(2), then (hello zz), (hello zz world), (zz world).
  CHECK(ids_of(**f, "hello zz world") == ids_t{1, 2, 9, 68, 73});
}

TEST_CASE("label tokens are skipped entirely, known or merely prefixed") {
  auto f = fasttext_featurizer::make(small_dict(0, 0, 3));
  REQUIRE(f);
  const auto want = ids_of(**f, "hello zz world");
  CHECK(ids_of(**f, "__label__a hello zz __label__b world") == want);
  CHECK(ids_of(**f, "hello __label__unknown zz world __label__") == want);
}

TEST_CASE("tokens split on space, tab, CR, VT, FF and NUL; the line ends at the first '\\n'") {
  auto f = fasttext_featurizer::make(small_dict(0, 0, 1));
  REQUIRE(f);
  CHECK(ids_of(**f, std::string(" hello\t\rworld\v\f\0hello", 21)) == ids_t{1, 2, 1});
  ids_t ids;
  CHECK((*f)->featurize_line("hello\nworld\n", ids) == 6);
  CHECK(ids == ids_t{1, 0});
  ids.clear();
  CHECK((*f)->featurize_line("\n", ids) == 1);
  CHECK(ids == ids_t{0});
  ids.clear();  // a literal "</s>" ends fastText's line too, after one separator
  CHECK((*f)->featurize_line("hello </s> world\n", ids) == 11);
  CHECK(ids == ids_t{1, 0});
  ids.clear();  // no newline at the end: no </s>
  CHECK((*f)->featurize_line("world", ids) == 5);
  CHECK(ids == ids_t{2});
}

TEST_CASE("a pruned dictionary maps kept buckets to compact rows and drops the rest") {
  auto c = small_dict(0, 0, 3);
  c.pruned = true;
  c.prune_index = {{68 - 3, 1}, {9 - 3, 0}};  // keep (hello zz zz world) buckets 65 and 6
  auto f = fasttext_featurizer::make(c);
  REQUIRE(f);
  CHECK((*f)->rows() == 5);
  CHECK(ids_of(**f, "hello zz world") == ids_t{1, 2, 3, 4});
  c.prune_index.clear();  // pruned to nothing
  auto none = fasttext_featurizer::make(c);
  REQUIRE(none);
  CHECK(ids_of(**none, "hello zz world") == ids_t{1, 2});
}

TEST_CASE("inconsistent dictionaries are refused") {
  auto c = small_dict(0, 0, 1);
  c.types = {0, 1, 0, 1, 1};
  CHECK_FALSE(fasttext_featurizer::make(c));
  c = small_dict(2, 3, 1);
  c.bucket = 0;
  CHECK_FALSE(fasttext_featurizer::make(c));
  c = small_dict(0, 0, 1);
  c.pruned = true;
  c.prune_index = {{500, 0}};
  CHECK_FALSE(fasttext_featurizer::make(c));
}

TEST_CASE("an imported package rebuilds the same featurizer, pruned or not, bytes preserved") {
  char tmpl[] = "/tmp/tessera_ft_feat_XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  for (bool pruned : {false, true}) {
    ft_testing::bin_builder b;
    b.args.minn = 2;
    b.args.maxn = 3;
    b.entries.insert(b.entries.begin() + 3, ft::entry{"caf\xc3\xa9\xff", 1, 0});  // non-UTF-8
    if (pruned) {
      b.quant_input = true;
      b.prune_size = 2;
      b.prune = {{7, 1}, {3, 0}};
    }
    const std::string bin = dir + (pruned ? "/p.ftz" : "/d.bin");
    std::ofstream(bin, std::ios::binary) << b.bytes();
    const std::string out = dir + (pruned ? "/pkg_p" : "/pkg_d");
    uint64_t last = 0;
    REQUIRE_FALSE(import_fasttext(bin, out, {}, [&](uint64_t done, uint64_t) { last = done; }));
    CHECK(static_cast<std::streamoff>(last) ==
          std::ifstream(bin, std::ios::ate | std::ios::binary).tellg());
    auto pkg = package::open(out);
    REQUIRE(pkg);
    auto f = make_featurizer(*pkg);
    REQUIRE(f);
    auto reader = ft::bin_reader::open(bin);
    REQUIRE(reader);
    CHECK((*f)->rows() == reader->input_rows());
    auto vocab = pkg->read_lines("vocab");
    REQUIRE(vocab);
    CHECK((*vocab)[3] == "caf\xc3\xa9\xff");
    for (const char* text : {"hello world\n", "caf\xc3\xa9\xff hello zz\n", "__label__a world"}) {
      ids_t got;
      (*f)->featurize(text, got);
      fasttext_dictionary_config c;
      for (const auto& e : reader->dict().entries) {
        c.entries.push_back(e.word);
        c.types.push_back(static_cast<uint8_t>(e.type));
      }
      c.bucket = 10, c.minn = 2, c.maxn = 3, c.word_ngrams = 2;
      c.pruned = pruned;
      c.prune_index = b.prune;
      auto want = fasttext_featurizer::make(c);
      REQUIRE(want);
      CHECK(got == ids_of(**want, text));
    }
    // The table holds the reader's rows, bit for bit.
    auto rows = pkg->read_rows("embedder.input", 0, reader->input_rows());
    REQUIRE(rows);
    std::vector<float> want(reader->input_rows() * reader->dim());
    REQUIRE_FALSE(reader->read_input_rows(0, reader->input_rows(), want.data()));
    CHECK(std::equal(want.begin(), want.end(), rows->data.get()));
  }
  std::system(("rm -rf '" + dir + "'").c_str());
}

TEST_CASE("a pruned package without its prune_buckets file is corrupt, not a bad argument") {
  // Found by fuzz/package_fuzz.cpp: the load failed invalid_argument ("no file key").
  testing::temp_dir dir;
  ft_testing::bin_builder b;
  b.quant_input = true;
  b.prune_size = 2;
  b.prune = {{7, 1}, {3, 0}};
  std::ofstream(dir.sub("p.ftz"), std::ios::binary) << b.bytes();
  REQUIRE_FALSE(import_fasttext(dir.sub("p.ftz"), dir.sub("pkg"), {}, {}));
  auto pkg = package::open(dir.sub("pkg"));
  REQUIRE(pkg);
  manifest m = pkg->meta();
  auto& files = m.files;
  files.erase(std::remove_if(files.begin(), files.end(),
                             [](const auto& f) { return f.first == fasttext_prune_buckets_key; }),
              files.end());
  std::ofstream(dir.sub("pkg/manifest.toml"), std::ios::trunc) << to_toml(m);
  auto without = package::open(dir.sub("pkg"));
  REQUIRE(without);
  auto f = make_featurizer(*without);
  REQUIRE_FALSE(f);
  CHECK(is(f.error(), errc::corrupt_package));
  CHECK(message_of(f.error()).find("prune_buckets") != std::string::npos);
}

TEST_CASE("an hs model whose label counts cannot build the label tree is not imported") {
  testing::temp_dir dir;
  ft_testing::bin_builder b;
  b.args.loss = static_cast<int32_t>(ft::loss_name::hs);
  b.entries[3].count = 2000000000000000;  // at or above fastText's 1e15 "no node yet"
  std::ofstream(dir.sub("hs.bin"), std::ios::binary) << b.bytes();
  auto err = import_fasttext(dir.sub("hs.bin"), dir.sub("pkg"), {}, {});
  REQUIRE(err);
  CHECK(is(err, errc::corrupt_package));
  CHECK(message_of(err).find("hs label count 2000000000000000") != std::string::npos);
}
