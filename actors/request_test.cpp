// One owner per request: open_request admits, pins and fixes the deadline; destroying the
// context gives admission and the pin back exactly once. No actor system.
#include "actors/request.hpp"

#include <catch2/catch.hpp>

using namespace tessera;
using namespace std::chrono_literals;

namespace {

// A registry with model "m" serving v1 (no replicas: resolution needs none).
struct fixture {
  registry reg;
  admission adm{2};
  std::shared_ptr<version_entry> v;
  fixture() {
    v = std::make_shared<version_entry>();
    v->embedder = std::make_shared<submodel_entry>();
    v->embedder->fingerprint = "e";
    reg.add_version({tenant_id{}, "m"}, v);
    REQUIRE_FALSE(reg.finish_load(*v, false));
  }
  predict_request req(const std::string& model = "m") {
    predict_request r;
    r.model.name = model;
    return r;
  }
};

}  // namespace

TEST_CASE("an opened request holds one admission place and one pin until it is destroyed") {
  fixture f;
  {
    auto ctx = open_request(f.adm, f.reg, f.req(), 5s);
    REQUIRE(ctx);
    CHECK(f.adm.running() == 1);
    CHECK(f.v->pins == 1);
    CHECK(ctx->version.get() == f.v);
    auto moved = std::move(*ctx);  // ownership moves, counts do not change
    CHECK(f.adm.running() == 1);
    CHECK(f.v->pins == 1);
  }
  CHECK(f.adm.running() == 0);
  CHECK(f.v->pins == 0);
}

TEST_CASE("a request for an unknown model holds nothing") {
  fixture f;
  auto ctx = open_request(f.adm, f.reg, f.req("nope"), 5s);
  REQUIRE_FALSE(ctx);
  CHECK(is(ctx.error(), errc::unknown_model));
  CHECK(f.adm.running() == 0);
}

TEST_CASE("requests beyond max_inflight are refused overloaded and pin nothing") {
  fixture f;
  auto a = open_request(f.adm, f.reg, f.req(), 5s);
  auto b = open_request(f.adm, f.reg, f.req(), 5s);
  auto c = open_request(f.adm, f.reg, f.req(), 5s);
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE_FALSE(c);
  CHECK(is(c.error(), errc::overloaded));
  CHECK(f.v->pins == 2);
}

TEST_CASE("the deadline is the caller's, or now plus the default when it set none") {
  fixture f;
  auto r = f.req();
  auto due = std::chrono::steady_clock::now() + 123ms;
  r.deadline = due;
  CHECK(open_request(f.adm, f.reg, r, 5s)->deadline == due);
  auto before = std::chrono::steady_clock::now();
  auto ctx = open_request(f.adm, f.reg, f.req(), 5s);
  CHECK(ctx->deadline >= before + 5s);
  CHECK(ctx->deadline <= std::chrono::steady_clock::now() + 5s);
}
