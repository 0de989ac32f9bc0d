#pragma once
// Test support: writes fastText .bin/.ftz bytes by hand (the layout of FASTTEXT.md), so the
// reader and featurizer tests need no fastText binary. Header-only; tests include it.
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "importers/fasttext_bin.hpp"

namespace tessera::ft_testing {

struct quant_spec {
  bool qnorm = false;
  int32_t dsub = 2;
};

struct bin_builder {
  int32_t magic = ft::file_magic;
  int32_t version = 12;
  ft::args args = [] {
    ft::args a;
    a.dim = 4, a.ws = 5, a.epoch = 5, a.min_count = 1, a.neg = 5, a.word_ngrams = 2;
    a.loss = 3, a.model = 3, a.bucket = 10, a.minn = 0, a.maxn = 0, a.lr_update_rate = 100;
    a.t = 1e-4;
    return a;
  }();
  std::vector<ft::entry> entries = {
      {"</s>", 5, 0}, {"hello", 3, 0}, {"world", 2, 0}, {"__label__a", 4, 1}, {"__label__b", 1, 1}};
  int64_t prune_size = -1;
  std::vector<std::pair<int32_t, int32_t>> prune;
  bool quant_input = false;
  quant_spec quant;
  bool qout = false;

  int32_t nwords() const {
    int32_t n = 0;
    for (const auto& e : entries) n += e.type == 0;
    return n;
  }
  int32_t nlabels() const { return static_cast<int32_t>(entries.size()) - nwords(); }
  int64_t input_rows() const { return nwords() + (prune_size >= 0 ? prune_size : args.bucket); }
  // Deterministic matrix values.
  static float value(int64_t r, int64_t c, float salt) {
    return salt + 0.01f * static_cast<float>(r) - 0.003f * static_cast<float>(c * c);
  }

  template <class T>
  static void put(std::string& s, T v) {
    s.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void put_dense(std::string& s, int64_t rows, float salt) const {
    put<int64_t>(s, rows);
    put<int64_t>(s, args.dim);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < args.dim; ++c) put<float>(s, value(r, c, salt));
  }
  static void put_pq(std::string& s, int32_t dim, int32_t dsub, float salt) {
    int32_t nsubq = (dim + dsub - 1) / dsub;
    int32_t last = dim % dsub == 0 ? dsub : dim % dsub;
    put<int32_t>(s, dim);
    put<int32_t>(s, nsubq);
    put<int32_t>(s, dsub);
    put<int32_t>(s, last);
    for (int32_t i = 0; i < dim * 256; ++i)
      put<float>(s, salt + 0.125f * static_cast<float>(i % 97));
  }
  // Row r's code for sub-quantizer m, and its norm code.
  static uint8_t code(int64_t r, int32_t m) { return static_cast<uint8_t>((r * 7 + m * 13) % 256); }
  static uint8_t norm_code(int64_t r) { return static_cast<uint8_t>((r * 5 + 3) % 256); }
  void put_quant(std::string& s, int64_t rows, float salt) const {
    int32_t nsubq = (args.dim + quant.dsub - 1) / quant.dsub;
    put<uint8_t>(s, quant.qnorm);
    put<int64_t>(s, rows);
    put<int64_t>(s, args.dim);
    put<int32_t>(s, static_cast<int32_t>(rows * nsubq));
    for (int64_t r = 0; r < rows; ++r)
      for (int32_t m = 0; m < nsubq; ++m) put<uint8_t>(s, code(r, m));
    put_pq(s, args.dim, quant.dsub, salt);
    if (quant.qnorm) {
      for (int64_t r = 0; r < rows; ++r) put<uint8_t>(s, norm_code(r));
      put_pq(s, 1, 1, 0.5f);
    }
  }

  std::string bytes() const {
    std::string s;
    put(s, magic);
    put(s, version);
    for (int32_t v :
         {args.dim, args.ws, args.epoch, args.min_count, args.neg, args.word_ngrams, args.loss,
          args.model, args.bucket, args.minn, args.maxn, args.lr_update_rate})
      put(s, v);
    put(s, args.t);
    put<int32_t>(s, static_cast<int32_t>(entries.size()));
    put<int32_t>(s, nwords());
    put<int32_t>(s, nlabels());
    put<int64_t>(s, 17);
    put<int64_t>(s, prune_size);
    for (const auto& e : entries) {
      s += e.word;
      s.push_back('\0');
      put(s, e.count);
      put(s, e.type);
    }
    for (const auto& [a, b] : prune) {
      put(s, a);
      put(s, b);
    }
    put<uint8_t>(s, quant_input);
    if (quant_input)
      put_quant(s, input_rows(), 0.25f);
    else
      put_dense(s, input_rows(), 0.5f);
    put<uint8_t>(s, qout);
    if (quant_input && qout)
      put_quant(s, nlabels(), -0.75f);
    else
      put_dense(s, nlabels(), -0.5f);
    return s;
  }
};

}  // namespace tessera::ft_testing
