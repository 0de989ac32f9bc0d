#include "cli/client.hpp"

#include <cstdlib>

#include "node/config.hpp"

namespace tessera::cli {
namespace {

constexpr const char* k_fallback_address = "127.0.0.1:7300";
constexpr const char* k_fallback_token = "tessera-admin-dev";
constexpr uint k_default_port = 7300;

capnp::ReaderOptions reader_options() {
  capnp::ReaderOptions o;
  o.traversalLimitInWords = uint64_t(1) << 31;  // big top-k / embed answers are legitimate
  return o;
}

std::string type_code(kj::Exception::Type type) {
  switch (type) {
    case kj::Exception::Type::OVERLOADED:
      return "overloaded";
    case kj::Exception::Type::DISCONNECTED:
      return "unavailable";
    case kj::Exception::Type::UNIMPLEMENTED:
      return "unsupported";
    default:
      return "internal";
  }
}

bool contains(const std::string& s, const char* part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

std::string default_address() {
  auto cfg = parse_config(embedded_local_config());
  if (cfg) {
    if (const node_config* c = cfg->coordinator(); c != nullptr && c->gateway_port != 0)
      return c->host + ":" + std::to_string(c->gateway_port);
  }
  return k_fallback_address;
}

std::string default_token() {
  if (const char* env = std::getenv("TESSERA_TOKEN"); env != nullptr && *env != '\0') return env;
  // The config holds only hashes: the local config's admin hash is that of this token.
  return k_fallback_token;
}

std::string describe_rpc_failure(const kj::Exception& e, const std::string& address,
                                 double timeout_s) {
  std::string desc = e.getDescription().cStr();
  if (auto pos = desc.find("tessera."); pos != std::string::npos) return desc.substr(pos);
  if (contains(desc, "operation timed out") && e.getType() == kj::Exception::Type::OVERLOADED) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", timeout_s);
    return "tessera.deadline_exceeded: no answer from " + address + " within " + buf + " s";
  }
  if (contains(desc, "Connection refused") || contains(desc, "ECONNREFUSED"))
    return "tessera.unavailable: cannot connect to " + address +
           ": connection refused (is the cluster up? see `tessera up`)";
  if (e.getType() == kj::Exception::Type::DISCONNECTED)
    return "tessera.unavailable: connection to " + address + " failed: " + desc;
  return "tessera." + type_code(e.getType()) + ": " + desc;
}

std::string error_code_of(const std::string& description) {
  if (description.rfind("tessera.", 0) != 0) return "tessera.unknown";
  auto colon = description.find(':');
  return colon == std::string::npos ? description : description.substr(0, colon);
}

kj::Duration seconds_to_duration(double seconds) {
  if (!(seconds >= 0.001)) seconds = 0.001;
  if (seconds > 365.0 * 86400) seconds = 365.0 * 86400;
  return static_cast<int64_t>(seconds * 1e6) * kj::MICROSECONDS;
}

connection::connection(client_options opts) : opts_(std::move(opts)), session_(nullptr) {
  try {
    rpc_ = std::make_unique<capnp::EzRpcClient>(opts_.address, k_default_port, reader_options());
  } catch (const kj::Exception& e) {
    throw command_error(describe_rpc_failure(e, opts_.address, opts_.timeout_s));
  }
  auto req = rpc_->getMain<::Tessera>().authenticateRequest();
  req.setToken(opts_.token);
  auto resp = wait(req.send());
  session_ = resp.getSession();
}

connection::~connection() {
  // Drop the capabilities before the RPC system that owns their connection.
  session_ = nullptr;
  rpc_.reset();
}

::Admin::Client connection::admin() {
  auto resp = wait(session_.adminRequest().send());
  return resp.getAdmin();
}

void quiet_kj_logs::logMessage(kj::LogSeverity severity, const char* file, int line,
                               int context_depth, kj::String&& text) {
  static const bool debug = std::getenv("TESSERA_DEBUG") != nullptr;
  if (debug) next.logMessage(severity, file, line, context_depth, kj::mv(text));
}

}  // namespace tessera::cli
