#include "cli/tool_commands.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>

#include "cli/client.hpp"
#include "cli/format.hpp"
#include "cli/progress.hpp"
#include "importers/fasttext_import.hpp"
#include "importers/synthetic_model.hpp"

namespace tessera::cli {
namespace {

// (done, total) progress of a local read on stderr (cli/progress.hpp), with its rate and time
// left since this object was made. Plain lines every 10%.
class stderr_progress {
 public:
  explicit stderr_progress(std::string what)
      : view_(std::move(what), ::isatty(STDERR_FILENO) != 0, 10),
        start_(std::chrono::steady_clock::now()) {}
  ~stderr_progress() { write_stderr(view_.finish()); }
  void operator()(uint64_t done, uint64_t total) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start_)
                        .count();
    write_stderr(view_.update(done, total, estimate_load(done, total, static_cast<uint64_t>(ms))));
  }
  std::function<void(uint64_t, uint64_t)> fn() {
    return [this](uint64_t d, uint64_t t) { (*this)(d, t); };
  }

 private:
  progress_view view_;
  std::chrono::steady_clock::time_point start_;
};

void check(const caf::error& err) {
  if (err) throw command_error(describe(err));
}

output_kind parse_output(const std::string& s) {
  if (s == "softmax") return output_kind::softmax;
  if (s == "ova") return output_kind::ova;
  if (s == "hs") return output_kind::hs;
  throw command_error("tessera.invalid_argument: --output must be softmax, ova or hs", 2);
}

pooling_kind parse_pooling(const std::string& s) {
  if (s == "mean") return pooling_kind::mean;
  if (s == "sum") return pooling_kind::sum;
  throw command_error("tessera.invalid_argument: --pooling must be mean or sum", 2);
}

}  // namespace

int run_import_fasttext(const import_options& opts) {
  fasttext_import_options io;
  io.label_prefix = opts.label_prefix;
  io.name = opts.name;
  stderr_progress progress("importing");
  check(import_fasttext(opts.bin_path, opts.out_dir, io, progress.fn()));
  std::cerr << "tessera: wrote package " << opts.out_dir << "\n";
  return 0;
}

int run_gen_model(const gen_model_options& opts) {
  synthetic_spec spec;
  spec.name = opts.name;
  spec.vocab = opts.vocab;
  spec.buckets = opts.buckets;
  spec.word_ngrams = opts.word_ngrams;
  spec.dim = opts.dim;
  spec.hidden = opts.hidden;
  spec.labels = opts.labels;
  spec.output = parse_output(opts.output);
  spec.pooling = parse_pooling(opts.pooling);
  spec.seed = opts.seed;
  spec.classifier_seed = opts.classifier_seed;
  spec.classifier_version = opts.classifier_version;
  stderr_progress progress("writing");
  check(write_synthetic_package(opts.out_dir, spec, progress.fn()));
  std::cerr << "tessera: wrote package " << opts.out_dir << "\n";
  return 0;
}

}  // namespace tessera::cli
