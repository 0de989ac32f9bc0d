#pragma once
// The client subcommands of `tessera`. Each returns the process exit code (0 success) and
// throws command_error for failures, which main prints as "tessera: <description>".
// tessera_main.cpp only parses flags into these structs.
#include <cstdint>
#include <string>

#include "cli/client.hpp"
#include "cli/format.hpp"
#include "cli/lines.hpp"

namespace tessera::cli {

struct status_options {
  client_options client;
  double wait_ready_s = -1;  // < 0: no waiting; else retry until ready or this many seconds
  bool json = false;
  // > 0: print the status every watch_s seconds until interrupted (or `watch_count` prints,
  // when > 0), on one connection (reconnecting after a failure, which is printed instead). On a
  // terminal each print replaces the last (clear screen); otherwise prints follow each other.
  double watch_s = 0;
  uint64_t watch_count = 0;
};
// Prints the cluster status. With wait_ready_s >= 0 it retries (connection refused counts as
// "not ready yet") every 500 ms; exit 1 with a message on stderr when the time runs out.
int run_status(const status_options& opts);

struct load_options {
  client_options client;
  std::string path;  // made absolute (realpath) before sending
  std::string name;
  uint32_t replicas = 0;
  bool activate = false;
  bool progress = false;       // force progress on stderr even when it is not a tty
  bool exact_pooling = false;  // sum gathered rows in id order (fastText parity when sharded)
  std::string embedder;        // --embedder NAME[@VERSION]: compose on that version's embedder
};
// Prints the new version number alone on stdout.
int run_load(const load_options& opts);

int run_unload(const client_options& c, const std::string& name, uint64_t version);
int run_activate(const client_options& c, const std::string& name, uint64_t version);
// Prints the version now active.
int run_rollback(const client_options& c, const std::string& name);
int run_label(const client_options& c, const std::string& name, const std::string& label,
              uint64_t version);
int run_models(const client_options& c, bool json);
// Admin.drain (or, with drain false, Admin.undrain) of shard node `node`; prints what follows.
int run_drain(const client_options& c, const std::string& node, bool drain);

struct predict_options {
  client_options client;
  std::string model;    // NAME[@VERSION|@LABEL]
  int32_t k = 1;        // labels per input: >= 1, or -1 = all labels (as fastText)
  float threshold = 0;  // finite
  output_format format = output_format::text;
  uint32_t batch = 256;
  std::string input;                   // file, "-" or "" for stdin
  input_mode mode = input_mode::text;  // --input: each line as text, or as ids per table
};
// Prints one line per input line, in order. In ids mode (cli/id_lines.hpp) every line is parsed
// before any call: the first malformed one throws command_error (exit 2, invalid_argument,
// "line N: token 'T': ...") and nothing is sent or printed. A line the server refuses on its own
// (too long, ...) prints an empty stdout line, so that output line N still answers input line N,
// and "tessera: line N: tessera.<code>: ..." on stderr; the other lines are still answered, and the
// exit code is 1 once all are printed. Any other failure stops the run (see line_retry.hpp).
int run_predict(const predict_options& opts);
// Uses model, format (text|json), batch, input and mode of `opts`; bad lines as for
// run_predict.
int run_embed(const predict_options& opts);

// Checks --k and --threshold with check_predict_options (k >= 1 or -1, a finite threshold)
// before any call; throws command_error (exit 2, invalid_argument) naming the bad flag.
void check_flags(int32_t k, float threshold);

// Largest inputs per call the CLI sends (the default config's limits.max_inputs); bigger
// --batch values are clamped to it. Batches are also cut early to stay under
// k_max_batch_bytes of text.
constexpr uint32_t k_max_batch_inputs = 1024;
constexpr size_t k_max_batch_bytes = 16u << 20;

// Connects a load-progress line on stderr to a status poll; used by load and up --load.
// Polls Admin.status on its own connection every 500 ms until `done` is fulfilled.
struct load_result {
  std::string name;
  uint64_t version = 0;
};
load_result load_with_progress(const client_options& c, const std::string& abs_path,
                               const std::string& name, uint32_t replicas, bool activate,
                               bool show_progress, bool exact_pooling = false,
                               const std::string& embedder = "");

}  // namespace tessera::cli
