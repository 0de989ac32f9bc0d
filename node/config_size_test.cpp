// Sizes in the cluster config: units, decimals, errors, memory_budget (node/config_size.cpp).
#include "node/config.hpp"
#include "node/config_test_support.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace tessera {

using config_testing::check_rejected;
using config_testing::k_coord;
using config_testing::k_shard;

// Expects parse_size(text) to fail with invalid_argument whose message contains `what`.
static void check_bad_size(const std::string& text, const std::string& what) {
  auto size = parse_size(text);
  INFO(text);
  REQUIRE_FALSE(size);
  CHECK(code_of(size.error()) == errc::invalid_argument);
  CHECK_THAT(message_of(size.error()), Catch::Contains(what));
}

TEST_CASE("sizes accept plain bytes and binary or decimal units") {
  CHECK(*parse_size("0") == 0);
  CHECK(*parse_size("123") == 123);
  CHECK(*parse_size("123B") == 123);
  CHECK(*parse_size("2KiB") == 2048);
  CHECK(*parse_size("3MiB") == 3ull << 20);
  CHECK(*parse_size("2GiB") == 2ull << 30);
  CHECK(*parse_size("1TiB") == 1ull << 40);
  CHECK(*parse_size("2KB") == 2000);
  CHECK(*parse_size("3MB") == 3000000);
  CHECK(*parse_size("4 GB") == 4000000000ull);
  CHECK(*parse_size(" 5MiB ") == 5ull << 20);
  CHECK(*parse_size("18446744073709551615") == 18446744073709551615ull);
  CHECK(*parse_size("0007KB") == 7000);
}

TEST_CASE("sizes accept decimal numbers with a unit, rounded down to whole bytes exactly") {
  CHECK(*parse_size("1.4GB") == 1400000000ull);
  CHECK(*parse_size("0.5 GiB") == 1ull << 29);
  CHECK(*parse_size("1.5GiB") == 3ull << 29);
  CHECK(*parse_size(".5KiB") == 512);
  CHECK(*parse_size("2.KiB") == 2048);
  CHECK(*parse_size("1.1KiB") == 1126);  // 1126.4 rounds down
  CHECK(*parse_size("0.999KB") == 999);
  CHECK(*parse_size("0.0001KB") == 0);  // a tenth of a byte rounds down to 0
  CHECK(*parse_size("1.5e3 MB") == 1500000000ull);
  CHECK(*parse_size("2E-3GB") == 2000000);
  CHECK(*parse_size("1e3") == 1000);  // a whole byte count, written with an exponent
  CHECK(*parse_size("1.5e3B") == 1500);
  CHECK(*parse_size("0.1TiB") == 109951162777ull);                 // 109951162777.6
  CHECK(*parse_size("16.0000000000000000000MiB") == 16ull << 20);  // trailing zeros are free
  // Exact where a double would not be: 2^64 - 1 written with a fraction of a KB.
  CHECK(*parse_size("18446744073709551.615KB") == 18446744073709551615ull);
}

TEST_CASE("a wrong size says what is wrong with it") {
  check_bad_size("1.4XB",
                 "'1.4XB' has unknown unit 'XB' (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)");
  check_bad_size("2gib", "'2gib' has unknown unit 'gib'");
  check_bad_size("4 parsecs", "unknown unit 'parsecs'");
  check_bad_size("", "is empty");
  check_bad_size("   ", "is empty");
  check_bad_size("GiB", "'GiB' does not start with a number");
  check_bad_size("-1", "'-1' is negative");
  check_bad_size("-0.5GiB", "'-0.5GiB' is negative");
  check_bad_size("1.5", "'1.5' is not a whole number of bytes");
  check_bad_size("1.5B", "'1.5B' is not a whole number of bytes");
  check_bad_size("1..4GB", "'1..4GB' is not a number followed by a unit");
  check_bad_size("1.2.3MB", "is not a number followed by a unit");
  check_bad_size("99999999999999999999", "'99999999999999999999' is too large");
  check_bad_size("18446744073709551616", "is too large (at most 18446744073709551615 bytes)");
  check_bad_size("20000000000GiB", "'20000000000GiB' is too large");
  check_bad_size("1e30KB", "is too large");
  check_bad_size("1.0000000000000000000001GB", "more than 20 significant digits");
}

TEST_CASE("memory_budget takes a size string or whole bytes, and names the key when wrong") {
  const std::string coord = k_coord;
  const std::string shard = "[[nodes]]\nname = \"s\"\nport = 7401\nroles = [\"shard\"]\n";
  auto with_budget = [&](const std::string& budget) {
    return parse_config(coord + shard + "memory_budget = " + budget + "\n");
  };
  CHECK(with_budget("\"512MiB\"")->nodes[1].memory_budget == 512ull << 20);
  CHECK(with_budget("\"1.4GB\"")->nodes[1].memory_budget == 1400000000ull);
  CHECK(with_budget("1073741824")->nodes[1].memory_budget == 1ull << 30);
  check_rejected(coord + shard + "memory_budget = \"4 parsecs\"\n", "nodes[1].memory_budget");
  check_rejected(coord + shard + "memory_budget = -1\n", "nodes[1].memory_budget");
  check_rejected(coord + shard + "memory_budget = 1.5\n", "nodes[1].memory_budget");
  auto bad = with_budget("\"1.4XB\"");
  REQUIRE_FALSE(bad);
  CHECK(message_of(bad.error()) ==
        "config: nodes[1].memory_budget: '1.4XB' has unknown unit 'XB' (use B, KB, MB, GB, TB, "
        "KiB, MiB, GiB, TiB)");
}

}  // namespace tessera
