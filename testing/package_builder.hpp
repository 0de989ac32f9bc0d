#pragma once
// Test helpers for package tests: a self-removing temporary directory, whole-file access and
// a tiny hand-written package. Header-only, tests only.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "package/package.hpp"

namespace tessera::testing {

// A fresh /tmp/tessera-test-XXXXXX directory, removed with its contents on destruction.
struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/tessera-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string sub(const std::string& name) const { return path + "/" + name; }
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Parses dir/manifest.toml, lets `edit` change it, and writes it back (no validation).
inline void rewrite_manifest(const std::string& dir, const std::function<void(manifest&)>& edit) {
  auto m = parse_manifest(slurp(dir + "/manifest.toml"), "test");
  if (!m) throw std::runtime_error("rewrite_manifest: " + describe(m.error()));
  edit(*m);
  spit(dir + "/manifest.toml", to_toml(*m));
}

// The tiny package: vocab {a, b, c}, 2 buckets, bigrams, table 5 x 2 with
// row r = (r + 1, -(r + 1) / 2), one softmax layer 3 x 2 with bias, labels x, y, z.
//   W = [[1, 0], [0, 1], [1, 1]], b = [0, 0, 0.5]
// For hs, the layer is the first two rows (one per inner node of the label tree) and
// label_counts.txt holds `hs_counts`, one line each, as given.
inline caf::error write_tiny_package(const std::string& dir,
                                     pooling_kind pooling = pooling_kind::mean,
                                     output_kind output = output_kind::softmax,
                                     const std::vector<std::string>& hs_counts = {"5", "3", "1"}) {
  auto w = package_writer::create(dir);
  if (!w) return w.error();
  if (auto e = w->write_lines("vocab", "vocab.txt", {"a", "b", "c"})) return e;
  if (auto e = w->write_lines("labels", "labels.txt", {"__label__x", "__label__y", "__label__z"}))
    return e;
  const bool hs = output == output_kind::hs;
  if (hs)
    if (auto e = w->write_lines("label_counts", "label_counts.txt", hs_counts)) return e;
  std::vector<float> table;
  for (int r = 0; r < 5; ++r) {
    table.push_back(static_cast<float>(r + 1));
    table.push_back(-static_cast<float>(r + 1) / 2);
  }
  if (auto e = w->write_tensor("embedder.input", 5, 2, table.data())) return e;
  const float weight[] = {1, 0, 0, 1, 1, 1};
  const float bias[] = {0, 0, 0.5f};
  const uint64_t out_rows = hs ? 2 : 3;
  if (auto e = w->write_tensor("classifier.l0.weight", out_rows, 2, weight)) return e;
  if (auto e = w->write_tensor("classifier.l0.bias", out_rows, 1, bias)) return e;
  manifest m;
  m.name = "tiny";
  embedder_spec emb;
  emb.name = "tiny.embedder";
  emb.tables = {"embedder.input"};
  emb.pooling = pooling;
  emb.featurizer.vocab = "vocab";
  emb.featurizer.buckets = 2;
  emb.featurizer.word_ngrams = 2;
  m.embedder = emb;
  classifier_spec cls;
  cls.name = "tiny.classifier";
  cls.output = output;
  cls.labels = "labels";
  if (hs) cls.label_counts = "label_counts";
  cls.layers = {{"classifier.l0.weight", "classifier.l0.bias", activation_kind::none}};
  m.classifier = cls;
  return w->finish(m);
}

}  // namespace tessera::testing
