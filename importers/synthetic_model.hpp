#pragma once
// A deterministic generator of a complete model package (hashing featurizer, embedding table,
// dense classifier), for the default demo model, integration tests and benchmarks.
//
// Every value comes from the project's own splitmix64 stream seeded by (seed, tensor, row), so
// the same spec gives byte-identical files on every platform, and tables of any size stream out
// with about 1 MiB of memory.
#include <cstdint>
#include <string>
#include <vector>

#include "package/package.hpp"

namespace tessera {

struct synthetic_spec {
  std::string name = "synthetic";
  uint64_t vocab = 5000;      // pronounceable words made from the seed (see synthetic_word)
  uint64_t buckets = 200000;  // hashed word n-gram rows
  uint32_t word_ngrams = 2;
  uint32_t dim = 64;
  std::vector<uint32_t> hidden = {32};  // dense relu layers before the output layer
  uint32_t labels = 8;                  // "__label__<word>"
  output_kind output = output_kind::softmax;
  pooling_kind pooling = pooling_kind::mean;
  uint64_t seed = 42;
  // When non-zero, the classifier's weights come from this seed instead: packages that
  // differ only here share a bit-identical embedder (the cluster then loads it once).
  uint64_t classifier_seed = 0;
  uint64_t classifier_version = 1;  // the classifier sub-model's version number
  // The output layer: weights U(-1, 1) * sqrt(3 / in) * output_scale, biases output_bias +
  // U(-0.1, 0.1). A larger scale makes the outputs more peaked (a 20,000-label softmax at the
  // default is nearly flat: few labels reach 0.001); a negative bias keeps most of a large
  // ova model's sigmoids near 0.
  float output_scale = 10.0f;
  float output_bias = 0.0f;
  // Rows [changed_begin, changed_end) of embedder.input come from another stream (seed + 1):
  // a version "retrained" on those rows only, byte-identical elsewhere. Empty by default.
  uint64_t changed_begin = 0;
  uint64_t changed_end = 0;
};

// Word `index` of the vocabulary for `seed`: syllables ("ka", "mo", ...) spelling the index in
// base 70 (least significant first) with a seed-shuffled syllable table, at least two
// syllables. Distinct indexes give distinct words.
std::string synthetic_word(uint64_t seed, uint64_t index);

// Writes the package for `spec` into `dir` (created; must not hold a package yet). Layout:
//   files "vocab" (vocab.txt), "labels" (labels.txt), and for hs "label_counts";
//   tensor "embedder.input": (vocab + buckets) x dim, U(-1, 1);
//   tensors "classifier.l<i>.weight" (out x in) and "classifier.l<i>.bias" (out x 1) for each
//   hidden layer (relu, He-uniform weights) and the output layer (labels rows, for hs
//   labels - 1: one per inner node of the label tree; no activation, weights
//   U(-1, 1) * sqrt(3 / in) * output_scale, by default 10, so that softmax outputs over a few
//   labels are far from uniform); biases U(-0.1, 0.1), plus output_bias on the output layer.
// `progress` gets (bytes written, total tensor bytes). Errors: invalid_argument (bad spec),
// already_exists, io_error.
caf::error write_synthetic_package(const std::string& dir, const synthetic_spec& spec,
                                   const progress_fn& progress = {});

}  // namespace tessera
