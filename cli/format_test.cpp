#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "cli/format.hpp"

using namespace tessera::cli;

namespace {
std::string printf_g(float v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));
  return buf;
}
}  // namespace

TEST_CASE("fasttext probabilities print like printf %g on the double value") {
  for (float v : {1.00001f, 1e-05f, 0.5f, 0.123456789f, 1.0f, 0.0f, 3.0e-7f})
    CHECK(format_g(v) == printf_g(v));
  CHECK(format_g(1.00001f) == "1.00001");
  CHECK(format_g(1e-05f) == "1e-05");
  CHECK(format_g(0.5f) == "0.5");
  CHECK(format_g(0.123456789f) == "0.123457");
}

TEST_CASE("fasttext format: label prob pairs separated by single spaces") {
  std::vector<label_prob> labels = {{"__label__a", 0.5f, 3}, {"__label__b", 1e-05f, 0}};
  CHECK(format_prediction(labels, output_format::fasttext, 1, 2) ==
        "__label__a 0.5 __label__b 1e-05");
  CHECK(format_prediction({}, output_format::fasttext, 1, 2).empty());
}

TEST_CASE("text format: tab separated label and %.6g prob") {
  std::vector<label_prob> labels = {{"__label__a", 0.123456789f, 3}, {"__label__b", 0.25f, 0}};
  CHECK(format_prediction(labels, output_format::text, 1, 2) ==
        "__label__a\t0.123457\t__label__b\t0.25");
  CHECK(format_prediction({}, output_format::text, 1, 2).empty());
}

TEST_CASE("json format: labels, version and epoch") {
  std::vector<label_prob> labels = {{"__label__a", 0.91f, 3}};
  std::string line = format_prediction(labels, output_format::json, 1, 7);
  CHECK(line ==
        R"({"labels":[{"label":"__label__a","prob":0.91,"index":3}],"version":1,"epoch":7})");
  auto j = nlohmann::json::parse(line);
  CHECK(j["labels"][0]["prob"].get<float>() == 0.91f);
  CHECK(format_prediction({}, output_format::json, 2, 3) ==
        R"({"labels":[],"version":2,"epoch":3})");
}

TEST_CASE("json format: a k = -1 answer lists every label on one line") {
  // What `predict --k -1 --format json` prints for a two-label sigmoid model.
  std::vector<label_prob> labels = {{"click", 0.73f, 0}, {"skip", 0.27000001f, 1}};
  std::string line = format_prediction(labels, output_format::json, 4, 9);
  CHECK(line == R"({"labels":[{"label":"click","prob":0.73,"index":0},)"
                R"({"label":"skip","prob":0.27,"index":1}],"version":4,"epoch":9})");
  std::vector<label_prob> many;
  for (uint32_t i = 0; i < 1000; ++i)
    many.push_back({"l" + std::to_string(i), 1.0f / static_cast<float>(i + 1), i});
  line = format_prediction(many, output_format::json, 1, 1);
  CHECK(line.find('\n') == std::string::npos);
  auto j = nlohmann::json::parse(line);
  REQUIRE(j["labels"].size() == many.size());
  for (size_t i = 0; i < many.size(); ++i) {
    CHECK(j["labels"][i]["label"].get<std::string>() == many[i].label);
    CHECK(j["labels"][i]["prob"].get<float>() == many[i].prob);
    CHECK(j["labels"][i]["index"].get<uint32_t>() == many[i].index);
  }
}

TEST_CASE("json lines: a label holding a newline stays on one output line") {
  std::vector<label_prob> labels = {{"a\nb\r", 0.5f, 0}};
  std::string line = format_prediction(labels, output_format::json, 1, 1);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find('\r') == std::string::npos);
  CHECK(nlohmann::json::parse(line)["labels"][0]["label"].get<std::string>() == "a\nb\r");
}

TEST_CASE("json floats read back as the same float32, extremes included") {
  std::vector<float> v = {0.0f,     -0.0f,        1.0f / 3.0f, FLT_MIN,     FLT_MAX,
                          -FLT_MAX, FLT_TRUE_MIN, 1e-45f,      16777217.0f, 0.1f};
  std::mt19937 rng(7);  // arbitrary float32 bit patterns, the finite ones
  while (v.size() < 2000) {
    uint32_t bits = static_cast<uint32_t>(rng());
    float f;
    std::memcpy(&f, &bits, sizeof f);
    if (std::isfinite(f)) v.push_back(f);
  }
  auto j = nlohmann::json::parse(format_vector(v, output_format::json));
  REQUIRE(j.size() == v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    INFO("value " << i << " bits of " << v[i]);
    float back = j[i].get<float>();
    CHECK(std::memcmp(&back, &v[i], sizeof back) == 0);
  }
  std::vector<label_prob> labels;
  for (size_t i = 0; i < 200; ++i) labels.push_back({"x", v[i], 0});
  auto p = nlohmann::json::parse(format_prediction(labels, output_format::json, 1, 1));
  for (size_t i = 0; i < labels.size(); ++i)
    CHECK(p["labels"][i]["prob"].get<float>() == labels[i].prob);
}

TEST_CASE("json prints NaN and infinities as null") {
  CHECK(format_vector({NAN, INFINITY, -INFINITY, 1.5f}, output_format::json) ==
        "[null,null,null,1.5]");
  std::vector<label_prob> labels = {{"a", NAN, 0}};
  CHECK(format_prediction(labels, output_format::json, 1, 1) ==
        R"({"labels":[{"label":"a","prob":null,"index":0}],"version":1,"epoch":1})");
}

TEST_CASE("json escapes label text and survives invalid UTF-8") {
  std::vector<label_prob> labels = {{"a\"b\xff", 0.5f, 0}};
  auto j = nlohmann::json::parse(format_prediction(labels, output_format::json, 1, 1));
  CHECK(j["labels"][0]["label"].get<std::string>().substr(0, 3) == "a\"b");
}

TEST_CASE("shortest_float round-trips") {
  for (float v : {0.1f, 0.91f, 1.0f / 3.0f, 1e-30f, -2.5f, 123456789.0f}) {
    std::string s = shortest_float(v);
    CHECK(std::strtof(s.c_str(), nullptr) == v);
  }
  CHECK(shortest_float(0.1f) == "0.1");
}

TEST_CASE("embedding formats") {
  std::vector<float> v = {0.5f, -1.25f, 0.1f};
  CHECK(format_vector(v, output_format::text) == "0.5 -1.25 0.100000001");
  CHECK(format_vector(v, output_format::json) == "[0.5,-1.25,0.1]");
  CHECK(format_vector({}, output_format::text).empty());
  CHECK(format_vector({}, output_format::json) == "[]");
}

TEST_CASE("format names") {
  CHECK(parse_output_format("fasttext") == output_format::fasttext);
  CHECK(parse_output_format("json") == output_format::json);
  CHECK(parse_output_format("text") == output_format::text);
  CHECK_THROWS_AS(parse_output_format("xml"), std::invalid_argument);
}

TEST_CASE("human bytes") {
  CHECK(human_bytes(512) == "512 B");
  CHECK(human_bytes(1536) == "1.50 KiB");
  CHECK(human_bytes(3ull << 30) == "3.00 GiB");
}
