#include "cluster/predict_options.hpp"

#include <cmath>
#include <string>

namespace tessera {

caf::error check_predict_options(int32_t k, float threshold) {
  if (k == 0 || k < -1)
    return make_error(errc::invalid_argument, "k is " + std::to_string(k) +
                                                  "; it must be at least 1, or -1 for all labels");
  if (!std::isfinite(threshold))
    return make_error(errc::invalid_argument,
                      "threshold is " + std::to_string(threshold) + "; it must be a finite number");
  return caf::none;
}

uint32_t labels_for_k(int32_t k, uint32_t labels) {
  if (k < 0 || static_cast<uint32_t>(k) > labels) return labels;
  return static_cast<uint32_t>(k);
}

}  // namespace tessera
