#pragma once
// Prometheus text exposition format 0.0.4: a writer that emits metric families (one # HELP and
// # TYPE per family, then its samples) and a fixed-bucket latency histogram. Plain values, no
// threads: the caller owns both and serializes access.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tessera {

// (label name, label value); values are escaped by the writer.
using prom_labels = std::vector<std::pair<std::string, std::string>>;

// Cumulative-bucket histogram of non-negative values: durations in seconds (the default
// bounds) or sizes (counts). Bucket upper bounds are fixed at construction (ascending, each
// > 0); +Inf is implicit.
class prom_histogram {
 public:
  // 0.5 ms .. 10 s, roughly 1-2.5-5 per decade: covers a cached predict to a request timeout.
  static const std::vector<double>& default_bounds();

  prom_histogram() : prom_histogram(default_bounds()) {}
  explicit prom_histogram(std::vector<double> bounds);

  // Adds one observation (negative counts as 0).
  void observe(double value);
  // Adds every observation of `other`, which must have the same bounds (std::logic_error).
  void merge(const prom_histogram& other);

  const std::vector<double>& bounds() const { return bounds_; }
  // Observations <= bounds()[i], cumulative (i < bounds().size()); count() is the +Inf bucket.
  uint64_t cumulative(size_t i) const;
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> per_bucket_;  // not cumulative; one per bound
  uint64_t count_ = 0;
  double sum_ = 0;
};

enum class prom_type { counter, gauge, histogram };

// Builds one exposition. Call family() once per metric name, then its samples, before the next
// family; samples of one family must have distinct label sets. Names must match
// [a-zA-Z_:][a-zA-Z0-9_:]* (a counter's name ends in _total); checked with KJ-free asserts
// (std::logic_error), since a bad name is our bug.
class prom_writer {
 public:
  void family(const std::string& name, prom_type type, const std::string& help);
  // One sample of the current family (counter or gauge).
  void sample(const prom_labels& labels, double value);
  // One labelled histogram of the current family: _bucket{le=...} lines, _sum and _count.
  void histogram(const prom_labels& labels, const prom_histogram& h);

  // The text so far (ends with a newline when not empty).
  const std::string& text() const { return out_; }

 private:
  void line(const std::string& name, const prom_labels& labels, double value);

  std::string out_;
  std::string name_;  // the current family
  prom_type type_ = prom_type::gauge;
};

// Escapes a label value: backslash, double quote and newline (\\, \", \n).
std::string prom_escape(const std::string& value);

// A sample value as Prometheus reads it: integers without a fraction, +Inf, -Inf, NaN.
std::string prom_number(double v);

}  // namespace tessera
