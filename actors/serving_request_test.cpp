// A slice on its serving actor: open_request takes its build from a routing snapshot (or the
// one a later slice carries) and fixes the deadline; destroying the context gives the snapshot
// back exactly once. No actor system.
#include "actors/serving_request.hpp"

#include "actors/control_routes.hpp"

#include <catch2/catch.hpp>

using namespace tessera;
using namespace std::chrono_literals;

namespace {

// A registry with model "m" serving v1 (no replicas: resolution needs none), published.
struct fixture {
  registry reg;
  route_publisher routes;
  std::shared_ptr<version_entry> v;
  snapshot_ptr snap;
  fixture() {
    v = std::make_shared<version_entry>();
    v->embedder = std::make_shared<submodel_entry>();
    v->embedder->fingerprint = "e";
    v->embedder->tensors.resize(1);
    reg.add_version({tenant_id{}, "m"}, v);
    REQUIRE_FALSE(reg.finish_load(*v, false));
    snap = routes.publish(reg, [](const std::string&) { return true; });
  }
  // Publishes the next snapshot; the fixture keeps only that one.
  void republish() {
    snap = routes.publish(reg, [](const std::string&) { return true; });
  }
  predict_request req(const std::string& model = "m") {
    predict_request r;
    r.model.name = model;
    return r;
  }
};

}  // namespace

TEST_CASE("an opened request holds its snapshot until it is destroyed") {
  fixture f;
  {
    auto ctx = open_request(f.snap, f.req(), 5s);
    REQUIRE(ctx);
    CHECK(ctx->version->epoch == f.v->epoch);
    CHECK(ctx->version->version == 1);
    f.republish();  // snapshot 1 now lives only in the request
    CHECK(f.routes.oldest_live() == 1);
    auto moved = std::move(*ctx);  // ownership moves, the hold does not change
    CHECK(f.routes.oldest_live() == 1);
  }
  CHECK(f.routes.oldest_live() == 2);
}

TEST_CASE("a later slice runs on the build its first slice took, even after an unload") {
  fixture f;
  auto first = open_request(f.snap, f.req(), 5s);
  REQUIRE(first);
  auto build = first->version;
  first = caf::error{};  // the first slice was answered
  REQUIRE_FALSE(f.reg.unload({tenant_id{}, "m"}, 0));
  f.republish();
  auto again = open_request(f.snap, f.req(), 5s);
  CHECK(is(again.error(), errc::unknown_model));
  auto r = f.req();
  r.build = build;
  auto later = open_request(f.snap, r, 5s);
  REQUIRE(later);
  CHECK(later->version->version == 1);
  // The version drains while the build is held, and is freed once nothing names it.
  CHECK(f.reg.reap_drained(f.routes.oldest_live()).empty());
  CHECK(f.reg.draining() == 1);
  later = caf::error{};
  build.reset();
  r.build.reset();
  f.reg.reap_drained(f.routes.oldest_live());
  CHECK(f.reg.draining() == 0);
}

TEST_CASE("a request for an unknown model holds nothing") {
  fixture f;
  const auto held = f.snap.use_count();
  auto ctx = open_request(f.snap, f.req("nope"), 5s);
  REQUIRE_FALSE(ctx);
  CHECK(is(ctx.error(), errc::unknown_model));
  CHECK(f.snap.use_count() == held);
}

TEST_CASE("the deadline is the caller's, or now plus the default when it set none") {
  fixture f;
  auto r = f.req();
  auto due = std::chrono::steady_clock::now() + 123ms;
  r.deadline = due;
  CHECK(open_request(f.snap, r, 5s)->deadline == due);
  auto before = std::chrono::steady_clock::now();
  auto ctx = open_request(f.snap, f.req(), 5s);
  CHECK(ctx->deadline >= before + 5s);
  CHECK(ctx->deadline <= std::chrono::steady_clock::now() + 5s);
}
