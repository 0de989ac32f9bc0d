#pragma once
// `tessera token create` and `tessera token hash`: client tokens for the config, which holds
// only their salted hashes (node/token_hash.hpp).
#include <iosfwd>
#include <string>
#include <vector>

namespace tessera::cli {

struct token_create_options {
  std::string name;
  bool admin = false;
  std::vector<std::string> models;  // empty = all models of its tenant ("*")
  std::string tenant;               // empty = the default tenant
};

// Prints to `out` a new random secret on the first line, alone (shown only this once), then
// the [[tokens]] table to paste into the config; a note on `err`. Throws std::invalid_argument
// (exit 2) for a bad name, model or tenant.
int run_token_create(const token_create_options& opts, std::ostream& out, std::ostream& err);

// Reads a secret (one line) from `in` and prints its `hash = "..."` line, for tokens that
// exist already (e.g. scripts that pick their own).
int run_token_hash(std::istream& in, std::ostream& out);

}  // namespace tessera::cli
