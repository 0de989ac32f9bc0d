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
  --*running_;
  running_.reset();
}

caf::expected<admission_ticket> admission::admit() {
  if (*running_ >= limit_)
    return make_error(errc::overloaded,
                      std::to_string(*running_) + " requests in flight; retry later");
  ++*running_;
  return admission_ticket{running_};
}

}  // namespace tessera
