#include "testing/fasttext_predict.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tessera {

fasttext_dictionary_config fasttext_config_from_bin(const ft::bin_reader& r,
                                                    const std::string& label_prefix) {
  fasttext_dictionary_config c;
  const auto& d = r.dict();
  c.entries.reserve(d.entries.size());
  c.types.reserve(d.entries.size());
  for (const auto& e : d.entries) {
    c.entries.push_back(e.word);
    c.types.push_back(static_cast<uint8_t>(e.type));
  }
  c.bucket = static_cast<uint64_t>(r.args().bucket);
  c.word_ngrams = static_cast<uint32_t>(r.args().word_ngrams);
  c.minn = static_cast<uint32_t>(r.args().minn);
  c.maxn = static_cast<uint32_t>(r.args().maxn);
  c.label_prefix = label_prefix;
  c.pruned = d.pruned();
  c.prune_index = d.prune_index;
  return c;
}

caf::expected<fasttext_predictor> fasttext_predictor::load(const std::string& bin_path,
                                                           const std::string& label_prefix) {
  auto r = ft::bin_reader::open(bin_path);
  if (!r) return std::move(r.error());
  fasttext_predictor p;
  p.reader_ = std::make_shared<ft::bin_reader>(std::move(*r));
  auto f = fasttext_featurizer::make(fasttext_config_from_bin(*p.reader_, label_prefix));
  if (!f) return std::move(f.error());
  p.featurizer_ = std::move(*f);
  p.input_ = std::make_shared<std::vector<float>>(p.reader_->input_rows() * p.reader_->dim());
  if (auto err = p.reader_->read_input_rows(0, p.reader_->input_rows(), p.input_->data()))
    return err;
  if (p.reader_->args().loss == static_cast<int32_t>(ft::loss_name::hs)) {
    const auto counts = p.reader_->dict().label_counts();
    if (auto err = check_hs_counts(counts)) return err;
    p.tree_ = std::make_shared<fasttext_hs_tree>(counts);
  }
  return p;
}

const std::string& fasttext_predictor::label(uint32_t i) const {
  return reader_->dict().entries[static_cast<size_t>(reader_->dict().nwords) + i].word;
}

std::vector<float> fasttext_predictor::hidden(const std::vector<int64_t>& ids) const {
  const size_t dim = reader_->dim();
  std::vector<float> h(dim, 0.0f);
  for (int64_t id : ids) {
    const float* row = input_->data() + static_cast<size_t>(id) * dim;
    for (size_t j = 0; j < dim; ++j) h[j] += row[j];
  }
  const auto scale = static_cast<float>(1.0 / static_cast<double>(ids.size()));
  for (auto& v : h) v *= scale;
  return h;
}

std::vector<scored_label> fasttext_predictor::predict_ids(const std::vector<int64_t>& ids,
                                                          int32_t k, float threshold) const {
  if (ids.empty()) return {};
  const auto h = hidden(ids);
  const auto& out = reader_->output();
  const auto nlabels = static_cast<uint32_t>(reader_->dict().nlabels);
  if (tree_) {
    std::vector<float> logits(tree_->inner_nodes());
    for (uint32_t i = 0; i < logits.size(); ++i) logits[i] = out.dot_row(h.data(), i);
    return tree_->predict(logits.data(), k, threshold);
  }
  std::vector<float> logits(nlabels);
  for (uint32_t i = 0; i < nlabels; ++i) logits[i] = out.dot_row(h.data(), i);
  if (reader_->args().loss != static_cast<int32_t>(ft::loss_name::softmax))
    return fasttext_ova_topk(logits.data(), nlabels, k, threshold);  // ova, and ns
  // SoftmaxLoss::computeOutput.
  float max = logits[0], z = 0.0f;
  for (float v : logits) max = std::max(v, max);
  for (float& v : logits) {
    v = static_cast<float>(std::exp(static_cast<double>(v - max)));
    z += v;
  }
  std::vector<std::pair<uint32_t, float>> probs(nlabels);
  for (uint32_t i = 0; i < nlabels; ++i) probs[i] = {i, logits[i] / z};
  return select_topk(probs, k, threshold);
}

caf::expected<std::string> fasttext_predictor::predict_prob(std::string_view input, int32_t k,
                                                            float threshold) const {
  if (k == 0 || k < -1) return make_error(errc::invalid_argument, "k needs to be 1 or higher!");
  std::string out;
  std::vector<int64_t> ids;
  char buf[64];
  size_t pos = 0;
  while (pos < input.size()) {
    ids.clear();
    pos += featurizer_->featurize_line(input.substr(pos), ids);
    bool first = true;
    for (const auto& s : predict_ids(ids, k, threshold)) {
      if (!first) out.push_back(' ');
      first = false;
      out += label(s.label);
      std::snprintf(buf, sizeof(buf), " %g", static_cast<double>(s.prob));
      out += buf;
    }
    out.push_back('\n');
  }
  return out;
}

}  // namespace tessera
