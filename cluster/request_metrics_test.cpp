#include "cluster/request_metrics.hpp"

#include <algorithm>
#include <sstream>
#include <vector>

#include <catch2/catch.hpp>

using namespace tessera;

namespace {

const model_key m_default{tenant_id{}, "m"}, no_default{tenant_id{}, ""};

bool has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

// What `m` adds to /metrics.
std::string text_of(const request_metrics& m) {
  return prom_text(m.collect());
}

// The lines of `text`, sorted: a family lists its series in no fixed order.
std::vector<std::string> sorted_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("answered calls are counted by model, version, tenant, kind and status") {
  request_metrics m;
  m.answered(m_default, 1, "predict", "ok", 3, 0.002);
  m.answered(m_default, 1, "predict", "ok", 1, 0.004);
  m.answered(m_default, 2, "predict", "ok", 1, 0.004);
  m.answered(m_default, 1, "predict", "unavailable", 2, 0.1);
  m.answered(no_default, 0, "embed", "unknown_model", 1, -1);
  CHECK(m.requests(m_default, 1, "predict", "ok") == 2);
  CHECK(m.requests(m_default, 2, "predict", "ok") == 1);
  CHECK(m.requests(m_default, 1, "predict", "unavailable") == 1);
  CHECK(m.requests(no_default, 0, "embed", "unknown_model") == 1);
  const auto t = text_of(m);
  // Labels are listed by name.
  const std::string ok1 =
      "{kind=\"predict\",model=\"m\",status=\"ok\",tenant=\"default\",version=\"1\"}";
  CHECK(has(t, "tessera_requests_total" + ok1 + " 2\n"));
  CHECK(has(t, "tessera_request_inputs_total" + ok1 + " 4\n"));
  CHECK(has(t,
            "tessera_requests_total{kind=\"predict\",model=\"m\",status=\"ok\","
            "tenant=\"default\",version=\"2\"} 1\n"));
  CHECK(has(t,
            "tessera_requests_total{kind=\"embed\",model=\"\",status=\"unknown_model\","
            "tenant=\"default\",version=\"\"} 1\n"));
  // Only ok answers feed the histogram.
  CHECK(has(t,
            "tessera_request_duration_seconds_count{kind=\"predict\",model=\"m\","
            "tenant=\"default\",version=\"1\"} 2\n"));
  CHECK(!has(t, "tessera_request_duration_seconds_count{kind=\"embed\""));
}

TEST_CASE("a tenant's model is labelled by its bare name and its tenant") {
  request_metrics m;
  m.answered({tenant_id{"acme"}, "m"}, 3, "predict", "ok", 2, 0.001);
  m.answered({tenant_id{"acme"}, ""}, 0, "predict", "unknown_model", 1, -1);  // unknown to acme
  const auto t = text_of(m);
  CHECK(has(t,
            "tessera_requests_total{kind=\"predict\",model=\"m\",status=\"ok\",tenant=\"acme\","
            "version=\"3\"} 1\n"));
  CHECK(has(t,
            "tessera_requests_total{kind=\"predict\",model=\"\",status=\"unknown_model\","
            "tenant=\"acme\",version=\"\"} 1\n"));
  CHECK(has(t,
            "tessera_request_duration_seconds_count{kind=\"predict\",model=\"m\",tenant=\"acme\","
            "version=\"3\"} 1\n"));
}

TEST_CASE("coalesced runs are counted by how many calls and inputs each carried") {
  request_metrics m;
  m.batched(m_default, 1, 1);
  m.batched(m_default, 3, 40);
  const auto t = text_of(m);
  const std::string l = "{model=\"m\",tenant=\"default\"";
  CHECK(has(t, "tessera_batch_calls_count" + l + "} 2\n"));
  CHECK(has(t, "tessera_batch_calls_sum" + l + "} 4\n"));
  CHECK(has(t, "tessera_batch_calls_bucket" + l + ",le=\"2\"} 1\n"));
  CHECK(has(t, "tessera_batch_calls_bucket" + l + ",le=\"4\"} 2\n"));
  CHECK(has(t, "tessera_batch_inputs_bucket" + l + ",le=\"32\"} 1\n"));
  CHECK(has(t, "tessera_batch_inputs_bucket" + l + ",le=\"64\"} 2\n"));
}

TEST_CASE("disabled metrics count nothing but still declare their families") {
  request_metrics m(false);
  m.answered(m_default, 1, "predict", "ok", 3, 0.002);
  m.batched(m_default, 2, 2);
  CHECK(m.requests(m_default, 1, "predict", "ok") == 0);
  const auto t = text_of(m);
  CHECK(has(t, "# TYPE tessera_requests_total counter"));
  CHECK(has(t, "# TYPE tessera_batch_calls histogram"));
  CHECK(!has(t, "tessera_requests_total{"));
  CHECK(!has(t, "tessera_batch_calls_count"));
}

TEST_CASE("two serving actors' counts merge into what one would have counted") {
  request_metrics one, a, b;
  for (auto* m : {&one, &a}) {
    m->answered(m_default, 1, "predict", "ok", 3, 0.002);
    m->batched(m_default, 2, 5);
  }
  for (auto* m : {&one, &b}) {
    m->answered(m_default, 1, "predict", "ok", 1, 0.2);
    m->answered(m_default, 1, "predict", "overloaded", 1, -1);
    m->batched(m_default, 1, 1);
  }
  CHECK(a.requests(m_default, 1, "predict", "ok") == 1);
  CHECK(b.requests(m_default, 1, "predict", "overloaded") == 1);
  auto merged = a.collect();
  prom_merge(merged, b.collect());
  CHECK(sorted_lines(prom_text(merged)) == sorted_lines(text_of(one)));
  CHECK(has(prom_text(merged),
            "tessera_requests_total{kind=\"predict\",model=\"m\",status=\"ok\","
            "tenant=\"default\",version=\"1\"} 2\n"));
}
