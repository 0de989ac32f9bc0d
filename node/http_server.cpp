#include "node/http_server.hpp"

#include <future>
#include <string_view>

#include <kj/async-io.h>
#include <kj/compat/http.h>

#include "base/errors.hpp"
#include "base/logger.hpp"

namespace tessera {
namespace {

kj::StringPtr reason_of(uint32_t status) {
  switch (status) {
    case 200:
      return "OK";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 503:
      return "Service Unavailable";
    default:
      return "Internal Server Error";
  }
}

kj::Promise<void> send(kj::HttpService::Response& response, const kj::HttpHeaderTable& table,
                       const http_reply& r) {
  kj::HttpHeaders headers(table);
  headers.set(kj::HttpHeaderId::CONTENT_TYPE, r.content_type);
  headers.add("Cache-Control", "no-store");
  if (r.status == 405) headers.add("Allow", "GET, HEAD");
  if (r.status == 401) headers.add("WWW-Authenticate", "Bearer");
  auto body = kj::heapString(r.body.data(), r.body.size());
  // HEAD: kj-http sends the Content-Length and drops the body written.
  auto stream = response.send(r.status, reason_of(r.status), headers, body.size());
  auto write = stream->write(body.begin(), body.size());
  return write.attach(kj::mv(stream), kj::mv(body));
}

class service final : public kj::HttpService {
 public:
  service(http_handler& h, const kj::HttpHeaderTable& table, const http_server_options& opts,
          kj::HttpHeaderId authorization)
      : handler_(h), table_(table), opts_(opts), authorization_(authorization) {}

  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url,
                            const kj::HttpHeaders& headers, kj::AsyncInputStream&,
                            Response& response) override {
    if (method != kj::HttpMethod::GET && method != kj::HttpMethod::HEAD)
      return send(response, table_, {405, "text/plain; charset=utf-8", "only GET and HEAD\n"});
    std::string path(url.cStr());
    if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
    if (path == "/metrics" && opts_.has_bearer && !authorized(headers))
      return send(response, table_,
                  {401, "text/plain; charset=utf-8", "/metrics needs a bearer token\n"});
    return handler_.get(path).then(
        [this, &response](http_reply r) { return send(response, table_, r); });
  }

 private:
  bool authorized(const kj::HttpHeaders& headers) const {
    static constexpr std::string_view scheme = "Bearer ";
    KJ_IF_MAYBE (value, headers.get(authorization_)) {
      std::string_view v(value->cStr(), value->size());
      if (v.size() <= scheme.size() || v.substr(0, scheme.size()) != scheme) return false;
      return token_matches(opts_.bearer, std::string(v.substr(scheme.size())));
    }
    return false;
  }

  http_handler& handler_;
  const kj::HttpHeaderTable& table_;
  const http_server_options& opts_;
  kj::HttpHeaderId authorization_;
};

// Accepts connections and serves each with `server`, within the options' bounds.
class acceptor final : private kj::TaskSet::ErrorHandler {
 public:
  acceptor(const http_server_options& opts, kj::Timer& timer, kj::HttpServer& server,
           kj::ConnectionReceiver& listener)
      : opts_(opts), timer_(timer), server_(server), listener_(listener), tasks_(*this) {}

  kj::Promise<void> run() {
    return listener_.accept().then(
        [this](kj::Own<kj::AsyncIoStream> conn) {
          if (open_ >= opts_.max_connections) return run();  // `conn` is closed here
          ++open_;
          auto lifetime = opts_.connection_lifetime.count() * kj::MILLISECONDS;
          tasks_.add(timer_.timeoutAfter(lifetime, server_.listenHttp(kj::mv(conn)))
                         .attach(kj::defer([this] { --open_; })));
          return run();
        },
        [this](kj::Exception&& e) {
          // accept() failing (e.g. EMFILE) must not end the server: back off and go on.
          component_logger("http")->warn("accept failed: {}", e.getDescription().cStr());
          return timer_.afterDelay(100 * kj::MILLISECONDS).then([this] { return run(); });
        });
  }

 private:
  void taskFailed(kj::Exception&&) override {}  // a connection ended badly or timed out

  const http_server_options& opts_;
  kj::Timer& timer_;
  kj::HttpServer& server_;
  kj::ConnectionReceiver& listener_;
  uint32_t open_ = 0;
  kj::TaskSet tasks_;  // last: destroyed (cancelling every connection) before the rest
};

struct started {
  std::string error;  // empty: bound
  uint16_t port = 0;
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> stop;
};

void serve(http_server_options opts, http_handler& handler,
           std::shared_ptr<std::promise<started>> ready_ptr) {
  auto& ready = *ready_ptr;
  auto io = kj::setupAsyncIo();
  auto stop = kj::newPromiseAndCrossThreadFulfiller<void>();
  kj::Own<kj::ConnectionReceiver> listener;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                 auto addr = io.provider->getNetwork()
                                 .parseAddress(opts.host.c_str(), opts.port)
                                 .wait(io.waitScope);
                 listener = addr->listen();
               })) {
    started failed;
    failed.error = "cannot listen on " + opts.host + ":" + std::to_string(opts.port) + ": " +
                   e->getDescription().cStr();
    ready.set_value(std::move(failed));
    return;
  }
  started ok;
  ok.port = static_cast<uint16_t>(listener->getPort());
  if (opts.tls.enabled()) {
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                   listener = secure_listener(kj::mv(listener), opts.tls, io.provider->getTimer());
                 })) {
      started failed;
      failed.error = "cannot set up HTTPS: " + std::string(e->getDescription().cStr());
      ready.set_value(std::move(failed));
      return;
    }
  }
  ok.stop = kj::mv(stop.fulfiller);
  ready.set_value(std::move(ok));
  kj::HttpHeaderTable::Builder builder;
  const kj::HttpHeaderId authorization = builder.add("Authorization");
  auto table_own = builder.build();
  const kj::HttpHeaderTable& table = *table_own;
  service svc(handler, table, opts, authorization);
  kj::HttpServerSettings settings;
  settings.headerTimeout = opts.header_timeout.count() * kj::MILLISECONDS;
  settings.pipelineTimeout = opts.header_timeout.count() * kj::MILLISECONDS;
  settings.canceledUploadGraceBytes = 4096;
  kj::HttpServer server(io.provider->getTimer(), table, svc, settings);
  acceptor acc(opts, io.provider->getTimer(), server, *listener);
  acc.run().exclusiveJoin(kj::mv(stop.promise)).wait(io.waitScope);
}

}  // namespace

caf::expected<std::unique_ptr<http_server>> http_server::start(const http_server_options& opts,
                                                               http_handler& handler) {
  // Shared: the thread may still be inside set_value() when get() returns here.
  auto ready = std::make_shared<std::promise<started>>();
  auto result = ready->get_future();
  std::unique_ptr<http_server> s(new http_server);
  s->thread_ = std::thread([opts, &handler, ready] { serve(opts, handler, ready); });
  auto st = result.get();
  if (!st.error.empty()) {
    s->thread_.join();
    return make_error(errc::io_error, st.error);
  }
  s->port_ = st.port;
  s->stop_ = kj::mv(st.stop);
  return s;
}

http_server::~http_server() {
  if (stop_) stop_->fulfill();
  if (thread_.joinable()) thread_.join();
}

}  // namespace tessera
