#pragma once
// The input line contract shared by predict, embed and bench.
//
// Input is read as raw bytes and split on '\n' only. Each line keeps its trailing '\n' when it
// had one ('\r' is kept too: "a\r\n" is one input "a\r\n"). The fastText featurizer turns the
// '\n' into the end-of-sentence token `</s>`, so keeping it is what makes results match
// `fasttext predict-prob`. A final line without '\n' is sent as is. An empty input gives no
// lines, and a trailing '\n' at EOF does not make an extra empty line. Empty lines ("\n") are
// inputs like any other.
#include <string>
#include <string_view>
#include <vector>

namespace tessera::cli {

// Splits `data` by the contract above.
std::vector<std::string> split_lines(std::string_view data);

// One batch of consecutive lines: [begin, begin + count).
struct batch_range {
  size_t begin = 0;
  size_t count = 0;
};

// Cuts `lines` into consecutive batches of at most `max_inputs` lines (at least 1) whose text
// totals at most `max_bytes`, except that a single line longer than `max_bytes` is a batch
// alone (the server decides whether it is too long).
std::vector<batch_range> plan_batches(const std::vector<std::string>& lines, size_t max_inputs,
                                      size_t max_bytes);

// plan_batches for inputs of the given sizes in bytes (what each adds to a call) instead of
// lines of text.
std::vector<batch_range> plan_sized_batches(const std::vector<size_t>& input_bytes,
                                            size_t max_inputs, size_t max_bytes);

// How predict and embed read each line (--input): as text to featurize (the contract above),
// or as bags of ids per table (cli/id_lines.hpp). Both split the input into lines the same way.
enum class input_mode { text, ids };

// Parses "text" or "ids"; throws std::invalid_argument ("tessera.invalid_argument: ...")
// otherwise.
input_mode parse_input_mode(const std::string& name);

// Reads a whole file as bytes; "-" or "" reads stdin. Throws std::runtime_error naming the path.
std::string read_all(const std::string& path);

}  // namespace tessera::cli
