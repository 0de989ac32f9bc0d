#pragma once
// What an unhandled exception does to an actor of ours. CAF 0.17 ends an actor whose handler
// throws (with a bare runtime_error, after printing to a console we turn off); with
// end_on_exception it ends with errc::internal naming the exception instead, so every monitor
// and node/actor_watch.hpp can say what happened. Who restarts it is decided elsewhere: a
// shard actor's node and the coordinator load its replica again; the coordinator, the node
// actor and the bridges end their process (node/actor_watch.hpp), which supervision restarts.
#include <exception>
#include <string>

#include <caf/scheduled_actor.hpp>

namespace tessera {

// Installs the exception handler on `self`: call it first in the actor's behaviour function.
// The actor's exit reason becomes internal: "unhandled exception in <name>: <exception>".
void end_on_exception(caf::scheduled_actor* self, const std::string& name);

// "std::runtime_error: <what>", or the type alone when what() says no more; never throws.
std::string describe_exception(const std::exception_ptr& e) noexcept;

}  // namespace tessera
