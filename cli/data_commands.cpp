// predict and embed: read lines, send them in batches (a few calls in flight), print results
// in input order, one output line per input line. A line the server refuses gets an empty
// output line and an error on stderr naming its line number; the other lines are still
// answered, and the exit code is 1 at the end. Lines are sent as text, or with --input ids as
// bags of ids per table (cli/id_lines.hpp), all parsed before the first call.
#include <algorithm>
#include <cstdio>
#include <deque>
#include <string>
#include <vector>

#include <capnp/compat/std-iterator.h>

#include "base/errors.hpp"
#include "cli/commands.hpp"
#include "cli/id_lines.hpp"
#include "cli/line_retry.hpp"
#include "cli/lines.hpp"
#include "cli/model_ref.hpp"
#include "cluster/predict_options.hpp"

namespace tessera::cli {
namespace {

constexpr size_t k_calls_in_flight = 4;

void write_line(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
}

// A run's inputs, read and checked before any call, and the batches they go in.
struct run_inputs {
  input_mode mode = input_mode::text;
  std::vector<std::string> lines;    // text mode: the lines as split_lines gives them
  std::vector<tables_input> tables;  // ids mode: each line's bags
  std::vector<batch_range> batches;
  size_t count() const { return mode == input_mode::ids ? tables.size() : lines.size(); }
};

// Reads opts.input and plans its batches: at most opts.batch inputs (clamped to
// [1, k_max_batch_inputs]) and k_max_batch_bytes of text, or in ids mode of encoded bags. In
// ids mode every line is parsed first, so that a malformed one (the first) throws command_error
// (exit 2, invalid_argument, naming its line and token) before anything is sent.
run_inputs read_inputs(const predict_options& opts) {
  run_inputs in;
  in.mode = opts.mode;
  std::vector<std::string> lines = split_lines(read_all(opts.input));
  size_t n = std::clamp<size_t>(opts.batch, 1, k_max_batch_inputs);
  if (opts.mode == input_mode::text) {
    in.batches = plan_batches(lines, n, k_max_batch_bytes);
    in.lines = std::move(lines);
    return in;
  }
  std::vector<size_t> sizes(lines.size());
  in.tables.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    auto bags = parse_ids_line(lines[i], i + 1);
    if (!bags) throw command_error(describe(bags.error()), 2);
    sizes[i] = wire_bytes(*bags);
    in.tables.push_back(std::move(*bags));
  }
  in.batches = plan_sized_batches(sizes, n, k_max_batch_bytes);
  return in;
}

// Writes the inputs of batch `b` into a request's `inputs` (b.count of them).
void set_inputs(capnp::List<::Input>::Builder inputs, const run_inputs& in, batch_range b) {
  for (size_t i = 0; i < b.count; ++i) {
    auto input = inputs[static_cast<uint>(i)];
    if (in.mode == input_mode::ids) {
      set_tables(input, in.tables[b.begin + i]);
    } else {
      const std::string& s = in.lines[b.begin + i];
      input.setText(kj::StringPtr(s.data(), s.size()));
    }
  }
}

void check_count(size_t got, size_t want) {
  if (got != want)
    throw command_error("tessera.internal: the server answered " + std::to_string(got) +
                        " results for " + std::to_string(want) + " inputs");
}

// Prints the outcomes of the lines from `first` on, in order: an output line on stdout for
// each, empty for a failed line (so that output line N still answers input line N), whose
// error goes to stderr as "tessera: line N: tessera.<code>: ...". Returns the failed count.
size_t print_outcomes(const std::vector<line_outcome>& outcomes, size_t first) {
  size_t failed = 0;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    write_line(outcomes[i].output);
    if (!outcomes[i].error) continue;
    ++failed;
    std::fflush(stdout);
    std::fprintf(stderr, "tessera: %s\n", line_error(first + i, *outcomes[i].error).c_str());
  }
  return failed;
}

// Runs `send(batch)` for every batch with up to k_calls_in_flight calls outstanding, turns
// each response, in order, into its output lines with `format(response, batch)`, and prints
// them. A call refused because of one of its inputs is resolved line by line (see
// line_retry.hpp) before later batches print. Returns the number of lines that failed; a
// failure that blames no input throws command_error.
template <typename Results, typename Send, typename Format>
size_t run_batches(connection& conn, const std::vector<batch_range>& batches, Send send,
                   Format format) {
  using response_t = capnp::Response<Results>;
  auto call = [&](batch_range b) -> call_outcome {
    try {
      response_t resp = conn.wait(send(b));
      return {format(resp, b), std::nullopt};
    } catch (const command_error& e) {
      return {{}, std::string(e.what())};
    }
  };
  std::deque<std::pair<kj::Promise<response_t>, batch_range>> inflight;
  size_t next = 0, failed = 0;
  while (next < batches.size() || !inflight.empty()) {
    while (next < batches.size() && inflight.size() < k_calls_in_flight) {
      inflight.emplace_back(send(batches[next]), batches[next]);
      ++next;
    }
    auto promise = kj::mv(inflight.front().first);
    batch_range b = inflight.front().second;
    inflight.pop_front();
    std::vector<line_outcome> outcomes;
    try {
      response_t resp = conn.wait(kj::mv(promise));
      for (auto& line : format(resp, b)) outcomes.push_back({std::move(line), std::nullopt});
    } catch (const command_error& e) {
      if (!blamed_input(e.what())) throw;
      outcomes = isolate_bad_lines(b, e.what(), call);
    }
    failed += print_outcomes(outcomes, b.begin);
  }
  return failed;
}

// The exit code once every line was printed: 1 (after a summary on stderr) if any failed.
int finish(size_t failed, size_t lines) {
  std::fflush(stdout);
  if (failed == 0) return 0;
  std::fprintf(stderr, "tessera: %zu of %zu input lines failed\n", failed, lines);
  return 1;
}

}  // namespace

void check_flags(int32_t k, float threshold) {
  if (auto err = check_predict_options(k, threshold))
    throw command_error("tessera.invalid_argument: --" + message_of(err), 2);
}

int run_predict(const predict_options& opts) {
  check_flags(opts.k, opts.threshold);
  model_ref ref = parse_model_ref(opts.model);
  run_inputs in = read_inputs(opts);
  if (in.batches.empty()) return 0;
  connection conn(opts.client);
  auto send = [&](batch_range b) {
    auto req = conn.session().predictRequest();
    fill(req.initModel(), ref);
    set_inputs(req.initInputs(static_cast<uint>(b.count)), in, b);
    req.setTopK(opts.k);
    req.setThreshold(opts.threshold);
    return req.send();
  };
  auto format = [&](capnp::Response<::Session::PredictResults>& resp, batch_range b) {
    auto results = resp.getResults();
    check_count(results.size(), b.count);
    uint64_t version = resp.getServedBy().getVersion();
    uint64_t epoch = resp.getServedBy().getEpoch();
    std::vector<std::string> out;
    std::vector<label_prob> labels;
    for (auto p : results) {
      labels.clear();
      for (auto l : p.getLabels())
        labels.push_back({l.getLabel().cStr(), l.getProb(), l.getIndex()});
      out.push_back(format_prediction(labels, opts.format, version, epoch));
    }
    return out;
  };
  return finish(run_batches<::Session::PredictResults>(conn, in.batches, send, format), in.count());
}

int run_embed(const predict_options& opts) {
  if (opts.format == output_format::fasttext)
    throw command_error("tessera.invalid_argument: embed --format is text or json", 2);
  model_ref ref = parse_model_ref(opts.model);
  run_inputs in = read_inputs(opts);
  if (in.batches.empty()) return 0;
  connection conn(opts.client);
  auto send = [&](batch_range b) {
    auto req = conn.session().embedRequest();
    fill(req.initModel(), ref);
    set_inputs(req.initInputs(static_cast<uint>(b.count)), in, b);
    return req.send();
  };
  auto format = [&](capnp::Response<::Session::EmbedResults>& resp, batch_range b) {
    auto vectors = resp.getVectors();
    check_count(vectors.size(), b.count);
    std::vector<std::string> out;
    std::vector<float> values;
    for (auto v : vectors) {
      values.assign(v.begin(), v.end());
      out.push_back(format_vector(values, opts.format));
    }
    return out;
  };
  return finish(run_batches<::Session::EmbedResults>(conn, in.batches, send, format), in.count());
}

}  // namespace tessera::cli
