#include "cli/id_lines.hpp"

#include <charconv>
#include <cmath>
#include <system_error>
#include <unordered_map>

#include "base/errors.hpp"

namespace tessera::cli {
namespace {

constexpr size_t k_max_token_shown = 64;  // bytes of a bad token an error message quotes

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

// One token split at its colons; `weight` is set only for TABLE:ID:WEIGHT.
struct token_parts {
  std::string_view table;
  std::string_view id;
  std::string_view weight;
  bool weighted = false;
};

caf::error bad_token(size_t line_no, std::string_view token, const std::string& why) {
  std::string shown(token.substr(0, k_max_token_shown));
  if (token.size() > k_max_token_shown) shown += "...";
  return make_error(errc::invalid_argument,
                    "line " + std::to_string(line_no) + ": token '" + shown + "': " + why);
}

// Splits `token` (not empty, no whitespace) into its parts, or says why it is malformed.
caf::expected<token_parts> split_token(std::string_view token, size_t line_no) {
  token_parts p;
  size_t first = token.find(':');
  if (first == std::string_view::npos)
    return bad_token(line_no, token, "expected TABLE:ID or TABLE:ID:WEIGHT (no ':')");
  size_t second = token.find(':', first + 1);
  if (second != std::string_view::npos && token.find(':', second + 1) != std::string_view::npos)
    return bad_token(line_no, token, "expected TABLE:ID or TABLE:ID:WEIGHT (more than two ':')");
  p.table = token.substr(0, first);
  if (p.table.empty()) return bad_token(line_no, token, "empty table name");
  if (second == std::string_view::npos) {
    p.id = token.substr(first + 1);
  } else {
    p.id = token.substr(first + 1, second - first - 1);
    p.weight = token.substr(second + 1);
    p.weighted = true;
  }
  return p;
}

bool parse_whole(std::string_view text, int64_t& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && !text.empty();
}

bool parse_whole(std::string_view text, float& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out, std::chars_format::general);
  return ec == std::errc() && ptr == end && !text.empty() && std::isfinite(out);
}

// A line's bags so far, and where each table's bag is in them (the names view the line).
struct line_bags {
  tables_input bags;
  std::unordered_map<std::string_view, size_t> index;
};

// Adds the token's id (and weight) to its table's bag in `out`, made at its first token.
caf::error add_token(std::string_view token, size_t line_no, line_bags& out) {
  auto parts = split_token(token, line_no);
  if (!parts) return std::move(parts.error());
  int64_t id = 0;
  if (!parse_whole(parts->id, id))
    return bad_token(line_no, token, "id '" + std::string(parts->id) + "' is not a decimal int64");
  float weight = 0;
  if (parts->weighted && !parse_whole(parts->weight, weight))
    return bad_token(line_no, token,
                     "weight '" + std::string(parts->weight) + "' is not a finite float32");
  auto [at, added] = out.index.emplace(parts->table, out.bags.size());
  if (added) out.bags.push_back({std::string(parts->table), {}, {}});
  table_bag* bag = &out.bags[at->second];
  if (!added && bag->weights.empty() == parts->weighted) {
    return bad_token(line_no, token,
                     "table '" + bag->name + "' mixes ids with and without a weight on one line " +
                         "(give every id of a table a weight, or none)");
  }
  bag->ids.push_back(id);
  if (parts->weighted) bag->weights.push_back(weight);
  return {};
}

size_t words_of(size_t bytes) {
  return (bytes + 7) / 8;
}

}  // namespace

caf::expected<tables_input> parse_ids_line(std::string_view line, size_t line_no) {
  line_bags out;
  size_t i = 0;
  while (i < line.size()) {
    if (is_space(line[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < line.size() && !is_space(line[end])) ++end;
    if (auto err = add_token(line.substr(i, end - i), line_no, out)) return err;
    i = end;
  }
  return std::move(out.bags);
}

void set_tables(::Input::Builder input, const tables_input& bags) {
  auto tables = input.initTables(static_cast<uint>(bags.size()));
  for (size_t i = 0; i < bags.size(); ++i) {
    const table_bag& b = bags[i];
    auto t = tables[static_cast<uint>(i)];
    t.setName(kj::StringPtr(b.name.c_str(), b.name.size()));
    auto ids = t.initIds(static_cast<uint>(b.ids.size()));
    for (size_t j = 0; j < b.ids.size(); ++j) ids.set(static_cast<uint>(j), b.ids[j]);
    if (b.weights.empty()) continue;
    auto weights = t.initWeights(static_cast<uint>(b.weights.size()));
    for (size_t j = 0; j < b.weights.size(); ++j) weights.set(static_cast<uint>(j), b.weights[j]);
  }
}

size_t wire_bytes(const tables_input& bags) {
  // Input: 1 data word + 1 pointer; its list of TableBag: a tag word, then per bag 1 data
  // word + 3 pointers, and each bag's name (with its NUL), ids and weights.
  size_t words = 2 + 1;
  for (const auto& b : bags)
    words += 4 + words_of(b.name.size() + 1) + b.ids.size() + words_of(4 * b.weights.size());
  return 8 * words;
}

}  // namespace tessera::cli
