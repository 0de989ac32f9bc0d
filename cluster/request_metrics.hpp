#pragma once
// Counts of client calls (predict, embed) as the coordinator answers them, by model, version,
// tenant, call kind and outcome, with a latency histogram of the calls answered ok, and the
// sizes of the coalesced runs (calls and inputs one shard sub-request carries). A plain value
// owned by one serving actor (one thread); a scrape merges the serving actors' copies.
//
// Models are keyed by (tenant, name) (cluster/model_key.hpp), the model and tenant labels.
// Series are bounded: versions the registry knows (plus, for a name it does not know, one
// series per tenant with an empty model name) x 2 kinds x the error codes of base/errors.hpp;
// tenants are bounded by the config's tokens.
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "base/prometheus.hpp"
#include "cluster/model_key.hpp"

namespace tessera {

class request_metrics {
 public:
  // Disabled, answered() and batched() do nothing and write() emits the families with no
  // samples: the benchmark's "without metrics" arm ([http] metrics = false).
  explicit request_metrics(bool enabled = true) : enabled_(enabled) {}

  // One call answered. `model` is the tenant's model (see above), `version` the version it was
  // resolved to (0: none); `kind` is "predict" or "embed"; `status` is "ok" or an error code's
  // name; `inputs` the call's inputs; `seconds` from admission to answer, observed only when
  // status is "ok" (seconds < 0: not observed).
  void answered(const model_key& model, uint64_t version, const char* kind, const char* status,
                uint64_t inputs, double seconds);

  // One coalesced predict run of `model` started: `calls` calls with `inputs` inputs in all
  // went out together, one sub-request per shard.
  void batched(const model_key& model, uint64_t calls, uint64_t inputs);

  // Adds every count and observation of `other` (another serving actor's).
  void merge(const request_metrics& other);

  bool enabled() const { return enabled_; }
  uint64_t requests(const model_key& model, uint64_t version, const std::string& kind,
                    const std::string& status) const;

  // tessera_requests_total, tessera_request_inputs_total, tessera_request_duration_seconds,
  // tessera_batch_calls, tessera_batch_inputs.
  void write(prom_writer& w) const;

 private:
  struct counts {
    uint64_t requests = 0;
    uint64_t inputs = 0;
  };
  struct batches {
    prom_histogram calls, inputs;
    batches();
  };
  using outcome = std::tuple<model_key, uint64_t, std::string, std::string>;
  using served = std::tuple<model_key, uint64_t, std::string>;

  bool enabled_;
  std::map<outcome, counts> by_outcome_;      // (model, version, kind, status)
  std::map<served, prom_histogram> latency_;  // (model, version, kind)
  std::map<model_key, batches> batches_;      // by model
};

}  // namespace tessera
