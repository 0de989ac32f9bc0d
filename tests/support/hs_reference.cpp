#include "tests/support/hs_reference.hpp"

#include <cmath>
#include <stdexcept>

#include "package/package.hpp"

namespace tessera::test {

hs_reference::hs_reference(const std::vector<int64_t>& counts) : n_(counts.size()) {
  if (n_ == 0) return;
  const size_t nodes = 2 * n_ - 1;
  parent_.assign(nodes, -1);
  right_.assign(nodes, false);
  // Inner nodes not created yet count as "infinite", so a queue front never picks them.
  std::vector<int64_t> count(nodes, int64_t{1000000000000000});
  for (size_t i = 0; i < n_; ++i) count[i] = counts[i];
  int64_t leaf = static_cast<int64_t>(n_) - 1;  // the next (smallest remaining) leaf
  size_t inner = n_;                            // the oldest inner node not yet joined
  for (size_t i = n_; i < nodes; ++i) {
    int64_t sum = 0;
    for (int side = 0; side < 2; ++side) {
      size_t pick;
      if (leaf >= 0 && count[static_cast<size_t>(leaf)] < count[inner])
        pick = static_cast<size_t>(leaf--);
      else
        pick = inner++;
      parent_[pick] = static_cast<int64_t>(i);
      right_[pick] = side == 1;
      sum += count[pick];
    }
    count[i] = sum;
  }
}

hs_reference hs_reference::from_package(const std::string& dir) {
  auto pkg = package::open(dir);
  if (!pkg) throw std::runtime_error("cannot open " + dir + ": " + describe(pkg.error()));
  const auto& c = pkg->meta().classifier;
  if (!c || c->label_counts.empty()) throw std::runtime_error(dir + " has no label counts");
  auto lines = pkg->read_lines(c->label_counts);
  if (!lines) throw std::runtime_error("cannot read label counts: " + describe(lines.error()));
  std::vector<int64_t> counts;
  for (const auto& l : *lines) counts.push_back(std::stoll(l));
  return hs_reference(counts);
}

Eigen::VectorXf hs_reference::probabilities(const Eigen::VectorXf& logits) const {
  if (static_cast<size_t>(logits.size()) + 1 < n_)
    throw std::invalid_argument("hs_reference: fewer logits than inner nodes");
  // Scores top-down: a parent's index is always above its children's.
  std::vector<double> score(parent_.size(), 0.0);
  for (size_t i = parent_.size(); i-- > 0;) {
    if (parent_[i] < 0) continue;  // the root: score 0
    const auto p = static_cast<size_t>(parent_[i]);
    const double f = 1.0 / (1.0 + std::exp(-static_cast<double>(logits[p - n_])));
    score[i] = score[p] + std::log((right_[i] ? f : 1.0 - f) + 1e-5);
  }
  Eigen::VectorXf out(static_cast<Eigen::Index>(n_));
  for (size_t i = 0; i < n_; ++i) out[i] = static_cast<float>(std::exp(score[i]) - 1e-5);
  return out;
}

}  // namespace tessera::test
