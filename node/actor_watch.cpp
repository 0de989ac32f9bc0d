#include "node/actor_watch.hpp"

#include <cstdlib>

#include <spdlog/spdlog.h>
#include <caf/abstract_actor.hpp>
#include <caf/actor_control_block.hpp>

#include "base/errors.hpp"
#include "base/logger.hpp"

namespace tessera {
namespace {

void log_and_exit(const std::string& line) {
  component_logger("node")->critical("{}", line);
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->flush(); });
  std::fflush(stderr);
  std::_Exit(fatal_exit_code);
}

}  // namespace

std::string fatal_line(const std::string& name, const caf::error& reason) {
  const std::string why = !reason                                     ? std::string{"no reason"}
                          : reason.category() == errc_category::value ? describe(reason)
                                                                      : message_of(reason);
  return "fatal: actor " + name + " died: " + why +
         "; exiting so that supervision restarts the process";
}

actor_watch::ticket& actor_watch::ticket::operator=(ticket&& other) noexcept {
  if (this != &other) {
    release();
    released_ = std::move(other.released_);
  }
  return *this;
}

void actor_watch::ticket::release() {
  if (released_) *released_ = true;
  released_.reset();
}

actor_watch::actor_watch(fatal_fn fatal) : fatal_(fatal ? std::move(fatal) : log_and_exit) {}

actor_watch::ticket actor_watch::watch_ptr(caf::strong_actor_ptr actor, std::string name) {
  auto released = std::make_shared<std::atomic<bool>>(false);
  if (!actor) return ticket{released};
  actor->get()->attach_functor(
      [stopping = stopping_, released, fatal = fatal_, name](const caf::error& reason) {
        if (!*stopping && !*released) fatal(fatal_line(name, reason));
      });
  return ticket{released};
}

}  // namespace tessera
