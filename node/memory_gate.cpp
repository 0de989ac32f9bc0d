#include "node/memory_gate.hpp"

#include "cluster/tenant_quota.hpp"

namespace tessera {

memory_gate::memory_gate(uint64_t budget, std::function<uint64_t()> rss)
    : budget_(budget), rss_(std::move(rss)) {}

caf::error memory_gate::check(clock::time_point now) {
  if (budget_ == 0) return {};
  if (!read_once_ || now - last_read_ >= std::chrono::milliseconds{20}) {
    last_rss_ = rss_();
    last_read_ = now;
    read_once_ = true;
  }
  if (last_rss_ <= budget_) return {};
  ++refused_;
  return make_error(
      errc::overloaded,
      with_retry_hint("coordinator memory " + std::to_string(last_rss_ >> 20) +
                          " MiB is over its budget of " + std::to_string(budget_ >> 20) + " MiB",
                      200));
}

}  // namespace tessera
