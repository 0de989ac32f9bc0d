#include "importers/safetensors_import.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>

#include <catch2/catch.hpp>

#include "testing/package_builder.hpp"
#include "testing/safetensors_writer.hpp"

using namespace tessera;
using tessera::testing::f32_bytes;
using tessera::testing::safetensors_bytes;
using tessera::testing::slurp;
using tessera::testing::spit;
using tessera::testing::st_tensor;
using tessera::testing::temp_dir;

namespace {

// A model tensor and the float32 values the package must hold for it.
struct model_tensor {
  st_tensor file;
  std::vector<float> want;
};

// IEEE half's value from its fields, computed in double (independent of st::f16_to_f32).
float half_value(uint16_t h) {
  const int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (exp == 0) return static_cast<float>(sign * std::ldexp(mant, -24));
  return static_cast<float>(sign * std::ldexp(1024 + mant, exp - 25));
}

// bfloat16 is the top half of a float32.
float bf16_value(uint16_t b) {
  const uint32_t bits = uint32_t{b} << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint64_t elements_of(const std::vector<uint64_t>& shape) {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

// A tensor of `dtype` ("F32", "F16", "BF16") with values drawn from `seed`: finite, both signs,
// F16 subnormals included.
model_tensor make_tensor(const std::string& name, const std::string& dtype,
                         std::vector<uint64_t> shape, uint32_t seed) {
  model_tensor t;
  t.file.name = name;
  t.file.dtype = dtype;
  t.file.shape = shape;
  const uint64_t n = elements_of(shape);
  uint32_t x = seed * 2654435761u + 1;
  for (uint64_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    uint16_t bits = static_cast<uint16_t>(x >> 16);
    if (dtype == "F32") {
      const float v = static_cast<float>(static_cast<int32_t>(x)) / 65536.0f;
      t.want.push_back(v);
      continue;
    }
    if (dtype == "F16") {
      if (((bits >> 10) & 0x1f) == 0x1f) bits &= 0xbfff;  // no infinity or NaN
      t.want.push_back(half_value(bits));
    } else {
      if (((bits >> 7) & 0xff) == 0xff) bits &= 0xbfff;
      t.want.push_back(bf16_value(bits));
    }
    t.file.bytes += static_cast<char>(bits & 0xff);
    t.file.bytes += static_cast<char>(bits >> 8);
  }
  if (dtype == "F32") t.file.bytes = f32_bytes(t.want);
  return t;
}

// Writes `tensors` as dir/<file> and returns its path.
std::string write_model(const temp_dir& dir, const std::string& file,
                        const std::vector<model_tensor>& tensors) {
  std::vector<st_tensor> st;
  for (const auto& t : tensors) st.push_back(t.file);
  const std::string path = dir.sub(file);
  spit(path, safetensors_bytes(st));
  return path;
}

std::string write_spec(const temp_dir& dir, const std::string& file, const std::string& text) {
  spit(dir.sub(file), text);
  return dir.sub(file);
}

// The whole of package tensor `name`, which must be rows x cols.
std::vector<float> package_rows(const package& p, const std::string& name, uint64_t rows,
                                uint64_t cols) {
  const tensor_info* t = p.meta().find_tensor(name);
  REQUIRE(t != nullptr);
  CHECK(t->rows == rows);
  CHECK(t->cols == cols);
  auto block = p.read_rows(name, 0, rows);
  REQUIRE(block);
  return std::vector<float>(block->data.get(), block->data.get() + rows * cols);
}

// Bitwise equality, so -0 and 0 differ.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

bool has_manifest(const std::string& dir) {
  return std::filesystem::exists(dir + "/manifest.toml");
}

const char* const full_spec = R"(
name = "ctr"
[[tables]]
name = "user"
tensor = "emb.user.weight"
mode = "sum"
padding_idx = -1
[[tables]]
name = "item"
tensor = "emb.item.weight"
mode = "max"
[[layers]]
weight = "mlp.0.weight"
bias = "mlp.0.bias"
activation = "relu"
[[layers]]
weight = "mlp.2.weight"
bias = "mlp.2.bias"
[output]
kind = "sigmoid"
labels = ["click", "skip"]
)";

// The model of full_spec: tables user 5 x 3 and item 4 x 2, layers 4 x 5 and 2 x 4.
std::vector<model_tensor> full_model(const std::string& dtype) {
  return {make_tensor("emb.user.weight", dtype, {5, 3}, 1),
          make_tensor("emb.item.weight", dtype, {4, 2}, 2),
          make_tensor("mlp.0.weight", dtype, {4, 5}, 3),
          make_tensor("mlp.0.bias", dtype, {4}, 4),
          make_tensor("mlp.2.weight", dtype, {2, 4}, 5),
          make_tensor("mlp.2.bias", dtype, {2}, 6)};
}

}  // namespace

TEST_CASE("a 2-table 2-layer model imports with its values, bags, output and labels") {
  for (const std::string dtype : {"F32", "F16", "BF16"}) {
    DYNAMIC_SECTION("dtype " << dtype) {
      temp_dir tmp;
      const auto model = full_model(dtype);
      const std::string out = tmp.sub("pkg");
      uint64_t done = 0, total = 0;
      auto res = import_safetensors(write_model(tmp, "m.safetensors", model),
                                    write_spec(tmp, "spec.toml", full_spec), out, "",
                                    [&](uint64_t d, uint64_t t) {
                                      CHECK(d >= done);
                                      done = d, total = t;
                                    });
      REQUIRE(res);
      CHECK(res->name == "ctr");
      uint64_t bytes = 0;
      for (const auto& t : model) bytes += t.file.bytes.size();
      CHECK(done == bytes);
      CHECK(total == bytes);

      auto p = package::open(out);
      REQUIRE(p);
      const manifest& m = p->meta();
      CHECK(m.name == "ctr");
      REQUIRE(m.embedder);
      const embedder_spec& e = *m.embedder;
      CHECK(e.name == "ctr.embedder");
      CHECK(e.version == 1);
      CHECK(e.tables == std::vector<std::string>{"embedder.user", "embedder.item"});
      CHECK(e.pooling == pooling_kind::sum);
      CHECK(e.featurizer.kind == "ids");
      REQUIRE(e.bags.size() == 2);
      CHECK(e.bags[0].name == "user");
      CHECK(e.bags[0].pooling == pooling_kind::sum);
      CHECK(e.bags[0].padding_idx == 4);  // -1 counts from the end of 5 rows
      CHECK(e.bags[1].name == "item");
      CHECK(e.bags[1].pooling == pooling_kind::max);
      CHECK(e.bags[1].padding_idx == -1);
      CHECK(embedder_dim(m) == 5);

      REQUIRE(m.classifier);
      const classifier_spec& c = *m.classifier;
      CHECK(c.name == "ctr.classifier");
      CHECK(c.version == 1);
      CHECK(c.output == output_kind::sigmoid);
      REQUIRE(c.layers.size() == 2);
      CHECK(c.layers[0].weight == "classifier.l0.weight");
      CHECK(c.layers[0].bias == "classifier.l0.bias");
      CHECK(c.layers[0].activation == activation_kind::relu);
      CHECK(c.layers[1].weight == "classifier.l1.weight");
      CHECK(c.layers[1].bias == "classifier.l1.bias");
      CHECK(c.layers[1].activation == activation_kind::none);
      auto labels = p->read_lines(c.labels);
      REQUIRE(labels);
      CHECK(*labels == std::vector<std::string>{"click", "skip"});

      CHECK(same_bits(package_rows(*p, "embedder.user", 5, 3), model[0].want));
      CHECK(same_bits(package_rows(*p, "embedder.item", 4, 2), model[1].want));
      CHECK(same_bits(package_rows(*p, "classifier.l0.weight", 4, 5), model[2].want));
      CHECK(same_bits(package_rows(*p, "classifier.l0.bias", 4, 1), model[3].want));
      CHECK(same_bits(package_rows(*p, "classifier.l1.weight", 2, 4), model[4].want));
      CHECK(same_bits(package_rows(*p, "classifier.l1.bias", 2, 1), model[5].want));
      CHECK(m.tensors.size() == 6);
    }
  }
}

TEST_CASE("an embedder-only spec writes an embedder-only package named after the file") {
  temp_dir tmp;
  const auto user = make_tensor("emb.user.weight", "F32", {6, 4}, 7);
  const auto item = make_tensor("emb.item.weight", "BF16", {3, 2}, 8);
  const std::string spec = R"(
[[tables]]
name = "user"
tensor = "emb.user.weight"
[[tables]]
name = "item"
tensor = "emb.item.weight"
mode = "sum"
padding_idx = 1
)";
  const std::string out = tmp.sub("pkg");
  auto res = import_safetensors(write_model(tmp, "clicks.v2.safetensors", {user, item}),
                                write_spec(tmp, "spec.toml", spec), out, "", {});
  REQUIRE(res);
  CHECK(res->name == "clicks.v2");
  auto p = package::open(out);
  REQUIRE(p);
  const manifest& m = p->meta();
  CHECK(m.name == "clicks.v2");
  CHECK_FALSE(m.classifier);
  REQUIRE(m.embedder);
  CHECK(m.embedder->name == "clicks.v2.embedder");
  CHECK(m.embedder->pooling == pooling_kind::mean);  // EmbeddingBag's default mode
  REQUIRE(m.embedder->bags.size() == 2);
  CHECK(m.embedder->bags[0].pooling == pooling_kind::mean);
  CHECK(m.embedder->bags[0].padding_idx == -1);
  CHECK(m.embedder->bags[1].pooling == pooling_kind::sum);
  CHECK(m.embedder->bags[1].padding_idx == 1);
  CHECK(m.files.empty());
  CHECK(same_bits(package_rows(*p, "embedder.user", 6, 4), user.want));
  CHECK(same_bits(package_rows(*p, "embedder.item", 3, 2), item.want));
}

TEST_CASE("a classifier-only spec writes default labels and the name given over the spec's") {
  temp_dir tmp;
  const auto w0 = make_tensor("fc1.weight", "F16", {3, 7}, 9);
  const auto w1 = make_tensor("fc2.weight", "F32", {4, 3}, 10);
  const auto b1 = make_tensor("fc2.bias", "F32", {4}, 11);
  const std::string spec = R"(
name = "from-spec"
[[layers]]
weight = "fc1.weight"
activation = "tanh"
[[layers]]
weight = "fc2.weight"
bias = "fc2.bias"
[output]
kind = "softmax"
)";
  const std::string out = tmp.sub("pkg");
  auto res = import_safetensors(write_model(tmp, "m.safetensors", {w0, w1, b1}),
                                write_spec(tmp, "spec.toml", spec), out, "head", {});
  REQUIRE(res);
  auto p = package::open(out);
  REQUIRE(p);
  const manifest& m = p->meta();
  CHECK(m.name == "head");
  CHECK_FALSE(m.embedder);
  REQUIRE(m.classifier);
  CHECK(m.classifier->name == "head.classifier");
  CHECK(m.classifier->output == output_kind::softmax);
  REQUIRE(m.classifier->layers.size() == 2);
  CHECK(m.classifier->layers[0].bias.empty());
  CHECK(m.classifier->layers[0].activation == activation_kind::tanh);
  CHECK(m.classifier->layers[1].bias == "classifier.l1.bias");
  CHECK(m.tensors.size() == 3);
  auto labels = p->read_lines("labels");
  REQUIRE(labels);
  CHECK(*labels == std::vector<std::string>{"0", "1", "2", "3"});
  CHECK(same_bits(package_rows(*p, "classifier.l0.weight", 3, 7), w0.want));
  CHECK(same_bits(package_rows(*p, "classifier.l1.weight", 4, 3), w1.want));
  CHECK(same_bits(package_rows(*p, "classifier.l1.bias", 4, 1), b1.want));
}

TEST_CASE("a spec without [output] imports raw scores (output none)") {
  temp_dir tmp;
  const std::string spec = "[[layers]]\nweight = \"w\"\n";
  auto res =
      import_safetensors(write_model(tmp, "m.safetensors", {make_tensor("w", "F32", {2, 3}, 1)}),
                         write_spec(tmp, "spec.toml", spec), tmp.sub("pkg"), "", {});
  REQUIRE(res);
  auto p = package::open(tmp.sub("pkg"));
  REQUIRE(p);
  CHECK(p->meta().classifier->output == output_kind::none);
}

TEST_CASE("refused imports give a typed error naming the fault and write no manifest") {
  temp_dir tmp;
  const std::string model = write_model(tmp, "m.safetensors", full_model("F32"));
  const std::string out = tmp.sub("pkg");
  auto refusal = [&](const std::string& model_path, const std::string& spec_path, errc want) {
    auto res = import_safetensors(model_path, spec_path, out, "", {});
    REQUIRE_FALSE(res);
    CHECK(code_of(res.error()) == want);
    CHECK_FALSE(has_manifest(out));
    CHECK_FALSE(std::filesystem::exists(out));  // refused before OUT_DIR is made
    return message_of(res.error());
  };

  SECTION("a spec naming a tensor the file lacks") {
    std::string spec = full_spec;
    spec.replace(spec.find("mlp.2.bias"), 10, "mlp.2.b");
    const auto msg = refusal(model, write_spec(tmp, "s.toml", spec), errc::invalid_argument);
    CHECK(has(msg, "'mlp.2.b'"));
    CHECK(has(msg, "s.toml"));
  }
  SECTION("a layer whose weight does not take the tables' pooled width") {
    auto bad = full_model("F32");
    bad[2] = make_tensor("mlp.0.weight", "F32", {4, 6}, 3);
    const auto msg = refusal(write_model(tmp, "bad.safetensors", bad),
                             write_spec(tmp, "s.toml", full_spec), errc::invalid_argument);
    CHECK(has(msg, "'mlp.0.weight'"));
  }
  SECTION("a table that is not 2-D") {
    auto bad = full_model("F32");
    bad[0] = make_tensor("emb.user.weight", "F32", {15}, 1);
    const auto msg = refusal(write_model(tmp, "bad.safetensors", bad),
                             write_spec(tmp, "s.toml", full_spec), errc::invalid_argument);
    CHECK(has(msg, "'emb.user.weight'"));
  }
  SECTION("a missing spec file") {
    const auto msg = refusal(model, tmp.sub("nope.toml"), errc::io_error);
    CHECK(has(msg, "nope.toml"));
  }
  SECTION("a missing model file") {
    const auto msg =
        refusal(tmp.sub("nope.safetensors"), write_spec(tmp, "s.toml", full_spec), errc::io_error);
    CHECK(has(msg, "nope.safetensors"));
  }
  SECTION("a spec that is not valid TOML") {
    const auto msg =
        refusal(model, write_spec(tmp, "s.toml", "[[tables]\n"), errc::invalid_argument);
    CHECK(has(msg, "s.toml"));
  }
  SECTION("a table name that cannot be part of a file name") {
    std::string spec = full_spec;
    spec.replace(spec.find("\"user\""), 6, "\"a/b\"");
    const auto msg = refusal(model, write_spec(tmp, "s.toml", spec), errc::invalid_argument);
    CHECK(has(msg, "'a/b'"));
  }
}

TEST_CASE("an OUT_DIR already holding a package is already_exists and stays as it was") {
  temp_dir tmp;
  const std::string model = write_model(tmp, "m.safetensors", full_model("F32"));
  const std::string spec = write_spec(tmp, "s.toml", full_spec);
  const std::string out = tmp.sub("pkg");
  REQUIRE(import_safetensors(model, spec, out, "", {}));
  const std::string before = slurp(out + "/manifest.toml");
  auto again = import_safetensors(model, spec, out, "other", {});
  REQUIRE_FALSE(again);
  CHECK(code_of(again.error()) == errc::already_exists);
  CHECK(slurp(out + "/manifest.toml") == before);
}

TEST_CASE("tables larger than one chunk stream through and round-trip exactly") {
  temp_dir tmp;
  // 3.2 MB of F32 (4 chunks of 1 MiB, the last partial), and F16 rows of 1.2 MB as float32
  // (a row larger than a chunk: one row per chunk).
  const auto big = make_tensor("big", "F32", {8000, 100}, 21);
  const auto wide = make_tensor("wide", "F16", {3, 300'000}, 22);
  const std::string spec = R"(
[[tables]]
name = "big"
tensor = "big"
[[tables]]
name = "wide"
tensor = "wide"
)";
  const std::string out = tmp.sub("pkg");
  uint64_t calls = 0, done = 0;
  auto res =
      import_safetensors(write_model(tmp, "m.safetensors", {big, wide}),
                         write_spec(tmp, "spec.toml", spec), out, "", [&](uint64_t d, uint64_t) {
                           ++calls;
                           done = d;
                         });
  REQUIRE(res);
  CHECK(calls == 4 + 3);
  CHECK(done == big.file.bytes.size() + wide.file.bytes.size());
  // The package's F32 file holds the model's F32 bytes as they were.
  CHECK(slurp(out + "/embedder.big.f32") == big.file.bytes);
  auto p = package::open(out);
  REQUIRE(p);
  CHECK(same_bits(package_rows(*p, "embedder.big", 8000, 100), big.want));
  CHECK(same_bits(package_rows(*p, "embedder.wide", 3, 300'000), wide.want));
}
