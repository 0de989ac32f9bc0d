// predict and embed: read lines, send them in batches (a few calls in flight), print results
// in input order, one output line per input line.
#include <algorithm>
#include <cstdio>
#include <deque>
#include <string>
#include <vector>

#include <capnp/compat/std-iterator.h>

#include "cli/commands.hpp"
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

void set_texts(capnp::List<::Input>::Builder inputs, const std::vector<std::string>& lines,
               batch_range b) {
  for (size_t i = 0; i < b.count; ++i) {
    const std::string& s = lines[b.begin + i];
    inputs[static_cast<uint>(i)].setText(kj::StringPtr(s.data(), s.size()));
  }
}

void check_count(size_t got, size_t want) {
  if (got != want)
    throw command_error("tessera.internal: the server answered " + std::to_string(got) +
                        " results for " + std::to_string(want) + " inputs");
}

// Runs `send(batch)` for every batch with up to k_calls_in_flight calls outstanding and hands
// each response, in order, to `print(response, batch)`.
template <typename Results, typename Send, typename Print>
void run_batches(connection& conn, const std::vector<batch_range>& batches, Send send,
                 Print print) {
  using promise_t = kj::Promise<capnp::Response<Results>>;
  std::deque<std::pair<promise_t, batch_range>> inflight;
  size_t next = 0;
  while (next < batches.size() || !inflight.empty()) {
    while (next < batches.size() && inflight.size() < k_calls_in_flight) {
      inflight.emplace_back(send(batches[next]), batches[next]);
      ++next;
    }
    auto resp = conn.wait(kj::mv(inflight.front().first));
    batch_range b = inflight.front().second;
    inflight.pop_front();
    print(resp, b);
  }
}

std::vector<batch_range> batches_of(const std::vector<std::string>& lines, uint32_t batch) {
  size_t n = std::clamp<size_t>(batch, 1, k_max_batch_inputs);
  return plan_batches(lines, n, k_max_batch_bytes);
}

}  // namespace

void check_flags(int32_t k, float threshold) {
  if (auto err = check_predict_options(k, threshold))
    throw command_error("tessera.invalid_argument: --" + message_of(err), 2);
}

int run_predict(const predict_options& opts) {
  check_flags(opts.k, opts.threshold);
  model_ref ref = parse_model_ref(opts.model);
  std::vector<std::string> lines = split_lines(read_all(opts.input));
  auto batches = batches_of(lines, opts.batch);
  if (batches.empty()) return 0;
  connection conn(opts.client);
  auto send = [&](batch_range b) {
    auto req = conn.session().predictRequest();
    fill(req.initModel(), ref);
    set_texts(req.initInputs(static_cast<uint>(b.count)), lines, b);
    req.setTopK(opts.k);
    req.setThreshold(opts.threshold);
    return req.send();
  };
  auto print = [&](capnp::Response<::Session::PredictResults>& resp, batch_range b) {
    auto results = resp.getResults();
    check_count(results.size(), b.count);
    uint64_t version = resp.getServedBy().getVersion();
    uint64_t epoch = resp.getServedBy().getEpoch();
    std::vector<label_prob> labels;
    for (auto p : results) {
      labels.clear();
      for (auto l : p.getLabels())
        labels.push_back({l.getLabel().cStr(), l.getProb(), l.getIndex()});
      write_line(format_prediction(labels, opts.format, version, epoch));
    }
  };
  run_batches<::Session::PredictResults>(conn, batches, send, print);
  std::fflush(stdout);
  return 0;
}

int run_embed(const predict_options& opts) {
  if (opts.format == output_format::fasttext)
    throw command_error("tessera.invalid_argument: embed --format is text or json", 2);
  model_ref ref = parse_model_ref(opts.model);
  std::vector<std::string> lines = split_lines(read_all(opts.input));
  auto batches = batches_of(lines, opts.batch);
  if (batches.empty()) return 0;
  connection conn(opts.client);
  auto send = [&](batch_range b) {
    auto req = conn.session().embedRequest();
    fill(req.initModel(), ref);
    set_texts(req.initInputs(static_cast<uint>(b.count)), lines, b);
    return req.send();
  };
  auto print = [&](capnp::Response<::Session::EmbedResults>& resp, batch_range b) {
    auto vectors = resp.getVectors();
    check_count(vectors.size(), b.count);
    std::vector<float> values;
    for (auto v : vectors) {
      values.assign(v.begin(), v.end());
      write_line(format_vector(values, opts.format));
    }
  };
  run_batches<::Session::EmbedResults>(conn, batches, send, print);
  std::fflush(stdout);
  return 0;
}

}  // namespace tessera::cli
