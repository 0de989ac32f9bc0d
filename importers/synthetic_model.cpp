#include "importers/synthetic_model.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace tessera {
namespace {

// splitmix64: a 64-bit counter passed through an avalanche mix. Portable and exact.
struct prng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

// Uniform in [-1, 1) from the top 24 bits of a 32-bit half: exact in float.
inline float unit(uint32_t x) {
  return static_cast<float>(x >> 8) * (1.0f / 8388608.0f) - 1.0f;
}

uint64_t name_tag(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

// The stream of one row of one tensor: independent of how rows are chunked.
prng row_stream(uint64_t seed, uint64_t tag, uint64_t row) {
  prng g{seed ^ (tag * 0xd1342543de82ef95ULL) ^ (row * 0x2545f4914f6cdd1dULL)};
  g.next();
  return g;
}

// U(-1, 1) * scale + offset per value (offset 0 leaves the values bit-identical to scale only).
void fill_row(float* out, uint64_t cols, prng g, float scale, float offset) {
  uint64_t c = 0;
  for (; c + 2 <= cols; c += 2) {
    uint64_t x = g.next();
    out[c] = unit(static_cast<uint32_t>(x)) * scale + offset;
    out[c + 1] = unit(static_cast<uint32_t>(x >> 32)) * scale + offset;
  }
  if (c < cols) out[c] = unit(static_cast<uint32_t>(g.next())) * scale + offset;
}

constexpr char consonants[] = "bdfgklmnprstvz";
constexpr char vowels[] = "aeiou";
constexpr size_t n_syllables = (sizeof consonants - 1) * (sizeof vowels - 1);  // 70

std::array<std::string, n_syllables> syllable_table(uint64_t seed) {
  std::array<std::string, n_syllables> t;
  size_t k = 0;
  for (size_t c = 0; c < sizeof consonants - 1; ++c)
    for (size_t v = 0; v < sizeof vowels - 1; ++v) t[k++] = std::string{consonants[c], vowels[v]};
  prng g{seed ^ 0x5bd1e9955bd1e995ULL};
  for (size_t i = n_syllables - 1; i > 0; --i) std::swap(t[i], t[g.next() % (i + 1)]);
  return t;
}

std::string word_from(const std::array<std::string, n_syllables>& t, uint64_t index) {
  std::vector<size_t> d;
  do {
    d.push_back(index % n_syllables);
    index /= n_syllables;
  } while (index > 0);
  if (d.size() < 2) d.push_back(0);
  std::string w;  // least significant syllable first: neighbouring words differ up front
  for (size_t digit : d) w += t[digit];
  return w;
}

// Streams one generated tensor through the writer, chunk by chunk.
class tensor_streamer {
 public:
  tensor_streamer(package_writer& w, uint64_t seed, uint64_t total, const progress_fn& progress)
      : w_(w), seed_(seed), total_(total), progress_(progress) {}

  // Rows [changed.first, changed.second) draw from seed + 1.
  caf::error write(const std::string& name, uint64_t rows, uint64_t cols, float scale,
                   float offset = 0.0f, std::pair<uint64_t, uint64_t> changed = {0, 0}) {
    if (auto err = w_.begin_tensor(name, rows, cols)) return err;
    const uint64_t tag = name_tag(name);
    const uint64_t chunk = std::min(default_block_rows(cols), rows);
    buf_.resize(chunk * cols);
    for (uint64_t r0 = 0; r0 < rows; r0 += chunk) {
      uint64_t n = std::min(chunk, rows - r0);
      for (uint64_t r = 0; r < n; ++r)
        fill_row(buf_.data() + r * cols, cols,
                 row_stream(r0 + r >= changed.first && r0 + r < changed.second ? seed_ + 1 : seed_,
                            tag, r0 + r),
                 scale, offset);
      if (auto err = w_.append_rows(buf_.data(), n)) return err;
      done_ += n * cols * sizeof(float);
      if (progress_) progress_(done_, total_);
    }
    return w_.end_tensor();
  }

  // Later tensors draw from `seed` (e.g. a classifier head with its own weights).
  void reseed(uint64_t seed) { seed_ = seed; }

 private:
  package_writer& w_;
  uint64_t seed_;
  uint64_t total_;
  const progress_fn& progress_;
  uint64_t done_ = 0;
  std::vector<float> buf_;
};

caf::error check_spec(const synthetic_spec& s) {
  auto bad = [](const std::string& what) {
    return make_error(errc::invalid_argument, "synthetic_spec: " + what);
  };
  if (s.name.empty()) return bad("name is empty");
  if (s.vocab + s.buckets == 0 || s.vocab + s.buckets < s.vocab)
    return bad("vocab + buckets must be in [1, 2^64)");
  if (s.dim == 0) return bad("dim is 0");
  if (s.labels == 0) return bad("labels is 0");
  if (s.output == output_kind::hs && s.labels < 2) return bad("hs needs at least 2 labels");
  if (s.word_ngrams == 0) return bad("word_ngrams is 0");
  if (!std::isfinite(s.output_scale) || !std::isfinite(s.output_bias))
    return bad("output_scale and output_bias must be finite");
  for (uint32_t h : s.hidden)
    if (h == 0) return bad("a hidden layer has 0 units");
  if (s.changed_begin > s.changed_end || s.changed_end > s.vocab + s.buckets)
    return bad("changed rows [" + std::to_string(s.changed_begin) + ", " +
               std::to_string(s.changed_end) + ") are not inside the table");
  return {};
}

}  // namespace

std::string synthetic_word(uint64_t seed, uint64_t index) {
  return word_from(syllable_table(seed), index);
}

caf::error write_synthetic_package(const std::string& dir, const synthetic_spec& spec,
                                   const progress_fn& progress) {
  if (auto err = check_spec(spec)) return err;
  auto w = package_writer::create(dir);
  if (!w) return w.error();

  const auto words = syllable_table(spec.seed);
  std::vector<std::string> vocab;
  vocab.reserve(spec.vocab);
  for (uint64_t i = 0; i < spec.vocab; ++i) vocab.push_back(word_from(words, i));
  if (auto err = w->write_lines("vocab", "vocab.txt", vocab)) return err;
  vocab = {};
  const auto label_words = syllable_table(spec.seed + 1);
  std::vector<std::string> labels, counts;
  for (uint32_t j = 0; j < spec.labels; ++j) {
    labels.push_back("__label__" + word_from(label_words, j));
    counts.push_back(std::to_string(1000 / (j + 1) + 1));
  }
  if (auto err = w->write_lines("labels", "labels.txt", labels)) return err;
  if (spec.output == output_kind::hs)
    if (auto err = w->write_lines("label_counts", "label_counts.txt", counts)) return err;

  // Shapes: the table, then (out, in) per layer.
  const uint64_t rows = spec.vocab + spec.buckets;
  std::vector<std::pair<uint64_t, uint64_t>> layers;
  uint64_t in = spec.dim;
  for (uint32_t h : spec.hidden) {
    layers.emplace_back(h, in);
    in = h;
  }
  // hs reads one output row per inner node of its label tree: labels - 1 (fastText's .bin has
  // a row per label, the importer drops the unused last one; the loader requires labels - 1).
  layers.emplace_back(spec.output == output_kind::hs ? spec.labels - 1 : spec.labels, in);
  uint64_t total = rows * spec.dim * sizeof(float);
  for (auto [o, i] : layers) total += (o * i + o) * sizeof(float);

  tensor_streamer ts(*w, spec.seed, total, progress);
  if (auto err = ts.write("embedder.input", rows, spec.dim, 1.0f, 0.0f,
                          {spec.changed_begin, spec.changed_end}))
    return err;
  ts.reseed(spec.classifier_seed != 0 ? spec.classifier_seed : spec.seed);
  manifest m;
  m.name = spec.name;
  embedder_spec e;
  e.name = spec.name + ".embedder";
  e.tables = {"embedder.input"};
  e.pooling = spec.pooling;
  e.featurizer.kind = "hashing";
  e.featurizer.vocab = "vocab";
  e.featurizer.buckets = spec.buckets;
  e.featurizer.word_ngrams = spec.word_ngrams;
  m.embedder = std::move(e);
  classifier_spec c;
  c.name = spec.name + ".classifier";
  c.version = spec.classifier_version;
  c.output = spec.output;
  c.labels = "labels";
  if (spec.output == output_kind::hs) c.label_counts = "label_counts";
  for (size_t l = 0; l < layers.size(); ++l) {
    const bool last = l + 1 == layers.size();
    const auto [out_n, in_n] = layers[l];
    std::string base = "classifier.l" + std::to_string(l);
    float scale = last ? std::sqrt(3.0f / in_n) * spec.output_scale : std::sqrt(6.0f / in_n);
    if (auto err = ts.write(base + ".weight", out_n, in_n, scale)) return err;
    if (auto err = ts.write(base + ".bias", out_n, 1, 0.1f, last ? spec.output_bias : 0.0f))
      return err;
    c.layers.push_back(
        {base + ".weight", base + ".bias", last ? activation_kind::none : activation_kind::relu});
  }
  m.classifier = std::move(c);
  return w->finish(std::move(m));
}

}  // namespace tessera
