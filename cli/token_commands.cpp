#include "cli/token_commands.hpp"

#include <algorithm>
#include <istream>
#include <ostream>
#include <stdexcept>

#include "node/token_hash.hpp"

namespace tessera::cli {
namespace {

void check_name(const std::string& what, const std::string& n) {
  const bool ok = !n.empty() && n.size() <= 128 && std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
  if (!ok) throw std::invalid_argument(what + " '" + n + "' must be 1-128 of [A-Za-z0-9_.-]");
}

// A TOML basic string; names are checked above, so only quotes need care.
std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

}  // namespace

int run_token_create(const token_create_options& opts, std::ostream& out, std::ostream& err) {
  check_name("--name", opts.name);
  for (const auto& m : opts.models)
    if (m != "*") check_name("model", m);
  if (!opts.tenant.empty()) check_name("--tenant", opts.tenant);
  const auto secret = new_token_secret();
  out << secret << "\n";
  out << "[[tokens]]\n";
  out << "hash = " << quoted(to_string(hash_token(secret))) << "\n";
  out << "name = " << quoted(opts.name) << "\n";
  out << "admin = " << (opts.admin ? "true" : "false") << "\n";
  out << "models = [";
  if (opts.models.empty()) out << quoted("*");
  for (size_t i = 0; i < opts.models.size(); ++i) out << (i ? ", " : "") << quoted(opts.models[i]);
  out << "]\n";
  if (!opts.tenant.empty()) out << "tenant = " << quoted(opts.tenant) << "\n";
  err << "tessera: the first line is the token; it is shown only now. Give it to the client "
         "and paste the [[tokens]] table into the config of the coordinator.\n";
  return 0;
}

int run_token_hash(std::istream& in, std::ostream& out) {
  std::string secret;
  std::getline(in, secret);
  if (!secret.empty() && secret.back() == '\r') secret.pop_back();
  if (secret.empty()) throw std::invalid_argument("no token on standard input");
  out << "hash = " << quoted(to_string(hash_token(secret))) << "\n";
  return 0;
}

}  // namespace tessera::cli
