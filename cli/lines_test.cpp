#include <stdexcept>

#include <catch2/catch.hpp>

#include "cli/lines.hpp"

using namespace tessera::cli;
using v = std::vector<std::string>;

TEST_CASE("lines keep their trailing newline") {
  CHECK(split_lines("a\nb\n") == v{"a\n", "b\n"});
}

TEST_CASE("a final line without newline is sent as is") {
  CHECK(split_lines("a\nb") == v{"a\n", "b"});
  CHECK(split_lines("only") == v{"only"});
}

TEST_CASE("an empty input gives no lines") {
  CHECK(split_lines("").empty());
}

TEST_CASE("a trailing newline at EOF adds no empty input") {
  CHECK(split_lines("x\n") == v{"x\n"});
}

TEST_CASE("empty lines are inputs") {
  CHECK(split_lines("\n") == v{"\n"});
  CHECK(split_lines("a\n\n\nb\n") == v{"a\n", "\n", "\n", "b\n"});
}

TEST_CASE("CRLF is kept; only \\n splits") {
  CHECK(split_lines("a\r\nb\r\n") == v{"a\r\n", "b\r\n"});
  CHECK(split_lines("a\rb") == v{"a\rb"});
}

TEST_CASE("bytes are kept, including NUL and invalid UTF-8") {
  std::string data("a\0b\xff\n", 5);
  auto lines = split_lines(data);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == data);
}

TEST_CASE("batches respect the input and byte limits") {
  v lines = {"aa\n", "bb\n", "cc\n", "dd\n", "ee\n"};
  auto b = plan_batches(lines, 2, 1 << 20);
  REQUIRE(b.size() == 3);
  CHECK(b[0].begin == 0);
  CHECK(b[0].count == 2);
  CHECK(b[2].begin == 4);
  CHECK(b[2].count == 1);
  auto by_bytes = plan_batches(lines, 100, 6);
  CHECK(by_bytes.size() == 3);
  CHECK(plan_batches({}, 10, 10).empty());
  auto huge = plan_batches({std::string(100, 'x'), "y"}, 10, 10);
  REQUIRE(huge.size() == 2);
  CHECK(huge[0].count == 1);
  CHECK(plan_batches(lines, 0, 100).size() == 5);
}

TEST_CASE("sized batches respect the input and byte limits like text batches") {
  std::vector<size_t> sizes = {3, 3, 3, 3, 3};
  auto b = plan_sized_batches(sizes, 2, 1 << 20);
  REQUIRE(b.size() == 3);
  CHECK(b[1].begin == 2);
  CHECK(b[1].count == 2);
  CHECK(plan_sized_batches(sizes, 100, 6).size() == 3);
  CHECK(plan_sized_batches({}, 10, 10).empty());
  auto huge = plan_sized_batches({100, 1}, 10, 10);
  REQUIRE(huge.size() == 2);
  CHECK(huge[0].count == 1);
}

TEST_CASE("input modes are text and ids") {
  CHECK(parse_input_mode("text") == input_mode::text);
  CHECK(parse_input_mode("ids") == input_mode::ids);
  CHECK_THROWS_AS(parse_input_mode("tables"), std::invalid_argument);
  CHECK_THROWS_AS(parse_input_mode(""), std::invalid_argument);
}
