#include "cli/format.hpp"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace tessera::cli {
namespace {

std::string printf_float(const char* fmt, double value) {
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, fmt, value);
  return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

// A JSON number whose text is the shortest round-trip decimal of `value`. NaN and infinities
// are not JSON numbers and become null.
nlohmann::json json_float(float value) {
  std::string text = shortest_float(value);
  if (text.find_first_of("ni") != std::string::npos) return nullptr;
  return std::strtod(text.c_str(), nullptr);
}

}  // namespace

output_format parse_output_format(const std::string& name) {
  if (name == "text") return output_format::text;
  if (name == "json") return output_format::json;
  if (name == "fasttext") return output_format::fasttext;
  throw std::invalid_argument("tessera.invalid_argument: unknown format '" + name +
                              "' (text, json or fasttext)");
}

std::string format_g(float value) {
  return printf_float("%g", static_cast<double>(value));
}

std::string shortest_float(float value) {
  for (int digits = 1; digits < 9; ++digits) {
    char fmt[8];
    std::snprintf(fmt, sizeof fmt, "%%.%dg", digits);
    std::string text = printf_float(fmt, static_cast<double>(value));
    if (std::strtof(text.c_str(), nullptr) == value) return text;
  }
  return printf_float("%.9g", static_cast<double>(value));
}

std::string format_prediction(const std::vector<label_prob>& labels, output_format format,
                              uint64_t version, uint64_t epoch) {
  if (format == output_format::json) {
    // Keys in the documented order: labels (label, prob, index), version, epoch.
    auto arr = nlohmann::ordered_json::array();
    for (const auto& l : labels) {
      nlohmann::ordered_json item;
      item["label"] = l.label;
      item["prob"] = json_float(l.prob);
      item["index"] = l.index;
      arr.push_back(std::move(item));
    }
    nlohmann::ordered_json obj;
    obj["labels"] = std::move(arr);
    obj["version"] = version;
    obj["epoch"] = epoch;
    return obj.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  }
  const char* sep = format == output_format::fasttext ? " " : "\t";
  std::string out;
  for (const auto& l : labels) {
    if (!out.empty()) out += sep;
    out += l.label;
    out += sep;
    out += format == output_format::fasttext ? format_g(l.prob)
                                             : printf_float("%.6g", static_cast<double>(l.prob));
  }
  return out;
}

std::string format_vector(const std::vector<float>& values, output_format format) {
  if (format == output_format::json) {
    auto arr = nlohmann::json::array();
    for (float v : values) arr.push_back(json_float(v));
    return arr.dump();
  }
  std::string out;
  for (float v : values) {
    if (!out.empty()) out += ' ';
    out += printf_float("%.9g", static_cast<double>(v));
  }
  return out;
}

std::string human_bytes(uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return printf_float("%.2f", v) + " " + units[u];
}

}  // namespace tessera::cli
