#pragma once
// The per-call options of a predict request, checked in one place. The coordinator checks
// every request with it; the CLI checks its flags with it so a bad flag fails before a call.
#include <cstdint>

#include "base/errors.hpp"

namespace tessera {

// k: labels per input, at least 1, or -1 for every label (as fastText's predict-prob; 0 and
// values below -1 are refused). threshold: a finite probability floor (NaN and infinities are
// refused; like fastText, a value above 1 simply returns no labels).
// Errors: invalid_argument naming the bad value.
caf::error check_predict_options(int32_t k, float threshold);

// The number of labels an output ranks for k over `labels` labels: every label when k < 0 or
// k > labels, else k. Every output rule (softmax, ova, hs) goes through it before it sizes
// anything by k, so a huge k costs what k = -1 costs and nothing more.
uint32_t labels_for_k(int32_t k, uint32_t labels);

}  // namespace tessera
