#include "cluster/request_metrics.hpp"

#include <cstring>

namespace tessera {
namespace {

// Powers of two up to the coalescer's 4096 inputs per run (a lone larger call lands in +Inf).
const prometheus::Histogram::BucketBoundaries& size_bounds() {
  static const prometheus::Histogram::BucketBoundaries b = {1,   2,   4,   8,    16,   32,  64,
                                                            128, 256, 512, 1024, 2048, 4096};
  return b;
}

// model, version and tenant labels; version 0 is "".
prom_labels model_labels(const model_key& model, uint64_t version) {
  return {{"model", model.name},
          {"version", version == 0 ? std::string() : std::to_string(version)},
          {"tenant", model.tenant.name()}};
}

const char* const requests_help =
    "Client calls (predict, embed) answered by the coordinator, by model, version, tenant, kind "
    "and status (ok or the error code).";
const char* const inputs_help =
    "Inputs of the client calls answered, by model, version, tenant, kind and status.";
const char* const latency_help =
    "Seconds from admission to answer of the client calls answered ok, by model, version, "
    "tenant and kind.";
const char* const batch_calls_help =
    "Predict calls per coalesced run (one sub-request per shard carries them all), by model and "
    "tenant.";
const char* const batch_inputs_help = "Inputs per coalesced predict run, by model and tenant.";

}  // namespace

request_metrics::request_metrics(bool enabled)
    : enabled_(enabled),
      registry_(std::make_unique<prometheus::Registry>()),
      requests_(&prom_counter_family(*registry_, "tessera_requests_total", requests_help)),
      inputs_(&prom_counter_family(*registry_, "tessera_request_inputs_total", inputs_help)),
      latency_(
          &prom_histogram_family(*registry_, "tessera_request_duration_seconds", latency_help)),
      batch_calls_(&prom_histogram_family(*registry_, "tessera_batch_calls", batch_calls_help)),
      batch_inputs_(&prom_histogram_family(*registry_, "tessera_batch_inputs", batch_inputs_help)) {
}

void request_metrics::answered(const model_key& model, uint64_t version, const char* kind,
                               const char* status, uint64_t inputs, double seconds) {
  if (!enabled_) return;
  outcome key{model, version, kind, status};
  auto it = by_outcome_.find(key);
  if (it == by_outcome_.end()) {
    auto labels = model_labels(model, version);
    labels.emplace("kind", kind);
    labels.emplace("status", status);
    it =
        by_outcome_
            .emplace(std::move(key), outcome_series{&requests_->Add(labels), &inputs_->Add(labels)})
            .first;
  }
  it->second.requests->Increment();
  it->second.inputs->Increment(static_cast<double>(inputs));
  if (seconds < 0 || std::strcmp(status, "ok") != 0) return;
  served skey{model, version, kind};
  auto h = by_served_.find(skey);
  if (h == by_served_.end()) {
    auto labels = model_labels(model, version);
    labels.emplace("kind", kind);
    h = by_served_.emplace(std::move(skey), &latency_->Add(labels, prom_latency_bounds())).first;
  }
  prom_observe(*h->second, seconds);
}

void request_metrics::batched(const model_key& model, uint64_t calls, uint64_t inputs) {
  if (!enabled_) return;
  auto it = by_model_.find(model);
  if (it == by_model_.end()) {
    prom_labels labels{{"model", model.name}, {"tenant", model.tenant.name()}};
    it = by_model_
             .emplace(model, batch_series{&batch_calls_->Add(labels, size_bounds()),
                                          &batch_inputs_->Add(labels, size_bounds())})
             .first;
  }
  it->second.calls->Observe(static_cast<double>(calls));
  it->second.inputs->Observe(static_cast<double>(inputs));
}

uint64_t request_metrics::requests(const model_key& model, uint64_t version,
                                   const std::string& kind, const std::string& status) const {
  auto it = by_outcome_.find({model, version, kind, status});
  return it == by_outcome_.end() ? 0 : static_cast<uint64_t>(it->second.requests->Value());
}

prom_families request_metrics::collect() const {
  static const std::vector<prometheus::MetricFamily> declared = {
      {"tessera_requests_total", requests_help, prom_type::Counter, {}},
      {"tessera_request_inputs_total", inputs_help, prom_type::Counter, {}},
      {"tessera_request_duration_seconds", latency_help, prom_type::Histogram, {}},
      {"tessera_batch_calls", batch_calls_help, prom_type::Histogram, {}},
      {"tessera_batch_inputs", batch_inputs_help, prom_type::Histogram, {}}};
  return prom_collect(*registry_, declared);
}

}  // namespace tessera
