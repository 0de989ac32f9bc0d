#include "cluster/request_metrics.hpp"

#include <catch2/catch.hpp>

using namespace tessera;

TEST_CASE("answered calls are counted by model, kind and status, with their inputs") {
  request_metrics m;
  m.answered("m", "predict", "ok", 3, 0.002);
  m.answered("m", "predict", "ok", 1, 0.004);
  m.answered("m", "predict", "unavailable", 2, 0.1);
  m.answered("", "embed", "unknown_model", 1, -1);
  CHECK(m.requests("m", "predict", "ok") == 2);
  CHECK(m.requests("m", "predict", "unavailable") == 1);
  CHECK(m.requests("", "embed", "unknown_model") == 1);
  prom_writer w;
  m.write(w);
  const auto& t = w.text();
  CHECK(t.find("tessera_requests_total{model=\"m\",kind=\"predict\",status=\"ok\"} 2\n") !=
        std::string::npos);
  CHECK(t.find("tessera_request_inputs_total{model=\"m\",kind=\"predict\",status=\"ok\"} 4\n") !=
        std::string::npos);
  // Only ok answers feed the histogram.
  CHECK(t.find("tessera_request_duration_seconds_count{model=\"m\",kind=\"predict\"} 2\n") !=
        std::string::npos);
  CHECK(t.find("tessera_request_duration_seconds_count{model=\"\"") == std::string::npos);
}

TEST_CASE("disabled metrics count nothing but still declare their families") {
  request_metrics m(false);
  m.answered("m", "predict", "ok", 3, 0.002);
  CHECK(m.requests("m", "predict", "ok") == 0);
  prom_writer w;
  m.write(w);
  CHECK(w.text().find("# TYPE tessera_requests_total counter") != std::string::npos);
  CHECK(w.text().find("tessera_requests_total{") == std::string::npos);
}
