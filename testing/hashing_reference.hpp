#pragma once
// An independent implementation of the "hashing" featurizer, written from its specification
// (docs/PACKAGE.md and the comment at the top of cluster/featurizer.cpp) without calling any
// cluster/ code, so that a featurizer bug in the server does not cancel out in the tests that
// compare the server with the Eigen reference.
//
// The specification: tokens are maximal runs of bytes other than ' ' \t \n \r \v \f \0. The
// ids are, first, the vocabulary line of every token that is in the vocabulary (a word listed
// twice maps to its first line; other tokens give nothing), in token order; then, for
// n = 2 .. word_ngrams, for every window of n consecutive tokens (in the vocabulary or not),
// vocab_size + FNV-1a-64(the n tokens joined by one ' ') % buckets. buckets == 0: no n-grams.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tessera::testing {

class hashing_reference {
 public:
  hashing_reference(std::vector<std::string> vocab, uint64_t buckets, uint32_t word_ngrams);
  // Reads the vocabulary of a package written by write_synthetic_package (`vocab.txt`, one
  // word per line) straight from the file. Throws std::runtime_error if it cannot.
  static hashing_reference from_package(const std::string& dir, uint64_t buckets,
                                        uint32_t word_ngrams);

  std::vector<int64_t> ids(std::string_view text) const;
  uint64_t vocab_size() const { return vocab_.size(); }

 private:
  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int64_t> first_line_;
  uint64_t buckets_;
  uint32_t word_ngrams_;
};

}  // namespace tessera::testing
