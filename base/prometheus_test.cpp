#include "base/prometheus.hpp"

#include <cmath>

#include <catch2/catch.hpp>

using namespace tessera;

TEST_CASE("a histogram counts each observation in the first bucket whose bound holds it") {
  prom_histogram h({0.01, 0.1, 1});
  h.observe(0.005);
  h.observe(0.01);  // a bound is inclusive (le)
  h.observe(0.5);
  h.observe(7);  // only +Inf
  CHECK(h.cumulative(0) == 2);
  CHECK(h.cumulative(1) == 2);
  CHECK(h.cumulative(2) == 3);
  CHECK(h.count() == 4);
  CHECK(h.sum() == Approx(7.515));
}

TEST_CASE("a negative or NaN duration counts as zero") {
  prom_histogram h({0.01});
  h.observe(-1);
  h.observe(std::nan(""));
  CHECK(h.cumulative(0) == 2);
  CHECK(h.sum() == 0);
}

TEST_CASE("histogram bounds must be positive and ascending") {
  CHECK_THROWS(prom_histogram({0.1, 0.1}));
  CHECK_THROWS(prom_histogram({0, 1}));
  CHECK_NOTHROW(prom_histogram());
}

TEST_CASE("a family is written as HELP, TYPE, then its samples") {
  prom_writer w;
  w.family("tessera_requests_total", prom_type::counter, "Requests answered.");
  w.sample({{"model", "m"}, {"status", "ok"}}, 3);
  w.family("tessera_rss_bytes", prom_type::gauge, "RSS.");
  w.sample({}, 1048576);
  CHECK(w.text() ==
        "# HELP tessera_requests_total Requests answered.\n"
        "# TYPE tessera_requests_total counter\n"
        "tessera_requests_total{model=\"m\",status=\"ok\"} 3\n"
        "# HELP tessera_rss_bytes RSS.\n"
        "# TYPE tessera_rss_bytes gauge\n"
        "tessera_rss_bytes 1048576\n");
}

TEST_CASE("a histogram is written as cumulative buckets with le, then _sum and _count") {
  prom_histogram h({0.001, 0.5});
  h.observe(0.000244140625);  // 2^-12: sums exactly
  h.observe(0.25);
  h.observe(2);
  prom_writer w;
  w.family("lat_seconds", prom_type::histogram, "Latency.");
  w.histogram({{"model", "m"}}, h);
  CHECK(w.text() ==
        "# HELP lat_seconds Latency.\n"
        "# TYPE lat_seconds histogram\n"
        "lat_seconds_bucket{model=\"m\",le=\"0.001\"} 1\n"
        "lat_seconds_bucket{model=\"m\",le=\"0.5\"} 2\n"
        "lat_seconds_bucket{model=\"m\",le=\"+Inf\"} 3\n"
        "lat_seconds_sum{model=\"m\"} 2.250244140625\n"
        "lat_seconds_count{model=\"m\"} 3\n");
}

TEST_CASE("label values escape backslash, quote and newline") {
  CHECK(prom_escape("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
  prom_writer w;
  w.family("g", prom_type::gauge, "line one\nline two");
  w.sample({{"name", "x\"y"}}, 1);
  CHECK(w.text() == "# HELP g line one\\nline two\n# TYPE g gauge\ng{name=\"x\\\"y\"} 1\n");
}

TEST_CASE("numbers read back exactly and specials use Prometheus spelling") {
  CHECK(prom_number(0) == "0");
  CHECK(prom_number(0.0005) == "0.0005");
  CHECK(prom_number(1.0 / 3) == "0.33333333333333331");
  CHECK(prom_number(1e300) == "1e+300");
  CHECK(prom_number(INFINITY) == "+Inf");
  CHECK(prom_number(-INFINITY) == "-Inf");
  CHECK(prom_number(NAN) == "NaN");
}

TEST_CASE("bad names are refused: a counter must end in _total") {
  prom_writer w;
  CHECK_THROWS(w.family("requests", prom_type::counter, "x"));
  CHECK_THROWS(w.family("9lives", prom_type::gauge, "x"));
  CHECK_THROWS(w.family("a-b", prom_type::gauge, "x"));
  CHECK_THROWS(w.sample({}, 1));  // no family yet
}

TEST_CASE("histograms of the same bounds merge bucket by bucket; other bounds are refused") {
  prom_histogram a{{1, 2}}, b{{1, 2}}, c{{1, 3}};
  a.observe(0.5);
  b.observe(1.5);
  b.observe(9);
  a.merge(b);
  CHECK(a.count() == 3);
  CHECK(a.cumulative(0) == 1);
  CHECK(a.cumulative(1) == 2);
  CHECK(a.sum() == Approx(11.0));
  CHECK_THROWS_AS(a.merge(c), std::logic_error);
}
