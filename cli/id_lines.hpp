#pragma once
// The `--input ids` line format of predict and embed: one input per line, given as a bag of
// row ids per table, for embedding-bag models (schemas/tessera.capnp, Input.tables).
//
// A line is tokens separated by runs of whitespace (space, tab, '\r', '\n', '\v', '\f'; so the
// line's own "\n" or "\r\n" ends it like a space):
//   TABLE:ID          one id into table TABLE
//   TABLE:ID:WEIGHT   one id with its per-sample weight
// TABLE is one or more bytes without ':' or whitespace and is always sent as a table *name*
// ("0:5" is table "0", never index 0). ID is a decimal int64 ('-' allowed, no '+', no hex).
// WEIGHT is a finite float32 in decimal or exponent form ("0.5", "-2", "1e-3"; no "nan",
// "inf", hex, or a value out of float range).
//
// Bags come in the order their table first appears on the line; within a bag, ids keep token
// order, repeats included. A bag has weights, one per id, when its tokens carry them: a table's
// tokens on one line are either all weighted or all unweighted (PyTorch's per_sample_weights
// needs one weight per id), anything else is refused. A table without a token is not sent: the
// server pools an empty bag for it. An empty or blank line is an input with no bag at all.
// Which tables exist, which ids are in range and how many are too many is the server's to say.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "schemas/tessera.capnp.h"

namespace tessera::cli {

// One table's bag of an input line.
struct table_bag {
  std::string name;
  std::vector<int64_t> ids;
  std::vector<float> weights;  // empty, or one per id
};

// One input line's bags, in order of first appearance.
using tables_input = std::vector<table_bag>;

// Parses `line` by the format above. `line_no` (1-based) only names the line in errors.
// Errors are errc::invalid_argument with a message "line N: token 'T': why" naming the first
// bad token (cut to 64 bytes): no ':', more than two ':', an empty table name, an id that is
// not a decimal int64, a weight that is not a finite float32, or a token whose weight (or lack
// of one) differs from the earlier tokens of its table on that line.
caf::expected<tables_input> parse_ids_line(std::string_view line, size_t line_no);

// Writes `bags` into `input` as its tables: each bag's name, ids, and weights when it has them.
void set_tables(::Input::Builder input, const tables_input& bags);

// The bytes `bags` take as one Input in a request's message (Cap'n Proto words, rounded up),
// to cut batches by message size as text batches are cut by text size.
size_t wire_bytes(const tables_input& bags);

}  // namespace tessera::cli
