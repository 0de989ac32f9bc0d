#include "cluster/priority_pacer.hpp"

#include <algorithm>

#include "base/check.hpp"

namespace tessera {

priority_pacer::priority_pacer(std::chrono::milliseconds gap) : gap_(gap) {}

void priority_pacer::high_started() {
  ++high_;
}

void priority_pacer::high_finished() {
  TESSERA_CHECK(high_ > 0, "priority_pacer: a high-priority call ended twice");
  --high_;
}

priority_pacer::clock::time_point priority_pacer::low_slot(clock::time_point now) {
  if (high_ == 0 || gap_.count() == 0) return now;
  const auto at = std::max(now, next_);
  next_ = at + gap_;
  if (at > now) ++waits_;
  return at;
}

}  // namespace tessera
