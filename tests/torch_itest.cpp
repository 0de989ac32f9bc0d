// ctest: release only
// PyTorch embedding-bag models (docs/MODELS.md) served sharded by real processes, every answer
// compared with PyTorch itself: tests/torch/make_model.py builds random torch.nn.EmbeddingBag +
// torch.nn.Linear models with Debian's python3-torch, writes them as safetensors (F32, F16,
// BF16) and computes the reference outputs; `tessera import safetensors` converts them; a
// 3-node cluster serves them with every table over 16 MiB, so every table is split (asserted
// first). Agreement: |got - want| <= 1e-5 * |want| + 1e-6 for every label and dimension.
//
// Release only (scripts/test.sh runs it beside the sanitized build, not under the sanitizers):
// CI's 30 minutes had no room for it in the sanitized stage. The family's rules and max pooling
// are under the sanitizers in model_family_test, sharding_test and the gateway fuzz target, and
// one table's serving path in every other integration test; the join of several tables' pools
// (pool_stage in actors/serving_run.cpp) runs only here, without them.
#include <catch2/catch.hpp>

#include <capnp/compat/std-iterator.h>
#include <signal.h>

#include "tests/support/skip.hpp"
#include "tests/support/torch_models.hpp"

using namespace tessera;
using namespace tessera::test;

namespace {

const program_precondition needs_torch{torch_missing};

// Each table has 70,000 x 64 float32 rows: 17.9 MB, over the 16 MiB below which a tensor is
// placed whole.
const char* const big = "70000:64";

temp_dir& models_dir() {
  static temp_dir d;
  return d;
}

const torch_model& three_tables() {  // F32, sum (weighted) + max + mean with padding, softmax
  static torch_model m = make_torch_model(models_dir(), "three",
                                          {"--seed",
                                           "11",
                                           "--dtype",
                                           "F32",
                                           "--output",
                                           "softmax",
                                           "--table",
                                           std::string("user:") + big + ":sum:0",
                                           "--table",
                                           std::string("item:") + big + ":max",
                                           "--table",
                                           std::string("ctx:") + big + ":mean:3",
                                           "--layer",
                                           "32:relu",
                                           "--layer",
                                           "5:none",
                                           "--inputs",
                                           "150",
                                           "--weights",
                                           "--labels",
                                           "click,skip,hide,like,share"});
  return m;
}

const torch_model& f16_sigmoid() {  // F16, one mean table with padding, sigmoid output
  static torch_model m =
      make_torch_model(models_dir(), "half",
                       {"--seed", "12", "--dtype", "F16", "--output", "sigmoid", "--table",
                        std::string("words:") + big + ":mean:1", "--layer", "16:tanh", "--layer",
                        "4:none", "--inputs", "100"});
  return m;
}

const torch_model& bf16_raw() {  // BF16, one unweighted sum table and one max, raw scores
  static torch_model m = make_torch_model(
      models_dir(), "brain",
      {"--seed", "13", "--dtype", "BF16", "--output", "none", "--table",
       std::string("a:") + big + ":sum", "--table", std::string("b:") + big + ":max", "--layer",
       "3:sigmoid", "--inputs", "100"});
  return m;
}

local_cluster& cluster() {
  static local_cluster c{};
  static bool loaded = [] {
    client cl{c.gateway(), c.admin_token()};
    load_model(cl, three_tables().package, "three");
    load_model(cl, f16_sigmoid().package, "half");
    load_model(cl, bf16_raw().package, "brain");
    return true;
  }();
  (void)loaded;
  return c;
}

// Expects predict on model `name` with input `x` (a JSON list of bags) to fail with `code`
// and a description holding `part`.
void expect_refused(client& cl, const std::string& name, const json& x, const std::string& code,
                    const std::string& part) {
  auto req = cl.session().predictRequest();
  req.initModel().setName(name);
  req.setTopK(1);
  set_bags(req.initInputs(1)[0], x);
  try {
    req.send().wait(cl.wait_scope());
    FAIL("expected tessera." << code);
  } catch (const kj::Exception& e) {
    INFO(e.getDescription().cStr());
    CHECK(error_code(e) == code);
    CHECK(std::string(e.getDescription().cStr()).find(part) != std::string::npos);
  }
}

}  // namespace

TEST_CASE(
    "three split F32 tables (weighted sum, max, mean with padding) + MLP + softmax agree with "
    "PyTorch",
    "[torch][release]") {
  auto& c = cluster();
  client admin{c.gateway(), c.admin_token()};
  client cl{c.gateway(), c.user_token()};
  check_tables_split(admin, "three", {"user", "item", "ctx"});
  check_predictions(cl, "three", three_tables());
  check_embeddings(cl, "three", three_tables());
}

TEST_CASE("an F16 mean table with padding + tanh MLP + sigmoid output agrees with PyTorch",
          "[torch][release]") {
  auto& c = cluster();
  client admin{c.gateway(), c.admin_token()};
  client cl{c.gateway(), c.user_token()};
  check_tables_split(admin, "half", {"words"});
  check_predictions(cl, "half", f16_sigmoid());
  check_embeddings(cl, "half", f16_sigmoid());
}

TEST_CASE("BF16 sum and max tables + raw (none) output agree with PyTorch", "[torch][release]") {
  auto& c = cluster();
  client admin{c.gateway(), c.admin_token()};
  client cl{c.gateway(), c.user_token()};
  check_tables_split(admin, "brain", {"a", "b"});
  check_predictions(cl, "brain", bf16_raw());
  check_embeddings(cl, "brain", bf16_raw());
}

TEST_CASE("the CLI's --input ids lines with --k -1 --format json and embed agree with PyTorch",
          "[torch][release]") {
  auto& c = cluster();
  const auto& m = three_tables();
  std::string out, err;
  REQUIRE(c.cli({"predict", "--model", "three", "--input", "ids", "--k", "-1", "--format", "json",
                 m.dir + "/inputs.txt"},
                &out, &err) == 0);
  auto lines = lines_of(out);
  REQUIRE(lines.size() == m.inputs.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& want = m.expected.at("scores")[i];
    auto got = json::parse(lines[i]).at("labels");
    REQUIRE(got.size() == want.size());
    for (const auto& l : got) {
      const auto index = l.at("index").get<size_t>();
      REQUIRE(index < want.size());
      close_to(l.at("prob").get<double>(), want[index].get<double>(),
               "line " + std::to_string(i) + " label " + l.at("label").get<std::string>());
    }
  }
  REQUIRE(c.cli({"embed", "--model", "three", "--input", "ids", "--format", "json",
                 m.dir + "/inputs.txt"},
                &out, &err) == 0);
  lines = lines_of(out);
  REQUIRE(lines.size() == m.inputs.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& want = m.expected.at("pooled")[i];
    auto got = json::parse(lines[i]);
    REQUIRE(got.size() == want.size());
    for (size_t d = 0; d < got.size(); ++d)
      close_to(got[d].get<double>(), want[d].get<double>(), "line " + std::to_string(i));
  }
}

TEST_CASE("embedding-bag inputs PyTorch refuses are refused with invalid_argument naming the table",
          "[torch][release]") {
  auto& c = cluster();
  client cl{c.gateway(), c.user_token()};
  expect_refused(cl, "three", json::parse(R"([{"table": "item", "ids": [70000]}])"),
                 "invalid_argument", "table 'item': id 70000 outside [0, 70000)");
  expect_refused(cl, "three", json::parse(R"([{"table": "user", "ids": [-1]}])"),
                 "invalid_argument", "table 'user': id -1");
  expect_refused(cl, "three", json::parse(R"([{"table": "item", "ids": [1], "weights": [2]}])"),
                 "invalid_argument", "weights need pooling 'sum'");
  expect_refused(cl, "three", json::parse(R"([{"table": "ctx", "ids": [1], "weights": [2]}])"),
                 "invalid_argument", "this table pools by mean");
  expect_refused(cl, "three", json::parse(R"([{"table": "movie", "ids": [1]}])"),
                 "invalid_argument", "no table 'movie' (the model has user, item, ctx)");
  // Text goes to fastText models only.
  auto req = cl.session().predictRequest();
  req.initModel().setName("three");
  req.setTopK(1);
  req.initInputs(1)[0].setText("hello world");
  try {
    req.send().wait(cl.wait_scope());
    FAIL("expected invalid_argument");
  } catch (const kj::Exception& e) {
    CHECK(error_code(e) == "invalid_argument");
  }
  // The cluster still answers exactly afterwards.
  check_predictions(cl, "brain", bf16_raw());
}

TEST_CASE("R=2: a shard node killed under load leaves 0 wrong and 0 failed answers",
          "[torch][release]") {
  const auto& m = three_tables();
  cluster_options opts;
  opts.request_timeout_ms = 10000;
  local_cluster c{opts};
  client cl{c.gateway(), c.admin_token()};
  load_model(cl, m.package, "three", 2);
  check_tables_split(cl, "three", {"user", "item", "ctx"});
  auto victim = c.node_pid("shard-2");
  REQUIRE(victim > 0);
  const size_t n = m.inputs.size();
  auto t = predict_waves(cl, "three", m, 3, 8, [&](size_t start, kj::Vector<kj::Promise<void>>&) {
    if (start <= n && n < start + 8) ::kill(victim, SIGKILL);  // mid-traffic
  });
  INFO(t.first_error);
  CHECK(t.failed == 0);
  CHECK(t.ok == n * 3);
  CHECK(wait_for_status(cl, std::chrono::seconds(60),
                        [](const status_snapshot& s) { return !s.members.at("shard-2").up; }));
}
