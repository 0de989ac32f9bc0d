// reference_bench: the in-process baseline for `tessera bench` (issue 2).
//
// Loads a package with reference_model and times a single-threaded loop that predicts every
// line of an input file (pool_text + probabilities + top_k), pass after pass, until at least
// --seconds of wall clock have elapsed (one unmeasured pass first warms caches). Prints
// inputs/s and µs per input, as text or as one JSON object (--json).
//
// There is no batched API in reference_model, so a "batch" is just the same per-input loop;
// the number is the one to compare with tessera's inputs/s at any batch size.
//
// Usage: reference_bench PACKAGE_DIR INPUT_FILE [--seconds S] [--k K] [--json]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "testing/reference_model.hpp"

namespace {

using steady = std::chrono::steady_clock;

int usage() {
  std::cerr << "usage: reference_bench PACKAGE_DIR INPUT_FILE [--seconds S] [--k K] [--json]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  double seconds = 5.0;
  int k = 1;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--k" && i + 1 < argc) {
      k = std::atoi(argv[++i]);
    } else if (a == "--json") {
      json = true;
    } else if (a.rfind("--", 0) == 0) {
      return usage();
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() != 2) return usage();

  auto loaded = tessera::reference_model::load(pos[0]);
  if (!loaded) {
    std::cerr << "reference_bench: " << tessera::describe(loaded.error()) << "\n";
    return 1;
  }
  const tessera::reference_model& model = *loaded;

  std::vector<std::string> lines;
  {
    std::ifstream in(pos[1]);
    if (!in) {
      std::cerr << "reference_bench: cannot read " << pos[1] << "\n";
      return 1;
    }
    for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));
  }
  if (lines.empty()) {
    std::cerr << "reference_bench: " << pos[1] << " is empty\n";
    return 1;
  }

  // The sink keeps the compiler from dropping the work.
  double sink = 0;
  auto pass = [&]() {
    for (const auto& line : lines) {
      auto probs = model.probabilities(model.pool_text(line));
      auto top = model.top_k(probs, k);
      if (!top.empty()) sink += top.front().second + top.front().first;
    }
  };

  pass();  // warmup
  uint64_t inputs = 0;
  auto t0 = steady::now();
  double elapsed = 0;
  do {
    pass();
    inputs += lines.size();
    elapsed = std::chrono::duration<double>(steady::now() - t0).count();
  } while (elapsed < seconds);

  double ips = static_cast<double>(inputs) / elapsed;
  double us = 1e6 * elapsed / static_cast<double>(inputs);
  if (json) {
    std::printf(
        "{\"inputs\":%llu,\"elapsed_s\":%.6f,\"inputs_per_s\":%.1f,\"us_per_input\":%.3f,"
        "\"lines\":%zu,\"rows\":%llu,\"dim\":%u,\"sink\":%g}\n",
        static_cast<unsigned long long>(inputs), elapsed, ips, us, lines.size(),
        static_cast<unsigned long long>(model.rows()), model.dim(), sink);
  } else {
    std::printf("reference: %llu inputs in %.2f s (%zu lines, %llu rows x %u)\n",
                static_cast<unsigned long long>(inputs), elapsed, lines.size(),
                static_cast<unsigned long long>(model.rows()), model.dim());
    std::printf("inputs/s %.1f  us/input %.3f  (single thread; sink %g)\n", ips, us, sink);
  }
  return 0;
}
