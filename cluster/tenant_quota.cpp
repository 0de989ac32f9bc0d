#include "cluster/tenant_quota.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace tessera {

const char* to_string(tenant_priority p) {
  switch (p) {
    case tenant_priority::low:
      return "low";
    case tenant_priority::normal:
      return "normal";
    case tenant_priority::high:
      return "high";
  }
  return "normal";
}

bool parse_priority(const std::string& text, tenant_priority& out) {
  for (auto p : {tenant_priority::low, tenant_priority::normal, tenant_priority::high})
    if (text == to_string(p)) {
      out = p;
      return true;
    }
  return false;
}

void token_bucket::refill(clock::time_point now) {
  if (now <= last_) return;
  std::chrono::duration<double> dt = now - last_;
  tokens_ = std::min(burst_, tokens_ + dt.count() * rate_);
  last_ = now;
}

bool token_bucket::take(double n, clock::time_point now) {
  if (unlimited()) return true;
  refill(now);
  if (tokens_ < n) return false;
  tokens_ -= n;
  return true;
}

std::chrono::milliseconds token_bucket::wait_for(double n, clock::time_point now) {
  if (unlimited()) return std::chrono::milliseconds{0};
  refill(now);
  double missing = std::min(n, burst_) - tokens_;
  if (missing <= 0) return std::chrono::milliseconds{0};
  return std::chrono::milliseconds{static_cast<int64_t>(std::ceil(missing / rate_ * 1000.0))};
}

quota_ticket& quota_ticket::operator=(quota_ticket&& o) noexcept {
  if (this != &o) {
    release();
    counts_ = std::move(o.counts_);
    tenant_ = o.tenant_;
    inputs_ = o.inputs_;
  }
  return *this;
}

void quota_ticket::release() {
  if (!counts_) return;
  --counts_->total;
  counts_->inputs -= inputs_;
  --counts_->per_tenant[*tenant_];
  counts_.reset();
}

tenant_quotas::tenant_quotas(std::map<std::string, tenant_limits> limits, uint32_t capacity,
                             clock::time_point now, uint32_t capacity_inputs)
    : limits_(std::move(limits)),
      capacity_(std::max<uint32_t>(capacity, 1)),
      capacity_inputs_(capacity_inputs) {
  for (const auto& [name, l] : limits_) state_of(name, now);
}

tenant_quotas::tenant_state& tenant_quotas::state_of(const std::string& tenant,
                                                     clock::time_point now) {
  auto it = states_.find(tenant);
  if (it != states_.end()) return it->second;
  tenant_state s;
  auto l = limits_.find(tenant);
  if (l != limits_.end()) s.limits = l->second;
  const auto& lim = s.limits;
  // Bursts of a tenth of a second (at least one call, at least one full batch), so a flood
  // gets its rate within a few percent over any window of a few seconds.
  s.requests = token_bucket(lim.requests_per_s, std::max(1.0, lim.requests_per_s / 10), now);
  double batch = lim.max_batch > 0 ? lim.max_batch : lim.inputs_per_s;
  s.inputs = token_bucket(lim.inputs_per_s, std::max({1.0, lim.inputs_per_s / 10, batch}), now);
  return states_.emplace(tenant, std::move(s)).first->second;
}

caf::error tenant_quotas::overloaded(const std::string& tenant, const std::string& why,
                                     std::chrono::milliseconds retry_after) {
  ++refused_;
  auto ms = std::max<int64_t>(retry_after.count(), 1);
  return make_error(errc::overloaded,
                    with_retry_hint("tenant '" + tenant + "' " + why, static_cast<uint64_t>(ms)));
}

caf::expected<quota_ticket> tenant_quotas::admit(const std::string& tenant, uint32_t inputs,
                                                 clock::time_point now) {
  auto& s = state_of(tenant, now);
  const auto& lim = s.limits;
  if (lim.max_batch > 0 && inputs > lim.max_batch)
    return make_error(errc::limit_exceeded, std::to_string(inputs) + " inputs exceed tenant '" +
                                                tenant + "' max_batch of " +
                                                std::to_string(lim.max_batch));
  if (!s.inputs.unlimited() && inputs > s.inputs.burst())
    return make_error(errc::limit_exceeded,
                      std::to_string(inputs) + " inputs exceed what tenant '" + tenant +
                          "' inputs_per_s quota admits in one call (" +
                          std::to_string(static_cast<uint64_t>(s.inputs.burst())) + ")");
  // The share of a capacity this priority may fill.
  auto share = [&](uint64_t cap) {
    if (lim.priority == tenant_priority::normal) return (cap * 3 + 3) / 4;
    if (lim.priority == tenant_priority::low) return (cap + 1) / 2;
    return cap;
  };
  const uint64_t bound = share(capacity_);
  if (capacity_inputs_ > 0 && inputs > share(capacity_inputs_))
    return make_error(errc::limit_exceeded,
                      std::to_string(inputs) + " inputs exceed what priority " +
                          to_string(lim.priority) + " may run at once (" +
                          std::to_string(share(capacity_inputs_)) + " of capacity_inputs)");
  if (capacity_inputs_ > 0 && counts_->inputs + inputs > share(capacity_inputs_))
    return overloaded(tenant,
                      std::string("shed: the gateway runs calls of ") +
                          std::to_string(counts_->inputs) + " inputs, the bound for priority " +
                          to_string(lim.priority) + " is " +
                          std::to_string(share(capacity_inputs_)) + " (this call has " +
                          std::to_string(inputs) + ")",
                      // A large call is worth retrying only after running calls of its size
                      // had time to end: a quarter of a millisecond per input, 50 ms to 1 s.
                      std::chrono::milliseconds{std::clamp<uint64_t>(inputs / 4, 50, 1000)});
  if (counts_->total >= bound)
    return overloaded(tenant,
                      std::string("shed: the gateway runs ") + std::to_string(counts_->total) +
                          " calls, the bound for priority " + to_string(lim.priority) + " is " +
                          std::to_string(bound),
                      std::chrono::milliseconds{50});
  auto& mine = counts_->per_tenant[tenant];
  if (lim.max_concurrent > 0 && mine >= lim.max_concurrent)
    return overloaded(tenant, "is at its max_concurrent of " + std::to_string(lim.max_concurrent),
                      std::chrono::milliseconds{20});
  if (auto w = s.requests.wait_for(1, now); w.count() > 0)
    return overloaded(tenant, "is over its requests_per_s quota", w);
  if (auto w = s.inputs.wait_for(inputs, now); w.count() > 0)
    return overloaded(tenant, "is over its inputs_per_s quota", w);
  s.requests.take(1, now);
  s.inputs.take(inputs, now);
  ++mine;
  ++counts_->total;
  counts_->inputs += inputs;
  // The key's address is stable: std::map nodes never move.
  return quota_ticket(counts_, &counts_->per_tenant.find(tenant)->first, inputs);
}

tenant_priority tenant_quotas::priority(const std::string& tenant) const {
  auto it = limits_.find(tenant);
  return it == limits_.end() ? tenant_priority::normal : it->second.priority;
}

uint64_t tenant_quotas::running(const std::string& tenant) const {
  auto it = counts_->per_tenant.find(tenant);
  return it == counts_->per_tenant.end() ? 0 : it->second;
}

namespace {
const std::string hint_key = "retry_after_ms=";
const std::string hint_tail = "; " + hint_key;
}  // namespace

std::string with_retry_hint(const std::string& message, uint64_t ms) {
  return message + hint_tail + std::to_string(ms);
}

uint64_t retry_after_ms_of(const std::string& description) {
  auto at = description.rfind(hint_key);
  if (at == std::string::npos) return 0;
  return std::strtoull(description.c_str() + at + hint_key.size(), nullptr, 10);
}

std::string without_retry_hint(std::string message) {
  if (auto at = message.rfind(hint_tail); at != std::string::npos) message.resize(at);
  return message;
}

}  // namespace tessera
