#include "importers/torch_spec.hpp"

#include <catch2/catch.hpp>

#include "testing/safetensors_writer.hpp"

using namespace tessera;
using tessera::testing::f32_bytes;
using tessera::testing::st_tensor;

namespace {

const char* const ctr_spec = R"(
name = "ctr"
[[tables]]
name = "user"
tensor = "emb.user.weight"
mode = "sum"
padding_idx = 0
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
activation = "none"
[output]
kind = "softmax"
labels = ["click", "skip", "hide"]
)";

st_tensor zeros(const std::string& name, std::vector<uint64_t> shape) {
  uint64_t n = 1;
  for (auto d : shape) n *= d;
  return {name, "F32", std::move(shape), f32_bytes(std::vector<float>(n, 0.0f))};
}

// The DLRM-shaped file of ctr_spec: tables 10 x 4 and 7 x 2, layers 6 -> 5 -> 3.
std::vector<st_tensor> ctr_tensors() {
  return {zeros("emb.user.weight", {10, 4}), zeros("emb.item.weight", {7, 2}),
          zeros("mlp.0.weight", {5, 6}),     zeros("mlp.0.bias", {5}),
          zeros("mlp.2.weight", {3, 5}),     zeros("mlp.2.bias", {3})};
}

st::reader file_of(const std::vector<st_tensor>& tensors) {
  auto r = st::reader::open(make_memory_source(testing::safetensors_bytes(tensors)));
  REQUIRE(r);
  return std::move(*r);
}

// The invalid_argument message of parsing `text`, "" when it parses.
std::string parse_refusal(const std::string& text) {
  auto s = parse_torch_spec(text, "spec.toml");
  if (s) return "";
  CHECK(code_of(s.error()) == errc::invalid_argument);
  return message_of(s.error());
}

// The invalid_argument message of checking ctr_spec against `tensors`, "" when it passes.
std::string check_refusal(const std::string& text, const std::vector<st_tensor>& tensors) {
  auto spec = parse_torch_spec(text, "spec.toml");
  REQUIRE(spec);
  auto file = file_of(tensors);
  auto shapes = check_torch_spec(*spec, file);
  if (shapes) return "";
  CHECK(code_of(shapes.error()) == errc::invalid_argument);
  return message_of(shapes.error());
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("the issue's spec parses into tables, layers and output") {
  auto s = parse_torch_spec(ctr_spec, "spec.toml");
  REQUIRE(s);
  CHECK(s->name == "ctr");
  REQUIRE(s->tables.size() == 2);
  CHECK(s->tables[0].name == "user");
  CHECK(s->tables[0].mode == bag_mode::sum);
  CHECK(s->tables[0].padding_idx == 0);
  CHECK(s->tables[1].mode == bag_mode::max);
  CHECK(!s->tables[1].padding_idx);
  REQUIRE(s->layers.size() == 2);
  CHECK(s->layers[0].activation == activation_kind::relu);
  CHECK(s->layers[1].bias == "mlp.2.bias");
  CHECK(s->output == torch_output_kind::softmax);
  CHECK(s->labels == std::vector<std::string>{"click", "skip", "hide"});

  auto file = file_of(ctr_tensors());
  auto shapes = check_torch_spec(*s, file);
  REQUIRE(shapes);
  CHECK(shapes->pooled_dim() == 6);
  CHECK(shapes->tables[0].padding_idx == 0u);
  CHECK(shapes->layers[1].out == 3);
}

TEST_CASE("an embedder-only or a classifier-only spec is valid; labels default to numbers") {
  auto e = parse_torch_spec("[[tables]]\nname = \"u\"\ntensor = \"emb.user.weight\"\n", "s");
  REQUIRE(e);
  CHECK(e->tables[0].mode == bag_mode::mean);  // EmbeddingBag's default
  auto file = file_of(ctr_tensors());
  CHECK(check_torch_spec(*e, file));
  auto c =
      parse_torch_spec("[[layers]]\nweight = \"mlp.2.weight\"\n[output]\nkind = \"none\"\n", "s");
  REQUIRE(c);
  auto shapes = check_torch_spec(*c, file);
  REQUIRE(shapes);
  CHECK(shapes->layers[0].in == 5);  // no tables: the embedder it runs on is checked at load
  CHECK(c->labels == std::vector<std::string>{"0", "1", "2"});
}

TEST_CASE("spec text that is not a spec is refused, naming the key") {
  CHECK(has(parse_refusal("[[tables]\n"), "spec.toml"));
  CHECK(has(parse_refusal("name = \"x\"\n"), "neither [[tables]] nor [[layers]]"));
  CHECK(has(parse_refusal("[[tables]]\nname = \"u\"\n"), "tables[0]: is missing key 'tensor'"));
  CHECK(has(parse_refusal("[[tables]]\nname = \"u\"\ntensor = \"t\"\nmode = \"median\"\n"),
            "'mode' is 'median', not one of sum | mean | max"));
  CHECK(has(parse_refusal("[[tables]]\nname = \"u\"\ntensor = \"t\"\nsparse = true\n"),
            "unknown key 'sparse'"));
  CHECK(has(parse_refusal("[[tables]]\nname = \"u\"\ntensor = \"t\"\n[[tables]]\nname = "
                          "\"u\"\ntensor = \"v\"\n"),
            "a second table named 'u'"));
  CHECK(has(parse_refusal("[[tables]]\nname = \"u\"\ntensor = \"t\"\n[output]\nkind = "
                          "\"softmax\"\n"),
            "output: needs [[layers]]"));
  CHECK(has(parse_refusal("[[layers]]\nweight = \"w\"\nactivation = \"gelu\"\n"),
            "not one of none | relu | tanh | sigmoid"));
  CHECK(has(parse_refusal("[[layers]]\nweight = \"w\"\n[output]\nkind = \"softmax\"\nlabels = "
                          "[\"a\", 2]\n"),
            "'labels' must hold"));
  CHECK(has(parse_refusal("[[tables]]\nname = \"u\"\ntensor = \"t\"\npadding_idx = 1.5\n"),
            "'padding_idx' must be an integer"));
}

TEST_CASE("a spec that does not fit the file's tensors is refused, naming the part") {
  CHECK(check_refusal(ctr_spec, ctr_tensors()) == "");
  auto t = ctr_tensors();
  CHECK(has(check_refusal(replace(ctr_spec, "emb.item.weight", "emb.nope"), t),
            "table 'item' names tensor 'emb.nope', which the file does not hold"));
  CHECK(has(check_refusal(replace(ctr_spec, "emb.item.weight", "emb.user.weight"), t),
            "uses tensor 'emb.user.weight' a second time"));
  CHECK(has(check_refusal(replace(ctr_spec, "padding_idx = 0", "padding_idx = 10"), t),
            "padding_idx 10 is outside [-10, 10)"));
  CHECK(check_refusal(replace(ctr_spec, "padding_idx = 0", "padding_idx = -10"), t) == "");
  CHECK(has(check_refusal(replace(ctr_spec, "emb.user.weight", "mlp.0.bias"), t),
            "tensor 'mlp.0.bias' has shape [5], not [rows, dim]"));
  t[2] = zeros("mlp.0.weight", {5, 7});
  CHECK(has(check_refusal(ctr_spec, t), "takes 7 inputs, but the tables pool 6"));
  t = ctr_tensors();
  t[4] = zeros("mlp.2.weight", {3, 4});
  CHECK(has(check_refusal(ctr_spec, t), "takes 4 inputs, but the layer before yields 5"));
  t = ctr_tensors();
  t[5] = zeros("mlp.2.bias", {3, 1});
  CHECK(has(check_refusal(ctr_spec, t), "bias 'mlp.2.bias' has shape [3, 1], not [3]"));
  CHECK(has(check_refusal(replace(ctr_spec, "\"hide\"]", "\"hide\", \"share\"]"), ctr_tensors()),
            "4 labels, but the last layer yields 3"));
}
