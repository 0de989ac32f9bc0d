// A watched actor that ends while its process runs ends the process with one clear line;
// tested with real actors in a real actor system and a recording `fatal` in place of exit.
#include "node/actor_watch.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <caf/all.hpp>

#include "actors/unhandled.hpp"
#include "base/errors.hpp"

using namespace tessera;
using namespace std::chrono_literals;

namespace {

struct quiet_config : caf::actor_system_config {
  quiet_config() { set("logger.console", caf::atom("none")); }
};

// The lines `fatal` was given.
struct recorder {
  std::mutex mtx;
  std::vector<std::string> lines;
  actor_watch::fatal_fn fn() {
    return [this](const std::string& line) {
      std::lock_guard<std::mutex> guard{mtx};
      lines.push_back(line);
    };
  }
  std::vector<std::string> taken() {
    std::lock_guard<std::mutex> guard{mtx};
    return lines;
  }
};

using throw_atom = caf::atom_constant<caf::atom("throw")>;

// An actor of ours: ends on an unhandled exception like the coordinator does.
caf::behavior worker(caf::event_based_actor* self) {
  end_on_exception(self, "worker");
  return {
      [](throw_atom) -> int { throw std::runtime_error("boom"); },
      [](int x) { return x; },
  };
}

// A future that is ready once `a` has ended and every functor attached after this call has
// run (CAF runs attached functors last attached first), so the watch's check is done.
std::future<void> ended(const caf::actor& a) {
  auto p = std::make_shared<std::promise<void>>();
  auto f = p->get_future();
  a->attach_functor([p](const caf::error&) { p->set_value(); });
  return f;
}

// What the watch reports when a worker watched as `name` is ended by `end`.
std::vector<std::string> reported_when(const std::string& name,
                                       const std::function<void(const caf::actor&)>& end) {
  quiet_config cfg;
  caf::actor_system sys{cfg};
  recorder rec;
  actor_watch watch{rec.fn()};
  auto a = sys.spawn(worker);
  auto done = ended(a);
  auto t = watch.watch(a, name);
  end(a);
  REQUIRE(done.wait_for(30s) == std::future_status::ready);
  return rec.taken();
}

}  // namespace

TEST_CASE("an unhandled exception in a watched actor is fatal, naming the actor and exception") {
  auto lines = reported_when("coordinator",
                             [](const caf::actor& a) { caf::anon_send(a, throw_atom::value); });
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] ==
        "fatal: actor coordinator died: tessera.internal: unhandled exception in worker: "
        "std::runtime_error: boom; exiting so that supervision restarts the process");
}

TEST_CASE("an exit message to a watched actor is fatal, naming the exit reason") {
  auto lines = reported_when(
      "node", [](const caf::actor& a) { caf::anon_send_exit(a, caf::exit_reason::kill); });
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] ==
        "fatal: actor node died: exit_reason(kill); exiting so that supervision restarts the "
        "process");
}

TEST_CASE("an actor already gone when it is watched is fatal at once") {
  quiet_config cfg;
  caf::actor_system sys{cfg};
  recorder rec;
  actor_watch watch{rec.fn()};
  auto a = sys.spawn(worker);
  auto done = ended(a);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  REQUIRE(done.wait_for(30s) == std::future_status::ready);
  auto t = watch.watch(a, "bridge");
  auto lines = rec.taken();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("fatal: actor bridge died: exit_reason(user_shutdown)") == 0);
}

TEST_CASE("ends after stopping() or a released ticket are not fatal") {
  quiet_config cfg;
  caf::actor_system sys{cfg};
  recorder rec;
  actor_watch watch{rec.fn()};
  auto a = sys.spawn(worker);
  auto b = sys.spawn(worker);
  auto c = sys.spawn(worker);
  auto a_done = ended(a), b_done = ended(b), c_done = ended(c);
  auto ta = watch.watch(a, "released");
  auto tb = watch.watch(b, "stopped");
  auto tc = watch.watch(c, "thrown");
  ta.release();
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  REQUIRE(a_done.wait_for(30s) == std::future_status::ready);
  CHECK(rec.taken().empty());
  watch.stopping();
  caf::anon_send_exit(b, caf::exit_reason::kill);
  caf::anon_send(c, throw_atom::value);
  REQUIRE(b_done.wait_for(30s) == std::future_status::ready);
  REQUIRE(c_done.wait_for(30s) == std::future_status::ready);
  CHECK(rec.taken().empty());
}

TEST_CASE("describe_exception names the type and the message once") {
  auto of = [](auto x) { return describe_exception(std::make_exception_ptr(x)); };
  CHECK(of(std::runtime_error("boom")) == "std::runtime_error: boom");
  CHECK(of(std::bad_alloc()) == "std::bad_alloc");
  CHECK(of(42) == "an exception that is not a std::exception");
}
