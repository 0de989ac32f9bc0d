// The node actor's content checks, with an in-process actor system: a node loads a replica
// only when its package still has the content the spec records, and never hands out a held
// replica for a spec that names other content.
#include <catch2/catch.hpp>

#include <caf/all.hpp>

#include "actors/node.hpp"
#include "testing/package_builder.hpp"

using namespace tessera;
using namespace tessera::testing;

namespace {

struct system_config : caf::actor_system_config {
  system_config() {
    register_message_types(*this);
    set("logger.console", caf::atom("none"));
  }
};

// A spec for the whole embedding table of the tiny package in `dir`.
shard_spec table_spec(const std::string& dir, const std::string& id) {
  auto pkg = package::open(dir);
  REQUIRE(pkg);
  shard_spec s;
  s.replica_id = id;
  s.package_dir = dir;
  s.tensor = "embedder.input";
  s.row_begin = 0;
  s.row_end = 5;
  s.epoch = 1;
  s.kind = static_cast<uint8_t>(shard_kind::embedding);
  auto content = replica_content(pkg->meta(), s.tensor, "", 0, 5);
  REQUIRE(content);
  s.content = *content;
  return s;
}

// Loads `spec` on `node`; the error code, or ok.
errc load(caf::scoped_actor& self, const node_actor& node, const shard_spec& spec) {
  errc out = errc::internal;
  self->request(node, std::chrono::seconds(30), load_atom::value, spec)
      .receive([&](shard_actor&) { out = errc::ok; }, [&](caf::error& e) { out = code_of(e); });
  return out;
}

}  // namespace

TEST_CASE("a node loads a replica only with the content its spec records") {
  temp_dir a;
  REQUIRE_FALSE(write_tiny_package(a.path));
  system_config cfg;
  caf::actor_system sys{cfg};
  auto node = sys.spawn(node_impl, node_options{"n", 0});
  caf::scoped_actor self{sys};
  auto spec = table_spec(a.path, "r1");
  CHECK(load(self, node, spec) == errc::ok);
  // The same id naming other content is refused, not answered with the held replica.
  auto other = spec;
  other.content = std::string(spec.content.size(), '0');
  CHECK(load(self, node, other) == errc::corrupt_package);
  // A new replica whose package no longer has the recorded content is refused.
  auto stale = spec;
  stale.replica_id = "r2";
  stale.content = std::string(spec.content.size(), '1');
  CHECK(load(self, node, stale) == errc::corrupt_package);
  // A spec without content is refused too (a peer cannot skip the check).
  auto none = spec;
  none.replica_id = "r3";
  none.content.clear();
  CHECK(load(self, node, none) == errc::corrupt_package);
  self->send_exit(node, caf::exit_reason::user_shutdown);
}
