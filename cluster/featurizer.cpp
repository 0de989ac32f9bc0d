// The "hashing" featurizer and the featurizer factory.
//
// hashing: tokens are maximal runs of bytes other than ' ' \t \n \r \v \f \0. Output order:
// the vocabulary id of every in-vocabulary token (OOV tokens give nothing), in token order;
// then for n = 2..word_ngrams, for every window of n consecutive tokens (in or out of the
// vocabulary), vocab_size + fnv1a64(tokens joined by one ' ') % buckets. buckets == 0 turns
// n-grams off. A word listed twice in the vocabulary maps to its first line.
#include "cluster/featurizer.hpp"

#include "cluster/fasttext_featurizer.hpp"

#include <string>
#include <unordered_map>

namespace tessera {
namespace {

constexpr uint64_t fnv_basis = 0xcbf29ce484222325ULL;
constexpr uint64_t fnv_prime = 0x100000001b3ULL;

inline uint64_t fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char c : s) h = (h ^ c) * fnv_prime;
  return h;
}

inline bool is_separator(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '\0';
}

class hashing_featurizer final : public featurizer {
 public:
  hashing_featurizer(std::vector<std::string> vocab, uint64_t buckets, uint32_t word_ngrams)
      : vocab_(std::move(vocab)), buckets_(buckets), word_ngrams_(word_ngrams) {
    index_.reserve(vocab_.size());
    for (size_t i = 0; i < vocab_.size(); ++i)
      index_.emplace(std::string_view(vocab_[i]), static_cast<int64_t>(i));
  }

  void featurize(std::string_view text, std::vector<int64_t>& ids) const override {
    std::vector<std::string_view> tokens;
    size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && is_separator(text[i])) ++i;
      size_t start = i;
      while (i < text.size() && !is_separator(text[i])) ++i;
      if (i > start) tokens.push_back(text.substr(start, i - start));
    }
    for (auto tok : tokens) {
      auto it = index_.find(tok);
      if (it != index_.end()) ids.push_back(it->second);
    }
    if (buckets_ == 0) return;
    const auto base = static_cast<int64_t>(vocab_.size());
    for (size_t n = 2; n <= word_ngrams_ && n <= tokens.size(); ++n) {
      for (size_t s = 0; s + n <= tokens.size(); ++s) {
        uint64_t h = fnv1a(fnv_basis, tokens[s]);
        for (size_t k = s + 1; k < s + n; ++k) h = fnv1a(fnv1a(h, " "), tokens[k]);
        ids.push_back(base + static_cast<int64_t>(h % buckets_));
      }
    }
  }

  uint64_t rows() const override { return vocab_.size() + buckets_; }

 private:
  std::vector<std::string> vocab_;  // owns the bytes index_ points into; never modified
  std::unordered_map<std::string_view, int64_t> index_;
  uint64_t buckets_;
  uint32_t word_ngrams_;
};

}  // namespace

std::unique_ptr<featurizer> make_hashing_featurizer(std::vector<std::string> vocab,
                                                    uint64_t buckets, uint32_t word_ngrams) {
  return std::make_unique<hashing_featurizer>(std::move(vocab), buckets, word_ngrams);
}

caf::expected<std::unique_ptr<featurizer>> make_featurizer(const package& pkg) {
  const manifest& m = pkg.meta();
  if (!m.embedder)
    return make_error(errc::invalid_argument, "package " + pkg.dir() + " has no embedder");
  const featurizer_spec& spec = m.embedder->featurizer;
  if (spec.kind == "hashing") {
    auto vocab = pkg.read_lines(spec.vocab);
    if (!vocab) return vocab.error();
    const tensor_info* table =
        m.embedder->tables.empty() ? nullptr : m.find_tensor(m.embedder->tables[0]);
    uint64_t rows = vocab->size() + spec.buckets;
    if (!table || table->rows != rows)
      return make_error(errc::corrupt_package,
                        "package " + pkg.dir() + ": hashing featurizer has " +
                            std::to_string(rows) + " rows, embedding table has " +
                            (table ? std::to_string(table->rows) : std::string("none")));
    return make_hashing_featurizer(std::move(*vocab), spec.buckets, spec.word_ngrams);
  }
  if (spec.kind == "fasttext") {
    // fasttext: see cluster/fasttext_featurizer.hpp
    return make_fasttext_featurizer(pkg);
  }
  return make_error(errc::unsupported,
                    "package " + pkg.dir() + ": unknown featurizer kind '" + spec.kind + "'");
}

}  // namespace tessera
