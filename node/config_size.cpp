// Byte counts: parse_size (node/config.hpp) and the config keys that take one.
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "node/config.hpp"
#include "node/config_parse.hpp"

namespace tessera {

namespace {

struct size_unit {
  const char* name;
  uint64_t factor;
};

constexpr size_unit k_size_units[] = {
    {"", 1},
    {"B", 1},
    {"KB", 1000},
    {"MB", 1000 * 1000},
    {"GB", 1000 * 1000 * 1000},
    {"TB", 1000ull * 1000 * 1000 * 1000},
    {"KiB", 1ull << 10},
    {"MiB", 1ull << 20},
    {"GiB", 1ull << 30},
    {"TiB", 1ull << 40},
};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// The decimal number at the start of `s`: its significant digits and a power of ten, so that
// the number is digits * 10^scale. Reads digits, an optional fraction (".5", "1.", "1.25") and
// an optional exponent ("e3", "E-2"); `used` gets the characters read (0: no number).
struct decimal {
  std::string digits;
  int64_t scale = 0;
};

decimal read_decimal(std::string_view s, size_t& used) {
  decimal d;
  size_t i = 0;
  bool any = false;
  for (; i < s.size() && is_digit(s[i]); ++i, any = true) d.digits += s[i];
  if (i < s.size() && s[i] == '.') {
    size_t j = i + 1;
    for (; j < s.size() && is_digit(s[j]); ++j, any = true) {
      d.digits += s[j];
      --d.scale;
    }
    if (any) i = j;
  }
  if (!any) {
    used = 0;
    return d;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    size_t j = i + 1;
    const bool minus = j < s.size() && s[j] == '-';
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
    if (j < s.size() && is_digit(s[j])) {
      int64_t e = 0;
      for (; j < s.size() && is_digit(s[j]); ++j)
        e = std::min<int64_t>(e * 10 + (s[j] - '0'), 1000000);
      d.scale += minus ? -e : e;
      i = j;
    }
  }
  used = i;
  // Only significant digits stay: no leading zeros, trailing ones folded into the scale.
  const size_t lead = d.digits.find_first_not_of('0');
  if (lead == std::string::npos) return decimal{};
  d.digits.erase(0, lead);
  while (d.digits.back() == '0') {
    d.digits.pop_back();
    ++d.scale;
  }
  return d;
}

}  // namespace

caf::expected<uint64_t> parse_size(const std::string& text) {
  using u128 = unsigned __int128;
  const std::string quoted = "'" + text + "'";
  auto wrong = [&](const std::string& what) {
    return make_error(errc::invalid_argument, quoted + " " + what);
  };
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string::npos)
    return make_error(errc::invalid_argument, "is empty (write bytes or a size like \"1.5GiB\")");
  const size_t last = text.find_last_not_of(" \t");
  const std::string_view s(text.data() + first, last - first + 1);
  if (s[0] == '-') return wrong("is negative");
  size_t used = 0;
  const decimal number = read_decimal(s, used);
  if (used == 0) return wrong("does not start with a number");
  size_t unit_at = used;
  while (unit_at < s.size() && (s[unit_at] == ' ' || s[unit_at] == '\t')) ++unit_at;
  const std::string unit(s.substr(unit_at));
  const size_unit* found = nullptr;
  for (const auto& u : k_size_units)
    if (unit == u.name) found = &u;
  if (found == nullptr) {
    if (!unit.empty() && (is_digit(unit[0]) || unit[0] == '.' || unit[0] == 'e'))
      return wrong("is not a number followed by a unit");
    return wrong("has unknown unit '" + unit + "' (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)");
  }
  constexpr uint64_t max = std::numeric_limits<uint64_t>::max();
  const std::string too_large = "is too large (at most " + std::to_string(max) + " bytes)";
  if (number.digits.empty()) return uint64_t{0};
  // At most 20 significant digits (max has 20): the product below then fits 128 bits.
  if (number.digits.size() > 20) return wrong("has more than 20 significant digits");
  u128 value = 0;
  for (char c : number.digits) value = value * 10 + static_cast<u128>(c - '0');
  value *= found->factor;  // < 10^20 * 2^40 < 2^107
  if (number.scale >= 0) {
    for (int64_t i = 0; i < number.scale; ++i) {
      value *= 10;
      if (value > max) return wrong(too_large);
    }
    if (value > max) return wrong(too_large);
    return static_cast<uint64_t>(value);
  }
  // A fraction: round down to whole bytes, but a byte count itself must be whole.
  if (number.scale < -38) {  // value < 10^33: below one byte
    if (found->factor == 1) return wrong("is not a whole number of bytes");
    return uint64_t{0};
  }
  u128 divisor = 1;
  for (int64_t i = 0; i < -number.scale; ++i) divisor *= 10;
  if (found->factor == 1 && value % divisor != 0) return wrong("is not a whole number of bytes");
  value /= divisor;
  if (value > max) return wrong(too_large);
  return static_cast<uint64_t>(value);
}

namespace config_detail {

uint64_t get_size(const toml::table& t, const std::string& prefix, const char* name) {
  const toml::node* n = t.get(name);
  if (n == nullptr) return 0;
  if (n->is_integer()) {
    const int64_t v = *n->value<int64_t>();
    if (v < 0) fail(key_of(prefix, name), "must not be negative");
    return static_cast<uint64_t>(v);
  }
  if (n->is_floating_point())
    fail(key_of(prefix, name),
         "is a number with a fraction; write whole bytes or a string like \"1.5GiB\"");
  if (!n->is_string()) fail(key_of(prefix, name), "must be bytes or a size like \"2GiB\"");
  auto size = parse_size(*n->value<std::string>());
  if (!size) fail(key_of(prefix, name), message_of(size.error()));
  return *size;
}

// A size key that keeps `fallback` when absent; present, it must be above zero.
uint64_t get_size_or(const toml::table& t, const std::string& prefix, const char* name,
                     uint64_t fallback) {
  if (t.get(name) == nullptr) return fallback;
  auto v = get_size(t, prefix, name);
  if (v == 0) fail(key_of(prefix, name), "must be greater than zero");
  return v;
}

}  // namespace config_detail

}  // namespace tessera
