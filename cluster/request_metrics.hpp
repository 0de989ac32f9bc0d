#pragma once
// Counts of client calls (predict, embed) as the coordinator answers them, by model, version,
// tenant, call kind and outcome, with a latency histogram of the calls answered ok, and the
// sizes of the coalesced runs (calls and inputs one shard sub-request carries). Owned by one
// serving actor (one thread): its series live in its own prometheus::Registry
// (base/prometheus.hpp) with their handles cached here; a scrape collects each serving actor's
// families and merges them (prom_merge).
//
// Models are keyed by (tenant, name) (cluster/model_key.hpp), the model and tenant labels.
// Series are bounded: versions the registry knows (plus, for a name it does not know, one
// series per tenant with an empty model name) x 2 kinds x the error codes of base/errors.hpp;
// tenants are bounded by the config's tokens.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "base/prometheus.hpp"
#include "cluster/model_key.hpp"

namespace tessera {

class request_metrics {
 public:
  // Disabled, answered() and batched() do nothing and write() emits the families with no
  // samples: the benchmark's "without metrics" arm ([http] metrics = false).
  explicit request_metrics(bool enabled = true);

  // One call answered. `model` is the tenant's model (see above), `version` the version it was
  // resolved to (0: none); `kind` is "predict" or "embed"; `status` is "ok" or an error code's
  // name; `inputs` the call's inputs; `seconds` from admission to answer, observed only when
  // status is "ok" (seconds < 0: not observed).
  void answered(const model_key& model, uint64_t version, const char* kind, const char* status,
                uint64_t inputs, double seconds);

  // One coalesced predict run of `model` started: `calls` calls with `inputs` inputs in all
  // went out together, one sub-request per shard.
  void batched(const model_key& model, uint64_t calls, uint64_t inputs);

  bool enabled() const { return enabled_; }
  uint64_t requests(const model_key& model, uint64_t version, const std::string& kind,
                    const std::string& status) const;

  // tessera_requests_total, tessera_request_inputs_total, tessera_request_duration_seconds,
  // tessera_batch_calls, tessera_batch_inputs: every family, also without a series (disabled).
  prom_families collect() const;

 private:
  struct outcome_series {
    prometheus::Counter* requests;
    prometheus::Counter* inputs;
  };
  struct batch_series {
    prometheus::Histogram* calls;
    prometheus::Histogram* inputs;
  };
  using outcome = std::tuple<model_key, uint64_t, std::string, std::string>;
  using served = std::tuple<model_key, uint64_t, std::string>;

  bool enabled_;
  // Moves keep the handles valid: the registry stays where it is.
  std::unique_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Counter>* inputs_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Family<prometheus::Histogram>* batch_calls_;
  prometheus::Family<prometheus::Histogram>* batch_inputs_;
  std::map<outcome, outcome_series> by_outcome_;        // (model, version, kind, status)
  std::map<served, prometheus::Histogram*> by_served_;  // (model, version, kind)
  std::map<model_key, batch_series> by_model_;
};

}  // namespace tessera
