// predict and bench refuse a bad --k or --threshold before any call, as usage errors; predict,
// embed and bench refuse a malformed --input ids line the same way.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "cli/bench.hpp"
#include "cli/commands.hpp"

using namespace tessera::cli;

namespace {

// A gateway address nothing listens on: reaching the network would fail as unavailable.
client_options nowhere() {
  client_options c;
  c.address = "127.0.0.1:1";
  c.token = "t";
  c.timeout_s = 5;
  return c;
}

// Expects `run` to throw a usage error (exit 2) whose description starts with `prefix`.
template <typename Run>
void check_usage_error(Run run, const std::string& prefix) {
  try {
    run();
    FAIL("expected " << prefix);
  } catch (const command_error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).rfind(prefix, 0) == 0);
    CHECK(e.exit_code == 2);
  }
}

// A temporary file holding `text`, removed with the object.
struct temp_file {
  explicit temp_file(const std::string& text) {
    char name[] = "/tmp/tessera-flags-test-XXXXXX";
    const int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(fd);
    path = name;
  }
  ~temp_file() { std::remove(path.c_str()); }
  std::string path;
};

}  // namespace

TEST_CASE("predict refuses --k 0, --k below -1 and a NaN or infinite --threshold") {
  predict_options p;
  p.client = nowhere();
  p.model = "m";
  p.input = "/dev/null";  // no lines: a valid run would end before connecting
  for (int32_t k : {0, -2, -1000}) {
    INFO("k " << k);
    p.k = k;
    check_usage_error([&] { run_predict(p); }, "tessera.invalid_argument: --k is");
  }
  p.k = 1;
  for (float t : {std::nanf(""), INFINITY, -INFINITY}) {
    INFO("threshold " << t);
    p.threshold = t;
    check_usage_error([&] { run_predict(p); }, "tessera.invalid_argument: --threshold is");
  }
  for (int32_t k : {1, 5, -1}) {  // valid: an empty input prints nothing and succeeds
    p.k = k;
    p.threshold = 0.5f;
    CHECK(run_predict(p) == 0);
  }
}

TEST_CASE("bench refuses --k 0 and --k below -1 before connecting") {
  char name[] = "/tmp/tessera-flags-test-XXXXXX";
  const int fd = ::mkstemp(name);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, "one line\n", 9) == 9);
  ::close(fd);
  const std::string path = name;
  bench_options b;
  b.client = nowhere();
  b.model = "m";
  b.input = path;
  b.duration_s = 0.1;
  for (int32_t k : {0, -2}) {
    INFO("k " << k);
    b.k = k;
    check_usage_error([&] { run_bench(b); }, "tessera.invalid_argument: --k is");
  }
  std::remove(path.c_str());
}

TEST_CASE("predict and embed refuse a malformed ids line before connecting, naming it") {
  temp_file file("user:1 item:2\n\nuser:3 item:x\nuser\n");
  predict_options p;
  p.client = nowhere();
  p.model = "m";
  p.input = file.path;
  p.mode = input_mode::ids;
  const std::string want = "tessera.invalid_argument: line 3: token 'item:x': id 'x'";
  check_usage_error([&] { run_predict(p); }, want);
  p.format = output_format::json;
  check_usage_error([&] { run_embed(p); }, want);
}

TEST_CASE("bench refuses a malformed ids line before connecting, naming it") {
  temp_file file("user:1 item:2\n\nuser:3 item:x\nuser\n");
  bench_options b;
  b.client = nowhere();
  b.model = "m";
  b.input = file.path;
  b.duration_s = 0.1;
  b.mode = input_mode::ids;
  check_usage_error([&] { run_bench(b); },
                    "tessera.invalid_argument: line 3: token 'item:x': id 'x'");
}

TEST_CASE("valid ids lines pass the checks and reach the network") {
  temp_file file("user:1 item:2:0.5\n\n0:3\n");
  predict_options p;
  p.client = nowhere();
  p.model = "m";
  p.input = file.path;
  p.mode = input_mode::ids;
  p.k = -1;
  try {
    run_predict(p);
    FAIL("expected no gateway at " << p.client.address);
  } catch (const command_error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).rfind("tessera.unavailable", 0) == 0);
    CHECK(e.exit_code == 1);
  }
}
