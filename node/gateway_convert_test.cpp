// The gateway's reading of wire inputs: limits are checked before anything is copied.
#include "node/gateway_convert.hpp"

#include <capnp/message.h>

#include <catch2/catch.hpp>

using namespace tessera;

namespace {
input_item text(size_t n) {
  input_item i;
  i.text.assign(n, 'a');
  return i;
}
input_item ids(size_t n) {
  input_item i;
  i.kind = input_kind::ids;
  i.ids.assign(n, 1);
  return i;
}

limits_config small_limits() {
  limits_config l;
  l.max_inputs = 4;
  l.max_text_bytes = 16;
  l.max_ids_per_input = 8;
  return l;
}

// One ids input with `ids` ids and `weights` weights.
caf::expected<std::vector<input_item>> read_bag(unsigned ids, unsigned weights) {
  capnp::MallocMessageBuilder m;
  auto in = m.initRoot<Session::PredictParams>().initInputs(1);
  auto bag = in[0].initIds();
  auto is = bag.initIds(ids);
  for (unsigned i = 0; i < ids; ++i) is.set(i, i);
  auto ws = bag.initWeights(weights);
  for (unsigned i = 0; i < weights; ++i) ws.set(i, 0.5f);
  return read_inputs(in.asReader(), small_limits());
}

}  // namespace

TEST_CASE("ids and weights within the limit are copied exactly") {
  auto r = read_bag(8, 8);
  REQUIRE(r);
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].ids == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK((*r)[0].weights == std::vector<float>(8, 0.5f));
}

TEST_CASE("more ids or more weights than max_ids_per_input are refused before any copy") {
  // Weights had no limit: a call with one id and millions of weights was copied whole before
  // the coordinator refused it (found by fuzz/gateway_request_fuzz.cpp).
  for (auto [ids, weights] : {std::pair<unsigned, unsigned>{9, 0}, {1, 9}, {9, 9}}) {
    auto r = read_bag(ids, weights);
    REQUIRE_FALSE(r);
    CHECK(is(r.error(), errc::limit_exceeded));
    CHECK(message_of(r.error()).find("exceed the limit of 8") != std::string::npos);
  }
}

TEST_CASE("inputs are sliced into runs of about slice_bytes, each at least one input") {
  using v = std::vector<size_t>;
  CHECK(slice_bounds({}, 100) == v{0});
  CHECK(slice_bounds({text(10), text(10), text(10)}, 100) == v{0, 3});
  CHECK(slice_bounds({text(60), text(60), text(60)}, 100) == v{0, 1, 2, 3});
  CHECK(slice_bounds({text(50), text(50), text(1)}, 100) == v{0, 2, 3});
  // One input larger than a slice is a slice of its own.
  CHECK(slice_bounds({text(1000), text(1)}, 100) == v{0, 1, 2});
  // An id bag costs 12 bytes an id.
  CHECK(slice_bounds({ids(5), ids(5)}, 100) == v{0, 1, 2});
  CHECK(slice_bounds({ids(4), ids(4)}, 100) == v{0, 2});
}

TEST_CASE("a version's and a replica's state and output go out typed and by name") {
  model_info m;
  m.name = "m";
  const version_state states[] = {version_state::new_,     version_state::loading,
                                  version_state::ready,    version_state::serving,
                                  version_state::draining, version_state::unloaded,
                                  version_state::error};
  const char* outputs[] = {"none", "softmax", "ova", "hs"};
  for (size_t i = 0; i < 7; ++i) {
    version_info v;
    v.version = i + 1;
    v.state = states[i];
    v.output = outputs[i % 4];
    shard_info s;
    replica_info r;
    r.state = static_cast<replica_state>(i % 5);
    s.replicas.push_back(r);
    v.shards.push_back(s);
    m.versions.push_back(v);
  }
  capnp::MallocMessageBuilder msg;
  auto b = msg.initRoot<ModelInfo>();
  fill(b, m);
  auto vs = b.asReader().getVersions();
  REQUIRE(vs.size() == 7);
  for (size_t i = 0; i < 7; ++i) {
    // The enums list the names in the same order, after `unspecified`.
    CHECK(static_cast<size_t>(vs[i].getStateKind()) == i + 1);
    CHECK(std::string(vs[i].getState().cStr()) == to_string(states[i]));
    CHECK(static_cast<size_t>(vs[i].getOutputKind()) == i % 4 + 1);
    CHECK(std::string(vs[i].getOutput().cStr()) == outputs[i % 4]);
    auto r = vs[i].getShards()[0].getReplicas()[0];
    CHECK(static_cast<size_t>(r.getStateKind()) == i % 5 + 1);
    CHECK(std::string(r.getState().cStr()) == to_string(static_cast<replica_state>(i % 5)));
  }
}
