#pragma once
// Helpers for lifecycle integration tests: admin calls, status snapshots, and a request
// generator that checks every answer against the reference of the version that served it.
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <kj/vector.h>

#include "tests/support/model_fixture.hpp"

namespace tessera::test {

// Loads a package through Admin.load (with `exact_pooling`: LoadOptions.exactPooling); returns
// the new version.
uint64_t load_model(client& cl, const std::string& path, const std::string& name,
                    uint32_t replicas = 1, bool activate = false, bool exact_pooling = false);

struct member_snapshot {
  bool up = false;
  uint64_t used = 0;  // bytes of replicas
  uint64_t rss = 0;
  uint64_t budget = 0;
  uint32_t replicas = 0;
  uint64_t overhead = 0;  // RSS beyond replica rows, inside the budget too
  bool draining = false;  // Admin.drain
};

struct shard_snapshot {
  std::string tensor;
  uint64_t begin = 0, end = 0;
  std::vector<std::pair<std::string, std::string>> replicas;  // (node, state)
};

struct status_snapshot {
  bool ready = false;
  std::map<std::string, member_snapshot> members;
  std::map<std::string, uint64_t> active;       // model -> active version
  std::map<std::string, std::string> embedder;  // "model@version" -> embedder description
  std::map<std::string, std::string> state;     // "model@version" -> version state
  std::map<std::string, std::vector<shard_snapshot>> shards;  // "model@version" -> shards
  uint64_t hedges_sent = 0;
  uint64_t hedges_won = 0;
  std::vector<std::string> under_replicated;  // "model vN tensor[b:e) has K of R replicas"
  std::map<std::string, uint64_t> labels;     // "model@label" -> version
  std::string persist_error;                  // Status.persistError
  uint64_t persist_failures = 0;
};

status_snapshot take_status(client& cl);

// Waits (up to 90 s) until a coordinator process other than `old_pid` (one `tessera up`
// restarted) answers status with the cluster ready; returns a client connected to it with
// `token`. FAILs when none does.
std::unique_ptr<client> reconnect_coordinator(local_cluster& c, pid_t old_pid,
                                              const std::string& token);

// Polls Admin.status at `gateway` (a fresh connection each time, until the gateway answers)
// until it reports ready (every member up, every active model fully served), for at most
// `limit`. Returns whether it did. For clusters started otherwise than by local_cluster.
bool wait_cluster_ready(const std::string& gateway, const std::string& token,
                        std::chrono::milliseconds limit, const cli::tls_client_options& tls = {});

// Runs this thread's event loop (every client's calls progress meanwhile) until `cond()`
// holds, checking every 10 ms, for at most `limit`. Returns whether it held.
bool wait_until(client& cl, std::chrono::milliseconds limit, const std::function<bool()>& cond);

// Takes status every 100 ms until `pred` holds on a snapshot, for at most `limit`. Returns
// whether it held; `last` (if given) gets the last snapshot taken.
bool wait_for_status(client& cl, std::chrono::milliseconds limit,
                     const std::function<bool(const status_snapshot&)>& pred,
                     status_snapshot* last = nullptr);

// The distinct row ranges [begin, end) of `tensor` (e.g. "embedder.input",
// "classifier.output") in the active version of `model`, from Admin.status; empty when the
// model or tensor is unknown. A tensor is split when it has two or more.
std::vector<std::pair<uint64_t, uint64_t>> tensor_row_ranges(client& cl, const std::string& model,
                                                             const std::string& tensor);

// Keeps `concurrency` single-input predicts in flight on model `name` (NAME, NAME@VERSION or
// NAME@LABEL) until stop() resolves
// its promise; checks each answer against refs[served version]. Counts outcomes.
struct traffic {
  size_t ok = 0;
  size_t failed = 0;
  size_t answered() const { return ok + failed; }
  std::map<uint64_t, size_t> by_version;
  std::vector<std::string> errors;        // descriptions of failures (first few)
  std::map<std::string, size_t> by_code;  // failures by tessera code ("overloaded", ...)
  std::vector<double> ok_ms;              // latency of each ok answer, send to answer, in ms
  // The first failure's description, "" when none failed (for INFO).
  std::string first_error() const { return errors.empty() ? std::string{} : errors.front(); }
};

// The q-quantile (0..1) of `ms` (sorted copy); 0 when empty.
double quantile(std::vector<double> ms, double q);

kj::Promise<void> run_traffic(client& cl, const std::string& name,
                              const std::vector<std::string>& texts,
                              const std::map<uint64_t, const reference_model*>& refs,
                              size_t concurrency, const bool& stop, traffic& out);

// Runs the event loop until `t` has `total` answers (ok or failed), for at most `limit`.
// Returns whether it got them (traffic runs on `cl`'s thread, so waiting must turn the loop).
bool wait_for_answers(client& cl, const traffic& t, size_t total,
                      std::chrono::milliseconds limit = std::chrono::seconds(60));

// Exactly `requests` predicts (`concurrency` in flight at a time), checked like run_traffic.
traffic traffic_n(client& cl, const std::string& name, const std::vector<std::string>& texts,
                  const std::map<uint64_t, const reference_model*>& refs, size_t concurrency,
                  size_t requests);

// run_traffic for `duration`, then stops it and waits for the streams to end.
traffic traffic_for(client& cl, const std::string& name, const std::vector<std::string>& texts,
                    const std::map<uint64_t, const reference_model*>& refs, size_t concurrency,
                    std::chrono::milliseconds duration);

}  // namespace tessera::test
