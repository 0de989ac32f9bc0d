#include "cli/tool_commands.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <sstream>

#include "cli/client.hpp"
#include "cli/format.hpp"
#include "cli/progress.hpp"
#include "importers/fasttext_import.hpp"
#include "importers/safetensors_import.hpp"
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

// What import safetensors wrote, for a person:
//   embedder ctr.embedder (ids), 2 tables:
//     user  embedder.user  1000 x 16  sum  padding_idx 0
//   classifier ctr.classifier, 2 layers, output softmax, 2 labels:
//     l0  24 -> 32  relu  bias
std::string describe_import(const safetensors_import_result& r) {
  std::ostringstream os;
  const torch_spec& s = r.spec;
  if (!s.tables.empty()) {
    os << "embedder " << r.name << ".embedder (ids), " << s.tables.size()
       << (s.tables.size() == 1 ? " table" : " tables") << ":\n";
    for (size_t i = 0; i < s.tables.size(); ++i) {
      const auto& sh = r.shapes.tables[i];
      os << "  " << s.tables[i].name << "  " << safetensors_table_tensor(s.tables[i].name) << "  "
         << sh.rows << " x " << sh.dim << "  " << to_string(s.tables[i].mode);
      if (sh.padding_idx) os << "  padding_idx " << *sh.padding_idx;
      os << "\n";
    }
  }
  if (!s.layers.empty()) {
    os << "classifier " << r.name << ".classifier, " << s.layers.size()
       << (s.layers.size() == 1 ? " layer" : " layers") << ", output " << to_string(s.output)
       << ", " << s.labels.size() << (s.labels.size() == 1 ? " label" : " labels") << ":\n";
    for (size_t i = 0; i < s.layers.size(); ++i) {
      const auto& sh = r.shapes.layers[i];
      os << "  l" << i << "  " << sh.in << " -> " << sh.out << "  "
         << to_string(s.layers[i].activation) << (s.layers[i].bias.empty() ? "" : "  bias") << "\n";
    }
  }
  return os.str();
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

int run_import_safetensors(const import_safetensors_options& opts) {
  auto res = [&] {
    stderr_progress progress("importing");  // ends its line before anything else is printed
    return import_safetensors(opts.model_path, opts.spec_path, opts.out_dir, opts.name,
                              progress.fn());
  }();
  if (!res) check(res.error());
  std::cerr << "tessera: wrote package " << opts.out_dir << " (model " << res->name << ")\n";
  std::cout << describe_import(*res) << std::flush;
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
  if (!opts.changed_rows.empty()) {
    const auto colon = opts.changed_rows.find(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument("no colon");
      size_t used = 0;
      spec.changed_begin = std::stoull(opts.changed_rows.substr(0, colon), &used);
      if (used != colon) throw std::invalid_argument("begin");
      const auto tail = opts.changed_rows.substr(colon + 1);
      spec.changed_end = std::stoull(tail, &used);
      if (used != tail.size()) throw std::invalid_argument("end");
    } catch (const std::exception&) {
      throw command_error(
          "tessera.invalid_argument: --changed-rows wants BEGIN:END (row "
          "numbers), not '" +
              opts.changed_rows + "'",
          2);
    }
  }
  stderr_progress progress("writing");
  check(write_synthetic_package(opts.out_dir, spec, progress.fn()));
  std::cerr << "tessera: wrote package " << opts.out_dir << "\n";
  return 0;
}

}  // namespace tessera::cli
