#pragma once
// Bounds on the size of one message between nodes. CAF 0.17 serializes a message in the
// middleman's one thread without returning to its event loop, and a peer counts as alive only
// when a whole message (or a heartbeat queued behind it) has arrived; so a message must be
// small enough to cross well within connection_timeout_ms even on a starved CPU. A gather for
// a large batch is therefore sent as parts (actors/fan_out.hpp, fan_out_parts).
//
// Pure functions; any thread.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tessera {

// The largest gather reply a shard sends in one message, in bytes (1 MiB). Measured on 2
// cores under load (issue 16): single 50 MB replies held a node's middleman for 1.5 s.
constexpr size_t gather_part_bytes = size_t{1} << 20;
// Parts of one shard's gather in flight at once: enough to keep the shard busy while replies
// travel, and a bound on the replies a shard holds queued for one gather. How many of them a
// middleman serializes without touching its sockets is bounded by scheduler.max-throughput
// (node/node_process.cpp).
constexpr size_t gather_part_window = 8;

// Rows of `cols` float32 columns that fit in `max_bytes`; at least 1.
size_t rows_per_part(size_t cols, size_t max_bytes);

// Splits a list of uint32 row ids (little-endian bytes, a multiple of 4 long) into parts of at
// most `rows` (>= 1) ids each, in order. An empty list gives one empty part.
std::vector<std::vector<char>> split_row_ids(const std::vector<char>& ids, size_t rows);

// Appends the float32 values of each part (little-endian bytes), in order, to `out`. Fails
// (returns false, `out` unspecified) when a part's size is not a multiple of 4.
bool join_float_parts(const std::vector<std::vector<char>>& parts, std::vector<float>& out);

}  // namespace tessera
