// metrics_bench: what counting for /metrics costs a serving actor per update, on prometheus-cpp
// (issue 18): nanoseconds per request_metrics::answered (an ok call: two counters and the
// latency histogram), per request_metrics::batched (two histograms), per shard_metrics::answered
// (one histogram) and, as the scrape's side, per collect + merge + text of two serving actors'
// families. Series exist before timing (a call on a known model and version looks its series up;
// it adds none). Each figure is the best of --reps passes of --n updates on one thread.
//
// Usage: metrics_bench [--n N] [--reps N]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cluster/request_metrics.hpp"
#include "cluster/shard_metrics.hpp"

namespace {

using steady = std::chrono::steady_clock;

// The best of `reps` passes of fn(i) for i in [0, n), in ns per call.
template <class Fn>
double best_ns(uint64_t n, int reps, Fn&& fn) {
  double best = 1e300;
  for (int r = 0; r < reps; ++r) {
    auto t0 = steady::now();
    for (uint64_t i = 0; i < n; ++i) fn(i);
    const double ns = std::chrono::duration<double, std::nano>(steady::now() - t0).count();
    best = std::min(best, ns / static_cast<double>(n));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t n = 2'000'000;
  int reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--n") == 0) n = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--reps") == 0) reps = std::atoi(argv[i + 1]);
  }
  using namespace tessera;
  const model_key m{tenant_id{}, "served"};
  request_metrics requests;
  shard_metrics shards;
  // Three shards of a table and two of a layer, as a call on a small split model asks.
  const std::vector<std::string> keys = {"t[0:1)@e1", "t[1:2)@e1", "t[2:3)@e1", "l[0:1)@e2",
                                         "l[1:2)@e2"};
  for (const auto& k : keys)
    shards.answered("shard-1", k, 0.001, [&] { return shard_metrics::series_name{k, 1}; });
  requests.answered(m, 1, "predict", "ok", 1, 0.001);
  requests.batched(m, 1, 1);

  const double answered = best_ns(n, reps, [&](uint64_t i) {
    requests.answered(m, 1, "predict", "ok", 1, 0.0005 + static_cast<double>(i % 100) * 1e-5);
  });
  const double batched =
      best_ns(n, reps, [&](uint64_t i) { requests.batched(m, 1 + i % 8, 1 + i % 64); });
  const double shard = best_ns(n, reps, [&](uint64_t i) {
    shards.answered("shard-1", keys[i % keys.size()], 0.001, [&] {
      return shard_metrics::series_name{"never", 1};
    });
  });
  const uint64_t scrapes = std::max<uint64_t>(1, n / 1000);
  size_t bytes = 0;
  const double scrape = best_ns(scrapes, reps, [&](uint64_t) {
    auto fams = requests.collect();
    prom_merge(fams, shards.collect());
    auto other = requests.collect();
    prom_merge(other, shards.collect());
    prom_merge(fams, other);
    bytes = prom_text(fams).size();
  });
  std::printf("metrics_bench: best of %d passes, one thread (prometheus-cpp core)\n", reps);
  std::printf("  request_metrics::answered (ok: 2 counters + histogram)  %8.1f ns\n", answered);
  std::printf("  request_metrics::batched (2 histograms)                  %8.1f ns\n", batched);
  std::printf("  shard_metrics::answered (1 histogram, 5 series)          %8.1f ns\n", shard);
  std::printf("  scrape: collect + merge 2 serving actors + text          %8.1f ns (%zu bytes)\n",
              scrape, bytes);
  return 0;
}
