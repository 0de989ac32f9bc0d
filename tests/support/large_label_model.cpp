#include "tests/support/large_label_model.hpp"

#include <cmath>
#include <fstream>
#include <random>
#include <stdexcept>

namespace tessera::test {
namespace {

constexpr int32_t ft_magic = 793712314;
constexpr int32_t ft_version = 12;

template <class T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

void put_matrix(std::string& s, const std::vector<float>& m, int64_t rows, int64_t cols) {
  put<int64_t>(s, rows);
  put<int64_t>(s, cols);
  s.append(reinterpret_cast<const char*>(m.data()), m.size() * sizeof(float));
}

// A random unit vector in dimensions 1..dim-1 (dimension 0 left 0).
std::vector<float> unit_direction(std::mt19937_64& rng, int32_t dim) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(size_t(dim), 0.0f);
  double norm = 0;
  for (int32_t c = 1; c < dim; ++c) {
    v[size_t(c)] = normal(rng);
    norm += double(v[size_t(c)]) * v[size_t(c)];
  }
  for (auto& x : v) x = static_cast<float>(x / std::sqrt(norm));
  return v;
}

// The topic label of vocabulary word w (spread over all labels, rare ones included).
int32_t topic_of(const large_label_spec& s, int32_t w) {
  return static_cast<int32_t>((uint64_t(w) * 7919 + 13) % uint64_t(s.labels));
}

}  // namespace

void write_large_label_bin(const large_label_spec& s, const std::string& path) {
  const auto dim = size_t(s.dim);
  std::mt19937_64 rng(s.seed);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::uniform_real_distribution<float> strength(4.0f, 9.0f);

  // Output directions, one per label; the softmax and ova output rows are these, scaled.
  std::vector<float> dirs(size_t(s.labels) * dim);
  for (int32_t l = 0; l < s.labels; ++l) {
    auto d = unit_direction(rng, s.dim);
    std::copy(d.begin(), d.end(), dirs.begin() + ptrdiff_t(size_t(l) * dim));
  }

  const int64_t in_rows = int64_t(s.words) + 1 + s.bucket;
  std::vector<float> input(size_t(in_rows) * dim);
  for (int64_t r = 0; r < in_rows; ++r) {
    float* row = input.data() + size_t(r) * dim;
    row[0] = 1.0f;  // the bias channel
    for (size_t c = 1; c < dim; ++c) row[c] = noise(rng);
    int64_t w = r - 1;  // row 0 is "</s>", rows words+1.. are bigram buckets
    if (w < 0 || w >= s.words) continue;
    const float* d = dirs.data() + size_t(topic_of(s, int32_t(w))) * dim;
    float beta = strength(rng);
    for (size_t c = 1; c < dim; ++c) row[c] += beta * d[c];
  }

  std::vector<float> output(size_t(s.labels) * dim);
  if (s.loss == 1) {  // hs: rows are the Huffman tree's inner nodes; random, large norm
    std::normal_distribution<float> wide(0.0f, 1.5f);
    for (auto& x : output) x = wide(rng);
  } else {
    const float scale = s.loss == 4 ? 8.0f : 9.0f;
    const float bias = s.loss == 4 ? -12.0f : 0.0f;
    for (size_t i = 0; i < output.size(); ++i) output[i] = scale * dirs[i];
    for (int32_t l = 0; l < s.labels; ++l) output[size_t(l) * dim] = bias;
  }

  std::string b;
  put(b, ft_magic);
  put(b, ft_version);
  // dim, ws, epoch, minCount, neg, wordNgrams, loss, model (supervised), bucket, minn, maxn,
  // lrUpdateRate, t
  for (int32_t v : {s.dim, 5, 1, 1, 5, 2, s.loss, 3, s.bucket, 0, 0, 100}) put(b, v);
  put<double>(b, 1e-4);
  const int32_t size = s.words + 1 + s.labels;
  put<int32_t>(b, size);
  put<int32_t>(b, s.words + 1);
  put<int32_t>(b, s.labels);
  put<int64_t>(b, 1000000);  // ntokens
  put<int64_t>(b, -1);       // not pruned
  auto entry = [&](const std::string& word, int64_t count, int8_t type) {
    b += word;
    b.push_back('\0');
    put(b, count);
    put(b, type);
  };
  entry("</s>", 100000, 0);
  for (int32_t w = 0; w < s.words; ++w) entry("w" + std::to_string(w), 50000 - w, 0);
  // Labels in descending count, as fastText's dictionary stores them; the skew gives hs an
  // unbalanced tree, and equal counts exercise its tie rule.
  for (int32_t l = 0; l < s.labels; ++l)
    entry("__label__c" + std::to_string(l), 1 + 400000 / (l + 1), 1);
  put<uint8_t>(b, 0);
  put_matrix(b, input, in_rows, s.dim);
  put<uint8_t>(b, 0);
  put_matrix(b, output, s.labels, s.dim);

  std::ofstream out(path, std::ios::binary);
  out.write(b.data(), std::streamsize(b.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string large_label_input(const large_label_spec& s, size_t lines, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  std::string t;
  t += "\n";                             // "</s>" only
  t += "zzunseen qqunknown\n";           // no vocabulary word but "</s>"
  t += "w17 w17 w17 w17 w17 w17 w17\n";  // one word, repeated
  t += "w5 w2999 __label__c3 w123\n";    // a label token, skipped
  for (size_t made = 4; made < lines; ++made) {
    uint32_t n = 1 + pick(12);
    std::string line;
    for (uint32_t i = 0; i < n; ++i) {
      if (i) line += ' ';
      line += pick(10) == 0 ? "zz" + std::to_string(pick(1000))
                            : "w" + std::to_string(pick(uint32_t(s.words)));
    }
    t += line + "\n";
  }
  return t;
}

}  // namespace tessera::test
