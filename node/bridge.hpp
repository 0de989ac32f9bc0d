#pragma once
// The one crossing between Cap'n Proto's event loop (the kj thread) and CAF's scheduler.
//
// ask() is called on the kj thread. It spawns a short-lived event-based actor that sends one
// request to `dest` with `timeout` and fulfills a kj cross-thread promise from whichever CAF
// thread runs the reply; the kj thread never blocks and never runs CAF code. The promise
// resolves on the kj thread that called ask(). If the kj side drops the promise first (the
// client went away), the CAF side's fulfill is a no-op.
//
// Errors: a caf::error reply (or a CAF timeout) rejects the promise with to_kj_exception().
#include <chrono>
#include <memory>
#include <utility>

#include <kj/async.h>
#include <kj/exception.h>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "cluster/errors.hpp"

namespace tessera {

// Maps a tessera error onto a Cap'n Proto exception type: overloaded, unavailable and
// deadline_exceeded become OVERLOADED (retry later); everything else FAILED. The description
// is describe(e): "tessera.<code>: <message>".
kj::Exception to_kj_exception(const caf::error& e);

// The reverse, for clients: a tessera code parsed from an exception description
// ("tessera.<code>: ..."), or errc::internal when the description has another form.
errc code_of_description(const std::string& description);

template <class R, class Handle, class... Ts>
kj::Promise<R> ask(caf::actor_system& sys, const Handle& dest, std::chrono::milliseconds timeout,
                   Ts&&... xs) {
  auto paf = kj::newPromiseAndCrossThreadFulfiller<R>();
  // shared_ptr because CAF copies handlers; the fulfiller is thread-safe (const methods).
  auto fulfiller =
      std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<R>>>(kj::mv(paf.fulfiller));
  sys.spawn([dest, timeout, fulfiller,
             msg = std::make_tuple(std::forward<Ts>(xs)...)](caf::event_based_actor* self) mutable {
    auto send = [&](auto&&... args) { return self->request(dest, timeout, std::move(args)...); };
    std::apply(send, std::move(msg))
        .then([fulfiller](R& result) { (*fulfiller)->fulfill(std::move(result)); },
              [fulfiller](caf::error& err) { (*fulfiller)->reject(to_kj_exception(err)); });
  });
  return kj::mv(paf.promise);
}

}  // namespace tessera
