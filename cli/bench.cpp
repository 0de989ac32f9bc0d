#include "cli/bench.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>

#include "base/errors.hpp"
#include "cli/commands.hpp"
#include "cli/id_lines.hpp"
#include "cli/lines.hpp"
#include "cli/model_ref.hpp"

namespace tessera::cli {
namespace {

using steady = std::chrono::steady_clock;

// A run's inputs, read (and in ids mode parsed) before connecting; shared read-only by every
// connection's thread.
struct bench_inputs {
  input_mode mode = input_mode::text;
  std::vector<std::string> lines;    // text mode: the lines as split_lines gives them
  std::vector<tables_input> tables;  // ids mode: each line's bags
  size_t size() const { return mode == input_mode::ids ? tables.size() : lines.size(); }
  // Writes input `i` (< size()) into `input`: its text, or its bags as Input.tables.
  void set(::Input::Builder input, size_t i) const {
    if (mode == input_mode::ids) {
      set_tables(input, tables[i]);
    } else {
      input.setText(kj::StringPtr(lines[i].data(), lines[i].size()));
    }
  }
};

// Reads opts.input by the contract of cli/lines.hpp. Throws command_error (exit 1) for an
// empty file, and in ids mode (exit 2, naming the line and token) for the first line
// parse_ids_line refuses.
bench_inputs read_bench_inputs(const bench_options& opts) {
  bench_inputs in;
  in.mode = opts.mode;
  in.lines = split_lines(read_all(opts.input));
  if (in.lines.empty())
    throw command_error("tessera.invalid_argument: " + opts.input + " is empty");
  if (opts.mode == input_mode::text) return in;
  in.tables.reserve(in.lines.size());
  for (size_t i = 0; i < in.lines.size(); ++i) {
    auto bags = parse_ids_line(in.lines[i], i + 1);
    if (!bags) throw command_error(describe(bags.error()), 2);
    in.tables.push_back(std::move(*bags));
  }
  in.lines.clear();
  return in;
}

struct bench_run {
  connection& conn;
  const bench_options& opts;
  uint64_t requests = 0;  // this connection's share of opts.requests (0 = no bound)
  model_ref ref;
  const bench_inputs& in;
  size_t next_line = 0;
  steady::time_point measure_start{};
  steady::time_point end{};  // time_point::max() when only the request count bounds the run
  steady::time_point last_done{};
  uint64_t started_measured = 0;
  bench_report report{};

  bool should_stop(steady::time_point now) const {
    return now >= end || (requests > 0 && started_measured >= requests);
  }

  capnp::Request<::Session::PredictParams, ::Session::PredictResults> build() {
    auto req = conn.session().predictRequest();
    fill(req.initModel(), ref);
    auto inputs = req.initInputs(opts.batch);
    for (uint32_t i = 0; i < opts.batch; ++i) {
      in.set(inputs[i], next_line);
      next_line = (next_line + 1) % in.size();
    }
    req.setTopK(opts.k);
    return req;
  }

  void record(steady::time_point t0, bool measured, const std::string* error) {
    if (!measured) return;
    auto now = steady::now();
    last_done = std::max(last_done, now);
    if (error != nullptr) {
      report.errors[error_code_of(*error)]++;
      return;
    }
    report.ok++;
    report.inputs += opts.batch;
    report.latencies_us.push_back(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(now - t0).count()));
  }
};

kj::Promise<void> worker(bench_run& run) {
  auto t0 = steady::now();
  if (run.should_stop(t0)) return kj::READY_NOW;
  bool measured = t0 >= run.measure_start;
  if (measured) run.started_measured++;
  auto call = run.conn.timer().timeoutAfter(seconds_to_duration(run.opts.client.timeout_s),
                                            run.build().send());
  return call
      .then(
          [&run, t0, measured](capnp::Response<::Session::PredictResults>&&) {
            run.record(t0, measured, nullptr);
          },
          [&run, t0, measured](kj::Exception&& e) {
            std::string d =
                describe_rpc_failure(e, run.opts.client.address, run.opts.client.timeout_s);
            run.record(t0, measured, &d);
          })
      .then([&run]() { return worker(run); });
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

latency_summary summarize(std::vector<uint64_t>& lat) {
  latency_summary s;
  if (lat.empty()) return s;
  std::sort(lat.begin(), lat.end());
  auto rank = [&](double p) {
    size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(lat.size())));
    return lat[std::min(lat.size() - 1, i == 0 ? 0 : i - 1)];
  };
  s.p50 = rank(0.50);
  s.p99 = rank(0.99);
  s.p999 = rank(0.999);
  s.max = lat.back();
  double sum = 0;
  for (auto v : lat) sum += static_cast<double>(v);
  s.mean = sum / static_cast<double>(lat.size());
  return s;
}

nlohmann::json bench_json(const bench_options& o, bench_report& r) {
  auto s = summarize(r.latencies_us);
  uint64_t errors = 0;
  for (const auto& [code, n] : r.errors) errors += n;
  double secs = r.elapsed_s > 0 ? r.elapsed_s : 1e-9;
  return {{"model", o.model},
          {"concurrency", o.concurrency},
          {"connections", std::min(o.connections, o.concurrency)},
          {"batch", o.batch},
          {"k", o.k},
          {"elapsed_s", r.elapsed_s},
          {"requests", r.ok + errors},
          {"ok", r.ok},
          {"error_count", errors},
          {"errors", r.errors},
          {"requests_per_s", static_cast<double>(r.ok) / secs},
          {"inputs_per_s", static_cast<double>(r.inputs) / secs},
          {"latency_us",
           {{"p50", s.p50}, {"p99", s.p99}, {"p999", s.p999}, {"max", s.max}, {"mean", s.mean}}}};
}

std::string render_bench_text(const bench_options& o, bench_report& r) {
  auto j = bench_json(o, r);
  auto s = summarize(r.latencies_us);
  std::ostringstream os;
  os << "bench: model " << o.model << ", concurrency " << o.concurrency << ", batch " << o.batch
     << ", k " << o.k << ", " << fmt("%.2f", r.elapsed_s) << " s measured\n";
  os << "requests: " << j["requests"].get<uint64_t>() << " (" << r.ok << " ok, "
     << j["error_count"].get<uint64_t>() << " errors)  "
     << fmt("%.1f", j["requests_per_s"].get<double>()) << " req/s  "
     << fmt("%.1f", j["inputs_per_s"].get<double>()) << " inputs/s\n";
  os << "latency (us): p50 " << s.p50 << "  p99 " << s.p99 << "  p999 " << s.p999 << "  max "
     << s.max << "  mean " << fmt("%.1f", s.mean) << "\n";
  if (!r.errors.empty()) {
    os << "errors:";
    for (const auto& [code, n] : r.errors) os << " " << code << "=" << n;
    os << "\n";
  }
  return os.str();
}

int run_bench(const bench_options& opts) {
  if (opts.concurrency == 0 || opts.batch == 0 || opts.connections == 0)
    throw command_error(
        "tessera.invalid_argument: --concurrency, --batch and --connections must not be 0", 2);
  check_flags(opts.k, 0);
  model_ref ref = parse_model_ref(opts.model);
  const bench_inputs in = read_bench_inputs(opts);
  const uint32_t conns = std::min(opts.connections, opts.concurrency);
  auto start = steady::now();
  const auto measure_start = start + std::chrono::duration_cast<steady::duration>(
                                         std::chrono::duration<double>(opts.warmup_s));
  double duration = opts.duration_s > 0 ? opts.duration_s : (opts.requests > 0 ? 0 : 10);
  const auto end = duration > 0 ? measure_start + std::chrono::duration_cast<steady::duration>(
                                                      std::chrono::duration<double>(duration))
                                : steady::time_point::max();
  // One connection per thread, each with its share of the workers, the requests and the lines.
  std::vector<bench_report> reports(conns);
  std::vector<steady::time_point> last_done(conns, measure_start);
  std::vector<std::exception_ptr> failed(conns);
  auto one = [&](uint32_t c) {
    try {
      connection conn(opts.client);
      bench_run run{conn, opts, 0, ref, in};
      const auto share = [&](uint64_t n) { return n / conns + (c < n % conns ? 1 : 0); };
      run.requests = opts.requests > 0 ? std::max<uint64_t>(1, share(opts.requests)) : 0;
      run.next_line = in.size() * c / conns;
      run.measure_start = measure_start;
      run.end = end;
      const auto workers_here = static_cast<uint32_t>(share(opts.concurrency));
      auto workers = kj::heapArrayBuilder<kj::Promise<void>>(workers_here);
      for (uint32_t i = 0; i < workers_here; ++i) workers.add(worker(run));
      // Every call is bounded by --timeout, so the run ends; this wait cannot time out first.
      conn.wait(kj::joinPromises(workers.finish()), 365.0 * 86400);
      reports[c] = std::move(run.report);
      last_done[c] = std::max(run.last_done, measure_start);
    } catch (...) {
      failed[c] = std::current_exception();
    }
  };
  if (conns == 1) {
    one(0);
  } else {
    std::vector<std::thread> threads;
    for (uint32_t c = 0; c < conns; ++c) threads.emplace_back(one, c);
    for (auto& t : threads) t.join();
  }
  for (auto& f : failed)
    if (f) std::rethrow_exception(f);
  bench_report report;
  for (auto& r : reports) {
    report.ok += r.ok;
    report.inputs += r.inputs;
    for (const auto& [code, n] : r.errors) report.errors[code] += n;
    report.latencies_us.insert(report.latencies_us.end(), r.latencies_us.begin(),
                               r.latencies_us.end());
  }
  report.elapsed_s = std::chrono::duration<double>(
                         *std::max_element(last_done.begin(), last_done.end()) - measure_start)
                         .count();
  if (opts.json)
    std::cout << bench_json(opts, report).dump() << std::endl;
  else
    std::cout << render_bench_text(opts, report) << std::flush;
  return 0;
}

}  // namespace tessera::cli
