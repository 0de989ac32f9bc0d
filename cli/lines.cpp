#include "cli/lines.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace tessera::cli {

std::vector<std::string> split_lines(std::string_view data) {
  std::vector<std::string> lines;
  size_t begin = 0;
  while (begin < data.size()) {
    size_t nl = data.find('\n', begin);
    size_t end = nl == std::string_view::npos ? data.size() : nl + 1;
    lines.emplace_back(data.substr(begin, end - begin));
    begin = end;
  }
  return lines;
}

std::vector<batch_range> plan_batches(const std::vector<std::string>& lines, size_t max_inputs,
                                      size_t max_bytes) {
  std::vector<size_t> sizes(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) sizes[i] = lines[i].size();
  return plan_sized_batches(sizes, max_inputs, max_bytes);
}

std::vector<batch_range> plan_sized_batches(const std::vector<size_t>& input_bytes,
                                            size_t max_inputs, size_t max_bytes) {
  if (max_inputs == 0) max_inputs = 1;
  std::vector<batch_range> out;
  size_t bytes = 0;
  for (size_t i = 0; i < input_bytes.size(); ++i) {
    bool fits =
        !out.empty() && out.back().count < max_inputs && bytes + input_bytes[i] <= max_bytes;
    if (!fits) {
      out.push_back({i, 0});
      bytes = 0;
    }
    out.back().count++;
    bytes += input_bytes[i];
  }
  return out;
}

input_mode parse_input_mode(const std::string& name) {
  if (name == "text") return input_mode::text;
  if (name == "ids") return input_mode::ids;
  throw std::invalid_argument("tessera.invalid_argument: unknown --input '" + name +
                              "' (text or ids)");
}

std::string read_all(const std::string& path) {
  bool use_stdin = path.empty() || path == "-";
  FILE* f = use_stdin ? stdin : std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    throw std::runtime_error("tessera.io_error: cannot open " + path + ": " + std::strerror(errno));
  std::string data;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
  bool failed = std::ferror(f) != 0;
  int err = errno;
  if (!use_stdin) std::fclose(f);
  if (failed)
    throw std::runtime_error("tessera.io_error: cannot read " +
                             (use_stdin ? std::string("stdin") : path) + ": " + std::strerror(err));
  return data;
}

}  // namespace tessera::cli
