// parse_size (node/config.hpp): byte counts like "512", "1.5GiB", "1.4 GB", "1.5e3".
//
// Input: the text. parse_size never throws and refuses only with invalid_argument. What it
// accepts agrees with independent arithmetic:
// - against long double: the number (strtold of the text before the unit) times the unit's
//   factor, rounded down, within long double's precision (20 significant digits at most fit
//   its 64-bit mantissa to within a few units in the last place);
// - with exact identities: surrounding blanks change nothing; a result v prints back to v
//   ("v" and "v B"); "<x>KB" is "<x>e3" rounded down, "<x>KiB" is 1024 times "<x>B" when
//   that is whole; in short, the same decimal value is the same byte count.
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "fuzz/fuzz_support.hpp"
#include "node/config.hpp"

using namespace tessera;
using namespace tessera::fuzz;

namespace {

struct unit {
  const char* name;
  long double factor;
};

// Longest names first, so "KiB" is not taken for "B".
constexpr unit k_units[] = {
    {"KiB", 1024.0L}, {"MiB", 1048576.0L}, {"GiB", 1073741824.0L}, {"TiB", 1099511627776.0L},
    {"KB", 1e3L},     {"MB", 1e6L},        {"GB", 1e9L},           {"TB", 1e12L},
    {"B", 1.0L}};

caf::expected<uint64_t> parse(const std::string& s) {
  return parse_size(s);  // a throw escapes to libFuzzer, which reports it as a crash
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t");
  return s.substr(a, b - a + 1);
}

// The accepted text `t` (trimmed) split into its number and unit.
void split(const std::string& t, std::string& number, const unit*& u) {
  u = nullptr;
  number = t;
  for (const auto& x : k_units) {
    size_t n = std::char_traits<char>::length(x.name);
    if (t.size() >= n && t.compare(t.size() - n, n, x.name) == 0) {
      u = &x;
      number = trim(t.substr(0, t.size() - n));
      return;
    }
  }
}

void check_value(const std::string& text, uint64_t v) {
  const std::string t = trim(text);
  std::string number;
  const unit* u = nullptr;
  split(t, number, u);
  errno = 0;
  char* end = nullptr;
  long double x = std::strtold(number.c_str(), &end);
  FUZZ_REQUIRE(end == number.c_str() + number.size(),
               "accepted '" + text + "' but its number part '" + number + "' is not a number");
  long double want = std::floor(x * (u ? u->factor : 1.0L));
  long double tolerance = 1.0L + want * 1e-17L;
  FUZZ_REQUIRE(std::fabs(static_cast<long double>(v) - want) <= tolerance,
               "'" + text + "' gives " + std::to_string(v) + ", long double says " +
                   std::to_string(static_cast<double>(want)));
  auto printed = parse(std::to_string(v));
  FUZZ_REQUIRE(printed && *printed == v, "the result does not print back: " + std::to_string(v));
  auto with_b = parse(std::to_string(v) + " B");
  FUZZ_REQUIRE(with_b && *with_b == v, "'<v> B' differs from '<v>'");
  auto padded = parse(" \t" + text + "\t ");
  FUZZ_REQUIRE(padded && *padded == v, "blanks around the text change the result");
  bool has_exponent = number.find_first_of("eE") != std::string::npos;
  if (has_exponent) return;
  if (u && std::string(u->name) == "KB") {
    auto e3 = parse(number + "e3");
    FUZZ_REQUIRE(!e3 || *e3 == v, "'" + number + "KB' != '" + number + "e3'");
  }
  if (u && std::string(u->name) == "KiB") {
    auto bytes = parse(number + "B");
    if (bytes && *bytes <= UINT64_MAX / 1024)
      FUZZ_REQUIRE(*bytes * 1024 == v, "'" + number + "KiB' != 1024 * '" + number + "B'");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto v = parse(text);
  if (!v) {
    require_code(v.error(), {errc::invalid_argument}, "parse_size");
    return 0;
  }
  check_value(text, *v);
  return 0;
}
