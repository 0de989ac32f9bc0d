#pragma once
// Client side of the gateway's Cap'n Proto API: connect, authenticate, wait with a deadline,
// and turn every failure into one user-facing description "tessera.<code>: message".
//
// One `connection` is one TCP connection with its authenticated Session. All connections of a
// thread share that thread's kj event loop (EzRpcClient's thread-local context), so a program
// can wait on calls of two connections at once (load + status polling, bench).
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include <capnp/ez-rpc.h>
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

struct client_options {
  std::string address;  // HOST:PORT of the gateway
  std::string token;
  double timeout_s = 30;  // deadline of each call
};

// The embedded config's coordinator host:gateway_port, or 127.0.0.1:7300 if unavailable.
std::string default_address();
// $TESSERA_TOKEN, else "tessera-admin-dev" (the local config's development admin token).
std::string default_token();

// The user-facing description of an exception from a call to `address`: the server's
// "tessera.<code>: ..." text when it sent one (the "remote exception: " prefix removed), else
// a tessera code chosen from the kj exception type, naming the address for connection faults.
std::string describe_rpc_failure(const kj::Exception& e, const std::string& address,
                                 double timeout_s);

// The "tessera.<code>" prefix of a description ("tessera.unknown" when there is none).
std::string error_code_of(const std::string& description);

class connection {
 public:
  // Connects and authenticates; throws command_error (connection refused, unauthenticated,
  // timeout) with a message naming the address.
  explicit connection(client_options opts);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  ::Session::Client& session() { return session_; }
  // The Admin capability; throws command_error (permission_denied) for non-admin tokens.
  ::Admin::Client admin();

  kj::WaitScope& wait_scope() { return rpc_->getWaitScope(); }
  kj::Timer& timer() { return rpc_->getIoProvider().getTimer(); }
  const client_options& options() const { return opts_; }

  // Waits for `promise` at most `timeout_s` seconds (the connection's timeout when <= 0);
  // any failure is rethrown as command_error.
  template <typename T>
  T wait(kj::Promise<T>&& promise, double timeout_s = 0);

 private:
  client_options opts_;
  std::unique_ptr<capnp::EzRpcClient> rpc_;
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
    throw command_error(describe_rpc_failure(e, opts_.address, t));
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
