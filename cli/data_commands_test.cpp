// predict, embed and bench against a gateway stand-in in this process (plain TCP on 127.0.0.1,
// the thread's event loop): what `--input ids` sends for each line, that text lines are still
// sent as text, that --k reaches the server as given, and the JSON lines printed for the answers.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <capnp/rpc-twoparty.h>
#include <catch2/catch.hpp>

#include "cli/bench.hpp"
#include "cli/commands.hpp"
#include "cli/id_lines.hpp"

namespace tessera::cli {
namespace {

// What the stand-in received: one entry per input, in order.
struct received {
  std::vector<tables_input> tables;  // each tables input's bags
  std::vector<std::string> texts;    // each text input
  std::vector<int32_t> top_k;        // per predict call
};

tables_input bags_of(::Input::Reader in) {
  tables_input bags;
  for (auto t : in.getTables()) {
    REQUIRE(t.isName());
    table_bag b;
    b.name = t.getName().cStr();
    for (int64_t id : t.getIds()) b.ids.push_back(id);
    for (float w : t.getWeights()) b.weights.push_back(w);
    bags.push_back(std::move(b));
  }
  return bags;
}

// A session that answers each tables input with one label per bag (label: the table's name,
// prob: its weights' sum, or its id count when unweighted; index: the bag's position) and the
// vector of those numbers; a text input gets one label "text" with its byte count.
class fake_session final : public ::Session::Server {
 public:
  explicit fake_session(received& r) : r_(r) {}

  kj::Promise<void> predict(PredictContext ctx) override {
    r_.top_k.push_back(ctx.getParams().getTopK());
    auto inputs = ctx.getParams().getInputs();
    auto results = ctx.getResults().initResults(inputs.size());
    for (uint i = 0; i < inputs.size(); ++i) {
      auto numbers = record(inputs[i]);
      auto labels = results[i].initLabels(static_cast<uint>(numbers.size()));
      for (uint j = 0; j < numbers.size(); ++j) {
        labels[j].setLabel(numbers[j].first);
        labels[j].setProb(numbers[j].second);
        labels[j].setIndex(j);
      }
    }
    ctx.getResults().initServedBy().setVersion(3);
    ctx.getResults().getServedBy().setEpoch(5);
    return kj::READY_NOW;
  }

  kj::Promise<void> embed(EmbedContext ctx) override {
    auto inputs = ctx.getParams().getInputs();
    auto vectors = ctx.getResults().initVectors(inputs.size());
    for (uint i = 0; i < inputs.size(); ++i) {
      auto numbers = record(inputs[i]);
      auto v = vectors.init(i, static_cast<uint>(numbers.size()));
      for (uint j = 0; j < numbers.size(); ++j) v.set(j, numbers[j].second);
    }
    return kj::READY_NOW;
  }

 private:
  std::vector<std::pair<std::string, float>> record(::Input::Reader in) {
    std::vector<std::pair<std::string, float>> out;
    if (in.isText()) {
      r_.texts.push_back(in.getText().cStr());
      out.emplace_back("text", static_cast<float>(in.getText().size()));
      return out;
    }
    REQUIRE(in.isTables());
    r_.tables.push_back(bags_of(in));
    for (const auto& b : r_.tables.back()) {
      float n = static_cast<float>(b.ids.size());
      if (!b.weights.empty()) n = 0;
      for (float w : b.weights) n += w;
      out.emplace_back(b.name, n);
    }
    return out;
  }
  received& r_;
};

class fake_gateway final : public ::Tessera::Server {
 public:
  explicit fake_gateway(received& r) : r_(r) {}
  kj::Promise<void> authenticate(AuthenticateContext ctx) override {
    ctx.getResults().setSession(kj::heap<fake_session>(r_));
    return kj::READY_NOW;
  }

 private:
  received& r_;
};

// Serves fake_gateway on 127.0.0.1 (plain TCP) on this thread's event loop.
struct test_gateway {
  received seen;
  std::shared_ptr<kj::AsyncIoContext> io = thread_io();
  kj::Own<kj::ConnectionReceiver> listener;
  capnp::TwoPartyServer server{kj::heap<fake_gateway>(seen)};
  kj::Promise<void> serving = nullptr;
  std::string address;

  test_gateway() {
    auto addr = io->provider->getNetwork().parseAddress("127.0.0.1", 0).wait(io->waitScope);
    listener = addr->listen();
    address = "127.0.0.1:" + std::to_string(listener->getPort());
    serving = server.listen(*listener).eagerlyEvaluate(nullptr);
  }
};

// A temporary file holding `text`, removed with the object.
struct temp_file {
  explicit temp_file(const std::string& text) {
    char name[] = "/tmp/tessera-data-test-XXXXXX";
    const int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    ::close(fd);
    path = name;
    std::ofstream(path, std::ios::binary) << text;
  }
  ~temp_file() { std::remove(path.c_str()); }
  std::string path;
};

// Runs `run` with stdout sent to a file; returns its exit code and what it printed.
template <typename Run>
std::pair<int, std::string> capture_stdout(Run run) {
  temp_file out("");
  std::fflush(stdout);
  const int saved = ::dup(1);
  REQUIRE(saved >= 0);
  FILE* f = std::fopen(out.path.c_str(), "wb");
  REQUIRE(f != nullptr);
  ::dup2(::fileno(f), 1);
  int rc = -1;
  try {
    rc = run();
  } catch (...) {
    std::fflush(stdout);
    ::dup2(saved, 1);
    ::close(saved);
    std::fclose(f);
    throw;
  }
  std::fflush(stdout);
  ::dup2(saved, 1);
  ::close(saved);
  std::fclose(f);
  std::ifstream in(out.path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return {rc, text.str()};
}

// Expects `got` to be the bags parse_ids_line makes of `line`.
void check_bags(const tables_input& got, const std::string& line, size_t line_no) {
  INFO("line " << line_no);
  tables_input want = *parse_ids_line(line, line_no);
  REQUIRE(got.size() == want.size());
  for (size_t j = 0; j < got.size(); ++j) {
    CHECK(got[j].name == want[j].name);
    CHECK(got[j].ids == want[j].ids);
    CHECK(got[j].weights == want[j].weights);
  }
}

predict_options options_for(const test_gateway& g, const temp_file& input) {
  predict_options p;
  p.client.address = g.address;
  p.client.token = "t";
  p.client.timeout_s = 10;
  p.model = "m";
  p.input = input.path;
  return p;
}

}  // namespace

TEST_CASE("predict --input ids sends each line's bags and prints JSON lines") {
  test_gateway g;
  const std::string lines = "user:5 item:7:0.5 user:9\n\nitem:1:2 item:2:0.25\n0:3\n";
  temp_file input(lines);
  predict_options p = options_for(g, input);
  p.mode = input_mode::ids;
  p.format = output_format::json;
  p.k = -1;
  p.batch = 3;  // two calls: lines 1-3, then line 4
  auto [rc, out] = capture_stdout([&] { return run_predict(p); });
  CHECK(rc == 0);
  CHECK(g.seen.top_k == std::vector<int32_t>{-1, -1});
  CHECK(g.seen.texts.empty());
  REQUIRE(g.seen.tables.size() == 4);
  size_t line_no = 0;
  for (const std::string& line : split_lines(lines)) {
    check_bags(g.seen.tables[line_no], line, line_no + 1);
    ++line_no;
  }
  CHECK(
      out ==
      R"({"labels":[{"label":"user","prob":2.0,"index":0},{"label":"item","prob":0.5,"index":1}],)"
      R"("version":3,"epoch":5})"
      "\n"
      R"({"labels":[],"version":3,"epoch":5})"
      "\n"
      R"({"labels":[{"label":"item","prob":2.25,"index":0}],"version":3,"epoch":5})"
      "\n"
      R"({"labels":[{"label":"0","prob":1.0,"index":0}],"version":3,"epoch":5})"
      "\n");
}

TEST_CASE("embed --input ids prints one JSON vector per line") {
  test_gateway g;
  temp_file input("a:1 b:2:0.75 a:3\n\n");
  predict_options e = options_for(g, input);
  e.mode = input_mode::ids;
  e.format = output_format::json;
  auto [rc, out] = capture_stdout([&] { return run_embed(e); });
  CHECK(rc == 0);
  REQUIRE(g.seen.tables.size() == 2);
  CHECK(g.seen.tables[1].empty());
  CHECK(out == "[2.0,0.75]\n[]\n");
}

TEST_CASE("without --input ids each line is still sent as text, newline kept") {
  test_gateway g;
  temp_file input("a:1 b:2\nhello world");
  predict_options p = options_for(g, input);
  auto [rc, out] = capture_stdout([&] { return run_predict(p); });
  CHECK(rc == 0);
  CHECK(g.seen.tables.empty());
  CHECK(g.seen.texts == std::vector<std::string>{"a:1 b:2\n", "hello world"});
  CHECK(g.seen.top_k == std::vector<int32_t>{1});
  CHECK(out == "text\t8\ntext\t11\n");
}

TEST_CASE("bench --input ids sends each line's bags, cycling through the file") {
  test_gateway g;
  const std::string text = "user:5 item:7:0.5 user:9\n\nitem:1:2 item:2:0.25\n";
  temp_file input(text);
  bench_options b;
  b.client.address = g.address;
  b.client.token = "t";
  b.client.timeout_s = 10;
  b.model = "m";
  b.input = input.path;
  b.mode = input_mode::ids;
  b.concurrency = 1;
  b.batch = 2;
  b.requests = 4;  // 8 inputs: lines 1, 2, 3, 1, 2, 3, 1, 2
  b.json = true;
  auto [rc, out] = capture_stdout([&] { return run_bench(b); });
  CHECK(rc == 0);
  CHECK(g.seen.texts.empty());
  CHECK(g.seen.top_k == std::vector<int32_t>{1, 1, 1, 1});
  const auto lines = split_lines(text);
  REQUIRE(g.seen.tables.size() == 8);
  for (size_t i = 0; i < g.seen.tables.size(); ++i)
    check_bags(g.seen.tables[i], lines[i % lines.size()], i % lines.size() + 1);
  auto report = nlohmann::json::parse(out);
  CHECK(report.at("ok") == 4);
  CHECK(report.at("error_count") == 0);
}

TEST_CASE("bench without --input ids still sends each line as text") {
  test_gateway g;
  temp_file input("a:1 b:2\nhello");
  bench_options b;
  b.client.address = g.address;
  b.client.token = "t";
  b.client.timeout_s = 10;
  b.model = "m";
  b.input = input.path;
  b.concurrency = 1;
  b.requests = 3;
  b.json = true;
  auto [rc, out] = capture_stdout([&] { return run_bench(b); });
  CHECK(rc == 0);
  CHECK(g.seen.tables.empty());
  CHECK(g.seen.texts == std::vector<std::string>{"a:1 b:2\n", "hello", "a:1 b:2\n"});
}

}  // namespace tessera::cli
