#pragma once
// Bounds on the size of one message between nodes. CAF 0.17 serializes a message in the
// middleman's one thread without returning to its event loop, and a peer counts as alive only
// when a whole message (or a heartbeat queued behind it) has arrived; so a message must be
// small enough to cross well within connection_timeout_ms even on a starved CPU. Sub-requests
// whose replies would be large (a gather for a large batch, every logit of a large output layer
// for a large batch) are therefore sent as parts (actors/serving_fan_out.hpp, fan_out_parts), each
// asking for a run of the items (row ids, inputs) of the whole.
//
// Pure functions; any thread.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tessera {

// The largest reply a part asks for, in bytes (1 MiB). Measured on 2 cores under load
// (issue 16): single replies of 50 MB held a node's middleman for 1.5 s.
constexpr size_t max_part_bytes = size_t{1} << 20;
// Parts of one shard's sub-request in flight at once: enough to keep the shard busy while
// replies travel, and a bound on the replies a shard holds queued for one sub-request. How
// many of them a middleman serializes without touching its sockets is bounded by
// scheduler.max-throughput (node/node_process.cpp).
constexpr size_t part_window = 8;

// Items whose replies take `item_bytes` each that fit in `max_bytes`; at least 1.
size_t items_per_part(size_t item_bytes, size_t max_bytes);

// Splits `bytes`, a run of items of `item_bytes` (>= 1) each, into parts of at most `items`
// (>= 1) items, in order. An empty run gives one empty part.
std::vector<std::vector<char>> split_items(const std::vector<char>& bytes, size_t item_bytes,
                                           size_t items);

// Appends the float32 values of each part (little-endian bytes), in order, to `out`. Fails
// (returns false, `out` unspecified) when a part's size is not a multiple of 4.
bool join_float_parts(const std::vector<std::vector<char>>& parts, std::vector<float>& out);

}  // namespace tessera
