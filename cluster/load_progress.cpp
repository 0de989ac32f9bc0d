#include "cluster/load_progress.hpp"

#include <algorithm>

namespace tessera {

load_estimate estimate_load(uint64_t done, uint64_t total, uint64_t elapsed_ms) {
  load_estimate e;
  if (total > 0 && done >= total) {
    e.ms_left = 0;
    if (elapsed_ms > 0) e.bytes_per_s = static_cast<uint64_t>(1000.0 * done / elapsed_ms);
    return e;
  }
  if (done == 0 || elapsed_ms < 100) return e;
  const double rate = 1000.0 * static_cast<double>(done) / static_cast<double>(elapsed_ms);
  e.bytes_per_s = static_cast<uint64_t>(rate);
  if (e.bytes_per_s == 0) return e;
  e.ms_left = static_cast<int64_t>(1000.0 * static_cast<double>(total - done) / rate);
  return e;
}

load_estimate combine_loads(load_estimate a, load_estimate b) {
  load_estimate e;
  e.bytes_per_s = a.bytes_per_s + b.bytes_per_s;
  e.ms_left = a.ms_left < 0 || b.ms_left < 0 ? -1 : std::max(a.ms_left, b.ms_left);
  return e;
}

}  // namespace tessera
