#include "importers/safetensors.hpp"

#include <cmath>
#include <cstring>

#include <catch2/catch.hpp>

#include "testing/safetensors_writer.hpp"

using namespace tessera;
using namespace tessera::st;
using tessera::testing::f32_bytes;

namespace {

// A safetensors file: the 8-byte length, `header` as given, then `data`.
std::string file_of(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

caf::expected<reader> open_bytes(std::string bytes) {
  return reader::open(make_memory_source(std::move(bytes)));
}

// The refusal of a file, "" when it opens.
std::string refusal(const std::string& header, const std::string& data, errc want) {
  auto r = open_bytes(file_of(header, data));
  if (r) return "";
  CHECK(code_of(r.error()) == want);
  return message_of(r.error());
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// IEEE half's value from its fields, computed in double: the oracle of f16_to_f32.
double half_value(uint16_t h) {
  const int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant == 0 ? sign * INFINITY : NAN;
  return sign * std::ldexp(1024 + mant, exp - 25);
}

}  // namespace

TEST_CASE("a safetensors file's tensors are listed in data order with absolute offsets") {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[24,32]},)"
      R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";
  auto r = open_bytes(file_of(header, f32_bytes({1, 2, 3, 4, 5, 6, 7, 8})));
  REQUIRE(r);
  REQUIRE(r->tensors().size() == 2);
  const auto& a = r->tensors()[0];
  CHECK(a.name == "a");
  CHECK(a.shape == std::vector<uint64_t>{2, 3});
  CHECK(a.begin == 8 + header.size());
  CHECK(a.rows() == 2);
  CHECK(a.row_elements() == 3);
  CHECK(r->find("b") == &r->tensors()[1]);
  CHECK(r->find("c") == nullptr);
  float rows[6];
  REQUIRE(!r->read_rows(a, 0, 2, rows));
  CHECK(std::vector<float>(rows, rows + 6) == std::vector<float>{1, 2, 3, 4, 5, 6});
  REQUIRE(!r->read_rows(a, 1, 2, rows));
  CHECK(std::vector<float>(rows, rows + 3) == std::vector<float>{4, 5, 6});
  REQUIRE(!r->read_rows(*r->find("b"), 0, 2, rows));
  CHECK(std::vector<float>(rows, rows + 2) == std::vector<float>{7, 8});
  CHECK(code_of(r->read_rows(a, 1, 3, rows)) == errc::invalid_argument);
  CHECK(code_of(r->read_rows(a, 2, 1, rows)) == errc::invalid_argument);
}

TEST_CASE("every half converts to the float of the same value; bfloat16 is the top half") {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float got = f16_to_f32(static_cast<uint16_t>(h));
    const double want = half_value(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      CHECK(std::isnan(got));
      continue;
    }
    if (got != want) FAIL("half " << h << " gave " << got << ", not " << want);
    CHECK(std::signbit(got) == ((h & 0x8000) != 0));  // -0 stays -0
  }
  CHECK(f16_to_f32(0x3c00) == 1.0f);
  CHECK(f16_to_f32(0x7bff) == 65504.0f);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));
  CHECK(bf16_to_f32(0x3f80) == 1.0f);
  CHECK(bf16_to_f32(0xc049) == -3.140625f);
  CHECK(std::isinf(bf16_to_f32(0x7f80)));
}

TEST_CASE("F16 and BF16 rows read as float32; rows longer than a read chunk too") {
  // 2 x 3 F16: 1, -2, 0.5 / 65504, 2^-24, -0.
  std::string f16;
  for (uint16_t h : {0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000}) {
    f16 += static_cast<char>(h & 0xff);
    f16 += static_cast<char>(h >> 8);
  }
  std::string bf16;
  for (uint16_t b : {0x3f80, 0xc049}) {
    bf16 += static_cast<char>(b & 0xff);
    bf16 += static_cast<char>(b >> 8);
  }
  // One F32 row of 1.5 M floats (6 MB): read in two chunks.
  const uint64_t big = 1'500'000;
  std::string big_bytes(big * 4, '\0');
  for (uint64_t i = 0; i < big; ++i) {
    float v = static_cast<float>(i);
    std::memcpy(&big_bytes[i * 4], &v, 4);
  }
  const std::string header =
      R"({"h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},)"
      R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]},)"
      R"("big":{"dtype":"F32","shape":[1,1500000],"data_offsets":[16,6000016]}})";
  auto r = open_bytes(file_of(header, f16 + bf16 + big_bytes));
  REQUIRE(r);
  float h[6];
  REQUIRE(!r->read_rows(*r->find("h"), 0, 2, h));
  CHECK(h[0] == 1.0f);
  CHECK(h[1] == -2.0f);
  CHECK(h[2] == 0.5f);
  CHECK(h[3] == 65504.0f);
  CHECK(h[4] == std::ldexp(1.0f, -24));
  CHECK((h[5] == 0.0f && std::signbit(h[5])));
  float b[2];
  REQUIRE(!r->read_rows(*r->find("b"), 0, 2, b));
  CHECK(b[0] == 1.0f);
  CHECK(b[1] == -3.140625f);
  std::vector<float> row(big);
  REQUIRE(!r->read_rows(*r->find("big"), 0, 1, row.data()));
  for (uint64_t i = 0; i < big; i += 99'991) CHECK(row[i] == static_cast<float>(i));
  CHECK(row[big - 1] == static_cast<float>(big - 1));
}

TEST_CASE("an empty header, a scalar and a zero-size tensor are valid") {
  CHECK(open_bytes(file_of("{}", "")));
  CHECK(open_bytes(file_of("  {}  ", "")));  // JSON allows padding
  auto r = open_bytes(file_of(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                              R"("z":{"dtype":"F16","shape":[0,8],"data_offsets":[4,4]}})",
                              f32_bytes({2.5})));
  REQUIRE(r);
  float s = 0;
  REQUIRE(!r->read_rows(*r->find("s"), 0, 1, &s));
  CHECK(s == 2.5f);
  CHECK(r->find("z")->rows() == 0);
}

TEST_CASE("a file that is not safetensors is refused as corrupt before reading its header") {
  CHECK(has(message_of(open_bytes("1234567").error()), "under 8"));
  std::string huge(8, '\0');
  huge[3] = 0x10;  // 2^28 > 100 MB
  auto r = open_bytes(huge + "{}");
  REQUIRE(!r);
  CHECK(code_of(r.error()) == errc::corrupt_package);
  CHECK(has(message_of(r.error()), "over 100000000"));
  std::string past = file_of("{}", "");
  past[0] = 9;  // 9 header bytes in a file with 2
  CHECK(has(message_of(open_bytes(past).error()), "runs past"));
}

TEST_CASE("headers of the wrong shape are refused as corrupt, naming the tensor") {
  const auto c = errc::corrupt_package;
  CHECK(has(refusal("not json", "", c), "not JSON"));
  CHECK(has(refusal("[]", "", c), "instead of the header's object"));
  CHECK(has(refusal(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32",)"
                    R"("shape":[1],"data_offsets":[4,8]}})",
                    f32_bytes({1, 2}), c),
            "tensor 'a' is listed twice"));
  CHECK(has(
      refusal(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", f32_bytes({1}), c),
      "tensor 'a' has an unknown key 'x'"));
  CHECK(has(refusal(R"({"a":{"dtype":"F32","shape":[1]}})", "", c), "tensor 'a' needs dtype"));
  CHECK(
      has(refusal(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", f32_bytes({1}), c),
          "negative number in tensor 'a'"));
  CHECK(
      has(refusal(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", f32_bytes({1}), c),
          "fraction in tensor 'a'"));
  CHECK(has(
      refusal(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", f32_bytes({1, 2}), c),
      "over 2 numbers"));
  CHECK(
      has(refusal(R"({"a":{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}})", f32_bytes({1}), c),
          "an array in tensor 'a'"));
  CHECK(has(refusal(R"({"__metadata__":{"n":1}})", "", c), "__metadata__ value"));
  CHECK(
      has(refusal(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} x)", f32_bytes({1}), c),
          "not JSON"));
}

TEST_CASE("a dtype other than F32, F16 and BF16 is unsupported, named with its tensor") {
  for (const char* t : {"F64", "I64", "I32", "U8", "BOOL", "F8_E4M3", "f32", ""}) {
    INFO(t);
    auto why =
        refusal(std::string(R"({"w":{"dtype":")") + t + R"(","shape":[1],"data_offsets":[0,8]}})",
                std::string(8, '\0'), errc::unsupported);
    CHECK(has(why, "tensor 'w' has dtype"));
  }
}

TEST_CASE("offsets out of the data, overlapping, leaving holes or not matching the shape") {
  const auto c = errc::corrupt_package;
  const auto two = f32_bytes({1, 2});
  CHECK(has(refusal(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", two, c),
            "ends (0) before it begins (4)"));
  CHECK(has(refusal(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})", two, c),
            "ends at byte 12 of the data, which has 8"));
  CHECK(has(refusal(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", two, c),
            "tensor 'a' of shape with 1 F32 elements has 8 bytes"));
  CHECK(has(refusal(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                    R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                    two, c),
            "tensor 'b' overlaps"));
  CHECK(has(refusal(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", two, c),
            "data bytes 0..4 belong to no tensor"));
  CHECK(has(refusal(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", two, c),
            "data bytes 4..8 belong to no tensor"));
  CHECK(has(refusal(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],)"
                    R"("data_offsets":[0,8]}})",
                    two, c),
            "too many elements"));
}

TEST_CASE("a file written to the format's specification opens and reads back") {
  using tessera::testing::st_tensor;
  const std::string bytes = tessera::testing::safetensors_bytes(
      {{"emb.weight", "F32", {3, 2}, f32_bytes({1, 2, 3, 4, 5, 6})},
       {"mlp.bias", "BF16", {2}, std::string("\x80\x3f\x00\x40", 4)}},  // 1, 2
      {{"format", "pt"}});
  auto r = open_bytes(bytes);
  REQUIRE(r);
  REQUIRE(r->tensors().size() == 2);
  float w[6], b[2];
  REQUIRE(!r->read_rows(*r->find("emb.weight"), 0, 3, w));
  CHECK(std::vector<float>(w, w + 6) == std::vector<float>{1, 2, 3, 4, 5, 6});
  REQUIRE(!r->read_rows(*r->find("mlp.bias"), 0, 2, b));
  CHECK(b[0] == 1.0f);
  CHECK(b[1] == 2.0f);
}
