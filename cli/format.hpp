#pragma once
// Output formats of predict and embed. One output line per input line, always.
//
// predict --format:
//   fasttext  exactly `fasttext predict-prob`: "label prob label prob" separated by single
//             spaces, prob printed as printf("%g", (double)prob) (C++ ostream's default);
//             an input with no labels is an empty line.
//   text      readable and cut-friendly: "label<TAB>prob<TAB>label<TAB>prob", prob with %.6g;
//             an input with no labels is an empty line.
//   json      {"labels":[{"label":"..","prob":0.91,"index":3}],"version":1,"epoch":7}
//             probs printed with the shortest decimal that reads back as the same float.
// embed --format:
//   text      the pooled vector as space-separated %.9g floats (exact float round trip).
//   json      the vector as a JSON array of shortest-round-trip floats, e.g. [0.5,-1.25].
#include <cstdint>
#include <string>
#include <vector>

namespace tessera::cli {

enum class output_format { text, json, fasttext };

// Parses "text", "json" or "fasttext"; throws std::invalid_argument otherwise.
output_format parse_output_format(const std::string& name);

struct label_prob {
  std::string label;
  float prob = 0;
  uint32_t index = 0;
};

// printf("%g", (double)value): what `std::cout << value` prints for a float.
std::string format_g(float value);

// The shortest decimal text that parses back to exactly `value` (up to 9 significant digits).
std::string shortest_float(float value);

// One predict output line (without the trailing '\n').
std::string format_prediction(const std::vector<label_prob>& labels, output_format format,
                              uint64_t version, uint64_t epoch);

// One embed output line (without the trailing '\n'). `format` is text or json.
std::string format_vector(const std::vector<float>& values, output_format format);

// "1.50 GiB", "512 B": human bytes for tables.
std::string human_bytes(uint64_t bytes);

}  // namespace tessera::cli
