#pragma once
// How predict and embed get past a bad input line without losing the others.
//
// The server refuses a whole call when one of its inputs is bad (a text over
// limits.max_text_bytes, an empty text, ...), and its description names that input's position
// in the call: "tessera.limit_exceeded: input 3: text of ... bytes exceeds the limit of ...".
// The CLI then sends the call's lines again around the blamed one: the lines before it and
// after it as two calls (recursively, should one of them blame another line), and the blamed
// line alone, so that the error printed for it is the server's own answer for that line. Only
// the lines the server refuses on their own fail; the server stays the authority on what is
// too long. A failure that blames no input (unavailable, deadline_exceeded, ...) still stops
// the whole run.
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cli/lines.hpp"

namespace tessera::cli {

// The position in its call of the input that a call's failure blames: the N of
// "tessera.<code>: input N: ..." when <code> says the caller's input is at fault
// (invalid_argument, limit_exceeded, id_out_of_range); nullopt for any other failure.
std::optional<size_t> blamed_input(const std::string& description);

// What one call of a range of lines gave: one output line per input, or the failure's
// description ("tessera.<code>: ...").
struct call_outcome {
  std::vector<std::string> lines;
  std::optional<std::string> error;
};

// What one input line gave: its output line, or the description of its own failure.
struct line_outcome {
  std::string output;
  std::optional<std::string> error;
};

// Sends the lines `b` (whose call failed with `error`) again around the blamed input, through
// `call` (which waits for its answer), as described at the top. Returns one outcome per line
// of `b`, in order. Throws command_error(error) for a failure that blames no input of its
// call, the run's end as before.
std::vector<line_outcome> isolate_bad_lines(batch_range b, const std::string& error,
                                            const std::function<call_outcome(batch_range)>& call);

// The stderr text for line `index` (0-based in the input) that failed with `description`:
// "line 17: tessera.limit_exceeded: text of ..." (1-based; the "input N: " part, a position
// in a call, is left out).
std::string line_error(size_t index, const std::string& description);

}  // namespace tessera::cli
