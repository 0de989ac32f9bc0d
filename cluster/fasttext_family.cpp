#include "cluster/fasttext_family.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "cluster/fasttext_output.hpp"

namespace tessera {
namespace {

// Output layers up to this many rows are merged from every logit (shard_k).
constexpr uint64_t exact_merge_max_labels = 4096;

class fasttext_family final : public model_family {
 public:
  fasttext_family(std::shared_ptr<const featurizer> feat, table_shape table, output_kind output,
                  bool rules, std::shared_ptr<const fasttext_hs_tree> tree)
      : feat_(std::move(feat)), output_(output), rules_(rules), tree_(std::move(tree)) {
    tables_.push_back(std::move(table));
  }

  const char* name() const override { return "fasttext"; }

  caf::expected<bag_inputs> bags_of(const std::vector<input_item>& inputs,
                                    uint32_t max_ids_per_input) const override {
    // The gateway already refused empty or oversized calls and texts (before copying them).
    if (inputs.empty()) return make_error(errc::invalid_argument, "no inputs");
    const uint64_t rows = tables_[0].rows;
    bag_inputs out;
    out.ids.resize(inputs.size());
    bool weighted = false;
    for (const auto& in : inputs) weighted = weighted || !in.weights.empty();
    if (weighted) out.weights.resize(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto& in = inputs[i];
      auto where = "input " + std::to_string(i);
      auto& ids = out.ids[i];
      if (in.kind == input_kind::tables)
        return make_error(errc::invalid_argument,
                          where + ": this model takes text or ids, not bags per table");
      if (in.kind == input_kind::text) {
        if (in.text.empty()) return make_error(errc::invalid_argument, where + ": empty text");
        feat_->featurize(in.text, ids);
      } else {
        if (in.ids.empty()) return make_error(errc::invalid_argument, where + ": no ids");
        if (!in.weights.empty() && in.weights.size() != in.ids.size())
          return make_error(errc::invalid_argument,
                            where + ": " + std::to_string(in.weights.size()) + " weights for " +
                                std::to_string(in.ids.size()) + " ids");
        for (auto w : in.weights)
          if (!std::isfinite(w))
            return make_error(errc::invalid_argument, where + ": weight is not finite");
        ids = in.ids;
        if (weighted)
          out.weights[i] = in.weights.empty() ? std::vector<float>(ids.size(), 1.0f) : in.weights;
      }
      if (ids.size() > max_ids_per_input)
        return make_error(errc::limit_exceeded, where + ": " + std::to_string(ids.size()) +
                                                    " ids exceed the limit of " +
                                                    std::to_string(max_ids_per_input));
      for (auto id : ids)
        if (id < 0 || static_cast<uint64_t>(id) >= rows)
          return make_error(
              errc::id_out_of_range,
              where + ": id " + std::to_string(id) + " outside [0, " + std::to_string(rows) + ")");
    }
    return out;
  }

  caf::error allows_exact_pooling() const override { return caf::none; }

  // hs: the tree (built from as many counts as labels) checked its labels - 1 inner rows.
  caf::error check_output_rows(uint64_t rows, uint64_t labels) const override {
    if (output_ == output_kind::hs) return caf::none;
    return model_family::check_output_rows(rows, labels);
  }

  bool answers_empty_inputs() const override { return false; }

  bool topk_on_shards() const override { return output_ == output_kind::softmax; }

  // -1 (every logit) when the merge must replay fastText's heap or normalization exactly
  // (exact pooling, or few labels), or when any input wants every label; else the largest k
  // of the batch, which covers every input's top k.
  int32_t shard_k(uint64_t labels, const std::vector<int32_t>& ks, bool exact) const override {
    if (exact || labels <= exact_merge_max_labels) return -1;
    int32_t most = 1;
    for (auto k : ks) {
      if (k < 0) return -1;
      most = std::max(most, k);
    }
    return most;
  }

  std::vector<scored_label> from_partials(std::vector<topk_partial> parts, uint32_t labels,
                                          int32_t asked, bool exact, int32_t k,
                                          float threshold) const override {
    // Exact mode sums the softmax over every label in label order, as one shard would.
    if (exact && asked < 0 && parts.size() > 1) parts = {join_all_logits(parts, labels)};
    return merge_topk(parts, k, threshold);
  }

  std::vector<scored_label> from_logits(const float* row, uint32_t n, int32_t k,
                                        float threshold) const override {
    if (output_ == output_kind::hs) return tree_->predict(row, k, threshold);
    if (rules_) return fasttext_ova_topk(row, n, k, threshold);
    std::vector<std::pair<uint32_t, float>> probs(n);
    for (uint32_t i = 0; i < n; ++i) probs[i] = {i, 1.0f / (1.0f + std::exp(-row[i]))};
    return select_topk(probs, k, threshold);
  }

 private:
  std::shared_ptr<const featurizer> feat_;
  output_kind output_;
  bool rules_;  // fastText featurizer: ova uses fastText's table sigmoid
  std::shared_ptr<const fasttext_hs_tree> tree_;  // hs only
};

caf::expected<std::shared_ptr<const fasttext_hs_tree>> read_hs_tree(const package& pkg,
                                                                    const classifier_spec& c) {
  auto lines = pkg.read_lines(c.label_counts);
  if (!lines) return lines.error();
  std::vector<int64_t> counts;
  for (const auto& l : *lines) {
    char* end = nullptr;
    counts.push_back(std::strtoll(l.c_str(), &end, 10));
    if (l.empty() || *end != '\0' || counts.back() < 0)
      return make_error(errc::corrupt_package, "label count '" + l + "' is not a count");
  }
  const auto* labels = pkg.meta().find_file(c.labels);
  const auto* last = pkg.meta().find_tensor(c.layers.back().weight);
  if (!labels || !last || counts.size() != labels->lines || last->rows + 1 != counts.size())
    return make_error(errc::corrupt_package,
                      "hs needs one count per label and labels - 1 output rows");
  if (auto err = check_hs_counts(counts)) return err;
  return std::make_shared<const fasttext_hs_tree>(counts);
}

}  // namespace

caf::expected<family_ptr> make_fasttext_family(const package& pkg, const package& cls) {
  const auto& meta = pkg.meta();
  const auto& e = *meta.embedder;
  auto feat = make_featurizer(pkg);
  if (!feat) return feat.error();
  const auto* t = meta.find_tensor(e.tables.at(0));
  if (!t) return make_error(errc::corrupt_package, "package " + pkg.dir() + " has no table");
  if ((*feat)->rows() != t->rows)
    return make_error(errc::corrupt_package,
                      "featurizer addresses " + std::to_string((*feat)->rows()) +
                          " rows but the table has " + std::to_string(t->rows));
  table_shape table{t->name, t->name, t->rows, t->cols, e.pooling, -1};
  output_kind output = output_kind::softmax;
  std::shared_ptr<const fasttext_hs_tree> tree;
  if (const auto& c = cls.meta().classifier) {
    output = c->output;
    if (output == output_kind::sigmoid || output == output_kind::none)
      return make_error(errc::unsupported, std::string("output '") + to_string(output) +
                                               "' needs an embedding-bag model (featurizer ids)");
    if (output == output_kind::hs) {
      auto t = read_hs_tree(cls, *c);
      if (!t) return t.error();
      tree = std::move(*t);
    }
  }
  if (e.pooling == pooling_kind::max)
    return make_error(errc::unsupported, "max pooling needs an embedding-bag model");
  return family_ptr{std::make_shared<fasttext_family>(
      std::shared_ptr<const featurizer>{std::move(*feat)}, std::move(table), output,
      e.featurizer.kind == "fasttext", std::move(tree))};
}

family_ptr make_fasttext_family(std::shared_ptr<const featurizer> feat, uint64_t cols,
                                pooling_kind pooling, output_kind output, bool fasttext_rules) {
  table_shape table{"table", "table", feat->rows(), cols, pooling, -1};
  return std::make_shared<fasttext_family>(std::move(feat), std::move(table), output,
                                           fasttext_rules, nullptr);
}

}  // namespace tessera
