#pragma once
// A small HTTP/1.1 server for a node's operational endpoints (/metrics, /healthz, /readyz),
// on its own thread with its own kj event loop, so a slow scrape never delays the gateway and
// a node without a gateway (shard-only) has one too.
//
// Bounds, so that a client that sends garbage or never reads cannot hurt the node:
// - only GET and HEAD (others: 405); a request's head must fit kj-http's fixed buffer and
//   arrive within header_timeout; a body is never read (at most 4 KiB is drained);
// - at most max_connections open at once (more are closed as soon as they are accepted);
// - a connection lives at most connection_lifetime, answered or not, then is closed.
// Access: with `bearer`, /metrics answers 401 unless the request carries
// `Authorization: Bearer <token>` of that hash (/healthz and /readyz stay open: they tell
// nothing of tenants); with `tls` enabled, every connection is HTTPS (node/gateway_tls.hpp).
// Thread: start() and the destructor on any one thread; the handler only on the server's.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <kj/async.h>
#include <caf/expected.hpp>

#include "node/gateway_tls.hpp"
#include "node/token_hash.hpp"

namespace tessera {

struct http_reply {
  uint32_t status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Answers a GET (or HEAD) of `path` (the URL without its query). Runs on the server's thread;
// the promise resolves there. A rejected promise becomes a 500.
class http_handler {
 public:
  virtual ~http_handler() = default;
  virtual kj::Promise<http_reply> get(const std::string& path) = 0;
};

struct http_server_options {
  std::string host = "127.0.0.1";  // address to bind
  uint16_t port = 0;               // 0: any free port (see http_server::port())
  uint32_t max_connections = 64;
  std::chrono::milliseconds header_timeout{5000};        // for a request's head to arrive
  std::chrono::milliseconds connection_lifetime{30000};  // then the connection is closed
  bool has_bearer = false;  // /metrics needs `Authorization: Bearer` of `bearer`
  token_hash bearer;
  gateway_tls_options tls;  // absolute paths; cert empty = plain HTTP
};

class http_server {
 public:
  // Binds host:port and starts serving `handler`, which must outlive the server. Errors:
  // io_error when the address cannot be resolved or bound.
  static caf::expected<std::unique_ptr<http_server>> start(const http_server_options& opts,
                                                           http_handler& handler);
  // Stops accepting, closes every connection and joins the thread.
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  uint16_t port() const { return port_; }

 private:
  http_server() = default;
  std::thread thread_;
  uint16_t port_ = 0;
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> stop_;
};

}  // namespace tessera
