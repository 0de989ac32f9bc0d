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
  prom_writer w;
  m.write(w);
  CHECK(
      has(w.text(),
          "tessera_shard_request_duration_seconds_count{member=\"shard-1\",shard=\"e@1/t[0:10)\"} "
          "2\n"));
  CHECK(has(w.text(),
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
  prom_writer w;
  m.write(w);
  CHECK(has(w.text(), "tessera_shard_retries_total{member=\"shard-1\"} 2\n"));
  CHECK(has(w.text(), "tessera_shard_timeouts_total{member=\"shard-2\"} 1\n"));
  CHECK(has(w.text(), "# TYPE tessera_shard_request_duration_seconds histogram"));
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
  prom_writer w;
  m.write(w);
  CHECK(!has(w.text(), "member=\"shard-2\""));
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
  shard_metrics merged;
  merged.merge(a);
  merged.merge(b);
  CHECK(merged.answers("shard-1", "t[0:10)@e2") == 2);
  CHECK(merged.answers("shard-2", "t[0:10)@e2") == 1);
  CHECK(merged.retries("shard-1") == 1);
  CHECK(merged.timeouts("shard-2") == 1);
  prom_writer w1, w2;
  one.write(w1);
  merged.write(w2);
  CHECK(w1.text() == w2.text());
}
