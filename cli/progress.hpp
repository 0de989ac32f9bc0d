#pragma once
// Progress of a long read for a person: `tessera import` and `tessera gen-model` (bytes of the
// file done), `tessera load` (the replicas' bytes read on every node), `tessera status`.
//
// The figures: "45% (1.20 GiB / 2.70 GiB), 310.00 MiB/s, 5 s left"; rate and time left appear
// once known (cluster/load_progress.hpp). On a terminal one line is rewritten in place and
// starts with a 24-character bar; otherwise one plain line "<what>: <figures>" is printed each
// time the percentage passes a multiple of `step_pct`, so logs stay short.
#include <cstdint>
#include <string>

#include "cluster/load_progress.hpp"

namespace tessera::cli {

// "45% (1.20 GiB / 2.70 GiB)" plus ", <rate>/s" and ", <time> left" when known; "-" when
// total is 0 (nothing to do).
std::string progress_figures(uint64_t done, uint64_t total, load_estimate e = {});

// "850 ms", "12 s", "3 min 5 s", "2 h 7 min".
std::string human_duration(int64_t ms);

class progress_view {
 public:
  progress_view(std::string what, bool tty, int step_pct);

  // The text to write for this sample ("" when it would repeat the last one shown).
  std::string update(uint64_t done, uint64_t total, load_estimate e);
  // The text to write when the read ends: a newline after a rewritten line, else "".
  std::string finish() const;

 private:
  std::string what_;
  bool tty_;
  int step_pct_;
  int last_pct_ = -1;
  bool shown_ = false;
};

// Writes `text` (a progress_view's output) to stderr at once; nothing when it is empty.
void write_stderr(const std::string& text);

}  // namespace tessera::cli
