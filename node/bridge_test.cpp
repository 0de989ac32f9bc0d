// The KJ-to-CAF bridge: replies, errors and timeouts cross back onto the kj thread.
#include <catch2/catch.hpp>

#include <chrono>

#include <kj/async-io.h>
#include <kj/vector.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/all.hpp>

#include "node/bridge.hpp"

namespace {

using doubler = caf::typed_actor<caf::replies_to<int>::with<int>>;

doubler::behavior_type doubler_impl() {
  return {[](int x) -> caf::result<int> {
    if (x < 0) return tessera::make_error(tessera::errc::invalid_argument, "negative");
    if (x == 0) return caf::result<int>{caf::delegated<int>{}};  // never answers
    return x * 2;
  }};
}

// Holds every ask until it receives a string, then answers each with twice its value.
using gate = caf::typed_actor<caf::replies_to<int>::with<int>, caf::reacts_to<std::string>>;

struct gate_state {
  std::vector<std::pair<caf::typed_response_promise<int>, int>> held;
};

gate::behavior_type gate_impl(gate::stateful_pointer<gate_state> self) {
  return {[self](int x) -> caf::result<int> {
            auto rp = self->make_response_promise<int>();
            self->state.held.emplace_back(rp, x);
            return rp;
          },
          [self](const std::string&) {
            for (auto& [rp, x] : self->state.held) rp.deliver(2 * x);
            self->state.held.clear();
          }};
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  kj::AsyncIoContext io = kj::setupAsyncIo();
  doubler actor = sys.spawn(doubler_impl);
  tessera::kj_bridge bridge{sys};
  ~fixture() { caf::anon_send_exit(actor, caf::exit_reason::user_shutdown); }
};

}  // namespace

TEST_CASE("a reply from an actor fulfills the promise on the kj thread", "[bridge]") {
  fixture f;
  auto main_thread = std::this_thread::get_id();
  auto p = f.bridge.ask<int>(f.actor, std::chrono::seconds(5), 21).then([&](int v) {
    CHECK(std::this_thread::get_id() == main_thread);
    return v;
  });
  CHECK(p.wait(f.io.waitScope) == 42);
}

TEST_CASE("many concurrent asks all resolve with their own answers", "[bridge]") {
  fixture f;
  kj::Vector<kj::Promise<int>> ps;
  for (int i = 1; i <= 200; ++i) ps.add(f.bridge.ask<int>(f.actor, std::chrono::seconds(5), i));
  auto all = kj::joinPromises(ps.releaseAsArray()).wait(f.io.waitScope);
  for (int i = 1; i <= 200; ++i) CHECK(all[i - 1] == 2 * i);
}

TEST_CASE("a tessera error reply rejects with a FAILED exception carrying the code", "[bridge]") {
  fixture f;
  auto p = f.bridge.ask<int>(f.actor, std::chrono::seconds(5), -1);
  try {
    p.wait(f.io.waitScope);
    FAIL("expected an exception");
  } catch (const kj::Exception& e) {
    CHECK(e.getType() == kj::Exception::Type::FAILED);
    std::string d = e.getDescription().cStr();
    CHECK(d == "tessera.invalid_argument: negative");
    CHECK(tessera::code_of_description(d) == tessera::errc::invalid_argument);
  }
}

TEST_CASE("an actor that never answers rejects with OVERLOADED deadline_exceeded", "[bridge]") {
  fixture f;
  auto p = f.bridge.ask<int>(f.actor, std::chrono::milliseconds(50), 0);
  try {
    p.wait(f.io.waitScope);
    FAIL("expected an exception");
  } catch (const kj::Exception& e) {
    CHECK(e.getType() == kj::Exception::Type::OVERLOADED);
    CHECK(tessera::code_of_description(e.getDescription().cStr()) ==
          tessera::errc::deadline_exceeded);
  }
}

TEST_CASE("the kj loop keeps running other work while an ask is pending", "[bridge]") {
  fixture f;
  auto g = f.sys.spawn(gate_impl);
  // The gate answers only after the kj thread releases it, from a timer callback. If ask()
  // blocked the kj thread until a reply, the callback could not run before the ask's own
  // timeout and the ask would reject instead of answering 42.
  auto pending = f.bridge.ask<int>(g, std::chrono::seconds(30), 21);
  auto other = f.io.provider->getTimer().afterDelay(10 * kj::MILLISECONDS).then([&] {
    caf::anon_send(g, std::string{"release"});
  });
  other.wait(f.io.waitScope);
  CHECK(pending.wait(f.io.waitScope) == 42);
  caf::anon_send_exit(g, caf::exit_reason::user_shutdown);
}

TEST_CASE("dropping the promise before the reply arrives is harmless", "[bridge]") {
  fixture f;
  { auto p = f.bridge.ask<int>(f.actor, std::chrono::seconds(5), 7); }
  // A later ask still works: the dropped fulfiller did not corrupt anything.
  CHECK(f.bridge.ask<int>(f.actor, std::chrono::seconds(5), 4).wait(f.io.waitScope) == 8);
}

TEST_CASE("descriptions without a tessera tag map to internal", "[bridge]") {
  CHECK(tessera::code_of_description("remote exception: boom") == tessera::errc::internal);
  CHECK(tessera::code_of_description("remote exception: tessera.unknown_model: x") ==
        tessera::errc::unknown_model);
}
