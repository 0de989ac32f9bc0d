// The retry of a call refused because of one input: only the lines the server refuses on their
// own fail, every other line is answered in order, and other failures still stop the run.
#include <catch2/catch.hpp>

#include "cli/client.hpp"
#include "cli/line_retry.hpp"

using namespace tessera::cli;

namespace {

// A stand-in for the server: refuses a call naming the first input longer than `limit` bytes
// (as the gateway does for limits.max_text_bytes), else answers "ok:<line>" per input.
struct fake_server {
  std::vector<std::string> lines;
  size_t limit = 5;
  std::vector<batch_range> calls;  // every call made, in order

  call_outcome operator()(batch_range b) {
    calls.push_back(b);
    for (size_t i = 0; i < b.count; ++i) {
      const auto& l = lines[b.begin + i];
      if (l.size() > limit)
        return {{},
                "tessera.limit_exceeded: input " + std::to_string(i) + ": text of " +
                    std::to_string(l.size()) + " bytes exceeds the limit of " +
                    std::to_string(limit)};
    }
    call_outcome out;
    for (size_t i = 0; i < b.count; ++i) out.lines.push_back("ok:" + lines[b.begin + i]);
    return out;
  }
};

// Runs the first call of all lines and, as run_batches does, isolates its bad lines.
std::vector<line_outcome> run_all(fake_server& server) {
  batch_range all{0, server.lines.size()};
  call_outcome first = server(all);
  REQUIRE(first.error);
  return isolate_bad_lines(all, *first.error, std::ref(server));
}

}  // namespace

TEST_CASE("a description blaming one input names its position; others blame none") {
  CHECK(blamed_input("tessera.limit_exceeded: input 3: text of 9 bytes exceeds the limit of 5") ==
        3u);
  CHECK(blamed_input("tessera.invalid_argument: input 0: empty text") == 0u);
  CHECK(blamed_input("tessera.id_out_of_range: input 12: id 9 outside [0, 5)") == 12u);
  CHECK_FALSE(blamed_input("tessera.limit_exceeded: 2000 inputs exceed the limit of 1024"));
  CHECK_FALSE(blamed_input("tessera.unavailable: input 3: no replica"));
  CHECK_FALSE(blamed_input("tessera.deadline_exceeded: no answer within 30 s"));
  CHECK_FALSE(blamed_input("tessera.limit_exceeded: input x: ?"));
  CHECK_FALSE(blamed_input("tessera.limit_exceeded: input 3"));
  CHECK_FALSE(blamed_input("input 3: text"));
}

TEST_CASE("one over-long line fails alone and every other line is answered in order") {
  fake_server server;
  server.lines = {"a", "b", "c", "toolong", "d", "e"};
  auto out = run_all(server);
  REQUIRE(out.size() == 6);
  for (size_t i = 0; i < out.size(); ++i) {
    INFO(i);
    if (i == 3) {
      REQUIRE(out[i].error);
      CHECK(*out[i].error ==
            "tessera.limit_exceeded: input 0: text of 7 bytes exceeds the limit of 5");
      CHECK(out[i].output.empty());
    } else {
      CHECK_FALSE(out[i].error);
      CHECK(out[i].output == "ok:" + server.lines[i]);
    }
  }
  // The first call, the lines before, the bad line alone, the lines after.
  REQUIRE(server.calls.size() == 4);
  CHECK(server.calls[1].begin == 0);
  CHECK(server.calls[1].count == 3);
  CHECK(server.calls[2].begin == 3);
  CHECK(server.calls[2].count == 1);
  CHECK(server.calls[3].begin == 4);
  CHECK(server.calls[3].count == 2);
}

TEST_CASE("several bad lines, first and last included, fail each alone") {
  fake_server server;
  server.lines = {"xxxxxxx", "a", "yyyyyyy", "zzzzzzz", "b", "c", "wwwwwww"};
  auto out = run_all(server);
  REQUIRE(out.size() == server.lines.size());
  for (size_t i = 0; i < out.size(); ++i) {
    INFO(i);
    const bool bad = server.lines[i].size() > server.limit;
    CHECK(static_cast<bool>(out[i].error) == bad);
    if (!bad) CHECK(out[i].output == "ok:" + server.lines[i]);
  }
}

TEST_CASE("a call of one refused line is that line's failure without another call") {
  fake_server server;
  server.lines = {"toolong"};
  auto out = run_all(server);
  REQUIRE(out.size() == 1);
  CHECK(out[0].error);
  CHECK(server.calls.size() == 1);
}

TEST_CASE("a blamed line the server then answers alone is answered") {
  std::vector<batch_range> calls;
  auto server = [&](batch_range b) -> call_outcome {
    calls.push_back(b);
    call_outcome out;
    for (size_t i = 0; i < b.count; ++i) out.lines.push_back("ok" + std::to_string(b.begin + i));
    return out;
  };
  auto out = isolate_bad_lines({10, 3}, "tessera.invalid_argument: input 1: flaky", server);
  REQUIRE(out.size() == 3);
  CHECK(out[0].output == "ok10");
  CHECK(out[1].output == "ok11");
  CHECK_FALSE(out[1].error);
  CHECK(out[2].output == "ok12");
}

TEST_CASE("a failure that blames no input, first or on a retry, stops the run") {
  auto unavailable = [](batch_range) -> call_outcome {
    return {{}, "tessera.unavailable: no replica of shard 0"};
  };
  CHECK_THROWS_AS(isolate_bad_lines({0, 4}, "tessera.unavailable: no replica", unavailable),
                  command_error);
  // Blamed first, but the retry of the other lines meets a dead cluster.
  CHECK_THROWS_WITH(
      isolate_bad_lines({0, 4}, "tessera.limit_exceeded: input 2: too long", unavailable),
      "tessera.unavailable: no replica of shard 0");
  // A position outside the call blames nothing this call holds.
  CHECK_THROWS_AS(isolate_bad_lines({0, 2}, "tessera.limit_exceeded: input 5: ?", unavailable),
                  command_error);
}

TEST_CASE("a line's error names its 1-based line number instead of its position in a call") {
  CHECK(line_error(16, "tessera.limit_exceeded: input 0: text of 9 bytes exceeds the limit of 5") ==
        "line 17: tessera.limit_exceeded: text of 9 bytes exceeds the limit of 5");
  CHECK(line_error(0, "tessera.unavailable: down") == "line 1: tessera.unavailable: down");
}
