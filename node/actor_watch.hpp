#pragma once
// No actor of a node may die while its process lives on: a process whose coordinator, node
// actor or bridge is gone answers nothing (or `unavailable`, forever) yet looks alive to
// `tessera up` and systemd. actor_watch watches those actors; when one of them ends while the
// process is not stopping, for whatever reason (an unhandled exception: actors/unhandled.hpp;
// an exit message from a peer), it logs one line on the "node" logger,
//   fatal: actor coordinator died: <reason>; exiting so that supervision restarts the process
// and ends the process with fatal_exit_code. The end is immediate (the logs are flushed, then
// std::_Exit): the actor system may be in any state, so no orderly shutdown is tried; the
// files a node writes are replaced atomically, so none is left half written.
//
// Thread: any. The check runs on the thread of the actor that ended.
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <caf/actor_cast.hpp>
#include <caf/error.hpp>

namespace tessera {

constexpr int fatal_exit_code = 70;  // EX_SOFTWARE

// The line logged when watched actor `name` ended with `reason`.
std::string fatal_line(const std::string& name, const caf::error& reason);

class actor_watch {
 public:
  using fatal_fn = std::function<void(const std::string& line)>;

  // Releases one watch: its actor's end no longer counts once the ticket is gone (its owner
  // stops the actor on purpose). Movable; an empty ticket releases nothing.
  class ticket {
   public:
    ticket() = default;
    explicit ticket(std::shared_ptr<std::atomic<bool>> released) : released_(std::move(released)) {}
    ticket(ticket&&) noexcept = default;
    ticket& operator=(ticket&& other) noexcept;
    ~ticket() { release(); }
    void release();

   private:
    std::shared_ptr<std::atomic<bool>> released_;
  };

  // `fatal` gets the line; the default (empty) logs it at critical level, flushes every logger
  // and exits with fatal_exit_code.
  explicit actor_watch(fatal_fn fatal = {});

  // Watches `handle` (any actor handle) under `name`. An actor already gone counts at once.
  template <class Handle>
  [[nodiscard]] ticket watch(const Handle& handle, std::string name) {
    return watch_ptr(caf::actor_cast<caf::strong_actor_ptr>(handle), std::move(name));
  }

  // The process stops its actors on purpose from now on: no end counts any more.
  void stopping() { *stopping_ = true; }

 private:
  ticket watch_ptr(caf::strong_actor_ptr actor, std::string name);

  fatal_fn fatal_;
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace tessera
