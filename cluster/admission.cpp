#include "cluster/admission.hpp"

#include <string>

namespace tessera {

admission_ticket& admission_ticket::operator=(admission_ticket&& other) noexcept {
  if (this != &other) {
    release();
    running_ = std::move(other.running_);
  }
  return *this;
}

void admission_ticket::release() {
  if (!running_) return;
  running_->fetch_sub(1, std::memory_order_relaxed);
  running_.reset();
}

caf::expected<admission_ticket> admission::admit() {
  auto now = running_->load(std::memory_order_relaxed);
  do {
    if (now >= limit_)
      return make_error(errc::overloaded, std::to_string(now) + " requests in flight; retry later");
  } while (!running_->compare_exchange_weak(now, now + 1, std::memory_order_relaxed));
  return admission_ticket{running_};
}

}  // namespace tessera
