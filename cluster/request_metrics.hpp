#pragma once
// Counts of client calls (predict, embed) as the coordinator answers them, by model, call kind
// and outcome, with a latency histogram of the calls answered ok. A plain value owned by the
// coordinator actor (one thread); the HTTP side gets a copy. Series are bounded: models the
// registry knows (plus "" for a name it does not) x 2 kinds x the error codes of base/errors.hpp.
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "base/prometheus.hpp"

namespace tessera {

class request_metrics {
 public:
  // Disabled, answered() does nothing and write() emits the families with no samples: the
  // benchmark's "without metrics" arm ([http] metrics = false).
  explicit request_metrics(bool enabled = true) : enabled_(enabled) {}

  // One call answered. `kind` is "predict" or "embed"; `status` is "ok" or an error code's
  // name; `inputs` the call's inputs; `seconds` from admission to answer, observed only when
  // status is "ok" (seconds < 0: not observed).
  void answered(const std::string& model, const char* kind, const char* status, uint64_t inputs,
                double seconds);

  bool enabled() const { return enabled_; }
  uint64_t requests(const std::string& model, const std::string& kind,
                    const std::string& status) const;

  // tessera_requests_total, tessera_request_inputs_total, tessera_request_duration_seconds.
  void write(prom_writer& w) const;

 private:
  struct counts {
    uint64_t requests = 0;
    uint64_t inputs = 0;
  };
  bool enabled_;
  std::map<std::tuple<std::string, std::string, std::string>, counts> by_outcome_;
  std::map<std::pair<std::string, std::string>, latency_histogram> latency_;
};

}  // namespace tessera
