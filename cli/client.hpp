#pragma once
// Client side of the gateway's Cap'n Proto API: connect (over TLS when asked), authenticate,
// wait with a deadline, and turn every failure into one user-facing description
// "tessera.<code>: message".
//
// One `connection` is one TCP connection with its authenticated Session. All connections of a
// thread share that thread's kj event loop (see gateway_link), so a program can wait on calls
// of two connections at once (load + status polling, bench).
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include <capnp/message.h>
#include <kj/async-io.h>
#include <kj/async.h>
#include <kj/exception.h>
#include <kj/timer.h>

#include "schemas/tessera.capnp.h"

namespace tessera::cli {

// A failure a command reports as "tessera: <what()>" on stderr, exiting with `exit_code`
// (2 for usage errors, 1 otherwise). what() reads "tessera.<code>: message".
struct command_error : std::runtime_error {
  explicit command_error(const std::string& description, int exit_code = 1)
      : std::runtime_error(description), exit_code(exit_code) {}
  int exit_code;
};

// Transport security of a client connection (--tls-ca, --tls-cert, --tls-key).
struct tls_client_options {
  std::string ca;    // PEM CA the gateway's certificate must chain to; set = TLS, else plaintext
  std::string cert;  // PEM client certificate for a gateway that requires one (mTLS), with key
  std::string key;   // its private key, unencrypted
  // --insecure: plaintext to a gateway that is not on loopback is allowed (tokens and data
  // then cross the network readable); without it such a connection is refused before any
  // byte is sent (check_transport).
  bool insecure = false;
  bool enabled() const { return !ca.empty(); }
};

struct client_options {
  std::string address;  // HOST:PORT of the gateway
  std::string token;
  double timeout_s = 30;  // deadline of each call
  tls_client_options tls;
};

// The embedded config's coordinator host:gateway_port, or 127.0.0.1:7300 if unavailable.
std::string default_address();
// $TESSERA_TOKEN, else "tessera-admin-dev" (the local config's development admin token).
std::string default_token();

// $TESSERA_TLS_CA, $TESSERA_TLS_CERT and $TESSERA_TLS_KEY (each empty when unset).
tls_client_options default_tls();

// Refuses flags that do not go together, before any connection: a certificate without its key
// or the reverse, or either without a CA. Throws command_error (exit 2).
void check_tls_options(const tls_client_options& tls);

// Refuses, before any connection, plaintext (no tls.ca) to a gateway whose host is not loopback
// (node/config.hpp is_loopback_host: a name other than "localhost" counts as remote) unless
// tls.insecure: the token would cross the network readable. Throws command_error (exit 2).
void check_transport(const std::string& address, const tls_client_options& tls);

// The host of "host:port", "[v6]:port" or "host": the name the gateway's certificate must carry
// (a DNS name, or an IP address as an IP SAN).
std::string host_of(const std::string& address);

// The calling thread's kj event loop and I/O, shared by every gateway_link of the thread: made
// on first use, released with the last holder. Code that needs the loop next to links (a test
// server) takes it from here: a thread can have only one.
std::shared_ptr<kj::AsyncIoContext> thread_io();

// One Cap'n Proto connection to a gateway on the calling thread's event loop: TCP, then TLS when
// `tls` is enabled (the server's certificate checked against tls.ca and host_of(address)), then
// two-party RPC. Nothing blocks: bootstrap() is usable at once, and calls on it fail with the
// connection's failure, a TLS one described "tessera.unavailable: TLS with ADDRESS failed: ...".
// All links of a thread share one kj::AsyncIoContext, made by the first and released with the
// last. Throws command_error (invalid_argument, io_error) when a TLS file is unusable, and
// check_transport's refusal. Drop
// every capability of the link before the link.
class gateway_link {
 public:
  gateway_link(const std::string& address, const tls_client_options& tls,
               capnp::ReaderOptions reader = {});
  ~gateway_link();
  gateway_link(const gateway_link&) = delete;
  gateway_link& operator=(const gateway_link&) = delete;

  ::Tessera::Client bootstrap();
  kj::WaitScope& wait_scope();
  kj::Timer& timer();

 private:
  struct state;
  std::unique_ptr<state> state_;
};

// The user-facing description of an exception from a call to `address`: the server's
// "tessera.<code>: ..." text when it sent one (the "remote exception: " prefix removed), else
// a tessera code chosen from the kj exception type, naming the address for connection faults.
std::string describe_rpc_failure(const kj::Exception& e, const std::string& address,
                                 double timeout_s);

// describe_rpc_failure for a failure on one connection, with what its history makes likely.
// `answered`: the gateway has answered a call on this connection. A plaintext connection the
// gateway ended before its first answer probably reached a gateway with TLS (which ends a
// plaintext connection at its first bytes, sending nothing) or one at its connection cap: the
// description says so and to give --tls-ca. A connection lost after an answer lost its
// coordinator (stopped or restarted): the description says so, with the transport's words and
// no TLS hint (a TLS stream cut without a close reads like a failed handshake).
std::string describe_connection_failure(const kj::Exception& e, const std::string& address,
                                        double timeout_s, bool tls, bool answered);

// The "tessera.<code>" prefix of a description ("tessera.unknown" when there is none).
std::string error_code_of(const std::string& description);

class connection {
 public:
  // Connects (over TLS when opts.tls is enabled) and authenticates, all within
  // opts.timeout_s; throws command_error (connection refused, TLS handshake or certificate
  // failure, unauthenticated, timeout) with a message naming the address.
  explicit connection(client_options opts);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  ::Session::Client& session() { return session_; }
  // The Admin capability; throws command_error (permission_denied) for non-admin tokens.
  ::Admin::Client admin();

  kj::WaitScope& wait_scope() { return link_->wait_scope(); }
  kj::Timer& timer() { return link_->timer(); }
  const client_options& options() const { return opts_; }

  // Waits for `promise` at most `timeout_s` seconds (the connection's timeout when <= 0);
  // any failure is rethrown as command_error.
  template <typename T>
  T wait(kj::Promise<T>&& promise, double timeout_s = 0);

 private:
  // describe_connection_failure for this connection.
  std::string describe(const kj::Exception& e, double timeout_s) const;

  client_options opts_;
  bool answered_ = false;  // authenticate was answered: the gateway spoke on this connection
  std::unique_ptr<gateway_link> link_;
  ::Session::Client session_;
};

// kj::Duration of a number of seconds (clamped to [1 ms, 1 year]).
kj::Duration seconds_to_duration(double seconds);

template <typename T>
T connection::wait(kj::Promise<T>&& promise, double timeout_s) {
  double t = timeout_s > 0 ? timeout_s : opts_.timeout_s;
  try {
    return timer().timeoutAfter(seconds_to_duration(t), kj::mv(promise)).wait(wait_scope());
  } catch (const kj::Exception& e) {
    throw command_error(describe(e, t));
  }
}

// Silences kj's own log lines (broken connections, etc.) for the lifetime of the object,
// unless $TESSERA_DEBUG is set. Construct one on main's stack.
class quiet_kj_logs : public kj::ExceptionCallback {
 public:
  void logMessage(kj::LogSeverity severity, const char* file, int line, int context_depth,
                  kj::String&& text) override;
};

}  // namespace tessera::cli
