#pragma once
// Metrics on prometheus-cpp's core (Debian prometheus-cpp-dev; only the core library is linked,
// the HTTP side stays kj-http): what tessera adds to it.
//
// - Series live in a prometheus::Registry owned by one actor (a serving actor's request and
//   shard metrics) or built per scrape (prom_scrape). Handles (Counter*, Histogram*) stay valid
//   until their family removes them; the owner caches them so a call costs a map lookup and an
//   atomic add.
// - A scrape collects every owner's registry (Registry::Collect, a copy), merges the copies by
//   family and label set (prom_merge) and writes the text exposition format 0.0.4 with
//   prometheus::TextSerializer (prom_text).
// Labels are a std::map: the text lists a series' labels sorted by name.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

namespace tessera {

using prom_labels = prometheus::Labels;
using prom_families = std::vector<prometheus::MetricFamily>;
using prom_type = prometheus::MetricType;

// 0.5 ms .. 10 s, roughly 1-2.5-5 per decade: covers a cached predict to a request timeout.
const prometheus::Histogram::BucketBoundaries& prom_latency_bounds();

// Adds one observation to `h`; a negative or NaN value counts as 0 (prometheus-cpp would put a
// NaN in +Inf and make the sum NaN).
void prom_observe(prometheus::Histogram& h, double value);

// A family `name` of `type` registered on `r` (a family of that name already there is
// returned). The name must match [a-zA-Z_:][a-zA-Z0-9_:]*, a counter's end in _total, and the
// help hold no backslash or newline (prometheus-cpp writes HELP text unescaped): a bad one is
// our bug, std::logic_error.
prometheus::Family<prometheus::Counter>& prom_counter_family(prometheus::Registry& r,
                                                             const std::string& name,
                                                             const std::string& help);
prometheus::Family<prometheus::Gauge>& prom_gauge_family(prometheus::Registry& r,
                                                         const std::string& name,
                                                         const std::string& help);
prometheus::Family<prometheus::Histogram>& prom_histogram_family(prometheus::Registry& r,
                                                                 const std::string& name,
                                                                 const std::string& help);

// The families of `r`, each family registered on it included even without a series (so its
// HELP and TYPE are always in the text; Registry::Collect leaves such families out), in the
// order they were registered.
prom_families prom_collect(const prometheus::Registry& r,
                           const std::vector<prometheus::MetricFamily>& declared);

// Adds `from` into `into`: a family new to `into` is appended; samples of a family already
// there with equal label sets are summed (counter and gauge values; a histogram's count, sum
// and buckets); new label sets are appended. A family of another type or a histogram of other
// bounds under the same name is our bug: std::logic_error.
void prom_merge(prom_families& into, const prom_families& from);

// The text exposition format 0.0.4 of `fams` (prometheus::TextSerializer).
std::string prom_text(const prom_families& fams);

// Values known at scrape time (gauges from a status, counters read from atomics), on a
// registry of their own that lives for one scrape.
class prom_scrape {
 public:
  using rows = std::vector<std::pair<prom_labels, double>>;
  void gauge(const std::string& name, const std::string& help, double value);
  void gauges(const std::string& name, const std::string& help, const rows& values);
  void counters(const std::string& name, const std::string& help, const rows& values);
  // Families in the order they were first named, with the ones that got no rows.
  prom_families collect() const;

 private:
  prometheus::Registry registry_;
  std::vector<prometheus::MetricFamily> declared_;
};

}  // namespace tessera
