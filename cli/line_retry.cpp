#include "cli/line_retry.hpp"

#include "cli/client.hpp"

namespace tessera::cli {
namespace {

constexpr const char* k_caller_codes[] = {"tessera.invalid_argument", "tessera.limit_exceeded",
                                          "tessera.id_out_of_range"};
constexpr const char k_input[] = ": input ";

// Where the "input N" part of a description is: [begin, end) covers ": input N", and N.
struct blame {
  size_t begin = 0;
  size_t end = 0;
  size_t input = 0;
};

std::optional<blame> find_blame(const std::string& d) {
  const std::string code = error_code_of(d);
  bool caller = false;
  for (const char* c : k_caller_codes) caller = caller || code == c;
  if (!caller || d.compare(code.size(), sizeof k_input - 1, k_input) != 0) return std::nullopt;
  blame b;
  b.begin = code.size();
  size_t i = b.begin + sizeof k_input - 1;
  const size_t digits = i;
  for (; i < d.size() && d[i] >= '0' && d[i] <= '9' && i - digits < 9; ++i)
    b.input = b.input * 10 + static_cast<size_t>(d[i] - '0');
  if (i == digits || i >= d.size() || d[i] != ':') return std::nullopt;
  b.end = i;
  return b;
}

void append(std::vector<line_outcome>& out, const call_outcome& c) {
  for (const auto& l : c.lines) out.push_back({l, std::nullopt});
}

// Sends `b` (count > 0) and appends its lines' outcomes, splitting again on a blamed failure.
void send_range(batch_range b, const std::function<call_outcome(batch_range)>& call,
                std::vector<line_outcome>& out);

void resolve(batch_range b, const std::string& error,
             const std::function<call_outcome(batch_range)>& call, std::vector<line_outcome>& out) {
  const auto bad = blamed_input(error);
  if (!bad || *bad >= b.count) throw command_error(error);
  if (b.count == 1) {
    out.push_back({"", error});
    return;
  }
  send_range({b.begin, *bad}, call, out);
  send_range({b.begin + *bad, 1}, call, out);
  send_range({b.begin + *bad + 1, b.count - *bad - 1}, call, out);
}

void send_range(batch_range b, const std::function<call_outcome(batch_range)>& call,
                std::vector<line_outcome>& out) {
  if (b.count == 0) return;
  call_outcome c = call(b);
  if (c.error) return resolve(b, *c.error, call, out);
  if (c.lines.size() != b.count)
    throw command_error("tessera.internal: the server answered " + std::to_string(c.lines.size()) +
                        " results for " + std::to_string(b.count) + " inputs");
  append(out, c);
}

}  // namespace

std::optional<size_t> blamed_input(const std::string& description) {
  auto b = find_blame(description);
  if (!b) return std::nullopt;
  return b->input;
}

std::vector<line_outcome> isolate_bad_lines(batch_range b, const std::string& error,
                                            const std::function<call_outcome(batch_range)>& call) {
  std::vector<line_outcome> out;
  out.reserve(b.count);
  resolve(b, error, call, out);
  return out;
}

std::string line_error(size_t index, const std::string& description) {
  std::string d = description;
  if (auto b = find_blame(d)) d.erase(b->begin, b->end - b->begin);
  return "line " + std::to_string(index + 1) + ": " + d;
}

}  // namespace tessera::cli
