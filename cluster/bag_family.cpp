#include "cluster/bag_family.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace tessera {
namespace {

// Output layers up to this many rows are merged from every logit (shard_k).
constexpr uint64_t all_logits_max_labels = 4096;

class bag_family final : public model_family {
 public:
  bag_family(std::vector<table_shape> tables, output_kind output, activation_kind last)
      : output_(output), last_(last) {
    tables_ = std::move(tables);
    for (size_t t = 0; t < tables_.size(); ++t) index_[tables_[t].name] = t;
  }

  const char* name() const override { return "embedding_bag"; }

  caf::expected<bag_inputs> bags_of(const std::vector<input_item>& inputs,
                                    uint32_t max_ids_per_input) const override {
    if (inputs.empty()) return make_error(errc::invalid_argument, "no inputs");
    const size_t n = tables_.size();
    bag_inputs out;
    out.tables = n;
    out.ids.resize(inputs.size() * n);
    std::vector<std::vector<float>> weights(out.ids.size());
    bool weighted = false;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto& in = inputs[i];
      const auto where = "input " + std::to_string(i);
      if (in.kind == input_kind::text)
        return make_error(errc::invalid_argument,
                          where + ": this model takes ids per table, not text");
      std::vector<bool> seen(n, false);
      uint64_t count = 0;
      auto take = [&](size_t t, const std::vector<int64_t>& ids,
                      const std::vector<float>& w) -> caf::error {
        if (seen[t])
          return make_error(errc::invalid_argument,
                            where + ": table '" + tables_[t].name + "' is given twice");
        seen[t] = true;
        count += ids.size();
        if (count > max_ids_per_input)
          return make_error(
              errc::limit_exceeded,
              where + ": more than " + std::to_string(max_ids_per_input) + " ids exceed the limit");
        auto bag = check_bag(where, tables_[t], ids, w);
        if (!bag) return bag.error();
        out.ids[i * n + t] = std::move(bag->first);
        weights[i * n + t] = std::move(bag->second);
        weighted = weighted || !weights[i * n + t].empty();
        return caf::none;
      };
      if (in.kind == input_kind::ids) {
        if (auto err = take(0, in.ids, in.weights)) return err;
        continue;
      }
      for (const auto& b : in.tables) {
        auto t = table_of(where, b);
        if (!t) return t.error();
        if (auto err = take(*t, b.ids, b.weights)) return err;
      }
    }
    if (weighted) out.weights = std::move(weights);
    return out;
  }

  caf::error allows_exact_pooling() const override {
    return make_error(errc::unsupported,
                      "exact pooling replays fastText's sums; embedding-bag models pool on "
                      "their shards");
  }

  bool answers_empty_inputs() const override { return true; }

  bool topk_on_shards() const override {
    return output_ == output_kind::softmax && last_ == activation_kind::none;
  }

  // Every logit up to all_logits_max_labels rows or when an input wants every label; else
  // the largest k of the batch (softmax partials carry each shard's max and sum of exp).
  int32_t shard_k(uint64_t labels, const std::vector<int32_t>& ks, bool) const override {
    if (labels <= all_logits_max_labels) return -1;
    int32_t most = 1;
    for (auto k : ks) {
      if (k < 0) return -1;
      most = std::max(most, k);
    }
    return most;
  }

  std::vector<scored_label> from_partials(std::vector<topk_partial> parts, uint32_t labels, int32_t,
                                          bool, int32_t k, float threshold) const override {
    // p = exp(x - M) / sum_s sumexp_s * exp(m_s - M), in double, for the candidates.
    bool any = false;
    double top = 0;
    for (const auto& p : parts) {
      if (p.sumexp == 0.0f) continue;
      top = any ? std::max<double>(top, p.max) : p.max;
      any = true;
    }
    if (!any) return {};
    double z = 0;
    for (const auto& p : parts)
      if (p.sumexp != 0.0f) z += double{p.sumexp} * std::exp(double{p.max} - top);
    std::vector<double> values(labels, -1.0);  // -1: not a candidate (below every p)
    for (const auto& p : parts)
      for (const auto& [label, logit] : p.candidates)
        if (label < labels) values[label] = std::exp(double{logit} - top) / z;
    auto out = rank_values(values, k, threshold, true);
    out.erase(std::remove_if(out.begin(), out.end(), [](const auto& s) { return s.prob < 0; }),
              out.end());
    return out;
  }

  std::vector<scored_label> from_logits(const float* row, uint32_t n, int32_t k,
                                        float threshold) const override {
    std::vector<double> values(row, row + n);
    if (output_ == output_kind::none) return rank_values(values, k, threshold, false);
    if (output_ == output_kind::sigmoid) {
      for (auto& v : values) v = 1.0 / (1.0 + std::exp(-v));
    } else {
      const double top = n == 0 ? 0 : *std::max_element(values.begin(), values.end());
      double z = 0;
      for (auto& v : values) z += (v = std::exp(v - top));
      for (auto& v : values) v /= z;
    }
    return rank_values(values, k, threshold, true);
  }

 private:
  caf::expected<size_t> table_of(const std::string& where, const table_bag& b) const {
    if (b.name.empty()) {
      if (b.index < tables_.size()) return size_t{b.index};
      return make_error(errc::invalid_argument, where + ": table index " + std::to_string(b.index) +
                                                    " outside [0, " +
                                                    std::to_string(tables_.size()) + ")");
    }
    auto it = index_.find(b.name);
    if (it != index_.end()) return it->second;
    std::string known;
    for (const auto& t : tables_) known += (known.empty() ? "" : ", ") + t.name;
    return make_error(errc::invalid_argument,
                      where + ": no table '" + b.name + "' (the model has " + known + ")");
  }

  // A bag's ids (padding_idx dropped) and weights (empty: unweighted), or why it is refused.
  static caf::expected<std::pair<std::vector<int64_t>, std::vector<float>>> check_bag(
      const std::string& where, const table_shape& t, const std::vector<int64_t>& ids,
      const std::vector<float>& weights) {
    const auto in = where + ", table '" + t.name + "'";
    if (!weights.empty()) {
      if (t.pooling != pooling_kind::sum)
        return make_error(errc::invalid_argument,
                          in +
                              ": weights need pooling 'sum' (as PyTorch's per_sample_weights); "
                              "this table pools by " +
                              to_string(t.pooling));
      if (weights.size() != ids.size())
        return make_error(errc::invalid_argument, in + ": " + std::to_string(weights.size()) +
                                                      " weights for " + std::to_string(ids.size()) +
                                                      " ids");
    }
    std::pair<std::vector<int64_t>, std::vector<float>> out;
    out.first.reserve(ids.size());
    for (size_t j = 0; j < ids.size(); ++j) {
      const auto id = ids[j];
      if (id < 0 || static_cast<uint64_t>(id) >= t.rows)
        return make_error(
            errc::invalid_argument,
            in + ": id " + std::to_string(id) + " outside [0, " + std::to_string(t.rows) + ")");
      if (!weights.empty() && !std::isfinite(weights[j]))
        return make_error(errc::invalid_argument, in + ": weight is not finite");
      if (id == t.padding_idx) continue;
      out.first.push_back(id);
      if (!weights.empty()) out.second.push_back(weights[j]);
    }
    return out;
  }

  output_kind output_;
  activation_kind last_;
  std::map<std::string, size_t> index_;
};

}  // namespace

caf::expected<family_ptr> make_bag_family(const package& pkg, const package& cls) {
  const auto& meta = pkg.meta();
  const auto& e = *meta.embedder;
  if (e.bags.size() != e.tables.size())
    return make_error(errc::corrupt_package,
                      "package " + pkg.dir() + ": " + std::to_string(e.tables.size()) +
                          " tables but " + std::to_string(e.bags.size()) + " [[embedder.bags]]");
  std::vector<table_shape> tables;
  for (size_t i = 0; i < e.tables.size(); ++i) {
    const auto* t = meta.find_tensor(e.tables[i]);
    if (!t)
      return make_error(errc::corrupt_package,
                        "package " + pkg.dir() + ": no tensor '" + e.tables[i] + "'");
    tables.push_back(
        {e.bags[i].name, t->name, t->rows, t->cols, e.bags[i].pooling, e.bags[i].padding_idx});
  }
  output_kind output = output_kind::none;
  activation_kind last = activation_kind::none;
  if (const auto& c = cls.meta().classifier) {
    output = c->output;
    if (output == output_kind::ova || output == output_kind::hs)
      return make_error(errc::unsupported, std::string("output '") + to_string(output) +
                                               "' is fastText's; embedding-bag models have "
                                               "softmax, sigmoid or none");
    last = c->layers.back().activation;
  }
  return make_bag_family(std::move(tables), output, last);
}

family_ptr make_bag_family(std::vector<table_shape> tables, output_kind output,
                           activation_kind last_activation) {
  return std::make_shared<bag_family>(std::move(tables), output, last_activation);
}

}  // namespace tessera
