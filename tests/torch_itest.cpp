// PyTorch embedding-bag models (docs/MODELS.md) served sharded by real processes, every answer
// compared with PyTorch itself: tests/torch/make_model.py builds random torch.nn.EmbeddingBag +
// torch.nn.Linear models with Debian's python3-torch, writes them as safetensors (F32, F16,
// BF16) and computes the reference outputs; `tessera import safetensors` converts them; a
// 3-node cluster serves them with every table over 16 MiB, so every table is split (asserted
// first). Agreement: |got - want| <= 1e-5 * |want| + 1e-6 for every label and dimension.
#include <catch2/catch.hpp>

#include <capnp/compat/std-iterator.h>
#include <signal.h>

#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "tests/support/lifecycle_support.hpp"
#include "tests/support/skip.hpp"

using namespace tessera;
using namespace tessera::test;
using json = nlohmann::json;

namespace {

const char* const python = "/usr/bin/python3";

const program_precondition needs_torch{[] {
  std::string out, err;
  if (run_capture({python, "-c", "import torch"}, &out, &err) != 0)
    return std::string("Debian's python3-torch is not installed (apt-get install python3-torch)");
  return std::string();
}};

// A model made by make_model.py and imported into a package.
struct torch_model {
  std::string dir;
  std::string package;
  json inputs;    // per input: [{"table", "ids", "weights"?}]
  json expected;  // {"pooled": [[...]], "scores": [[...]]}
};

torch_model make_model(const temp_dir& root, const std::string& name,
                       std::vector<std::string> args) {
  torch_model m;
  m.dir = root / name;
  std::vector<std::string> argv{python, source_path("tests/torch/make_model.py"), m.dir};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out, err;
  INFO(err);
  REQUIRE(run_capture(argv, &out, &err) == 0);
  m.package = m.dir + "/pkg";
  REQUIRE(run_capture({bin_path("tessera"), "import", "safetensors", m.dir + "/model.safetensors",
                       "--spec", m.dir + "/spec.toml", m.package, "--name", name},
                      &out, &err) == 0);
  m.inputs = json::parse(read_text(m.dir + "/inputs.json"));
  m.expected = json::parse(read_text(m.dir + "/expected.json"));
  return m;
}

void close_to(double got, double want, const std::string& what) {
  INFO(what << ": got " << got << ", PyTorch " << want);
  CHECK(std::fabs(got - want) <= 1e-5 * std::fabs(want) + 1e-6);
}

// Fills `in` with input `x` of a model: one TableBag per table, by name.
void set_bags(Input::Builder in, const json& x) {
  auto bags = in.initTables(static_cast<unsigned>(x.size()));
  for (size_t t = 0; t < x.size(); ++t) {
    const auto& b = x[t];
    bags[t].setName(b.at("table").get<std::string>());
    const auto& ids = b.at("ids");
    auto out = bags[t].initIds(static_cast<unsigned>(ids.size()));
    for (size_t i = 0; i < ids.size(); ++i) out.set(i, ids[i].get<int64_t>());
    if (!b.contains("weights")) continue;
    const auto& w = b.at("weights");
    auto ws = bags[t].initWeights(static_cast<unsigned>(w.size()));
    for (size_t i = 0; i < w.size(); ++i) ws.set(i, w[i].get<float>());
  }
}

// Predicts every input of `m` (batches of 25, k = -1) on model `name` and compares every
// label's score with PyTorch's.
void check_predictions(client& cl, const std::string& name, const torch_model& m) {
  const size_t n = m.inputs.size();
  for (size_t start = 0; start < n; start += 25) {
    const size_t count = std::min<size_t>(25, n - start);
    auto req = cl.session().predictRequest();
    req.initModel().setName(name);
    req.setTopK(-1);
    auto ins = req.initInputs(static_cast<unsigned>(count));
    for (size_t i = 0; i < count; ++i) set_bags(ins[i], m.inputs[start + i]);
    auto res = req.send().wait(cl.wait_scope());
    REQUIRE(res.getResults().size() == count);
    for (size_t i = 0; i < count; ++i) {
      const auto& want = m.expected.at("scores")[start + i];
      auto labels = res.getResults()[i].getLabels();
      REQUIRE(labels.size() == want.size());
      std::set<uint32_t> seen;
      double previous = INFINITY;
      for (auto l : labels) {
        REQUIRE(l.getIndex() < want.size());
        seen.insert(l.getIndex());
        CHECK(l.getProb() <= previous);  // best first
        previous = l.getProb();
        close_to(l.getProb(), want[l.getIndex()].get<double>(),
                 name + " input " + std::to_string(start + i) + " label " +
                     std::to_string(l.getIndex()));
      }
      CHECK(seen.size() == want.size());
    }
  }
}

// Embeds every input of `m` on model `name`: the concatenated pooled vectors.
void check_embeddings(client& cl, const std::string& name, const torch_model& m) {
  auto req = cl.session().embedRequest();
  req.initModel().setName(name);
  auto ins = req.initInputs(static_cast<unsigned>(m.inputs.size()));
  for (size_t i = 0; i < m.inputs.size(); ++i) set_bags(ins[i], m.inputs[i]);
  auto res = req.send().wait(cl.wait_scope());
  REQUIRE(res.getVectors().size() == m.inputs.size());
  for (size_t i = 0; i < m.inputs.size(); ++i) {
    const auto& want = m.expected.at("pooled")[i];
    auto got = res.getVectors()[i];
    REQUIRE(got.size() == want.size());
    for (size_t d = 0; d < got.size(); ++d)
      close_to(got[d], want[d].get<double>(),
               name + " input " + std::to_string(i) + " dim " + std::to_string(d));
  }
}

// Every table of `name`'s active version is cut into 3 ranges on 3 nodes (`cl`: an admin's).
void check_tables_split(client& cl, const std::string& name,
                        const std::vector<std::string>& tables) {
  for (const auto& t : tables) {
    INFO(name << " table " << t);
    auto ranges = tensor_row_ranges(cl, name, "embedder." + t);
    REQUIRE(ranges.size() == 3);
    CHECK(ranges.front().first == 0);
  }
}

// Each table has 70,000 x 64 float32 rows: 17.9 MB, over the 16 MiB below which a tensor is
// placed whole.
const char* const big = "70000:64";

temp_dir& models_dir() {
  static temp_dir d;
  return d;
}

const torch_model& three_tables() {  // F32, sum (weighted) + max + mean with padding, softmax
  static torch_model m = make_model(models_dir(), "three",
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
  static torch_model m = make_model(models_dir(), "half",
                                    {"--seed", "12", "--dtype", "F16", "--output", "sigmoid",
                                     "--table", std::string("words:") + big + ":mean:1", "--layer",
                                     "16:tanh", "--layer", "4:none", "--inputs", "100"});
  return m;
}

const torch_model& bf16_raw() {  // BF16, one unweighted sum table and one max, raw scores
  static torch_model m =
      make_model(models_dir(), "brain",
                 {"--seed", "13", "--dtype", "BF16", "--output", "none", "--table",
                  std::string("a:") + big + ":sum", "--table", std::string("b:") + big + ":max",
                  "--layer", "3:sigmoid", "--inputs", "100"});
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
    "[torch]") {
  auto& c = cluster();
  client admin{c.gateway(), c.admin_token()};
  client cl{c.gateway(), c.user_token()};
  check_tables_split(admin, "three", {"user", "item", "ctx"});
  check_predictions(cl, "three", three_tables());
  check_embeddings(cl, "three", three_tables());
}

TEST_CASE("an F16 mean table with padding + tanh MLP + sigmoid output agrees with PyTorch",
          "[torch]") {
  auto& c = cluster();
  client admin{c.gateway(), c.admin_token()};
  client cl{c.gateway(), c.user_token()};
  check_tables_split(admin, "half", {"words"});
  check_predictions(cl, "half", f16_sigmoid());
  check_embeddings(cl, "half", f16_sigmoid());
}

TEST_CASE("BF16 sum and max tables + raw (none) output agree with PyTorch", "[torch]") {
  auto& c = cluster();
  client admin{c.gateway(), c.admin_token()};
  client cl{c.gateway(), c.user_token()};
  check_tables_split(admin, "brain", {"a", "b"});
  check_predictions(cl, "brain", bf16_raw());
  check_embeddings(cl, "brain", bf16_raw());
}

TEST_CASE("the CLI's --input ids lines with --k -1 --format json and embed agree with PyTorch",
          "[torch]") {
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
          "[torch]") {
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

TEST_CASE("R=2: a shard node killed under load leaves 0 wrong and 0 failed answers", "[torch]") {
  const auto& m = three_tables();
  cluster_options opts;
  opts.request_timeout_ms = 10000;
  local_cluster c{opts};
  client cl{c.gateway(), c.admin_token()};
  load_model(cl, m.package, "three", 2);
  check_tables_split(cl, "three", {"user", "item", "ctx"});
  auto victim = c.node_pid("shard-2");
  REQUIRE(victim > 0);
  size_t ok = 0, failed = 0;
  std::string first_error;
  const size_t n = m.inputs.size(), concurrency = 8, rounds = 3;
  for (size_t start = 0; start < n * rounds; start += concurrency) {
    kj::Vector<kj::Promise<void>> wave;
    for (size_t j = start; j < start + concurrency && j < n * rounds; ++j) {
      const size_t i = j % n;
      auto req = cl.session().predictRequest();
      req.initModel().setName("three");
      req.setTopK(-1);
      set_bags(req.initInputs(1)[0], m.inputs[i]);
      wave.add(req.send().then(
          [&, i](capnp::Response<Session::PredictResults>&& res) {
            ++ok;
            const auto& want = m.expected.at("scores")[i];
            auto labels = res.getResults()[0].getLabels();
            REQUIRE(labels.size() == want.size());
            for (auto l : labels)
              close_to(l.getProb(), want[l.getIndex()].get<double>(), "input " + std::to_string(i));
          },
          [&](kj::Exception&& e) {
            ++failed;
            if (first_error.empty()) first_error = e.getDescription().cStr();
          }));
    }
    if (start <= n && n < start + concurrency) ::kill(victim, SIGKILL);  // mid-traffic
    kj::joinPromises(wave.releaseAsArray()).wait(cl.wait_scope());
  }
  INFO(first_error);
  CHECK(failed == 0);
  CHECK(ok == n * rounds);
  CHECK(wait_for_status(cl, std::chrono::seconds(60),
                        [](const status_snapshot& s) { return !s.members.at("shard-2").up; }));
}
