#include "node/gateway_tls.hpp"

#include <deque>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include <kj/compat/tls.h>
#include <kj/debug.h>

#include "base/logger.hpp"
#include "node/tls.hpp"

namespace tessera {
namespace {

const char* k_hint =
    " (`tessera certs init --config FILE` makes gateway.pem, gateway.key and client-ca.pem in "
    "the [tls] dir)";

std::shared_ptr<spdlog::logger> log() {
  return component_logger("gateway");
}

// Handshake failures: each at debug level; at info level the first, then at most one line per
// `interval` with the number of failures since the previous line.
class failure_log {
 public:
  void note(const std::string& peer, const kj::Exception& e) {
    const std::string what = e.getType() == kj::Exception::Type::OVERLOADED
                                 ? "no handshake within the timeout"
                                 : reason(e);
    log()->debug("TLS handshake with {} failed: {}", peer, what);
    ++unlogged_;
    auto now = std::chrono::steady_clock::now();
    if (logged_once_ && now - last_ < interval) return;
    log()->info("{} TLS handshake{} failed since the last report; the latest, with {}: {}",
                unlogged_, unlogged_ == 1 ? "" : "s", peer, what);
    logged_once_ = true;
    last_ = now;
    unlogged_ = 0;
  }

  static constexpr std::chrono::seconds interval{60};

 private:
  // OpenSSL's reason ("...:SSL routines::wrong version number" -> "wrong version number").
  static std::string reason(const kj::Exception& e) {
    std::string d = e.getDescription().cStr();
    if (auto at = d.rfind("::"); at != std::string::npos) d = d.substr(at + 2);
    for (char& c : d)
      if (c == '\n') c = ' ';
    return d;
  }

  bool logged_once_ = false;
  std::chrono::steady_clock::time_point last_{};
  uint64_t unlogged_ = 0;
};

std::string peer_of(kj::AuthenticatedStream& s) {
  if (auto* net = dynamic_cast<kj::NetworkPeerIdentity*>(s.peerIdentity.get()))
    return net->getAddress().toString().cStr();
  return "a client";
}

// The address of "addr:port" or "[v6]:port", without the port.
std::string address_of(const std::string& peer) {
  if (!peer.empty() && peer.front() == '[') return peer.substr(0, peer.find(']') + 1);
  return peer.substr(0, peer.rfind(':'));
}

// Accepts continuously; each connection's handshake runs as its own task, and finished ones
// wait in `ready_` for accept(). Pending (handshaking + ready) connections are bounded, in all
// and (handshakes) per source address.
class tls_listener final : public kj::ConnectionReceiver, private kj::TaskSet::ErrorHandler {
 public:
  tls_listener(kj::Own<kj::ConnectionReceiver> inner, kj::Own<kj::TlsContext> tls,
               size_t max_pending, size_t max_per_source, std::atomic<uint64_t>* failures,
               std::atomic<uint64_t>* refused)
      : inner_(kj::mv(inner)),
        tls_(kj::mv(tls)),
        max_pending_(max_pending),
        max_per_source_(max_per_source),
        counted_(failures),
        refused_(refused) {
    accepting_ =
        accept_loop().eagerlyEvaluate([this](kj::Exception&& e) { inner_failed(kj::mv(e)); });
  }

  kj::Promise<kj::Own<kj::AsyncIoStream>> accept() override {
    KJ_IF_MAYBE (e, inner_error_) {
      return kj::cp(*e);
    }
    KJ_REQUIRE(waiter_.get() == nullptr, "one accept() at a time");
    if (!ready_.empty()) {
      auto s = kj::mv(ready_.front());
      ready_.pop_front();
      --pending_;
      slot_freed();
      return kj::mv(s);
    }
    auto paf = kj::newPromiseAndFulfiller<kj::Own<kj::AsyncIoStream>>();
    waiter_ = kj::mv(paf.fulfiller);
    return kj::mv(paf.promise);
  }

  uint getPort() override { return inner_->getPort(); }
  void getsockopt(int level, int option, void* value, uint* length) override {
    inner_->getsockopt(level, option, value, length);
  }
  void setsockopt(int level, int option, const void* value, uint length) override {
    inner_->setsockopt(level, option, value, length);
  }
  void getsockname(struct sockaddr* addr, uint* length) override {
    inner_->getsockname(addr, length);
  }

 private:
  kj::Promise<void> accept_loop() {
    if (pending_ >= max_pending_) {
      auto paf = kj::newPromiseAndFulfiller<void>();
      slot_waiter_ = kj::mv(paf.fulfiller);
      return paf.promise.then([this] { return accept_loop(); });
    }
    return inner_->acceptAuthenticated().then([this](kj::AuthenticatedStream s) {
      handshake(kj::mv(s));
      return accept_loop();
    });
  }

  void handshake(kj::AuthenticatedStream s) {
    std::string peer = peer_of(s);
    std::string source = address_of(peer);
    if (max_per_source_ > 0 && per_source_[source] >= max_per_source_) {
      // Closed at once (s goes out of scope): this address holds its share of the slots.
      if (refused_ && refused_->fetch_add(1, std::memory_order_relaxed) % 1000 == 0)
        log()->warn("TLS connection from {} refused: {} handshakes from it under way ({} refused)",
                    source, per_source_[source], refused_->load(std::memory_order_relaxed));
      return;
    }
    ++pending_;
    ++per_source_[source];
    tasks_.add(tls_->wrapServer(kj::mv(s.stream))
                   .then(
                       [this, source](kj::Own<kj::AsyncIoStream> stream) {
                         handshake_ended(source);
                         done(kj::mv(stream));
                       },
                       [this, peer, source](kj::Exception&& e) {
                         handshake_ended(source);
                         failures_.note(peer, e);
                         if (counted_) counted_->fetch_add(1, std::memory_order_relaxed);
                         --pending_;
                         slot_freed();
                       }));
  }

  void handshake_ended(const std::string& source) {
    auto it = per_source_.find(source);
    if (it != per_source_.end() && --it->second == 0) per_source_.erase(it);
  }

  void done(kj::Own<kj::AsyncIoStream> stream) {
    if (waiter_.get() == nullptr) {
      ready_.push_back(kj::mv(stream));  // still pending until accept() takes it
      return;
    }
    auto w = kj::mv(waiter_);
    --pending_;
    slot_freed();
    w->fulfill(kj::mv(stream));
  }

  void slot_freed() {
    if (pending_ < max_pending_ && slot_waiter_.get() != nullptr) kj::mv(slot_waiter_)->fulfill();
  }

  void inner_failed(kj::Exception&& e) {
    log()->error("gateway listener failed: {}", e.getDescription().cStr());
    if (waiter_.get() != nullptr) kj::mv(waiter_)->reject(kj::cp(e));
    inner_error_ = kj::mv(e);
  }

  void taskFailed(kj::Exception&& e) override {  // the handshake tasks catch their own errors
    log()->debug("TLS handshake task failed: {}", e.getDescription().cStr());
  }

  kj::Own<kj::ConnectionReceiver> inner_;
  kj::Own<kj::TlsContext> tls_;
  const size_t max_pending_;
  const size_t max_per_source_;     // handshakes under way from one address; 0 = unbounded
  std::atomic<uint64_t>* counted_;  // failed handshakes, for /metrics; may be null
  std::atomic<uint64_t>* refused_;  // connections over max_per_source_; may be null
  size_t pending_ = 0;              // handshakes under way + connections in ready_
  std::map<std::string, size_t> per_source_;  // handshakes under way by source address
  std::deque<kj::Own<kj::AsyncIoStream>> ready_;
  kj::Own<kj::PromiseFulfiller<kj::Own<kj::AsyncIoStream>>> waiter_;
  kj::Own<kj::PromiseFulfiller<void>> slot_waiter_;
  kj::Maybe<kj::Exception> inner_error_;
  failure_log failures_;
  kj::TaskSet tasks_{*this};
  kj::Promise<void> accepting_ = nullptr;  // destroyed first: stops accepting
};

}  // namespace

gateway_tls_options gateway_tls_options_of(const gateway_config& cfg) {
  gateway_tls_options o;
  o.cert = resolve_state_path(cfg.cert);
  o.key = resolve_state_path(cfg.key);
  o.client_ca = resolve_state_path(cfg.client_ca);
  o.handshake_timeout = cfg.handshake_timeout;
  return o;
}

caf::error check_gateway_tls(const gateway_tls_options& opts) {
  if (!opts.enabled()) return caf::none;
  if (auto err = check_key_pair(opts.cert, opts.key, k_hint)) return err;
  if (!opts.client_ca.empty())
    if (auto err = check_certificate_file(opts.client_ca, k_hint)) return err;
  return caf::none;
}

kj::Own<kj::ConnectionReceiver> secure_listener(kj::Own<kj::ConnectionReceiver> plain,
                                                const gateway_tls_options& opts, kj::Timer& timer,
                                                std::atomic<uint64_t>* failures,
                                                std::atomic<uint64_t>* refused) {
  if (!opts.enabled()) return plain;
  kj::TlsKeypair keypair{kj::TlsPrivateKey(read_pem_file(opts.key)),
                         kj::TlsCertificate(read_pem_file(opts.cert))};
  std::vector<kj::TlsCertificate> client_cas;
  if (!opts.client_ca.empty()) client_cas = read_pem_certificates(opts.client_ca);
  kj::TlsContext::Options o;
  o.useSystemTrustStore = false;  // only client_ca may vouch for a client
  o.minVersion = kj::TlsVersion::TLS_1_2;
  o.defaultKeypair = keypair;
  o.verifyClients = !client_cas.empty();
  o.trustedCertificates = kj::arrayPtr(client_cas.data(), client_cas.size());
  o.timer = timer;
  o.acceptTimeout = opts.handshake_timeout.count() * kj::MILLISECONDS;
  // The context keeps its own references to the key and certificates (OpenSSL refcounts).
  auto tls = kj::heap<kj::TlsContext>(kj::mv(o));
  log()->info("client TLS at the gateway: certificate {}; {}; handshake timeout {} ms", opts.cert,
              client_cas.empty() ? std::string("no client certificates asked for")
                                 : "client certificates required, signed by " + opts.client_ca,
              opts.handshake_timeout.count());
  return kj::heap<tls_listener>(kj::mv(plain), kj::mv(tls), opts.max_pending,
                                opts.max_pending_per_source, failures, refused);
}

kj::String read_pem_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  KJ_REQUIRE(in.is_open() && !in.bad(), "cannot read", path);
  return kj::heapString(text.str());
}

std::vector<kj::TlsCertificate> read_pem_certificates(const std::string& path) {
  const std::string text = read_pem_file(path).cStr();
  const std::string end = "-----END CERTIFICATE-----";
  std::vector<kj::TlsCertificate> out;
  for (size_t from = 0;;) {
    size_t at = text.find(end, from);
    if (at == std::string::npos) break;
    out.emplace_back(kj::StringPtr(text.substr(from, at + end.size() - from).c_str()));
    from = at + end.size();
  }
  KJ_REQUIRE(!out.empty(), "no PEM certificate", path);
  return out;
}

}  // namespace tessera
