// The TypeScript example client (examples/js, capnp-es) against a real local cluster: its
// answers equal the CLI's on the same inputs, its admin call works, and it turns the server's
// "tessera.<code>: ..." exceptions into typed errors.
//
// Before the first test case, examples/js/build.sh installs the npm packages (once; they stay
// in examples/js/node_modules), generates the schema code with capnp-es and compiles it with
// tsc. Without node, npm or capnp (build.sh exits 3), or when npm cannot install (exit 4, e.g.
// no network), the program is skipped (77), never passed.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/skip.hpp"
#include "tests/support/tenant_config.hpp"

using namespace tessera;
using namespace tessera::test;

namespace {

std::string example_dir() {
  return source_path("examples/js");
}

std::string build_output;
int build_rc = -1;  // build.sh's exit code; anything but 0 (after the skips) fails the test

const program_precondition needs_example{[]() -> std::string {
  for (const char* tool : {"node", "npm", "capnp"})
    if (find_on_path(tool).empty()) return std::string(tool) + " is not on PATH";
  std::string out, err;
  int rc = run_capture({"/bin/sh", example_dir() + "/build.sh"}, &out, &err);
  build_output = out + err;
  build_rc = rc;
  if (rc == 3 || rc == 4)
    return "examples/js/build.sh could not build the example (exit " + std::to_string(rc) +
           "): " + err.substr(0, 2000);
  return "";
}};

// Runs the example's CLI (node dist/cli.js --gateway G --token T args...).
int js(const local_cluster& c, const std::string& token, const std::vector<std::string>& args,
       std::string* out, std::string* err) {
  std::vector<std::string> argv = {find_on_path("node"),
                                   example_dir() + "/dist/cli.js",
                                   "--gateway",
                                   c.gateway(),
                                   "--token",
                                   token};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_capture(argv, out, err);
}

}  // namespace

TEST_CASE("the JS example client answers like the CLI and types the server's errors", "[js]") {
  INFO("build.sh output: " << build_output.substr(0, 4000));
  REQUIRE(build_rc == 0);  // never a stale dist/ from an earlier build
  REQUIRE(std::filesystem::exists(example_dir() + "/dist/cli.js"));

  auto spec = small_model(11);
  model_fixture m{spec};
  // Tenant "tight" may make one call per 100 s (a burst of 1): its second call is refused.
  cluster_options o;
  o.extra_toml = token_entry("tight-secret", "tight", true, "tight") +
                 tenant_entry("tight", m.dir.path(), "requests_per_s = 0.01\n");
  local_cluster c{o};
  std::string out, err;
  REQUIRE(c.cli({"load", m.path, "--name", "m"}, &out, &err) == 0);

  temp_dir d;
  const auto texts = random_texts(spec, 100, 5);
  write_lines(d / "in.txt", texts);

  {  // predict on 100 inputs: the same labels in order, the same printed probabilities
    for (const std::string k : {"3", "-1"}) {
      INFO("--k " << k);
      REQUIRE(c.cli({"predict", "--model", "m", "--k", k, d / "in.txt"}, &out, &err) == 0);
      const auto want = lines_of(out);
      REQUIRE(want.size() == texts.size());
      int rc =
          js(c, c.user_token(), {"predict", "--model", "m", "--k", k, d / "in.txt"}, &out, &err);
      INFO("stderr: " << err.substr(0, 2000));
      REQUIRE(rc == 0);
      const auto got = lines_of(out);
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        INFO("line " << i + 1);
        CHECK(got[i] == want[i]);
      }
    }
  }

  {  // embed: the same vectors as `tessera embed`
    std::vector<std::string> few(texts.begin(), texts.begin() + 5);
    write_lines(d / "few.txt", few);
    REQUIRE(c.cli({"embed", "--model", "m", d / "few.txt"}, &out, &err) == 0);
    const auto want = lines_of(out);
    REQUIRE(want.size() == few.size());
    int rc = js(c, c.user_token(), {"embed", "--model", "m", d / "few.txt"}, &out, &err);
    INFO("stderr: " << err.substr(0, 2000));
    REQUIRE(rc == 0);
    const auto got = lines_of(out);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) CHECK(got[i] == want[i]);
  }

  {  // admin: status through admin(), a user token is refused with permission_denied
    int rc = js(c, c.admin_token(), {"status"}, &out, &err);
    INFO("stderr: " << err.substr(0, 2000));
    REQUIRE(rc == 0);
    CHECK(out.find("\"ready\": true") != std::string::npos);
    CHECK(out.find("\"name\": \"m\"") != std::string::npos);
    CHECK(out.find("\"members\"") != std::string::npos);
    // The typed enums, by name: the version serves, softmax, its replicas are ready.
    CHECK(out.find("\"stateKind\": \"serving\"") != std::string::npos);
    CHECK(out.find("\"outputKind\": \"softmax\"") != std::string::npos);
    CHECK(out.find("\"stateKind\": \"ready\"") != std::string::npos);

    CHECK(js(c, c.user_token(), {"status"}, &out, &err) == 1);
    CHECK(err.find("[code=permission_denied type=FAILED]") != std::string::npos);
  }

  {  // typed errors: unknown_model, unauthenticated
    CHECK(js(c, c.user_token(), {"predict", "--model", "nope", d / "in.txt"}, &out, &err) == 1);
    INFO("stderr: " << err);
    CHECK(err.find("tessera.unknown_model: ") != std::string::npos);
    CHECK(err.find("[code=unknown_model type=FAILED]") != std::string::npos);

    CHECK(js(c, "not-a-token", {"predict", "--model", "m", d / "in.txt"}, &out, &err) == 1);
    INFO("stderr (wrong token): " << err);
    CHECK(err.find("[code=unauthenticated type=FAILED]") != std::string::npos);
  }

  {  // a quota refusal arrives as a typed Refusal: the hint from its field, not the message
    REQUIRE(run_capture({bin_path("tessera"), "--connect", c.gateway(), "--token", "tight-secret",
                         "load", m.path, "--name", "m"},
                        &out, &err) == 0);
    std::vector<std::string> one(texts.begin(), texts.begin() + 1);
    write_lines(d / "one.txt", one);
    REQUIRE(js(c, "tight-secret", {"predict", "--model", "m", d / "one.txt"}, &out, &err) == 0);
    for (const std::string cmd : {"predict", "embed"}) {
      INFO(cmd);
      CHECK(js(c, "tight-secret", {cmd, "--model", "m", d / "one.txt"}, &out, &err) == 1);
      INFO("stderr: " << err);
      CHECK(err.find("tessera.overloaded: tenant 'tight'") != std::string::npos);
      CHECK(err.find("; retry_after_ms=") == std::string::npos);  // not read from the text
      const auto at = err.find("[code=overloaded type=OVERLOADED retry_after_ms=");
      REQUIRE(at != std::string::npos);
      CHECK(std::stoul(err.substr(err.find("retry_after_ms=", at) + 15)) > 1000);
    }
  }
}
