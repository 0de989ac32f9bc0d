#pragma once
// fastText 0.9.2's text-to-row-ids rules (Dictionary::getLine + addSubwords + addWordNgrams),
// as a tessera featurizer. See /work/shared/FASTTEXT.md "Turning a line into feature ids".
//
// Package keys read by make_fasttext_featurizer (beside featurizer_spec's own fields):
//   spec.vocab       every dictionary entry, words then labels, in stored order, one per line
//   spec.word_types  "0" (word) or "1" (label) per vocab line; nwords = number of "0" lines,
//                    which must all come first
//   spec.buckets     table rows after the words (for a pruned dictionary: the prune index size)
//   files["prune_index"] (optional; present = pruned .ftz dictionary) one "bucket row" pair
//                    per line: n-gram bucket `bucket` maps to table row nwords + row; buckets
//                    not listed yield no row. An empty file means every n-gram is pruned.
//   files["prune_buckets"] (with prune_index) one line: the hash modulus (fastText's bucket).
// Table rows = nwords + spec.buckets.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cluster/featurizer.hpp"

namespace tessera {

// The manifest::files key of the prune index.
inline constexpr const char* fasttext_prune_index_key = "prune_index";
// The manifest::files key of a pruned dictionary's hash modulus.
inline constexpr const char* fasttext_prune_buckets_key = "prune_buckets";

// fastText's hash: 32-bit FNV-1a where each byte is XORed sign-extended (uint32(int8(b))).
uint32_t fasttext_hash(std::string_view s);

struct fasttext_dictionary_config {
  std::vector<std::string> entries;  // words then labels
  std::vector<uint8_t> types;        // 0 word / 1 label, one per entry
  uint64_t bucket = 0;
  uint32_t word_ngrams = 1;
  uint32_t minn = 0;
  uint32_t maxn = 0;
  std::string label_prefix = "__label__";
  bool pruned = false;
  std::vector<std::pair<int32_t, int32_t>> prune_index;  // (bucket, compact row); last wins
};

class fasttext_featurizer final : public featurizer {
 public:
  // Validates the config. Errors: corrupt_package (types not words-then-labels, bucket 0
  // with n-grams on, a prune index entry out of range).
  static caf::expected<std::unique_ptr<fasttext_featurizer>> make(fasttext_dictionary_config c);

  // Emulates one Dictionary::getLine on `text`: tokens up to and including the first '\n'
  // (which yields "</s>"); anything after that '\n' is ignored, as fastText would start the
  // next line there. Appends in-vocab ids (+ their char n-grams when maxn > 0), OOV char
  // n-grams, then word n-grams; label tokens are skipped.
  void featurize(std::string_view text, std::vector<int64_t>& ids) const override {
    featurize_line(text, ids);
  }
  // The same, returning the bytes of `text` consumed: where fastText's next getLine starts.
  // That is past the first '\n' kept for the "</s>" token, or past a literal "</s>" token and
  // one separator after it (which also ends fastText's line), or the whole text.
  size_t featurize_line(std::string_view text, std::vector<int64_t>& ids) const;
  uint64_t rows() const override { return rows_; }

  int32_t nwords() const { return nwords_; }
  // Entry id of a token (words and labels), or -1.
  int32_t find(std::string_view token, uint32_t h) const;

 private:
  explicit fasttext_featurizer(fasttext_dictionary_config c);
  void push_bucket(std::vector<int64_t>& ids, uint64_t bucket) const;
  void add_char_ngrams(std::string_view token, std::vector<int64_t>& ids) const;

  fasttext_dictionary_config c_;
  int32_t nwords_ = 0;
  uint64_t rows_ = 0;
  std::vector<int32_t> table_;  // open addressing by fasttext_hash, -1 = empty
  uint64_t mask_ = 0;
  std::unordered_map<int32_t, int32_t> prune_map_;  // bucket -> compact row (pruned only)
};

// Builds the featurizer from a package whose embedder's featurizer kind is "fasttext".
// Errors: corrupt_package (missing or inconsistent files), io_error.
caf::expected<std::unique_ptr<featurizer>> make_fasttext_featurizer(const package& pkg);

}  // namespace tessera
