// The `--input ids` line format (cli/id_lines.hpp): what a line becomes, what is refused and
// how the refusal names the line and token.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include "base/errors.hpp"
#include "cli/id_lines.hpp"

using namespace tessera;
using namespace tessera::cli;
using ids = std::vector<int64_t>;
using weights = std::vector<float>;

namespace {

tables_input parse_ok(std::string_view line) {
  auto r = parse_ids_line(line, 1);
  INFO("line '" << std::string(line) << "'");
  REQUIRE(r);
  return std::move(*r);
}

// Expects `line` (as line 7) to be refused as invalid_argument with a message that starts
// "line 7: token '<token>': " and holds `why`.
void check_refused(std::string_view line, const std::string& token, const std::string& why) {
  INFO("line '" << std::string(line) << "'");
  auto r = parse_ids_line(line, 7);
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == errc::invalid_argument);
  const std::string msg = message_of(r.error());
  INFO(msg);
  CHECK(msg.rfind("line 7: token '" + token + "': ", 0) == 0);
  CHECK(msg.find(why) != std::string::npos);
}

}  // namespace

TEST_CASE("tokens group by table in order of first appearance") {
  auto bags = parse_ok("user:5 item:7 user:9 ctx:1\n");
  REQUIRE(bags.size() == 3);
  CHECK(bags[0].name == "user");
  CHECK(bags[0].ids == ids{5, 9});
  CHECK(bags[1].name == "item");
  CHECK(bags[1].ids == ids{7});
  CHECK(bags[2].name == "ctx");
  CHECK(bags[2].ids == ids{1});
  for (const auto& b : bags) CHECK(b.weights.empty());
}

TEST_CASE("ids keep token order within a table, repeats included") {
  auto bags = parse_ok("a:3 a:1 a:3 a:0");
  REQUIRE(bags.size() == 1);
  CHECK(bags[0].ids == ids{3, 1, 3, 0});
}

TEST_CASE("a table whose tokens all carry a weight gets one weight per id") {
  auto bags = parse_ok("a:1:0.5 b:3 a:2:2 b:4");
  REQUIRE(bags.size() == 2);
  CHECK(bags[0].ids == ids{1, 2});
  CHECK(bags[0].weights == weights{0.5f, 2.0f});
  CHECK(bags[1].ids == ids{3, 4});
  CHECK(bags[1].weights.empty());
}

TEST_CASE("weights read decimal, negative and exponent forms exactly as floats") {
  auto bags = parse_ok("t:1:-1.5 t:2:1e-3 t:3:3 t:4:0.1 t:5:1E2 t:6:0");
  REQUIRE(bags.size() == 1);
  CHECK(bags[0].weights == weights{-1.5f, 1e-3f, 3.0f, 0.1f, 100.0f, 0.0f});
}

TEST_CASE("ids are any decimal int64, negative ones included (the server judges range)") {
  auto bags = parse_ok("t:-7 t:9223372036854775807 t:-9223372036854775808 t:007");
  REQUIRE(bags.size() == 1);
  CHECK(bags[0].ids == ids{-7, INT64_MAX, INT64_MIN, 7});
}

TEST_CASE("a numeric table part is still a table name") {
  auto bags = parse_ok("0:5 1:6:0.25");
  REQUIRE(bags.size() == 2);
  CHECK(bags[0].name == "0");
  CHECK(bags[1].name == "1");
  CHECK(bags[1].weights == weights{0.25f});
}

TEST_CASE("an empty or blank line is an input with no bags") {
  for (std::string_view line : {"", "\n", "\r\n", "  \t \r\n", " "}) CHECK(parse_ok(line).empty());
}

TEST_CASE("runs of whitespace separate tokens and the line's CRLF ends the last one") {
  auto bags = parse_ok("  a:1\t\tb:2  a:3\v\fb:4\r\n");
  REQUIRE(bags.size() == 2);
  CHECK(bags[0].ids == ids{1, 3});
  CHECK(bags[1].ids == ids{2, 4});
}

TEST_CASE("table names are bytes up to the first ':'") {
  auto bags = parse_ok("user.age-bucket_2:1 \xc3\xa9t\xc3\xa9:2");
  REQUIRE(bags.size() == 2);
  CHECK(bags[0].name == "user.age-bucket_2");
  CHECK(bags[1].name == "\xc3\xa9t\xc3\xa9");
}

TEST_CASE("a token without ':' is refused") {
  check_refused("a:1 abc a:2", "abc", "no ':'");
  check_refused("5", "5", "no ':'");
}

TEST_CASE("a token with more than two ':' is refused") {
  check_refused("a:1:2:3", "a:1:2:3", "more than two ':'");
  check_refused("a:1::", "a:1::", "more than two ':'");
}

TEST_CASE("an empty table name is refused") {
  check_refused("a:1 :5", ":5", "empty table name");
  check_refused(":5:1", ":5:1", "empty table name");
}

TEST_CASE("an id that is not a decimal int64 is refused") {
  for (const char* token : {"a:", "a:x", "a:1.5", "a:0x10", "a:+5", "a:1e3", "a:5x",
                            "a:9223372036854775808", "a::0.5"}) {
    std::string t = token;
    std::string id =
        t.substr(2, t.find(':', 2) == std::string::npos ? std::string::npos : t.find(':', 2) - 2);
    check_refused("ok:1 " + t, t, "id '" + id + "' is not a decimal int64");
  }
}

TEST_CASE("a weight that is not a finite float32 is refused") {
  for (const char* w : {"", "nan", "NaN", "inf", "-inf", "infinity", "1e39", "-1e39", "abc",
                        "0x1p3", "+1", "1.5x", "1,5"}) {
    std::string t = std::string("a:1:") + w;
    check_refused(t, t, "weight '" + std::string(w) + "' is not a finite float32");
  }
}

TEST_CASE("one table's tokens may not mix weighted and unweighted ids") {
  check_refused("a:1 b:1:0.5 a:2:0.5", "a:2:0.5", "table 'a' mixes ids with and without");
  check_refused("a:1:0.5 a:2", "a:2", "table 'a' mixes ids with and without");
}

TEST_CASE("the error names the line number given and the first bad token") {
  auto r = parse_ids_line("a:1 b a:x", 123);
  REQUIRE_FALSE(r);
  CHECK(message_of(r.error()) ==
        "line 123: token 'b': expected TABLE:ID or TABLE:ID:WEIGHT (no ':')");
  CHECK(describe(r.error()).rfind("tessera.invalid_argument: line 123: ", 0) == 0);
}

TEST_CASE("a long bad token is cut to 64 bytes in the message") {
  std::string token = "t:" + std::string(100, 'x');
  auto r = parse_ids_line(token, 1);
  REQUIRE_FALSE(r);
  const std::string msg = message_of(r.error());
  CHECK(msg.find("token '" + token.substr(0, 64) + "...': ") != std::string::npos);
  CHECK(msg.find(token.substr(0, 65) + "'") == std::string::npos);
}

TEST_CASE("set_tables writes names, ids, and weights only for weighted bags") {
  capnp::MallocMessageBuilder message;
  auto input = message.initRoot<::Input>();
  set_tables(input, parse_ok("user:5 item:7:0.5 user:9 0:3:2"));
  REQUIRE(input.isTables());
  auto tables = input.getTables();
  REQUIRE(tables.size() == 3);
  CHECK(tables[0].isName());
  CHECK(std::string(tables[0].getName().cStr()) == "user");
  REQUIRE(tables[0].getIds().size() == 2);
  CHECK(tables[0].getIds()[0] == 5);
  CHECK(tables[0].getIds()[1] == 9);
  CHECK(tables[0].getWeights().size() == 0);
  CHECK(std::string(tables[1].getName().cStr()) == "item");
  REQUIRE(tables[1].getWeights().size() == 1);
  CHECK(tables[1].getWeights()[0] == 0.5f);
  CHECK(tables[2].isName());
  CHECK(std::string(tables[2].getName().cStr()) == "0");
  CHECK(tables[2].getWeights()[0] == 2.0f);
}

TEST_CASE("set_tables of an empty line still makes a tables input, with no bag") {
  capnp::MallocMessageBuilder message;
  auto input = message.initRoot<::Input>();
  set_tables(input, parse_ok("\n"));
  CHECK(input.isTables());
  CHECK(input.getTables().size() == 0);
}

TEST_CASE("wire_bytes is the size of the encoded Input") {
  for (std::string_view line : {"", "a:1", "user:5 item:7:0.5 user:9", "abcdefgh:1:1 b:2:2 b:3:3",
                                "t:1 t:2 t:3 t:4 t:5 t:6 t:7 t:8 t:9 u:1:1"}) {
    tables_input bags = parse_ok(line);
    capnp::MallocMessageBuilder message;
    set_tables(message.initRoot<::Input>(), bags);
    // The serialized size less its segment table (1 word) and root pointer (1 word).
    size_t encoded = (capnp::computeSerializedSizeInWords(message) - 2) * 8;
    CHECK(wire_bytes(bags) == encoded);
  }
}
