#include "cluster/request_metrics.hpp"

#include <cstring>

namespace tessera {

void request_metrics::answered(const std::string& model, const char* kind, const char* status,
                               uint64_t inputs, double seconds) {
  if (!enabled_) return;
  auto& c = by_outcome_[{model, kind, status}];
  ++c.requests;
  c.inputs += inputs;
  if (seconds >= 0 && std::strcmp(status, "ok") == 0) latency_[{model, kind}].observe(seconds);
}

uint64_t request_metrics::requests(const std::string& model, const std::string& kind,
                                   const std::string& status) const {
  auto it = by_outcome_.find({model, kind, status});
  return it == by_outcome_.end() ? 0 : it->second.requests;
}

void request_metrics::write(prom_writer& w) const {
  auto labels = [](const auto& key) {
    return prom_labels{
        {"model", std::get<0>(key)}, {"kind", std::get<1>(key)}, {"status", std::get<2>(key)}};
  };
  w.family("tessera_requests_total", prom_type::counter,
           "Client calls (predict, embed) answered by the coordinator, by model, kind and "
           "status (ok or the error code).");
  for (const auto& [key, c] : by_outcome_) w.sample(labels(key), static_cast<double>(c.requests));
  w.family("tessera_request_inputs_total", prom_type::counter,
           "Inputs of the client calls answered, by model, kind and status.");
  for (const auto& [key, c] : by_outcome_) w.sample(labels(key), static_cast<double>(c.inputs));
  w.family("tessera_request_duration_seconds", prom_type::histogram,
           "Seconds from admission to answer of the client calls answered ok, by model and kind.");
  for (const auto& [key, h] : latency_)
    w.histogram({{"model", key.first}, {"kind", key.second}}, h);
}

}  // namespace tessera
