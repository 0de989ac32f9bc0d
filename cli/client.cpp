#include "cli/client.hpp"

#include <cstdlib>
#include <vector>

#include <capnp/rpc-twoparty.h>
#include <kj/compat/tls.h>

#include "node/config.hpp"
#include "node/gateway_tls.hpp"
#include "node/tls.hpp"

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

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string{} : std::string{v};
}

// What went wrong in a TLS failure `desc` (kj's or OpenSSL's words), for a person; "" when
// `desc` is not about TLS.
std::string tls_reason(const std::string& desc) {
  std::string openssl;  // OpenSSL's reason, e.g. "tlsv13 alert certificate required"
  if (auto at = desc.rfind("::"); at != std::string::npos) openssl = desc.substr(at + 2);
  if (contains(desc, "certificate is not trusted")) {
    auto at = desc.find("reason = ");
    return "the gateway's certificate is not trusted with --tls-ca" +
           (at == std::string::npos ? std::string{} : " (" + desc.substr(at + 9) + ")");
  }
  if (contains(desc, "alert certificate required"))
    return "the gateway requires a client certificate (--tls-cert and --tls-key) (" + openssl + ")";
  if (contains(desc, "alert unknown ca") || contains(desc, "alert bad certificate") ||
      contains(desc, "alert certificate unknown") || contains(desc, "alert unsupported cert"))
    return "the gateway refused the client certificate (" + openssl + ")";
  // kj's words when the gateway closes a session it has just refused (TLS 1.3 refuses a client
  // certificate after the client's side of the handshake is done).
  if (contains(desc, "ssl connection ended"))
    return "the gateway ended the TLS session: is the client certificate signed by its client "
           "CA? (" +
           desc + ")";
  if (contains(desc, "wrong version number") || contains(desc, "packet length too long") ||
      contains(desc, "record layer failure") || contains(desc, "during SSL_connect") ||
      contains(desc, "unexpected eof"))
    return "no TLS handshake: does the gateway use TLS? (" + (openssl.empty() ? desc : openssl) +
           ")";
  if (contains(desc, "OpenSSL") || contains(desc, "SSL routines") || contains(desc, "TLS"))
    return openssl.empty() ? desc : openssl;
  return "";
}

const char* k_tls_hint = " (give PEM files to --tls-ca, --tls-cert and --tls-key)";

// A TLS context that trusts only tls.ca and presents tls.cert when given.
kj::Own<kj::TlsContext> client_context(const tls_client_options& tls) {
  if (auto err = check_certificate_file(tls.ca, k_tls_hint)) throw command_error(describe(err));
  if (!tls.cert.empty())
    if (auto err = check_key_pair(tls.cert, tls.key, k_tls_hint))
      throw command_error(describe(err));
  try {
    auto cas = read_pem_certificates(tls.ca);
    kj::TlsContext::Options o;
    o.useSystemTrustStore = false;
    o.minVersion = kj::TlsVersion::TLS_1_2;
    o.trustedCertificates = kj::arrayPtr(cas.data(), cas.size());
    kj::Maybe<kj::TlsKeypair> keypair;
    if (!tls.cert.empty()) {
      keypair = kj::TlsKeypair{kj::TlsPrivateKey(read_pem_file(tls.key)),
                               kj::TlsCertificate(read_pem_file(tls.cert))};
      o.defaultKeypair = KJ_ASSERT_NONNULL(keypair);
    }
    return kj::heap<kj::TlsContext>(kj::mv(o));  // OpenSSL keeps its own references
  } catch (const kj::Exception& e) {
    throw command_error("tessera.invalid_argument: TLS files " + tls.ca +
                        (tls.cert.empty() ? "" : ", " + tls.cert) + ": " +
                        e.getDescription().cStr());
  }
}

kj::Exception tls_failure(const kj::Exception& e, const std::string& address) {
  std::string reason = tls_reason(e.getDescription().cStr());
  if (reason.empty()) reason = e.getDescription().cStr();
  return kj::Exception(
      kj::Exception::Type::DISCONNECTED, __FILE__, __LINE__,
      kj::str("tessera.unavailable: TLS handshake with ", address, " failed: ", reason));
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

std::shared_ptr<kj::AsyncIoContext> thread_io() {
  thread_local std::weak_ptr<kj::AsyncIoContext> current;
  auto io = current.lock();
  if (!io) {
    io = std::make_shared<kj::AsyncIoContext>(kj::setupAsyncIo());
    current = io;
  }
  return io;
}

tls_client_options default_tls() {
  return {env_or_empty("TESSERA_TLS_CA"), env_or_empty("TESSERA_TLS_CERT"),
          env_or_empty("TESSERA_TLS_KEY")};
}

void check_tls_options(const tls_client_options& tls) {
  if (tls.cert.empty() != tls.key.empty())
    throw command_error(
        std::string("tessera.invalid_argument: ") +
            (tls.cert.empty() ? "--tls-key needs --tls-cert" : "--tls-cert needs --tls-key"),
        2);
  if (!tls.cert.empty() && tls.ca.empty())
    throw command_error(
        "tessera.invalid_argument: --tls-cert needs --tls-ca (the CA the gateway's certificate "
        "must chain to)",
        2);
}

void check_transport(const std::string& address, const tls_client_options& tls) {
  if (tls.enabled() || tls.insecure || is_loopback_host(host_of(address))) return;
  throw command_error("tessera.permission_denied: refusing to send a token in plain text to " +
                          address +
                          ", which is not a loopback address: give --tls-ca (TLS), or "
                          "--insecure to send it readable anyway",
                      2);
}

std::string host_of(const std::string& address) {
  if (!address.empty() && address[0] == '[') {
    auto close = address.find(']');
    return address.substr(1, close == std::string::npos ? std::string::npos : close - 1);
  }
  auto colon = address.find(':');
  if (colon != std::string::npos && address.find(':', colon + 1) == std::string::npos)
    return address.substr(0, colon);
  return address;  // no port, or a bare IPv6 address
}

struct gateway_link::state {
  std::shared_ptr<kj::AsyncIoContext> io = thread_io();
  std::string address;
  capnp::ReaderOptions reader;
  kj::Own<kj::TlsContext> tls;  // null = plaintext
  kj::Own<kj::AsyncIoStream> stream;
  kj::Own<capnp::TwoPartyVatNetwork> network;
  kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc;
  capnp::Capability::Client main = nullptr;  // destroyed first
};

gateway_link::gateway_link(const std::string& address, const tls_client_options& tls,
                           capnp::ReaderOptions reader)
    : state_(std::make_unique<state>()) {
  check_transport(address, tls);
  state* s = state_.get();
  s->address = address;
  s->reader = reader;
  if (tls.enabled()) s->tls = client_context(tls);
  auto& network = s->io->provider->getNetwork();
  kj::Promise<kj::Own<kj::AsyncIoStream>> stream =
      network.parseAddress(address, k_default_port).then([](kj::Own<kj::NetworkAddress> addr) {
        auto connecting = addr->connect();
        return connecting.attach(kj::mv(addr));
      });
  if (s->tls) {
    stream = stream.then([s](kj::Own<kj::AsyncIoStream> raw) {
      return s->tls->wrapClient(kj::mv(raw), host_of(s->address))
          .catch_([s](kj::Exception&& e) -> kj::Own<kj::AsyncIoStream> {
            kj::throwFatalException(tls_failure(e, s->address));
          });
    });
  }
  s->main = stream.then([s](kj::Own<kj::AsyncIoStream> connected) -> capnp::Capability::Client {
    s->stream = kj::mv(connected);
    s->network = kj::heap<capnp::TwoPartyVatNetwork>(*s->stream, capnp::rpc::twoparty::Side::CLIENT,
                                                     s->reader);
    s->rpc = kj::heap(capnp::makeRpcClient(*s->network));
    capnp::MallocMessageBuilder message(4);
    auto vat = message.getRoot<capnp::rpc::twoparty::VatId>();
    vat.setSide(capnp::rpc::twoparty::Side::SERVER);
    return s->rpc->bootstrap(vat);
  });
}

gateway_link::~gateway_link() = default;

::Tessera::Client gateway_link::bootstrap() {
  return state_->main.castAs<::Tessera>();
}

kj::WaitScope& gateway_link::wait_scope() {
  return state_->io->waitScope;
}

kj::Timer& gateway_link::timer() {
  return state_->io->provider->getTimer();
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
  if (auto reason = tls_reason(desc); !reason.empty())
    return "tessera.unavailable: TLS with " + address + " failed: " + reason;
  if (e.getType() == kj::Exception::Type::DISCONNECTED)
    return "tessera.unavailable: connection to " + address + " failed: " + desc;
  return "tessera." + type_code(e.getType()) + ": " + desc;
}

std::string describe_connection_failure(const kj::Exception& e, const std::string& address,
                                        double timeout_s, bool tls, bool answered) {
  const std::string desc = e.getDescription().cStr();
  // The transport failed (not an answer of the gateway's, not our own deadline).
  const bool transport =
      desc.find("tessera.") == std::string::npos &&
      (e.getType() == kj::Exception::Type::DISCONNECTED || !tls_reason(desc).empty());
  if (answered && transport)
    return "tessera.unavailable: connection to " + address + " failed: " + desc +
           " (the gateway had answered on it: the coordinator may have stopped or restarted)";
  std::string d = describe_rpc_failure(e, address, timeout_s);
  if (!tls && !answered && d.rfind("tessera.unavailable: connection to", 0) == 0)
    d += " (ended before any answer: a gateway with TLS ends plaintext connections, give "
         "--tls-ca; one at its connection cap ends new ones)";
  return d;
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
  check_tls_options(opts_.tls);
  try {
    link_ = std::make_unique<gateway_link>(opts_.address, opts_.tls, reader_options());
  } catch (const kj::Exception& e) {
    throw command_error(describe(e, opts_.timeout_s));
  }
  auto req = link_->bootstrap().authenticateRequest();
  req.setToken(opts_.token);
  auto resp = wait(req.send());
  session_ = resp.getSession();
  answered_ = true;
}

connection::~connection() {
  // Drop the capabilities before the RPC system that owns their connection.
  session_ = nullptr;
  link_.reset();
}

std::string connection::describe(const kj::Exception& e, double timeout_s) const {
  return describe_connection_failure(e, opts_.address, timeout_s, opts_.tls.enabled(), answered_);
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
