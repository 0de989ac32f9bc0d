// [tls] in the config and where a node's TLS files are.
#include "node/tls.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

namespace tessera {
namespace {

const std::string k_nodes = R"(
[[nodes]]
name = "c"
port = 7400
roles = ["coordinator"]
gateway_port = 7300
[[nodes]]
name = "s"
port = 7401
roles = ["shard"]
)";

void check_rejected(const std::string& text, const std::string& key) {
  auto cfg = parse_config(text);
  REQUIRE_FALSE(cfg);
  const std::string msg = message_of(cfg.error());
  CAPTURE(msg);
  CHECK(msg.rfind("config: " + key + ":", 0) == 0);
}

// Sets an environment variable for one scope.
struct scoped_env {
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~scoped_env() {
    if (had_)
      ::setenv(name_, old_.c_str(), 1);
    else
      ::unsetenv(name_);
  }
  const char* name_;
  std::string old_;
  bool had_ = false;
};

}  // namespace

TEST_CASE("TLS is on when the config says nothing about it") {
  auto cfg = parse_config(k_nodes);
  REQUIRE(cfg);
  CHECK_FALSE(cfg->tls.insecure);
  CHECK(cfg->tls.dir == "data/tls");
}

TEST_CASE("the embedded local config keeps TLS on with its state directory data/tls") {
  auto cfg = parse_config(embedded_local_config());
  REQUIRE(cfg);
  CHECK_FALSE(cfg->tls.insecure);
  CHECK(cfg->tls.dir == "data/tls");
}

TEST_CASE("[tls] takes dir and insecure; anything else is refused") {
  auto cfg = parse_config(k_nodes + "[tls]\ndir = \"/etc/t\"\ninsecure = true\n");
  REQUIRE(cfg);
  CHECK(cfg->tls.dir == "/etc/t");
  CHECK(cfg->tls.insecure);
  check_rejected(k_nodes + "[tls]\ncafile = \"x\"\n", "tls.cafile");
  check_rejected(k_nodes + "[tls]\ninsecure = \"yes\"\n", "tls.insecure");
  check_rejected(k_nodes + "[tls]\ndir = \"\"\n", "tls.dir");
  check_rejected("tls = 1\n" + k_nodes, "tls");
}

TEST_CASE("a relative [tls] dir is resolved against TESSERA_STATE_DIR, else the current dir") {
  tls_config tls;
  tls.dir = "data/tls";
  {
    scoped_env env{"TESSERA_STATE_DIR", "/var/lib/tessera"};
    CHECK(resolve_tls_dir(tls) == "/var/lib/tessera/data/tls");
    auto f = tls_files_for(tls, "shard-1");
    CHECK(f.ca == "/var/lib/tessera/data/tls/ca.pem");
    CHECK(f.cert == "/var/lib/tessera/data/tls/shard-1.pem");
    CHECK(f.key == "/var/lib/tessera/data/tls/shard-1.key");
  }
  {
    scoped_env env{"TESSERA_STATE_DIR", nullptr};
    CHECK(resolve_tls_dir(tls) == tls_base_dir() + "/data/tls");
    CHECK(tls_base_dir().rfind('/', 0) == 0);
  }
  tls.dir = "/etc/tessera/tls/";
  CHECK(resolve_tls_dir(tls) == "/etc/tessera/tls");
}

TEST_CASE("missing TLS files refuse a node start with a message naming the file") {
  tls_config tls;
  tls.dir = "/nonexistent/tessera-tls";
  auto err = check_tls_files(tls_files_for(tls, "s"), "s");
  REQUIRE(err);
  CHECK(code_of(err) == errc::io_error);
  CHECK(message_of(err).find("/nonexistent/tessera-tls/ca.pem") != std::string::npos);
  CHECK(message_of(err).find("tessera certs init") != std::string::npos);
}

}  // namespace tessera
