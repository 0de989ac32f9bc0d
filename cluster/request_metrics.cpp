#include "cluster/request_metrics.hpp"

#include <cstring>

namespace tessera {
namespace {

// Powers of two up to the coalescer's 4096 inputs per run (a lone larger call lands in +Inf).
const std::vector<double>& size_bounds() {
  static const std::vector<double> b = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
  return b;
}

// model, version and tenant labels; version 0 is "".
prom_labels model_labels(const model_key& model, uint64_t version) {
  return {{"model", model.name},
          {"version", version == 0 ? std::string() : std::to_string(version)},
          {"tenant", model.tenant.name()}};
}

}  // namespace

request_metrics::batches::batches() : calls(size_bounds()), inputs(size_bounds()) {}

void request_metrics::answered(const model_key& model, uint64_t version, const char* kind,
                               const char* status, uint64_t inputs, double seconds) {
  if (!enabled_) return;
  auto& c = by_outcome_[{model, version, kind, status}];
  ++c.requests;
  c.inputs += inputs;
  if (seconds >= 0 && std::strcmp(status, "ok") == 0)
    latency_[{model, version, kind}].observe(seconds);
}

void request_metrics::batched(const model_key& model, uint64_t calls, uint64_t inputs) {
  if (!enabled_) return;
  auto& b = batches_[model];
  b.calls.observe(static_cast<double>(calls));
  b.inputs.observe(static_cast<double>(inputs));
}

void request_metrics::merge(const request_metrics& other) {
  for (const auto& [key, c] : other.by_outcome_) {
    auto& mine = by_outcome_[key];
    mine.requests += c.requests;
    mine.inputs += c.inputs;
  }
  for (const auto& [key, h] : other.latency_) latency_[key].merge(h);
  for (const auto& [model, b] : other.batches_) {
    auto& mine = batches_[model];
    mine.calls.merge(b.calls);
    mine.inputs.merge(b.inputs);
  }
}

uint64_t request_metrics::requests(const model_key& model, uint64_t version,
                                   const std::string& kind, const std::string& status) const {
  auto it = by_outcome_.find({model, version, kind, status});
  return it == by_outcome_.end() ? 0 : it->second.requests;
}

void request_metrics::write(prom_writer& w) const {
  auto labels = [](const outcome& key) {
    auto l = model_labels(std::get<0>(key), std::get<1>(key));
    l.emplace_back("kind", std::get<2>(key));
    l.emplace_back("status", std::get<3>(key));
    return l;
  };
  w.family("tessera_requests_total", prom_type::counter,
           "Client calls (predict, embed) answered by the coordinator, by model, version, tenant, "
           "kind and status (ok or the error code).");
  for (const auto& [key, c] : by_outcome_) w.sample(labels(key), static_cast<double>(c.requests));
  w.family("tessera_request_inputs_total", prom_type::counter,
           "Inputs of the client calls answered, by model, version, tenant, kind and status.");
  for (const auto& [key, c] : by_outcome_) w.sample(labels(key), static_cast<double>(c.inputs));
  w.family("tessera_request_duration_seconds", prom_type::histogram,
           "Seconds from admission to answer of the client calls answered ok, by model, version, "
           "tenant and kind.");
  for (const auto& [key, h] : latency_) {
    auto l = model_labels(std::get<0>(key), std::get<1>(key));
    l.emplace_back("kind", std::get<2>(key));
    w.histogram(l, h);
  }
  auto by_model = [](const model_key& model) {
    return prom_labels{{"model", model.name}, {"tenant", model.tenant.name()}};
  };
  w.family("tessera_batch_calls", prom_type::histogram,
           "Predict calls per coalesced run (one sub-request per shard carries them all), by "
           "model and tenant.");
  for (const auto& [model, b] : batches_) w.histogram(by_model(model), b.calls);
  w.family("tessera_batch_inputs", prom_type::histogram,
           "Inputs per coalesced predict run, by model and tenant.");
  for (const auto& [model, b] : batches_) w.histogram(by_model(model), b.inputs);
}

}  // namespace tessera
