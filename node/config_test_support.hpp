#pragma once
// What the config's unit tests share (config_test, config_tenants_test, config_size_test): a
// small valid cluster to append to, and a check that a text is refused naming its key.
#include <string>

#include <catch2/catch.hpp>

#include "node/config.hpp"

namespace tessera::config_testing {

// A small valid cluster; tests append or replace pieces of it.
inline const std::string k_coord = R"(
[[nodes]]
name = "c"
port = 7400
roles = ["coordinator"]
gateway_port = 7300
)";
inline const std::string k_shard = R"(
[[nodes]]
name = "s"
port = 7401
roles = ["shard"]
)";

// Expects parse_config to fail with invalid_argument naming `key`.
inline void check_rejected(const std::string& text, const std::string& key) {
  auto cfg = parse_config(text);
  REQUIRE_FALSE(cfg);
  CHECK(code_of(cfg.error()) == errc::invalid_argument);
  const std::string msg = message_of(cfg.error());
  CAPTURE(msg);
  CHECK(msg.rfind("config: " + key + ":", 0) == 0);
}

}  // namespace tessera::config_testing
