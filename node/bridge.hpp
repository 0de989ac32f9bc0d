#pragma once
// The one crossing between Cap'n Proto's event loop (the kj thread) and CAF's scheduler.
//
// kj_bridge::ask() is called on the kj thread. It hands a job to the bridge's one long-lived
// event-based actor, which sends the request to `dest` with `timeout` and fulfills a kj
// cross-thread promise from whichever CAF thread runs the reply; the kj thread never blocks
// and never runs CAF code. The promise resolves on the kj thread that called ask(). If the kj
// side drops the promise first (the client went away), the CAF side's fulfill is a no-op.
// One actor for all calls (rather than one per call) keeps nothing alive per request but the
// request's own timeout entry.
//
// Errors: a caf::error reply (or a CAF timeout) rejects the promise with to_kj_exception().
#include <chrono>
#include <functional>
#include <memory>
#include <utility>

#include <kj/async.h>
#include <kj/exception.h>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>

#include "base/errors.hpp"

namespace tessera {

// Maps a tessera error onto a Cap'n Proto exception type: overloaded, unavailable and
// deadline_exceeded become OVERLOADED (retry later); everything else FAILED. The description
// is describe(e): "tessera.<code>: <message>".
kj::Exception to_kj_exception(const caf::error& e);

// The reverse, for clients: a tessera code parsed from an exception description
// ("tessera.<code>: ..."), or errc::internal when the description has another form.
errc code_of_description(const std::string& description);

// Work the bridge actor runs on its own thread of control.
using bridge_job = std::function<void(caf::event_based_actor*)>;

class kj_bridge {
 public:
  explicit kj_bridge(caf::actor_system& sys);
  ~kj_bridge();  // stops the bridge actor; replies still pending are dropped (promises reject)
  kj_bridge(const kj_bridge&) = delete;
  kj_bridge& operator=(const kj_bridge&) = delete;

  template <class R, class Handle, class... Ts>
  kj::Promise<R> ask(const Handle& dest, std::chrono::milliseconds timeout, Ts&&... xs) {
    auto paf = kj::newPromiseAndCrossThreadFulfiller<R>();
    // shared_ptr because CAF copies handlers; the fulfiller is thread-safe (const methods).
    auto fulfiller =
        std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<R>>>(kj::mv(paf.fulfiller));
    auto msg = std::make_shared<std::tuple<std::decay_t<Ts>...>>(std::forward<Ts>(xs)...);
    submit([dest, timeout, fulfiller, msg](caf::event_based_actor* self) {
      auto send = [&](auto&... args) { return self->request(dest, timeout, std::move(args)...); };
      std::apply(send, *msg)
          .then([fulfiller](R& result) { (*fulfiller)->fulfill(std::move(result)); },
                [fulfiller](caf::error& err) { (*fulfiller)->reject(to_kj_exception(err)); });
    });
    return kj::mv(paf.promise);
  }

  // The bridge's actor, for node/actor_watch.hpp.
  const caf::actor& actor() const { return worker_; }

 private:
  void submit(bridge_job job);
  caf::actor worker_;
};

}  // namespace tessera

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::bridge_job)
