#include "base/prometheus.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

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

const char* type_name(prom_type t) {
  switch (t) {
    case prom_type::counter:
      return "counter";
    case prom_type::histogram:
      return "histogram";
    default:
      return "gauge";
  }
}

// Backslash and newline, and (in label values, not in HELP text) the double quote.
std::string escape(const std::string& s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (quote && c == '"')
      out += "\\\"";
    else
      out += c;
  }
  return out;
}

}  // namespace

const std::vector<double>& prom_histogram::default_bounds() {
  static const std::vector<double> b = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return b;
}

prom_histogram::prom_histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), per_bucket_(bounds_.size(), 0) {
  for (size_t i = 0; i < bounds_.size(); ++i)
    if (!(bounds_[i] > 0) || (i > 0 && bounds_[i] <= bounds_[i - 1]))
      throw std::logic_error("histogram bounds must be positive and ascending");
}

void prom_histogram::observe(double value) {
  if (!(value > 0)) value = 0;  // also NaN
  ++count_;
  sum_ += value;
  for (size_t i = 0; i < bounds_.size(); ++i)
    if (value <= bounds_[i]) {
      ++per_bucket_[i];
      return;
    }
}

void prom_histogram::merge(const prom_histogram& other) {
  if (other.bounds_ != bounds_) throw std::logic_error("merging histograms of other bounds");
  for (size_t i = 0; i < per_bucket_.size(); ++i) per_bucket_[i] += other.per_bucket_[i];
  count_ += other.count_;
  sum_ += other.sum_;
}

uint64_t prom_histogram::cumulative(size_t i) const {
  uint64_t n = 0;
  for (size_t j = 0; j <= i && j < per_bucket_.size(); ++j) n += per_bucket_[j];
  return n;
}

std::string prom_escape(const std::string& value) {
  return escape(value, true);
}

std::string prom_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else if (std::snprintf(buf, sizeof buf, "%.15g", v); std::strtod(buf, nullptr) != v)
    std::snprintf(buf, sizeof buf, "%.17g", v);  // the shortest text that reads back exactly
  return buf;
}

void prom_writer::family(const std::string& name, prom_type type, const std::string& help) {
  if (!valid_metric_name(name)) throw std::logic_error("bad metric name: " + name);
  if (type == prom_type::counter && !ends_with(name, "_total"))
    throw std::logic_error("a counter's name must end in _total: " + name);
  name_ = name;
  type_ = type;
  out_ += "# HELP " + name + " " + escape(help, false) + "\n";
  out_ += "# TYPE " + name + " " + type_name(type) + "\n";
}

void prom_writer::line(const std::string& name, const prom_labels& labels, double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_ += ',';
      out_ += labels[i].first + "=\"" + prom_escape(labels[i].second) + "\"";
    }
    out_ += '}';
  }
  out_ += ' ' + prom_number(value) + '\n';
}

void prom_writer::sample(const prom_labels& labels, double value) {
  if (name_.empty() || type_ == prom_type::histogram)
    throw std::logic_error("sample() needs a counter or gauge family");
  line(name_, labels, value);
}

void prom_writer::histogram(const prom_labels& labels, const prom_histogram& h) {
  if (type_ != prom_type::histogram) throw std::logic_error("histogram() needs a histogram family");
  auto with_le = [&](const std::string& le) {
    auto l = labels;
    l.emplace_back("le", le);
    return l;
  };
  for (size_t i = 0; i < h.bounds().size(); ++i)
    line(name_ + "_bucket", with_le(prom_number(h.bounds()[i])),
         static_cast<double>(h.cumulative(i)));
  line(name_ + "_bucket", with_le("+Inf"), static_cast<double>(h.count()));
  line(name_ + "_sum", labels, h.sum());
  line(name_ + "_count", labels, static_cast<double>(h.count()));
}

}  // namespace tessera
