#include "testing/hashing_reference.hpp"

#include <fstream>
#include <stdexcept>

namespace tessera::testing {
namespace {

bool separator(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '\0';
}

// FNV-1a, 64 bits: offset basis 14695981039346656037, prime 1099511628211.
uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

hashing_reference::hashing_reference(std::vector<std::string> vocab, uint64_t buckets,
                                     uint32_t word_ngrams)
    : vocab_(std::move(vocab)), buckets_(buckets), word_ngrams_(word_ngrams) {
  for (size_t i = 0; i < vocab_.size(); ++i)
    first_line_.emplace(vocab_[i], static_cast<int64_t>(i));  // keeps the first line
}

hashing_reference hashing_reference::from_package(const std::string& dir, uint64_t buckets,
                                                  uint32_t word_ngrams) {
  std::ifstream in(dir + "/vocab.txt", std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + dir + "/vocab.txt");
  std::vector<std::string> vocab;
  std::string line;
  while (std::getline(in, line)) vocab.push_back(line);
  return hashing_reference(std::move(vocab), buckets, word_ngrams);
}

std::vector<int64_t> hashing_reference::ids(std::string_view text) const {
  std::vector<std::string> tokens;
  std::string cur;
  for (char c : text) {
    if (separator(c)) {
      if (!cur.empty()) tokens.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) tokens.push_back(std::move(cur));
  std::vector<int64_t> out;
  for (const auto& t : tokens)
    if (auto it = first_line_.find(t); it != first_line_.end()) out.push_back(it->second);
  if (buckets_ == 0) return out;
  const auto base = static_cast<int64_t>(vocab_.size());
  for (size_t n = 2; n <= word_ngrams_; ++n)
    for (size_t start = 0; start + n <= tokens.size(); ++start) {
      std::string joined = tokens[start];
      for (size_t k = start + 1; k < start + n; ++k) joined += " " + tokens[k];
      out.push_back(base + static_cast<int64_t>(fnv1a64(joined) % buckets_));
    }
  return out;
}

}  // namespace tessera::testing
