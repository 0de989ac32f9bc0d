#pragma once
// `tessera bench`: a bounded load generator. --connections N (default 1) opens N connections,
// each on its own thread and kj event loop, and spreads the C workers over them (the gateway
// gives each connection one of the coordinator's serving actors); the report merges them.
//
// C workers each keep one predict call in flight; a call carries B consecutive input lines
// (cycling through the file). The run has an optional warmup (calls started during it are not
// counted), then lasts --duration seconds (default 10; with --requests N and no --duration it
// lasts until N measured calls have been started) or until N calls were started, whichever
// comes first; calls in flight at the end are awaited. Each call is bounded by --timeout.
// Latency is per call, steady_clock, of successful calls only. Errors never stop the run;
// they are counted by the "tessera.<code>" prefix of their description.
//
// Lines are split as for predict (cli/lines.hpp) and sent as text, or with --input ids as bags
// of ids per table (Input.tables; cli/id_lines.hpp). In ids mode every line is parsed once,
// before connecting: the first malformed one is a usage error (command_error, exit 2,
// "tessera.invalid_argument: line N: token 'T': ...") and nothing is sent. The timed calls
// only copy the parsed bags into their requests.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/client.hpp"
#include "cli/lines.hpp"

namespace tessera::cli {

struct bench_options {
  client_options client;
  std::string model;  // NAME[@VERSION|@LABEL]
  uint32_t concurrency = 8;
  uint32_t connections = 1;  // at most `concurrency`
  double duration_s = 0;     // <= 0: 10 s, or unbounded when requests > 0
  uint32_t batch = 1;
  int32_t k = 1;
  uint64_t requests = 0;  // 0 = no request bound
  double warmup_s = 0;
  bool json = false;
  std::string input;                   // file of lines
  input_mode mode = input_mode::text;  // --input: each line as text, or as ids per table
};

struct bench_report {
  uint64_t ok = 0;
  uint64_t inputs = 0;  // inputs of successful calls
  std::map<std::string, uint64_t> errors;
  double elapsed_s = 0;                // measured wall time
  std::vector<uint64_t> latencies_us;  // successful calls
};

struct latency_summary {
  uint64_t p50 = 0, p99 = 0, p999 = 0, max = 0;
  double mean = 0;
};

// Nearest-rank percentiles of `latencies_us` (sorted in place); zeros when it is empty.
latency_summary summarize(std::vector<uint64_t>& latencies_us);

// The report as text (several lines) or one JSON object.
std::string render_bench_text(const bench_options& o, bench_report& r);
nlohmann::json bench_json(const bench_options& o, bench_report& r);

int run_bench(const bench_options& opts);

}  // namespace tessera::cli
