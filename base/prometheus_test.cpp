#include "base/prometheus.hpp"

#include <cmath>

#include <catch2/catch.hpp>

using namespace tessera;

namespace {

using bounds = prometheus::Histogram::BucketBoundaries;

bool has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

}  // namespace

TEST_CASE("an observation lands in the first bucket whose bound holds it; NaN and < 0 as 0") {
  prometheus::Registry r;
  auto& h =
      prom_histogram_family(r, "lat_seconds", "Latency.").Add({{"model", "m"}}, bounds{0.01, 1});
  prom_observe(h, 0.005);
  prom_observe(h, 0.01);  // a bound is inclusive (le)
  prom_observe(h, 7);     // only +Inf
  prom_observe(h, -1);
  prom_observe(h, std::nan(""));
  const auto t =
      prom_text(prom_collect(r, {{"lat_seconds", "Latency.", prom_type::Histogram, {}}}));
  CHECK(has(t, "# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n"));
  CHECK(has(t, "lat_seconds_bucket{model=\"m\",le=\"0.01\"} 4\n"));
  CHECK(has(t, "lat_seconds_bucket{model=\"m\",le=\"1\"} 4\n"));
  CHECK(has(t, "lat_seconds_bucket{model=\"m\",le=\"+Inf\"} 5\n"));
  CHECK(has(t, "lat_seconds_count{model=\"m\"} 5\n"));
  CHECK(has(t, "lat_seconds_sum{model=\"m\"} 7.015\n"));  // not NaN
}

TEST_CASE("a scrape's families keep their order, labels are sorted, empty ones are declared") {
  prom_scrape w;
  w.counters("tessera_requests_total", "Requests answered.",
             {{{{"status", "ok"}, {"model", "m"}}, 3}});
  w.gauge("tessera_rss_bytes", "RSS.", 1048576);
  w.counters("tessera_refused_total", "Refused.", {});
  CHECK(prom_text(w.collect()) ==
        "# HELP tessera_requests_total Requests answered.\n"
        "# TYPE tessera_requests_total counter\n"
        "tessera_requests_total{model=\"m\",status=\"ok\"} 3\n"
        "# HELP tessera_rss_bytes RSS.\n"
        "# TYPE tessera_rss_bytes gauge\n"
        "tessera_rss_bytes 1048576\n"
        "# HELP tessera_refused_total Refused.\n"
        "# TYPE tessera_refused_total counter\n");
}

TEST_CASE("label values escape backslash, quote and newline") {
  prom_scrape w;
  w.gauges("g", "A gauge.", {{{{"name", "x\"y\\z\nw"}}, 1}});
  CHECK(has(prom_text(w.collect()), "g{name=\"x\\\"y\\\\z\\nw\"} 1\n"));
}

TEST_CASE("bad names and help are refused: a counter must end in _total") {
  prometheus::Registry r;
  CHECK_THROWS_AS(prom_counter_family(r, "requests", "x"), std::logic_error);
  CHECK_THROWS_AS(prom_gauge_family(r, "9lives", "x"), std::logic_error);
  CHECK_THROWS_AS(prom_gauge_family(r, "a-b", "x"), std::logic_error);
  CHECK_THROWS_AS(prom_gauge_family(r, "ok", "line one\nline two"), std::logic_error);
  CHECK_NOTHROW(prom_counter_family(r, "requests_total", "x"));
}

TEST_CASE("merged families sum equal label sets and append the others") {
  prometheus::Registry a, b;
  auto& ca = prom_counter_family(a, "c_total", "C.");
  auto& cb = prom_counter_family(b, "c_total", "C.");
  ca.Add({{"k", "1"}}).Increment(2);
  cb.Add({{"k", "1"}}).Increment(3);
  cb.Add({{"k", "2"}}).Increment(1);
  auto& ha = prom_histogram_family(a, "h", "H.").Add({}, bounds{1, 2});
  auto& hb = prom_histogram_family(b, "h", "H.").Add({}, bounds{1, 2});
  prom_observe(ha, 0.5);
  prom_observe(hb, 1.5);
  prom_observe(hb, 9);
  prom_gauge_family(b, "only_b", "B.").Add({}).Set(4);
  auto merged = a.Collect();
  prom_merge(merged, b.Collect());
  const auto t = prom_text(merged);
  CHECK(has(t, "c_total{k=\"1\"} 5\n"));
  CHECK(has(t, "c_total{k=\"2\"} 1\n"));
  CHECK(has(t, "h_bucket{le=\"1\"} 1\n"));
  CHECK(has(t, "h_bucket{le=\"2\"} 2\n"));
  CHECK(has(t, "h_bucket{le=\"+Inf\"} 3\n"));
  CHECK(has(t, "h_sum 11\n"));
  CHECK(has(t, "only_b 4\n"));
}

TEST_CASE("merging a family of another type or a histogram of other bounds is refused") {
  prometheus::Registry a, b, c;
  prom_counter_family(a, "x_total", "X.").Add({}).Increment();
  prom_gauge_family(b, "x_total", "X.").Add({}).Set(1);
  auto merged = a.Collect();
  CHECK_THROWS_AS(prom_merge(merged, b.Collect()), std::logic_error);
  prometheus::Registry d, e;
  prom_histogram_family(d, "h", "H.").Add({}, bounds{1, 2});
  prom_histogram_family(e, "h", "H.").Add({}, bounds{1, 3});
  auto hs = d.Collect();
  CHECK_THROWS_AS(prom_merge(hs, e.Collect()), std::logic_error);
}
