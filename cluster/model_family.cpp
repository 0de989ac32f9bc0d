#include "cluster/model_family.hpp"

#include <algorithm>
#include <numeric>

#include "cluster/bag_family.hpp"
#include "cluster/fasttext_family.hpp"
#include "cluster/predict_options.hpp"

namespace tessera {

uint64_t model_family::dim() const {
  uint64_t d = 0;
  for (const auto& t : tables_) d += t.cols;
  return d;
}

caf::error model_family::check_output_rows(uint64_t rows, uint64_t labels) const {
  if (rows == labels) return caf::none;
  return make_error(errc::corrupt_package, "output layer has " + std::to_string(rows) +
                                               " rows for " + std::to_string(labels) + " labels");
}

caf::expected<family_ptr> make_family(const package& pkg) {
  return make_family(pkg, pkg);
}

caf::expected<family_ptr> make_family(const package& embedder, const package& classifier) {
  const auto& meta = embedder.meta();
  if (!meta.embedder || meta.embedder->tables.empty())
    return make_error(errc::corrupt_package,
                      "package " + embedder.dir() + " has no embedder table");
  if (meta.embedder->featurizer.kind == "ids") return make_bag_family(embedder, classifier);
  return make_fasttext_family(embedder, classifier);
}

std::vector<scored_label> rank_values(const std::vector<double>& values, int32_t k, float threshold,
                                      bool use_threshold) {
  std::vector<uint32_t> order;
  order.reserve(values.size());
  for (uint32_t i = 0; i < values.size(); ++i)
    if (!use_threshold || values[i] >= threshold) order.push_back(i);
  const size_t keep = std::min<size_t>(order.size(), labels_for_k(k, uint32_t(values.size())));
  auto better = [&values](uint32_t a, uint32_t b) {
    return values[a] > values[b] || (values[a] == values[b] && a < b);
  };
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                    better);
  std::vector<scored_label> out;
  out.reserve(keep);
  for (size_t i = 0; i < keep; ++i) {
    const auto v = static_cast<float>(values[order[i]]);
    out.push_back(scored_label{order[i], v, v});
  }
  return out;
}

}  // namespace tessera
