#include "cluster/shard_metrics.hpp"

#include <catch2/catch.hpp>

using namespace tessera;

namespace {

bool has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

shard_metrics::series_name name_of(std::string shard, uint64_t epoch, int* asked) {
  ++*asked;
  return {std::move(shard), epoch};
}

}  // namespace

TEST_CASE("answers are observed per member and shard, and a series is named once") {
  shard_metrics m;
  int asked = 0;
  auto a = [&] { return name_of("e@1/t[0:10)", 2, &asked); };
  m.answered("shard-1", "t[0:10)@e2", 0.001, a);
  m.answered("shard-1", "t[0:10)@e2", 0.003, a);
  m.answered("shard-2", "t[0:10)@e2", 0.002, a);
  CHECK(asked == 2);
  CHECK(m.answers("shard-1", "t[0:10)@e2") == 2);
  CHECK(m.answers("shard-2", "t[0:10)@e2") == 1);
  CHECK(m.answers("shard-3", "t[0:10)@e2") == 0);
  const auto t = prom_text(m.collect());
  CHECK(
      has(t,
          "tessera_shard_request_duration_seconds_count{member=\"shard-1\",shard=\"e@1/t[0:10)\"} "
          "2\n"));
  CHECK(has(t,
            "tessera_shard_request_duration_seconds_bucket{member=\"shard-2\","
            "shard=\"e@1/t[0:10)\",le=\"0.0025\"} 1\n"));
}

TEST_CASE("retries and timeouts are counted per member, also when latency is off") {
  shard_metrics m(false);
  int asked = 0;
  m.answered("shard-1", "k", 0.001, [&] { return name_of("s", 1, &asked); });
  m.retried("shard-1");
  m.retried("shard-1");
  m.timed_out("shard-2");
  CHECK(asked == 0);
  CHECK(m.answers("shard-1", "k") == 0);
  CHECK(m.retries("shard-1") == 2);
  CHECK(m.timeouts("shard-2") == 1);
  CHECK(m.timeouts("shard-1") == 0);
  const auto t = prom_text(m.collect());
  CHECK(has(t, "tessera_shard_retries_total{member=\"shard-1\"} 2\n"));
  CHECK(has(t, "tessera_shard_timeouts_total{member=\"shard-2\"} 1\n"));
  CHECK(has(t, "# TYPE tessera_shard_request_duration_seconds histogram"));
}

TEST_CASE("series of sub-model epochs no longer loaded are forgotten") {
  shard_metrics m;
  int asked = 0;
  m.answered("shard-1", "a@e1", 0.001, [&] { return name_of("a", 1, &asked); });
  m.answered("shard-1", "b@e2", 0.001, [&] { return name_of("b", 2, &asked); });
  m.answered("shard-2", "a@e1", 0.001, [&] { return name_of("a", 1, &asked); });
  m.retain({2});
  CHECK(m.answers("shard-1", "a@e1") == 0);
  CHECK(m.answers("shard-2", "a@e1") == 0);
  CHECK(m.answers("shard-1", "b@e2") == 1);
  CHECK(!has(prom_text(m.collect()), "member=\"shard-2\""));
}

TEST_CASE("keys of two epochs under one label set share a series until both are forgotten") {
  shard_metrics m;
  int asked = 0;
  m.answered("shard-1", "a@e1", 0.001, [&] { return name_of("a", 1, &asked); });
  m.answered("shard-1", "a@e2", 0.002, [&] { return name_of("a", 2, &asked); });
  CHECK(m.answers("shard-1", "a@e1") == 2);  // one series: both keys observe it
  m.retain({2});
  CHECK(m.answers("shard-1", "a@e2") == 2);  // still there, still counting
  m.answered("shard-1", "a@e2", 0.002, [&] { return name_of("a", 2, &asked); });
  CHECK(m.answers("shard-1", "a@e2") == 3);
  m.retain({});
  CHECK(!has(prom_text(m.collect()), "shard=\"a\""));
}

TEST_CASE("two serving actors' sub-request metrics merge into what one would have counted") {
  shard_metrics one, a, b;
  int asked = 0;
  auto n = [&] { return name_of("e@1/t[0:10)", 2, &asked); };
  for (auto* m : {&one, &a}) {
    m->answered("shard-1", "t[0:10)@e2", 0.001, n);
    m->retried("shard-1");
  }
  for (auto* m : {&one, &b}) {
    m->answered("shard-1", "t[0:10)@e2", 0.004, n);
    m->answered("shard-2", "t[0:10)@e2", 0.002, n);
    m->timed_out("shard-2");
  }
  auto merged = a.collect();
  prom_merge(merged, b.collect());
  const auto t = prom_text(merged);
  const std::string s1 = "{member=\"shard-1\",shard=\"e@1/t[0:10)\"";
  CHECK(has(t, "tessera_shard_request_duration_seconds_count" + s1 + "} 2\n"));
  CHECK(has(t, "tessera_shard_request_duration_seconds_bucket" + s1 + ",le=\"0.001\"} 1\n"));
  CHECK(has(t, "tessera_shard_request_duration_seconds_bucket" + s1 + ",le=\"0.005\"} 2\n"));
  CHECK(has(t,
            "tessera_shard_request_duration_seconds_count{member=\"shard-2\","
            "shard=\"e@1/t[0:10)\"} 1\n"));
  CHECK(has(t, "tessera_shard_retries_total{member=\"shard-1\"} 1\n"));
  CHECK(has(t, "tessera_shard_timeouts_total{member=\"shard-2\"} 1\n"));
  // The same as one serving actor that counted everything.
  const auto whole = prom_text(one.collect());
  for (const auto* line : {"tessera_shard_retries_total{member=\"shard-1\"} 1\n",
                           "tessera_shard_timeouts_total{member=\"shard-2\"} 1\n"})
    CHECK(has(whole, line));
  CHECK(has(whole, "tessera_shard_request_duration_seconds_count" + s1 + "} 2\n"));
  CHECK(one.answers("shard-1", "t[0:10)@e2") == 2);
}
