#include "node/node_transport.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman_actor_impl.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/doorman_impl.hpp>

#include "base/errors.hpp"
#include "node/basp_guard.hpp"
#include "node/node_sockets.hpp"

namespace tessera {
namespace {

using steady = std::chrono::steady_clock;
constexpr size_t pump_buffer = 256 * 1024;  // bytes held per direction per connection

}  // namespace

struct node_transport::impl : std::enable_shared_from_this<impl> {
  node_transport_options opts;
  SSL_CTX* ctx = nullptr;
  std::shared_ptr<spdlog::logger> log;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> refused{0}, shed{0}, guard_closed{0}, dropped{0};
  std::atomic<size_t> pumps{0}, inbound_peers{0};
  std::mutex mu;
  std::set<uint16_t> admitted;  // local ports of loopback connections made for the doorman
  int listen_fd = -1;
  uint16_t basp_port = 0;
  std::thread acceptor;

  ~impl() {
    if (listen_fd >= 0) ::close(listen_fd);
    if (ctx != nullptr) SSL_CTX_free(ctx);
  }

  // Whether the doorman may take the accepted loopback socket `fd`: one the transport made.
  bool admit(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || a.sin_family != AF_INET ||
        a.sin_addr.s_addr != htonl(INADDR_LOOPBACK))
      return false;
    std::lock_guard<std::mutex> g{mu};
    return admitted.erase(ntohs(a.sin_port)) == 1;
  }

  // A loopback connection to the doorman, admitted by its local port; -1 on failure.
  int connect_doorman() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return -1;
    }
    uint16_t mine = local_port_of(fd);
    {
      std::lock_guard<std::mutex> g{mu};
      admitted.insert(mine);
    }
    a.sin_port = htons(basp_port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::lock_guard<std::mutex> g{mu};
      admitted.erase(mine);
      ::close(fd);
      return -1;
    }
    set_nonblocking(fd);
    set_nodelay(fd);
    return fd;
  }

  void start_pump(SSL* ssl, int tls_fd, int local_fd, basp_side side, std::string peer) {
    ++pumps;
    auto self = shared_from_this();
    std::thread{[self, ssl, tls_fd, local_fd, side, peer] {
      self->pump(ssl, tls_fd, local_fd, side, peer);
      --self->pumps;
    }}.detach();
  }

  // Carries bytes between TLS and the local BASP end through a basp_guard until either side
  // closes, the guard refuses a frame or the transport stops. Owns and frees ssl and both fds.
  void pump(SSL* ssl, int tls_fd, int local_fd, basp_side side, const std::string& peer) {
    basp_guard guard{side, opts.max_frame_bytes};
    std::string to_local, to_tls;
    std::vector<char> buf(16384);
    std::string reason;
    bool tls_wants_write = false;
    while (reason.empty() && !stopping) {
      while (reason.empty() && to_local.size() < pump_buffer) {
        ERR_clear_error();
        int r = SSL_read(ssl, buf.data(), static_cast<int>(buf.size()));
        if (r > 0) {
          const uint64_t dropped_before = guard.dropped_frames();
          if (!guard.inbound(buf.data(), static_cast<size_t>(r), to_local)) {
            ++guard_closed;
            reason = "refused BASP from " + peer + ": " + guard.error();
            log->warn("node transport: {}; closing the connection", reason);
          }
          if (const uint64_t n = guard.dropped_frames() - dropped_before; n > 0) {
            if (dropped.fetch_add(n) % 1000 == 0)
              log->warn("node transport: dropped a message from {} that answers no request", peer);
          }
          continue;
        }
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_WRITE) tls_wants_write = true;
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) reason = peer + " closed";
        break;
      }
      while (!to_local.empty()) {
        ssize_t w = ::send(local_fd, to_local.data(), to_local.size(), MSG_NOSIGNAL);
        if (w > 0) {
          to_local.erase(0, static_cast<size_t>(w));
        } else {
          if (w < 0 && errno == EINTR) continue;
          if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) reason = "local BASP closed";
          break;
        }
      }
      if (!reason.empty()) break;
      while (to_tls.size() < pump_buffer) {
        ssize_t r = ::recv(local_fd, buf.data(), buf.size(), 0);
        if (r > 0) {
          guard.outbound(buf.data(), static_cast<size_t>(r));
          to_tls.append(buf.data(), static_cast<size_t>(r));
          continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) reason = "local BASP closed";
        break;
      }
      while (!to_tls.empty()) {
        ERR_clear_error();
        int w = SSL_write(ssl, to_tls.data(),
                          static_cast<int>(std::min<size_t>(to_tls.size(), INT_MAX)));
        if (w > 0) {
          to_tls.erase(0, static_cast<size_t>(w));
          continue;
        }
        int e = SSL_get_error(ssl, w);
        if (e == SSL_ERROR_WANT_WRITE) tls_wants_write = true;
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE && reason.empty())
          reason = peer + " closed";
        break;
      }
      if (!reason.empty()) break;
      pollfd p[2] = {{tls_fd, 0, 0}, {local_fd, 0, 0}};
      if (to_local.size() < pump_buffer) p[0].events |= POLLIN;
      if (!to_tls.empty() || tls_wants_write) p[0].events |= POLLOUT;
      if (to_tls.size() < pump_buffer) p[1].events |= POLLIN;
      if (!to_local.empty()) p[1].events |= POLLOUT;
      tls_wants_write = false;
      ::poll(p, 2, 200);
    }
    log->info("node transport: connection with {} ends: {}", peer,
              reason.empty() ? "stopping" : reason);
    ERR_clear_error();
    SSL_shutdown(ssl);
    SSL_free(ssl);
    ERR_clear_error();
    ::close(tls_fd);
    ::close(local_fd);
    if (side == basp_side::server) --inbound_peers;
  }

  // Dials member host:port: TCP, TLS with its certificate name checked, then a guarded pump.
  // Returns the CAF end of the loopback pair.
  caf::expected<int> dial(const std::string& host, uint16_t port) {
    auto it = opts.members.find(host + ":" + std::to_string(port));
    if (it == opts.members.end())
      return make_error(
          errc::permission_denied,
          "node transport: " + host + ":" + std::to_string(port) + " is no member of the config");
    const std::string& name = it->second;
    auto fail = [&](const std::string& what) {
      return make_error(errc::unavailable, "node transport: " + name + " at " + host + ":" +
                                               std::to_string(port) + ": " + what);
    };
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res)
      return fail("cannot resolve the host");
    int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      ::freeaddrinfo(res);
      return fail(std::string("socket: ") + std::strerror(errno));
    }
    int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
    ::freeaddrinfo(res);
    const auto deadline = steady::now() + opts.connect_timeout;
    if (rc != 0 && errno != EINPROGRESS) {
      std::string e = std::strerror(errno);
      ::close(fd);
      return fail(e);
    }
    int soerr = 0;
    socklen_t slen = sizeof soerr;
    if (rc != 0 && (!wait_fd(fd, POLLOUT, deadline) ||
                    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) != 0 || soerr != 0)) {
      ::close(fd);
      return fail(soerr != 0 ? std::strerror(soerr) : "connect timed out");
    }
    set_nodelay(fd);
    SSL* ssl = SSL_new(ctx);
    if (ssl == nullptr) {
      ::close(fd);
      return fail("SSL_new: " + ssl_errors());
    }
    SSL_set_fd(ssl, fd);
    SSL_set_connect_state(ssl);
    const auto hs_deadline = steady::now() + opts.handshake_timeout;
    std::string why;
    for (;;) {
      ERR_clear_error();
      int r = SSL_connect(ssl);
      if (r == 1) break;
      int e = SSL_get_error(ssl, r);
      if ((e == SSL_ERROR_WANT_READ && wait_fd(fd, POLLIN, hs_deadline)) ||
          (e == SSL_ERROR_WANT_WRITE && wait_fd(fd, POLLOUT, hs_deadline)))
        continue;
      why = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE
                ? "TLS handshake timed out"
                : "TLS handshake failed: " + ssl_errors();
      break;
    }
    if (why.empty() && !peer_is(ssl, name, why)) why = "refused: " + why;
    if (!why.empty()) {
      ++refused;
      ERR_clear_error();
      SSL_free(ssl);
      ::close(fd);
      return fail(why);
    }
    auto [pump_end, caf_end] = loopback_pair();
    if (pump_end < 0) {
      SSL_free(ssl);
      ::close(fd);
      return fail("cannot make a loopback pair");
    }
    start_pump(ssl, fd, pump_end, basp_side::client, name);
    return caf_end;
  }

  struct pending {
    int fd;
    SSL* ssl;
    steady::time_point deadline;
    std::string source;
  };

  void drop(pending& p, bool refused_one) {
    if (refused_one) ++refused;
    ERR_clear_error();
    SSL_free(p.ssl);
    ERR_clear_error();
    ::close(p.fd);
  }

  // A handshake finished: admit the coordinator's certificate only, then pump to the doorman.
  void authenticated(pending& p) {
    std::string why;
    if (!peer_is(p.ssl, opts.coordinator, why)) {
      log->warn("node transport: refused {}: {}", p.source, why);
      drop(p, true);
      return;
    }
    if (inbound_peers >= opts.max_peers) {
      ++shed;
      drop(p, false);
      return;
    }
    int local = connect_doorman();
    if (local < 0) {
      drop(p, false);
      return;
    }
    ++inbound_peers;
    start_pump(p.ssl, p.fd, local, basp_side::server, opts.coordinator + " (" + p.source + ")");
  }

  void accept_loop() {
    int reserve = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    std::vector<pending> hs;
    std::map<std::string, size_t> per_source;
    size_t from_coordinator_host = 0;  // of hs
    std::vector<pollfd> fds;
    while (!stopping) {
      fds.clear();
      fds.push_back({listen_fd, POLLIN, 0});
      for (auto& p : hs) fds.push_back({p.fd, POLLIN, 0});
      ::poll(fds.data(), fds.size(), 100);
      if (fds[0].revents & POLLIN) {
        for (int i = 0; i < 256; ++i) {
          sockaddr_storage a{};
          socklen_t len = sizeof a;
          int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&a), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) {
            if ((errno == EMFILE || errno == ENFILE) && reserve >= 0) {
              // Out of fds: take the connection off the queue with the reserved one.
              ::close(reserve);
              int x = ::accept(listen_fd, nullptr, nullptr);
              if (x >= 0) ::close(x);
              reserve = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
              ++shed;
              continue;
            }
            break;
          }
          set_nodelay(fd);
          std::string src = address_of(a);
          const bool coordinator_host = opts.coordinator_addresses.count(src) != 0;
          if ((!coordinator_host &&
               hs.size() - from_coordinator_host >= opts.max_unauthenticated) ||
              per_source[src] >= opts.max_unauthenticated_per_source) {
            ++shed;
            ::close(fd);
            continue;
          }
          SSL* ssl = SSL_new(ctx);
          if (ssl == nullptr) {
            ERR_clear_error();
            ::close(fd);
            continue;
          }
          SSL_set_fd(ssl, fd);
          SSL_set_accept_state(ssl);
          ++per_source[src];
          if (coordinator_host) ++from_coordinator_host;
          hs.push_back({fd, ssl, steady::now() + opts.handshake_timeout, src});
        }
      }
      const auto now = steady::now();
      for (size_t i = 0; i < hs.size();) {
        auto& p = hs[i];
        bool done = false;
        ERR_clear_error();
        int r = SSL_accept(p.ssl);
        if (r == 1) {
          authenticated(p);
          done = true;
        } else {
          int e = SSL_get_error(p.ssl, r);
          if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || now >= p.deadline) {
            drop(p, true);
            done = true;
          }
        }
        if (done) {
          if (--per_source[p.source] == 0) per_source.erase(p.source);
          if (opts.coordinator_addresses.count(p.source) != 0) --from_coordinator_host;
          hs[i] = hs.back();
          hs.pop_back();
        } else {
          ++i;
        }
      }
    }
    for (auto& p : hs) drop(p, false);
    if (reserve >= 0) ::close(reserve);
  }
};

namespace {

// A BASP doorman on 127.0.0.1 that takes only connections the transport made.
class guarded_doorman : public caf::io::network::doorman_impl {
 public:
  guarded_doorman(caf::io::network::default_multiplexer& mx, caf::io::network::native_socket fd,
                  std::shared_ptr<node_transport::impl> t)
      : caf::io::network::doorman_impl(mx, fd), t_(std::move(t)) {}

  bool new_connection() override {
    if (detached()) return false;
    auto fd = acceptor_.accepted_socket();
    if (!t_->admit(fd)) {
      ::close(fd);
      return false;
    }
    return caf::io::network::doorman_impl::new_connection();
  }

 private:
  std::shared_ptr<node_transport::impl> t_;
};

// caf::io's middleman actor with connect() and open() through the transport.
class transport_mm : public caf::io::middleman_actor_impl {
 public:
  transport_mm(caf::actor_config& cfg, caf::actor broker, std::shared_ptr<node_transport::impl> t)
      : caf::io::middleman_actor_impl(cfg, std::move(broker)), t_(std::move(t)) {}

  const char* name() const override { return "tessera.node_transport"; }

 protected:
  caf::expected<caf::io::scribe_ptr> connect(const std::string& host, uint16_t port) override {
    auto fd = t_->dial(host, port);
    if (!fd) return std::move(fd.error());
    return mpx().new_scribe(*fd);
  }

  caf::expected<caf::io::doorman_ptr> open(uint16_t, const char*, bool) override {
    auto fd = caf::io::network::new_tcp_acceptor_impl(0, "127.0.0.1", false);
    if (!fd) return std::move(fd.error());
    return caf::make_counted<guarded_doorman>(mpx(), *fd, t_);
  }

 private:
  caf::io::network::default_multiplexer& mpx() {
    return static_cast<caf::io::network::default_multiplexer&>(system().middleman().backend());
  }
  std::shared_ptr<node_transport::impl> t_;
};

}  // namespace

node_transport::node_transport(std::shared_ptr<impl> p) : impl_(std::move(p)) {}

caf::expected<std::unique_ptr<node_transport>> node_transport::start(caf::actor_system& sys,
                                                                     node_transport_options opts) {
  auto p = std::make_shared<impl>();
  p->opts = std::move(opts);
  p->log = spdlog::get("node");
  if (!p->log) p->log = spdlog::default_logger();
  ERR_clear_error();
  p->ctx = SSL_CTX_new(TLS_method());
  const auto& f = p->opts.files;
  if (p->ctx == nullptr || SSL_CTX_set_min_proto_version(p->ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_use_certificate_chain_file(p->ctx, f.cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(p->ctx, f.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(p->ctx) != 1 ||
      SSL_CTX_load_verify_locations(p->ctx, f.ca.c_str(), nullptr) != 1)
    return make_error(errc::invalid_argument, "node transport: cannot load " + f.cert + ", " +
                                                  f.key + " or " + f.ca + ": " + ssl_errors());
  SSL_CTX_set_verify(p->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_mode(p->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_session_cache_mode(p->ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(p->ctx, SSL_OP_NO_TICKET);
  std::unique_ptr<node_transport> out{new node_transport(p)};
  auto broker = sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  out->dialer_ = sys.spawn<transport_mm, caf::detached + caf::hidden>(std::move(broker), p);
  return out;
}

node_transport::~node_transport() {
  caf::anon_send_exit(dialer_, caf::exit_reason::user_shutdown);
  impl_->stopping = true;
  if (impl_->acceptor.joinable()) impl_->acceptor.join();
  for (int i = 0; i < 100 && impl_->pumps > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

caf::io::middleman_actor node_transport::dialer() const {
  return dialer_;
}

node_transport_stats node_transport::stats() const {
  return {impl_->refused.load(), impl_->shed.load(), impl_->guard_closed.load(),
          impl_->dropped.load()};
}

caf::expected<uint16_t> node_transport::publish(const caf::strong_actor_ptr& whom,
                                                std::set<std::string> sigs, const std::string& host,
                                                uint16_t port) {
  // The BASP doorman first (loopback, admits the transport only), then the TLS listener.
  caf::expected<uint16_t> basp{caf::sec::runtime_error};
  {
    caf::scoped_actor self{dialer_.home_system()};
    self->request(dialer_, caf::infinite, caf::publish_atom::value, uint16_t{0}, whom,
                  std::move(sigs), std::string("127.0.0.1"), false)
        .receive([&](uint16_t p) { basp = p; }, [&](caf::error& e) { basp = std::move(e); });
  }
  if (!basp) return basp;
  impl_->basp_port = *basp;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res)
    return make_error(errc::invalid_argument, "node transport: cannot resolve " + host);
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 512) != 0) {
    std::string e = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    ::freeaddrinfo(res);
    return make_error(errc::unavailable, "node transport: cannot listen on " + host + ":" +
                                             std::to_string(port) + ": " + e);
  }
  ::freeaddrinfo(res);
  impl_->listen_fd = fd;
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  uint16_t bound = a.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6&>(a).sin6_port)
                                           : ntohs(reinterpret_cast<sockaddr_in&>(a).sin_port);
  auto p = impl_;
  impl_->acceptor = std::thread{[p] { p->accept_loop(); }};
  return bound;
}

}  // namespace tessera
