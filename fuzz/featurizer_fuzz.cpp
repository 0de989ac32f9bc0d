// The featurizers (cluster/): text to row ids, checked against independent implementations.
//
// Input: bytes. Three checks per input:
// 1. fastText itself is the oracle: for each model in fuzz/data (a dense .bin with char and
//    word n-grams, a pruned quantized .ftz, an hs .bin with word trigrams), the input is read
//    line by line as `fasttext predict` reads it (Dictionary::getLine on a stream, libfasttext)
//    and by fasttext_featurizer::featurize_line; the ids must be equal, and each line must end
//    where fastText's stream stops.
// 2. The hashing featurizer against testing/hashing_reference (written from the spec
//    without cluster/ code): byte 0 picks word_ngrams and buckets, the vocabulary is the
//    tokens of the first line (duplicates included), the text is the rest.
// 3. fasttext_featurizer::make on a dictionary made from the input (byte 0 and 1: n-gram
//    settings and buckets, tokens of the first line: entries, "__label__" ones labels, bytes
//    2..17: a prune index that may be out of range) refuses with corrupt_package, or every id
//    it gives for the rest of the input lies in [0, rows()).
#include <fasttext/fasttext.h>

#include <sstream>

#include "fuzz/fuzz_support.hpp"
#include "testing/fasttext_predict.hpp"
#include "testing/hashing_reference.hpp"

using namespace tessera;
using namespace tessera::fuzz;

namespace {

struct oracle {
  std::string name;
  fasttext::FastText ft;
  std::unique_ptr<fasttext_featurizer> ours;
};

std::vector<std::unique_ptr<oracle>> load_oracles() {
  std::vector<std::unique_ptr<oracle>> out;
  for (const char* name : {"tiny.bin", "tiny.ftz", "tiny_hs.bin"}) {
    auto o = std::make_unique<oracle>();
    o->name = name;
    o->ft.loadModel(data_path(name));
    auto r = ft::bin_reader::open(data_path(name));
    FUZZ_REQUIRE(r, std::string("cannot read ") + name + ": " + describe(r.error()));
    auto f = fasttext_featurizer::make(fasttext_config_from_bin(*r, "__label__"));
    FUZZ_REQUIRE(f, std::string("featurizer of ") + name);
    o->ours = std::move(*f);
    out.push_back(std::move(o));
  }
  return out;
}

std::string show(const std::vector<int64_t>& ids) {
  std::string s;
  for (int64_t id : ids) s += " " + std::to_string(id);
  return s;
}

void check_against_fasttext(const oracle& o, const std::string& text) {
  const fasttext::Dictionary& dict = *o.ft.getDictionary();
  std::istringstream in(text);
  size_t pos = 0;
  while (in.peek() != EOF) {
    std::vector<int32_t> words, labels;
    dict.getLine(in, words, labels);
    std::vector<int64_t> ids;
    size_t used = o.ours->featurize_line(std::string_view(text).substr(pos), ids);
    std::vector<int64_t> want(words.begin(), words.end());
    FUZZ_REQUIRE(ids == want, o.name + ": line at byte " + std::to_string(pos) + ": ours" +
                                  show(ids) + ", fastText" + show(want));
    FUZZ_REQUIRE(used > 0, o.name + ": featurize_line consumed nothing");
    pos += used;
    const auto at = in.tellg();
    const size_t theirs = at < 0 ? text.size() : static_cast<size_t>(at);
    FUZZ_REQUIRE(pos == theirs, o.name + ": the line ends at " + std::to_string(pos) +
                                    ", fastText's at " + std::to_string(theirs));
  }
  FUZZ_REQUIRE(pos == text.size(), o.name + ": text left after fastText's last line");
}

void check_hashing(uint8_t params, std::string_view first_line, std::string_view text) {
  const uint32_t ngrams = 1 + (params & 3);
  const uint64_t buckets[] = {0, 1, 7, 1000};
  const uint64_t b = buckets[(params >> 2) & 3];
  std::vector<std::string> vocab = tokens(first_line);
  auto f = make_hashing_featurizer(vocab, b, ngrams);
  testing::hashing_reference ref(vocab, b, ngrams);
  std::vector<int64_t> ids;
  f->featurize(text, ids);
  FUZZ_REQUIRE(ids == ref.ids(text),
               "hashing featurizer: ours" + show(ids) + ", reference" + show(ref.ids(text)));
  for (int64_t id : ids)
    FUZZ_REQUIRE(id >= 0 && static_cast<uint64_t>(id) < f->rows(), "hashing id out of range");
}

void check_made_dictionary(const uint8_t* data, size_t size, std::string_view first_line,
                           std::string_view text) {
  fasttext_dictionary_config c;
  c.word_ngrams = 1 + (data[0] & 3);
  c.minn = (data[0] >> 2) & 3;
  c.maxn = (data[0] >> 4) & 7;
  c.pruned = (data[0] & 0x80) != 0;
  c.bucket = data[1];
  for (auto& t : tokens(first_line)) {
    c.types.push_back(t.rfind(c.label_prefix, 0) == 0 ? 1 : 0);
    c.entries.push_back(std::move(t));
  }
  for (size_t i = 2; c.pruned && i + 1 < std::min<size_t>(size, 18); i += 2)
    c.prune_index.emplace_back(static_cast<int8_t>(data[i]), static_cast<int8_t>(data[i + 1]));
  auto f = fasttext_featurizer::make(c);
  if (!f) {
    require_code(f.error(), {errc::corrupt_package}, "fasttext_featurizer::make");
    return;
  }
  std::vector<int64_t> ids;
  size_t used = (*f)->featurize_line(text, ids);
  FUZZ_REQUIRE(used <= text.size(), "featurize_line consumed more than the text");
  for (int64_t id : ids)
    FUZZ_REQUIRE(id >= 0 && static_cast<uint64_t>(id) < (*f)->rows(),
                 "fastText featurizer id " + std::to_string(id) + " outside [0, " +
                     std::to_string((*f)->rows()) + ")");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto oracles = load_oracles();
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const auto& o : oracles) check_against_fasttext(*o, text);
  if (size < 2) return 0;
  std::string_view rest = std::string_view(text).substr(2);
  size_t nl = rest.find('\n');
  std::string_view first_line = rest.substr(0, nl);
  std::string_view body = nl == std::string_view::npos ? "" : rest.substr(nl + 1);
  check_hashing(data[0], first_line, body);
  check_made_dictionary(data, size, first_line, body);
  return 0;
}
