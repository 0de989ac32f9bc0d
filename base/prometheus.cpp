#include "base/prometheus.hpp"

#include <sstream>
#include <stdexcept>

#include <prometheus/text_serializer.h>

namespace tessera {
namespace {

bool valid_metric_name(const std::string& n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

void check_family(const std::string& name, prom_type type, const std::string& help) {
  if (!valid_metric_name(name)) throw std::logic_error("bad metric name: " + name);
  if (type == prom_type::Counter && !ends_with(name, "_total"))
    throw std::logic_error("a counter's name must end in _total: " + name);
  if (help.find_first_of("\\\n") != std::string::npos)
    throw std::logic_error("a metric's help holds a backslash or newline: " + name);
}

template <class Builder>
auto& registered(Builder builder, prometheus::Registry& r, const std::string& name, prom_type type,
                 const std::string& help) {
  check_family(name, type, help);
  return builder.Name(name).Help(help).Register(r);
}

void add_into(prometheus::ClientMetric& into, const prometheus::ClientMetric& from, prom_type type,
              const std::string& name) {
  switch (type) {
    case prom_type::Counter:
      into.counter.value += from.counter.value;
      break;
    case prom_type::Gauge:
      into.gauge.value += from.gauge.value;
      break;
    case prom_type::Histogram: {
      auto& h = into.histogram;
      const auto& o = from.histogram;
      if (h.bucket.size() != o.bucket.size())
        throw std::logic_error("merging histograms of other bounds: " + name);
      for (size_t i = 0; i < h.bucket.size(); ++i) {
        if (h.bucket[i].upper_bound != o.bucket[i].upper_bound)
          throw std::logic_error("merging histograms of other bounds: " + name);
        h.bucket[i].cumulative_count += o.bucket[i].cumulative_count;
      }
      h.sample_count += o.sample_count;
      h.sample_sum += o.sample_sum;
      break;
    }
    default:
      throw std::logic_error("merging a metric of a type tessera does not use: " + name);
  }
}

}  // namespace

const prometheus::Histogram::BucketBoundaries& prom_latency_bounds() {
  static const prometheus::Histogram::BucketBoundaries b = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return b;
}

void prom_observe(prometheus::Histogram& h, double value) {
  h.Observe(value > 0 ? value : 0);  // also NaN
}

prometheus::Family<prometheus::Counter>& prom_counter_family(prometheus::Registry& r,
                                                             const std::string& name,
                                                             const std::string& help) {
  return registered(prometheus::BuildCounter(), r, name, prom_type::Counter, help);
}

prometheus::Family<prometheus::Gauge>& prom_gauge_family(prometheus::Registry& r,
                                                         const std::string& name,
                                                         const std::string& help) {
  return registered(prometheus::BuildGauge(), r, name, prom_type::Gauge, help);
}

prometheus::Family<prometheus::Histogram>& prom_histogram_family(prometheus::Registry& r,
                                                                 const std::string& name,
                                                                 const std::string& help) {
  return registered(prometheus::BuildHistogram(), r, name, prom_type::Histogram, help);
}

prom_families prom_collect(const prometheus::Registry& r,
                           const std::vector<prometheus::MetricFamily>& declared) {
  auto collected = r.Collect();
  prom_families out;
  out.reserve(declared.size());
  for (const auto& d : declared) {
    prometheus::MetricFamily* found = nullptr;
    for (auto& f : collected)
      if (f.name == d.name) found = &f;
    out.push_back(found ? std::move(*found) : d);
  }
  return out;
}

void prom_merge(prom_families& into, const prom_families& from) {
  for (const auto& f : from) {
    prometheus::MetricFamily* mine = nullptr;
    for (auto& g : into)
      if (g.name == f.name) mine = &g;
    if (!mine) {
      into.push_back(f);
      continue;
    }
    if (mine->type != f.type) throw std::logic_error("merging families of other types: " + f.name);
    // Label set -> index in mine->metric: a merge costs O(n log n), not O(n^2).
    std::map<std::vector<prometheus::ClientMetric::Label>, size_t> index;
    for (size_t i = 0; i < mine->metric.size(); ++i) index.emplace(mine->metric[i].label, i);
    for (const auto& m : f.metric) {
      auto it = index.find(m.label);
      if (it == index.end()) {
        index.emplace(m.label, mine->metric.size());
        mine->metric.push_back(m);
      } else {
        add_into(mine->metric[it->second], m, f.type, f.name);
      }
    }
  }
}

std::string prom_text(const prom_families& fams) {
  std::ostringstream out;
  prometheus::TextSerializer{}.Serialize(out, fams);
  return out.str();
}

void prom_scrape::gauge(const std::string& name, const std::string& help, double value) {
  gauges(name, help, {{{}, value}});
}

void prom_scrape::gauges(const std::string& name, const std::string& help, const rows& values) {
  auto& f = prom_gauge_family(registry_, name, help);
  declared_.push_back({name, help, prom_type::Gauge, {}});
  for (const auto& [labels, v] : values) f.Add(labels).Set(v);
}

void prom_scrape::counters(const std::string& name, const std::string& help, const rows& values) {
  auto& f = prom_counter_family(registry_, name, help);
  declared_.push_back({name, help, prom_type::Counter, {}});
  for (const auto& [labels, v] : values) f.Add(labels).Increment(v);
}

prom_families prom_scrape::collect() const {
  return prom_collect(registry_, declared_);
}

}  // namespace tessera
