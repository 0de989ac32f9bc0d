#include "testing/reference_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

namespace tessera {
namespace {

// Reads a whole tensor into a row-major matrix, 64 MiB of rows at a time, so the peak memory
// is the matrix plus one chunk.
caf::expected<reference_model::matrix> read_matrix(const package& pkg, const std::string& name) {
  const tensor_info* t = pkg.meta().find_tensor(name);
  if (!t) return make_error(errc::corrupt_package, pkg.dir() + ": no tensor '" + name + "'");
  reference_model::matrix m(static_cast<Eigen::Index>(t->rows), static_cast<Eigen::Index>(t->cols));
  const uint64_t chunk_rows =
      std::max<uint64_t>(t->block_rows, ((uint64_t{64} << 20) / (t->cols * sizeof(float))) /
                                            t->block_rows * t->block_rows);
  for (uint64_t r0 = 0; r0 < t->rows; r0 += chunk_rows) {
    uint64_t r1 = std::min(t->rows, r0 + chunk_rows);
    auto rb = pkg.read_rows(name, r0, r1);
    if (!rb) return rb.error();
    std::memcpy(m.data() + r0 * t->cols, rb->data.get(), rb->bytes());
  }
  return m;
}

float activate(activation_kind a, float x) {
  switch (a) {
    case activation_kind::none:
      return x;
    case activation_kind::relu:
      return x > 0.0f ? x : 0.0f;
    case activation_kind::tanh:
      return std::tanh(x);
    case activation_kind::sigmoid:
      return 1.0f / (1.0f + std::exp(-x));
  }
  return x;
}

}  // namespace

caf::expected<reference_model> reference_model::load(const std::string& dir) {
  auto pkg = package::open(dir);
  if (!pkg) return pkg.error();
  const manifest& meta = pkg->meta();
  if (!meta.embedder || !meta.classifier)
    return make_error(errc::unsupported,
                      dir + ": the reference model needs both an embedder and a classifier");
  reference_model r;
  r.meta_ = meta;
  auto table = read_matrix(*pkg, meta.embedder->tables[0]);
  if (!table) return table.error();
  r.table_ = std::move(*table);
  for (const auto& spec : meta.classifier->layers) {
    layer l;
    auto w = read_matrix(*pkg, spec.weight);
    if (!w) return w.error();
    l.weight = std::move(*w);
    l.bias = Eigen::VectorXf::Zero(l.weight.rows());
    if (!spec.bias.empty()) {
      auto b = read_matrix(*pkg, spec.bias);
      if (!b) return b.error();
      l.bias = Eigen::Map<const Eigen::VectorXf>(b->data(), b->rows());
    }
    l.activation = spec.activation;
    r.layers_.push_back(std::move(l));
  }
  auto labels = pkg->read_lines(meta.classifier->labels);
  if (!labels) return labels.error();
  r.labels_ = std::move(*labels);
  auto f = make_featurizer(*pkg);
  if (!f) return f.error();
  r.featurizer_ = std::move(*f);
  return r;
}

Eigen::VectorXf reference_model::pool_ids(const std::vector<int64_t>& ids,
                                          const std::vector<float>& weights) const {
  Eigen::VectorXf sum = Eigen::VectorXf::Zero(table_.cols());
  const auto nrows = static_cast<int64_t>(table_.rows());
  double total = 0.0;  // sum of weights of the rows used
  size_t used = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= nrows) continue;
    const float w = i < weights.size() ? weights[i] : 1.0f;
    if (weights.empty())
      sum += table_.row(ids[i]).transpose();
    else
      sum += w * table_.row(ids[i]).transpose();
    total += w;
    ++used;
  }
  if (meta_.embedder->pooling == pooling_kind::sum || used == 0) return sum;
  if (weights.empty()) return sum * static_cast<float>(1.0 / static_cast<double>(used));
  if (total == 0.0) return Eigen::VectorXf::Zero(table_.cols());
  return sum / static_cast<float>(total);
}

Eigen::VectorXf reference_model::pool_text(std::string_view text) const {
  std::vector<int64_t> ids;
  featurizer_->featurize(text, ids);
  return pool_ids(ids);
}

Eigen::VectorXf reference_model::logits(const Eigen::VectorXf& pooled) const {
  Eigen::VectorXf x = pooled;
  for (const auto& l : layers_) {
    Eigen::VectorXf y = l.weight * x + l.bias;
    for (Eigen::Index i = 0; i < y.size(); ++i) y[i] = activate(l.activation, y[i]);
    x = std::move(y);
  }
  return x;
}

Eigen::VectorXf reference_model::probabilities(const Eigen::VectorXf& pooled) const {
  Eigen::VectorXf z = logits(pooled);
  switch (meta_.classifier->output) {
    case output_kind::softmax: {
      const float mx = z.size() ? z.maxCoeff() : 0.0f;
      float sum = 0.0f;
      for (Eigen::Index i = 0; i < z.size(); ++i) {
        z[i] = static_cast<float>(std::exp(static_cast<double>(z[i] - mx)));
        sum += z[i];
      }
      return z / sum;
    }
    case output_kind::ova:
    case output_kind::sigmoid:
      for (Eigen::Index i = 0; i < z.size(); ++i) z[i] = 1.0f / (1.0f + std::exp(-z[i]));
      return z;
    case output_kind::none:
      return z;
    case output_kind::hs:
      return {};
  }
  return {};
}

std::vector<std::pair<uint32_t, float>> reference_model::top_k(const Eigen::VectorXf& probs,
                                                               int k) const {
  std::vector<uint32_t> idx(static_cast<size_t>(probs.size()));
  std::iota(idx.begin(), idx.end(), 0u);
  std::stable_sort(idx.begin(), idx.end(),
                   [&](uint32_t a, uint32_t b) { return probs[a] > probs[b]; });
  size_t n = k < 0 ? idx.size() : std::min(idx.size(), static_cast<size_t>(k));
  std::vector<std::pair<uint32_t, float>> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.emplace_back(idx[i], probs[idx[i]]);
  return out;
}

}  // namespace tessera
