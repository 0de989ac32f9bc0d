#pragma once
// Per-tenant quotas at the gateway: request and input rates (token buckets), concurrent
// requests, batch size, and priority shedding under overload.
//
// A call is admitted with a quota_ticket that holds its tenant's concurrency place and its
// place in the gateway-wide count until the ticket is destroyed (when the call is answered).
// Refusals are values: limit_exceeded for a batch over max_batch (retrying cannot help), and
// overloaded with a retry-after hint in milliseconds for everything that passes with time.
//
// Shedding: `capacity` is the number of calls, over all tenants, the cluster serves at once
// before it counts as overloaded. A low-priority call is admitted only while fewer than
// capacity/2 calls run, a normal one below 3*capacity/4, a high one below capacity: as load
// grows, low-priority work is refused first and high-priority work last. Calls are also
// weighed by their work: with `capacity_inputs` set, a call of n inputs is admitted only while
// the inputs of the calls running plus n stay within the same fraction of capacity_inputs, so
// a few huge batches count as what they cost, not as a few calls. A call larger than its
// priority's share never fits: limit_exceeded (the config keeps capacity_inputs at least twice
// max_inputs, so no call within max_inputs is).
//
// Thread: not thread-safe; one owner (the gateway's kj thread) admits and destroys tickets.
// Times are passed in, so the logic is tested without clocks.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "base/errors.hpp"

namespace tessera {

enum class tenant_priority : uint8_t { low, normal, high };

const char* to_string(tenant_priority p);
// "low", "normal" or "high"; anything else: nullopt-like false.
bool parse_priority(const std::string& text, tenant_priority& out);

struct tenant_limits {
  double requests_per_s = 0;    // 0 = unlimited
  double inputs_per_s = 0;      // 0 = unlimited
  uint32_t max_concurrent = 0;  // calls of this tenant at once; 0 = unlimited
  uint32_t max_batch = 0;       // inputs per call; 0 = only the cluster's max_inputs
  tenant_priority priority = tenant_priority::normal;
  // Bytes of this tenant's request messages the gateway holds at once (node/byte_budget.hpp);
  // 0 = only the gateway-wide bound.
  uint64_t max_request_bytes = 0;
};

// Tokens refill at `rate` per second up to `burst`. A rate of 0 means unlimited.
class token_bucket {
 public:
  using clock = std::chrono::steady_clock;
  token_bucket() = default;
  token_bucket(double rate, double burst, clock::time_point now)
      : rate_(rate), burst_(burst), tokens_(burst), last_(now) {}

  // Takes n tokens if there are that many now; else takes none and returns false.
  bool take(double n, clock::time_point now);
  // How long until n tokens are there (0 when now); n above the burst never is: returns the
  // time to a full bucket.
  std::chrono::milliseconds wait_for(double n, clock::time_point now);
  bool unlimited() const { return rate_ <= 0; }
  double burst() const { return burst_; }

 private:
  void refill(clock::time_point now);
  double rate_ = 0, burst_ = 0, tokens_ = 0;
  clock::time_point last_{};
};

class quota_ticket {
 public:
  quota_ticket() = default;
  quota_ticket(quota_ticket&& o) noexcept
      : counts_(std::move(o.counts_)), tenant_(o.tenant_), inputs_(o.inputs_) {}
  quota_ticket& operator=(quota_ticket&& o) noexcept;
  quota_ticket(const quota_ticket&) = delete;
  quota_ticket& operator=(const quota_ticket&) = delete;
  ~quota_ticket() { release(); }
  bool held() const { return counts_ != nullptr; }

 private:
  friend class tenant_quotas;
  struct counts {
    uint64_t total = 0;
    uint64_t inputs = 0;  // of the calls running
    std::map<std::string, uint64_t> per_tenant;
  };
  quota_ticket(std::shared_ptr<counts> c, const std::string* tenant, uint64_t inputs)
      : counts_(std::move(c)), tenant_(tenant), inputs_(inputs) {}
  void release();
  std::shared_ptr<counts> counts_;
  const std::string* tenant_ = nullptr;  // key in counts::per_tenant, owned by tenant_quotas
  uint64_t inputs_ = 0;
};

class tenant_quotas {
 public:
  using clock = token_bucket::clock;
  // Tenants without an entry in `limits` are unlimited, of normal priority. capacity >= 1;
  // capacity_inputs 0 = calls are not weighed by their inputs.
  tenant_quotas(std::map<std::string, tenant_limits> limits, uint32_t capacity,
                clock::time_point now = clock::now(), uint32_t capacity_inputs = 0);

  // Admits one call of `inputs` inputs for `tenant`. Checks, in this order: batch size,
  // shedding by priority, the tenant's concurrency, its request rate, its input rate (tokens
  // are taken only when every check passes). Errors: limit_exceeded (batch), overloaded
  // ("...; retry_after_ms=N").
  caf::expected<quota_ticket> admit(const std::string& tenant, uint32_t inputs,
                                    clock::time_point now = clock::now());

  uint64_t running() const { return counts_->total; }
  uint64_t running_inputs() const { return counts_->inputs; }
  uint64_t running(const std::string& tenant) const;
  // `tenant`'s priority (normal for a tenant without an entry in `limits`).
  tenant_priority priority(const std::string& tenant) const;
  uint32_t capacity() const { return capacity_; }
  // Calls refused as overloaded so far, all tenants.
  uint64_t refused() const { return refused_; }

 private:
  struct tenant_state {
    tenant_limits limits;
    token_bucket requests, inputs;
  };
  tenant_state& state_of(const std::string& tenant, clock::time_point now);
  caf::error overloaded(const std::string& tenant, const std::string& why,
                        std::chrono::milliseconds retry_after);

  std::map<std::string, tenant_limits> limits_;
  std::map<std::string, tenant_state> states_;
  uint32_t capacity_;
  uint32_t capacity_inputs_;
  std::shared_ptr<quota_ticket::counts> counts_ = std::make_shared<quota_ticket::counts>();
  uint64_t refused_ = 0;
};

// How an overloaded refusal carries its retry hint in its message: "MESSAGE; retry_after_ms=N".
// Every refusal with a hint is written by with_retry_hint and read by the two below.
std::string with_retry_hint(const std::string& message, uint64_t ms);

// Reads the hint of an overloaded refusal: the N of "retry_after_ms=N" in a description;
// 0 when absent.
uint64_t retry_after_ms_of(const std::string& description);

// `message` without its "; retry_after_ms=N" tail (unchanged when it has none).
std::string without_retry_hint(std::string message);

}  // namespace tessera
