#pragma once
// A fastText supervised model with many labels, written by hand: training a real 20,000-label
// softmax takes minutes on two cores, while `fasttext predict-prob` on a written .bin is just
// as independent a reference. The bytes follow the .bin layout of FASTTEXT.md (version 12,
// dense matrices).
//
// The weights make predictions meaningful rather than uniform: every vocabulary word points at
// one "topic" label (its input row is that label's output direction, scaled, plus noise), so a
// line's topic labels stand out and a few dozen labels per line get a probability above 0.001.
// Dimension 0 is a bias channel (1 in every input row), which gives ova a negative bias so that
// most of its 20,000 independent sigmoids stay below the thresholds. hs gets random inner-node
// rows with a large norm, so each walk down the Huffman tree is peaked.
#include <cstdint>
#include <string>
#include <vector>

namespace tessera::test {

struct large_label_spec {
  int32_t labels = 20000;
  int32_t dim = 256;
  int32_t words = 3000;   // vocabulary words besides "</s>": "w0" .. "w2999"
  int32_t bucket = 2000;  // word bigram rows (wordNgrams 2)
  int32_t loss = 3;       // fastText's loss ids: hs 1, softmax 3, ova 4
  uint64_t seed = 7;
};

// Bytes of the output matrix (labels x dim float32): what decides whether it is split.
inline uint64_t output_bytes(const large_label_spec& s) {
  return uint64_t(s.labels) * uint64_t(s.dim) * 4;
}

// Writes the model to `path` (throws std::runtime_error when it cannot).
void write_large_label_bin(const large_label_spec& spec, const std::string& path);

// `lines` input lines ('\n'-terminated) of 1..12 vocabulary words, some with an unseen word,
// and a few edge cases first (an empty line, only unseen words, one repeated word).
std::string large_label_input(const large_label_spec& spec, size_t lines, uint64_t seed);

}  // namespace tessera::test
