#include "importers/fasttext_import.hpp"

#include <algorithm>

#include "cluster/fasttext_featurizer.hpp"
#include "cluster/fasttext_output.hpp"
#include "importers/fasttext_bin.hpp"

namespace tessera {

namespace {

constexpr uint64_t chunk_bytes = 4 << 20;

std::string default_name(const std::string& path) {
  auto slash = path.find_last_of('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  auto dot = base.find_last_of('.');
  if (dot != std::string::npos && dot > 0) base.resize(dot);
  return base.empty() ? "fasttext" : base;
}

caf::error write_text(package_writer& w, const ft::bin_reader& r, bool hs) {
  const auto& d = r.dict();
  std::vector<std::string> vocab, types, labels, counts;
  vocab.reserve(d.entries.size());
  types.reserve(d.entries.size());
  for (const auto& e : d.entries) {
    vocab.push_back(e.word);
    types.push_back(e.type == 0 ? "0" : "1");
    if (e.type == 1) {
      labels.push_back(e.word);
      counts.push_back(std::to_string(e.count));
    }
  }
  if (auto err = w.write_lines("vocab", "vocab.txt", vocab)) return err;
  vocab = {};
  if (auto err = w.write_lines("word_types", "word_types.txt", types)) return err;
  if (auto err = w.write_lines("labels", "labels.txt", labels)) return err;
  if (hs) {
    if (auto err = w.write_lines("label_counts", "label_counts.txt", counts)) return err;
  }
  if (d.pruned()) {
    std::vector<std::string> prune;
    prune.reserve(d.prune_index.size());
    for (const auto& [from, to] : d.prune_index)
      prune.push_back(std::to_string(from) + " " + std::to_string(to));
    if (auto err = w.write_lines(fasttext_prune_index_key, "prune_index.txt", prune)) return err;
    if (auto err = w.write_lines(fasttext_prune_buckets_key, "prune_buckets.txt",
                                 {std::to_string(r.args().bucket)}))
      return err;
  }
  return caf::none;
}

caf::error write_input(package_writer& w, const ft::bin_reader& r, const progress_fn& progress) {
  const uint64_t rows = r.input_rows(), dim = r.dim();
  if (auto err = w.begin_tensor("embedder.input", rows, dim)) return err;
  const uint64_t per_chunk = std::max<uint64_t>(1, chunk_bytes / (dim * sizeof(float)));
  std::vector<float> buf(
      static_cast<size_t>(std::min(per_chunk, std::max<uint64_t>(rows, 1)) * dim));
  const uint64_t base = r.file_size() - r.input_file_bytes();  // rough: bytes before the matrix
  for (uint64_t begin = 0; begin < rows; begin += per_chunk) {
    uint64_t n = std::min(per_chunk, rows - begin);
    if (auto err = r.read_input_rows(begin, n, buf.data())) return err;
    if (auto err = w.append_rows(buf.data(), n)) return err;
    if (progress)
      progress(std::min(r.file_size(), base + r.input_file_bytes() * (begin + n) / rows),
               r.file_size());
  }
  return w.end_tensor();
}

}  // namespace

caf::error import_fasttext(const std::string& bin_path, const std::string& out_dir,
                           const fasttext_import_options& opts, const progress_fn& progress) {
  auto r = ft::bin_reader::open(bin_path);
  if (!r) return std::move(r.error());
  const auto& a = r->args();
  const auto& d = r->dict();
  const bool hs = a.loss == static_cast<int32_t>(ft::loss_name::hs);
  if (hs && d.nlabels < 2)
    return make_error(errc::unsupported,
                      "fastText model " + bin_path + ": hierarchical softmax over one label");
  if (hs) {
    // Refused now rather than when the package loads: the counts build the label tree.
    if (auto err = check_hs_counts(d.label_counts()))
      return make_error(errc::corrupt_package,
                        "fastText model " + bin_path + ": " + message_of(err));
  }
  auto w = package_writer::create(out_dir);
  if (!w) return std::move(w.error());
  if (auto err = write_text(*w, *r, hs)) return err;
  if (auto err = write_input(*w, *r, progress)) return err;
  const auto& out = r->output();
  const uint64_t out_rows = hs ? static_cast<uint64_t>(d.nlabels - 1) : out.rows;
  if (auto err = w->write_tensor("classifier.output", out_rows, r->dim(), out.dense.data()))
    return err;

  manifest m;
  m.name = opts.name.empty() ? default_name(bin_path) : opts.name;
  embedder_spec e;
  e.name = m.name + ".embedder";
  e.tables = {"embedder.input"};
  e.pooling = pooling_kind::mean;
  auto& f = e.featurizer;
  f.kind = "fasttext";
  f.vocab = "vocab";
  f.word_types = "word_types";
  f.buckets = d.pruned() ? static_cast<uint64_t>(d.prune_size) : static_cast<uint64_t>(a.bucket);
  f.word_ngrams = static_cast<uint32_t>(std::max(1, a.word_ngrams));
  f.minn = static_cast<uint32_t>(a.minn);
  f.maxn = static_cast<uint32_t>(a.maxn);
  f.label_prefix = opts.label_prefix;
  m.embedder = std::move(e);
  classifier_spec c;
  c.name = m.name + ".classifier";
  c.layers = {layer_spec{"classifier.output", "", activation_kind::none}};
  c.output = hs                                                       ? output_kind::hs
             : a.loss == static_cast<int32_t>(ft::loss_name::softmax) ? output_kind::softmax
                                                                      : output_kind::ova;
  c.labels = "labels";
  if (hs) c.label_counts = "label_counts";
  m.classifier = std::move(c);
  if (auto err = w->finish(std::move(m))) return err;
  if (progress) progress(r->file_size(), r->file_size());
  return caf::none;
}

}  // namespace tessera
