// Shard replica handlers, without an actor system: epochs, bounds and payload checks.
#include <catch2/catch.hpp>

#include "actors/shard.hpp"
#include "base/bytes.hpp"
#include "cluster/topk.hpp"

using namespace tessera;

namespace {

// A replica holding rows [10, 13) of a 3-column table: row r is {r, r + 0.5, -r}.
shard_data embedding_replica() {
  shard_data d;
  d.spec.replica_id = "m/e7/embedder.input/1/r0";
  d.spec.tensor = "embedder.input";
  d.spec.row_begin = 10;
  d.spec.row_end = 13;
  d.spec.epoch = 7;
  d.spec.kind = static_cast<uint8_t>(shard_kind::embedding);
  d.rows.row_begin = 10;
  d.rows.rows = 3;
  d.rows.cols = 3;
  d.rows.data = std::shared_ptr<float>(new float[9], std::default_delete<float[]>());
  for (int r = 0; r < 3; ++r) {
    d.rows.data.get()[r * 3 + 0] = float(10 + r);
    d.rows.data.get()[r * 3 + 1] = float(10 + r) + 0.5f;
    d.rows.data.get()[r * 3 + 2] = -float(10 + r);
  }
  return d;
}

// Output rows [2, 4) of a layer with 2 inputs: W = {{1, 2}, {3, -1}}, b = {0.5, -0.5}.
shard_data layer_replica() {
  shard_data d;
  d.spec.tensor = "classifier.l0.weight";
  d.spec.row_begin = 2;
  d.spec.row_end = 4;
  d.spec.epoch = 9;
  d.spec.kind = static_cast<uint8_t>(shard_kind::layer);
  d.rows.rows = 2;
  d.rows.cols = 2;
  d.rows.data = std::shared_ptr<float>(new float[4]{1, 2, 3, -1}, std::default_delete<float[]>());
  row_block b;
  b.rows = 2;
  b.cols = 1;
  b.data = std::shared_ptr<float>(new float[2]{0.5f, -0.5f}, std::default_delete<float[]>());
  d.bias = b;
  return d;
}

pool_request pool(uint64_t epoch, std::vector<uint32_t> rows, std::vector<uint32_t> offsets) {
  pool_request r;
  r.epoch = epoch;
  r.bags = static_cast<uint32_t>(offsets.size() - 1);
  r.rows = to_bytes(rows);
  r.offsets = to_bytes(offsets);
  return r;
}

}  // namespace

TEST_CASE("a replica pools each bag of its local rows and counts them", "[shard]") {
  auto d = embedding_replica();
  auto r = handle_pool(d, pool(7, {0, 2, 2, 1}, {0, 3, 3, 4}));
  REQUIRE(r);
  std::vector<float> sums, counts;
  REQUIRE(from_bytes(r->sums, sums));
  REQUIRE(from_bytes(r->counts, counts));
  CHECK(sums == std::vector<float>{34, 35.5f, -34, 0, 0, 0, 11, 11.5f, -11});
  CHECK(counts == std::vector<float>{3, 0, 1});
}

TEST_CASE("a replica refuses a message for another epoch", "[shard]") {
  auto d = embedding_replica();
  auto r = handle_pool(d, pool(8, {0}, {0, 1}));
  REQUIRE(!r);
  CHECK(code_of(r.error()) == errc::epoch_mismatch);
  auto g = handle_gather(d, pool(6, {0}, {0, 1}));
  CHECK(code_of(g.error()) == errc::epoch_mismatch);
}

TEST_CASE("a replica refuses rows outside its range and malformed payloads", "[shard]") {
  auto d = embedding_replica();
  CHECK(code_of(handle_pool(d, pool(7, {3}, {0, 1})).error()) == errc::id_out_of_range);
  CHECK(code_of(handle_pool(d, pool(7, {0, 1}, {0, 3})).error()) == errc::invalid_argument);
  CHECK(code_of(handle_pool(d, pool(7, {0, 1}, {0, 2, 1})).error()) == errc::invalid_argument);
  auto ragged = pool(7, {0}, {0, 1});
  ragged.rows.pop_back();
  CHECK(code_of(handle_pool(d, ragged).error()) == errc::invalid_argument);
  auto weights = pool(7, {0, 1}, {0, 2});
  weights.weights = to_bytes(std::vector<float>{1});
  CHECK(code_of(handle_pool(d, weights).error()) == errc::invalid_argument);
}

TEST_CASE("gather returns the named rows in order", "[shard]") {
  auto d = embedding_replica();
  auto g = handle_gather(d, pool(7, {2, 0}, {0, 2}));
  REQUIRE(g);
  std::vector<float> rows;
  REQUIRE(from_bytes(*g, rows));
  CHECK(rows == std::vector<float>{12, 12.5f, -12, 10, 10.5f, -10});
}

TEST_CASE("a layer replica answers its slice of W x + b, and top-k with global labels", "[shard]") {
  auto d = layer_replica();
  layer_request req;
  req.epoch = 9;
  req.batch = 2;
  req.k = 1;
  req.inputs = to_bytes(std::vector<float>{1, 1, 2, 0});
  auto r = handle_layer(d, req);
  REQUIRE(r);
  std::vector<float> out;
  REQUIRE(from_bytes(r->payload, out));
  CHECK(out == std::vector<float>{3.5f, 1.5f, 2.5f, 5.5f});
  auto t = handle_topk(d, req);
  REQUIRE(t);
  std::vector<topk_partial> parts;
  REQUIRE(decode_topk(t->payload, parts));
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].candidates.front().first == 2);  // row 0 of the replica is label 2
  CHECK(parts[1].candidates.front().first == 3);
  CHECK(parts[1].max == 5.5f);
}

TEST_CASE("a layer replica refuses inputs of the wrong width, k of 0 and pool messages",
          "[shard]") {
  auto d = layer_replica();
  layer_request req;
  req.epoch = 9;
  req.batch = 2;
  req.k = 1;
  req.inputs = to_bytes(std::vector<float>{1, 1, 2});
  CHECK(code_of(handle_layer(d, req).error()) == errc::invalid_argument);
  req.inputs = to_bytes(std::vector<float>{1, 1, 2, 0});
  req.k = 0;
  CHECK(code_of(handle_topk(d, req).error()) == errc::invalid_argument);
  CHECK(code_of(handle_pool(d, pool(9, {0}, {0, 1})).error()) == errc::invalid_argument);
}
