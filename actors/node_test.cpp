// The node actor's content checks, with an in-process actor system: a node loads a replica
// only when its package still has the content the spec records, and never hands out a held
// replica for a spec that names other content. With block stores: loads through the store,
// copies relayed between two nodes, blocks freed by unload and sweep, disk_budget.
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

namespace {

// The tiny table's spec with its blocks, as the coordinator makes it (spec_for).
shard_spec stored_spec(const std::string& dir, const std::string& id) {
  auto s = table_spec(dir, id);
  auto pkg = package::open(dir);
  REQUIRE(pkg);
  auto blocks = blocks_of(pkg->meta(), s.tensor, s.row_begin, s.row_end);
  REQUIRE(blocks);
  s.rows_blocks = *blocks;
  return s;
}

// (fetched, stored) bytes the node reports for replica `id`.
std::pair<uint64_t, uint64_t> figures(caf::scoped_actor& self, const node_actor& node,
                                      const std::string& id) {
  std::pair<uint64_t, uint64_t> out{~uint64_t{0}, ~uint64_t{0}};
  self->request(node, std::chrono::seconds(30), health_atom::value)
      .receive(
          [&](node_status& st) {
            for (const auto& r : st.replicas)
              if (r.replica_id == id) out = {r.fetched_bytes, r.stored_bytes};
          },
          [&](caf::error&) {});
  return out;
}

template <class... Ts>
caf::error ask(caf::scoped_actor& self, const node_actor& node, Ts&&... xs) {
  caf::error out;
  self->request(node, std::chrono::seconds(30), std::forward<Ts>(xs)...)
      .receive([&](bool) {}, [&](caf::error& e) { out = std::move(e); });
  return out;
}

}  // namespace

TEST_CASE("nodes with stores load through them, copy blocks between them and free them") {
  temp_dir a, sa, sb, sc;
  REQUIRE_FALSE(write_tiny_package(a.path));
  system_config cfg;
  caf::actor_system sys{cfg};
  auto store_a = block_store::open(sa.path).value();
  auto store_b = block_store::open(sb.path).value();
  auto node_a = sys.spawn(node_impl, node_options{"a", 0, store_a, 0});
  auto node_b = sys.spawn(node_impl, node_options{"b", 0, store_b, 0});
  caf::scoped_actor self{sys};
  auto spec = stored_spec(a.path, "r1");
  const uint64_t bytes = spec.rows_blocks.bytes();

  // From the package into a's store.
  REQUIRE(load(self, node_a, spec) == errc::ok);
  CHECK(figures(self, node_a, "r1") == std::make_pair(bytes, uint64_t{0}));
  CHECK(store_a->used_bytes() == bytes);

  // Blocks that do not name the spec's content are refused before anything is read.
  auto forged = stored_spec(a.path, "r9");
  forged.rows_blocks.checksums[0].low ^= 1;
  CHECK(load(self, node_a, forged) == errc::corrupt_package);

  // a copy to b, relayed as the coordinator does: b lacks block 0; a reads it; b stores it.
  std::vector<uint32_t> todo;
  self->request(node_b, std::chrono::seconds(30), missing_atom::value, spec)
      .receive([&](std::vector<uint32_t>& t) { todo = t; }, [&](caf::error&) { FAIL(); });
  REQUIRE(todo == std::vector<uint32_t>{0});
  std::vector<char> block;
  self->request(node_a, std::chrono::seconds(30), read_block_atom::value,
                spec.rows_blocks.checksums[0], bytes)
      .receive([&](std::vector<char>& d) { block = d; }, [&](caf::error&) { FAIL(); });
  REQUIRE(block.size() == bytes);
  // Bytes that do not match are not stored.
  auto bad = block;
  bad[0] ^= 1;
  CHECK(code_of(ask(self, node_b, put_block_atom::value, std::string{"r1"},
                    spec.rows_blocks.checksums[0], bad)) == errc::corrupt_package);
  CHECK(store_b->block_count() == 0);
  CHECK_FALSE(ask(self, node_b, put_block_atom::value, std::string{"r1"},
                  spec.rows_blocks.checksums[0], block));
  auto from_store = spec;
  from_store.package_dir.clear();  // no package: only the store
  REQUIRE(load(self, node_b, from_store) == errc::ok);
  CHECK(figures(self, node_b, "r1") == std::make_pair(bytes, uint64_t{0}));

  // Without the block and without a package, a load fails and keeps nothing.
  auto other = from_store;
  other.replica_id = "r2";
  CHECK_FALSE(ask(self, node_b, unload_atom::value, std::string{"r1"}));
  CHECK(store_b->block_count() == 0);  // its last user gone
  CHECK(load(self, node_b, other) == errc::unavailable);

  // A block staged for a replica that never loads goes with its unload; an orphan (a block
  // no replica holds, as left by versions unloaded while the node was down) goes at a sweep.
  CHECK_FALSE(ask(self, node_b, put_block_atom::value, std::string{"r3"},
                  spec.rows_blocks.checksums[0], block));
  CHECK(store_b->block_count() == 1);
  CHECK_FALSE(ask(self, node_b, unload_atom::value, std::string{"r3"}));
  CHECK(store_b->block_count() == 0);
  REQUIRE_FALSE(store_b->put(spec.rows_blocks.checksums[0], block.data(), block.size()));
  uint64_t swept = 0;
  self->request(node_b, std::chrono::seconds(30), sweep_atom::value)
      .receive([&](uint64_t n) { swept = n; }, [&](caf::error&) { FAIL(); });
  CHECK(swept == bytes);
  CHECK(store_b->block_count() == 0);
  // a's replica still holds its block: a sweep keeps it.
  self->request(node_a, std::chrono::seconds(30), sweep_atom::value)
      .receive([&](uint64_t n) { swept = n; }, [&](caf::error&) { FAIL(); });
  CHECK(swept == 0);
  CHECK(store_a->block_count() == 1);

  // A disk_budget too small for the blocks refuses the load before writing.
  auto store_c = block_store::open(sc.path).value();
  auto node_c = sys.spawn(node_impl, node_options{"c", 0, store_c, bytes - 1});
  CHECK(load(self, node_c, spec) == errc::insufficient_storage);
  CHECK(store_c->block_count() == 0);
  for (auto* n : {&node_a, &node_b, &node_c}) self->send_exit(*n, caf::exit_reason::user_shutdown);
}
