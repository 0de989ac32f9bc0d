#pragma once
// Rate and time left of a read in progress (a replica load, an import), from how much is done
// and how long it has run. One rule for every place that shows progress: the CLI's progress
// lines, `tessera status` and its JSON.
#include <cstdint>

namespace tessera {

struct load_estimate {
  uint64_t bytes_per_s = 0;  // average since the start; 0 = not known yet
  int64_t ms_left = -1;      // at that rate; -1 = not known yet, 0 = done
};

// Average rate over `elapsed_ms`. Unknown (0 and -1) before anything is done or in the first
// 100 ms, where one block would give a meaningless rate.
load_estimate estimate_load(uint64_t done, uint64_t total, uint64_t elapsed_ms);

// Several reads running side by side (one per node): rates add up, the slowest decides the
// time left, and an unknown part makes the whole time left unknown.
load_estimate combine_loads(load_estimate a, load_estimate b);

}  // namespace tessera
