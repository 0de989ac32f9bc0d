#include "cli/token_commands.hpp"

#include <sstream>

#include <catch2/catch.hpp>

#include "node/config.hpp"
#include "node/token_hash.hpp"

using namespace tessera;
using namespace tessera::cli;

namespace {
// A config with one node set and the given [[tokens]] table.
std::string config_with(const std::string& tokens) {
  return "[[nodes]]\nname = \"c\"\nport = 7000\nroles = [\"coordinator\", \"shard\"]\n"
         "gateway_port = 7001\n" +
         tokens;
}
}  // namespace

TEST_CASE("token create prints a secret whose hash is in the table it prints, and nothing else") {
  std::ostringstream out, err;
  token_create_options o;
  o.name = "svc";
  o.models = {"a", "b"};
  o.tenant = "acme";
  REQUIRE(run_token_create(o, out, err) == 0);
  std::istringstream lines(out.str());
  std::string secret;
  std::getline(lines, secret);
  CHECK(secret.rfind("tsr_", 0) == 0);
  CHECK(secret.size() == 4 + 43);
  std::string table((std::istreambuf_iterator<char>(lines)), std::istreambuf_iterator<char>());
  CHECK(table.find(secret) == std::string::npos);  // the config never holds the secret
  auto cfg = parse_config(config_with(table));
  REQUIRE(cfg);
  REQUIRE(cfg->tokens.size() == 1);
  const auto& t = cfg->tokens[0];
  CHECK(token_matches(t.hash, secret));
  CHECK_FALSE(token_matches(t.hash, secret + "x"));
  CHECK(t.name == "svc");
  CHECK_FALSE(t.admin);
  CHECK(t.models == std::vector<std::string>{"a", "b"});
  CHECK(t.tenant == "acme");
}

TEST_CASE("two tokens created alike differ, and default to all models of the default tenant") {
  std::ostringstream a, b, err;
  token_create_options o;
  o.name = "ops";
  o.admin = true;
  run_token_create(o, a, err);
  run_token_create(o, b, err);
  CHECK(a.str() != b.str());
  auto cfg = parse_config(config_with(a.str().substr(a.str().find('\n') + 1)));
  REQUIRE(cfg);
  CHECK(cfg->tokens[0].admin);
  CHECK(cfg->tokens[0].models == std::vector<std::string>{"*"});
  CHECK(cfg->tokens[0].tenant == "default");
}

TEST_CASE("token create refuses names that could not be parsed back") {
  std::ostringstream out, err;
  token_create_options o;
  o.name = "a\"b";
  CHECK_THROWS_AS(run_token_create(o, out, err), std::invalid_argument);
  o.name = "ok";
  o.tenant = "x/y";
  CHECK_THROWS_AS(run_token_create(o, out, err), std::invalid_argument);
}

TEST_CASE("token hash hashes the secret read from standard input") {
  std::istringstream in("my-secret\n");
  std::ostringstream out;
  run_token_hash(in, out);
  auto line = out.str();
  REQUIRE(line.rfind("hash = \"", 0) == 0);
  auto h = parse_token_hash(line.substr(8, line.size() - 10));
  REQUIRE(h);
  CHECK(token_matches(*h, "my-secret"));
  std::istringstream empty("");
  CHECK_THROWS_AS(run_token_hash(empty, out), std::invalid_argument);
}
