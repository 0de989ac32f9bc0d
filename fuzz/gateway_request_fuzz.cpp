// The gateway's request decoder and the featurization its serving actor does next: what a
// predict call's parameters go through before any shard sees them.
//
// Input: one Cap'n Proto message (standard framing, as capnp::messageToFlatArray writes it)
// whose root is a Session.predict call's parameters (schemas/tessera.capnp), read with tight
// ReaderOptions. A malformed message may only throw kj::Exception (the RPC layer turns that
// into an error answer). Otherwise, under small limits (8 inputs, 256 text bytes, 64 ids):
// - read_model_ref refuses with invalid_argument, or gives a non-empty name and a version
//   other than 0 / a non-empty label when the union names one;
// - check_predict_options accepts exactly k >= 1 or k == -1 with a finite threshold;
// - read_inputs refuses with invalid_argument or limit_exceeded, or copies every input
//   exactly, within the limits (ids and weights alike);
// - build_bags, with the fastText featurizer of fuzz/data/tiny.bin and with a hashing
//   featurizer, refuses with invalid_argument, limit_exceeded or id_out_of_range, or gives one
//   bag per input with every id inside the table, at most 64 ids, and weights that are
//   finite and, per bag, empty (each id weighs 1) or parallel to the ids.
#include <cmath>
#include <cstring>

#include <capnp/serialize.h>

#include "actors/serving_request.hpp"
#include "cluster/bag_family.hpp"
#include "cluster/fasttext_family.hpp"
#include "cluster/predict_options.hpp"
#include "fuzz/fuzz_support.hpp"
#include "node/gateway_convert.hpp"
#include "testing/fasttext_predict.hpp"

using namespace tessera;
using namespace tessera::fuzz;

namespace {

limits_config small_limits() {
  limits_config l;
  l.max_inputs = 8;
  l.max_text_bytes = 256;
  l.max_ids_per_input = 64;
  return l;
}

// A version's route of `family`, with a tensor route per table, as a routing snapshot gives
// it to the serving actor.
std::shared_ptr<version_route> version_with(family_ptr family) {
  auto v = std::make_shared<version_route>();
  for (const auto& t : family->tables()) {
    tensor_route r;
    r.rows = t.rows;
    r.cols = t.cols;
    v->tables.push_back(r);
  }
  v->family = std::move(family);
  return v;
}

std::shared_ptr<version_route> version_with(std::shared_ptr<const featurizer> f) {
  return version_with(
      make_fasttext_family(std::move(f), 4, pooling_kind::mean, output_kind::softmax, false));
}

const std::vector<std::shared_ptr<version_route>>& versions() {
  static const auto vs = [] {
    auto r = ft::bin_reader::open(data_path("tiny.bin"));
    FUZZ_REQUIRE(r, "cannot read fuzz/data/tiny.bin: " + describe(r.error()));
    auto ft = fasttext_featurizer::make(fasttext_config_from_bin(*r, "__label__"));
    FUZZ_REQUIRE(ft, "tiny.bin featurizer");
    std::vector<std::string> vocab = tokens("python library to parse yaml files chess game");
    std::shared_ptr<const featurizer> hashing = make_hashing_featurizer(vocab, 16, 3);
    // An embedding-bag model of three tables (names "a", "b", "c"; sum with padding, mean, max).
    auto bags = make_bag_family({{"a", "ta", 16, 2, pooling_kind::sum, 3},
                                 {"b", "tb", 5, 3, pooling_kind::mean, -1},
                                 {"c", "tc", 40, 1, pooling_kind::max, -1}},
                                output_kind::softmax, activation_kind::none);
    return std::vector<std::shared_ptr<version_route>>{
        version_with(std::shared_ptr<const featurizer>(std::move(*ft))), version_with(hashing),
        version_with(bags)};
  }();
  return vs;
}

void check_model_ref(ModelRef::Reader wire) {
  auto ref = read_model_ref(wire);
  if (!ref) {
    require_code(ref.error(), {errc::invalid_argument}, "read_model_ref");
    return;
  }
  FUZZ_REQUIRE(!ref->name.empty(), "empty model name accepted");
  FUZZ_REQUIRE(ref->name == std::string(wire.getName()), "model name not copied");
  if (wire.isVersion()) FUZZ_REQUIRE(ref->version == wire.getVersion() && ref->version, "version");
  if (wire.isLabel()) FUZZ_REQUIRE(!ref->label.empty(), "empty label accepted");
}

void check_options(int32_t k, float threshold) {
  bool valid = (k >= 1 || k == -1) && std::isfinite(threshold);
  auto err = check_predict_options(k, threshold);
  FUZZ_REQUIRE(valid == !err, "check_predict_options(" + std::to_string(k) + ", " +
                                  std::to_string(threshold) + ") decided wrongly");
  if (err) require_code(err, {errc::invalid_argument}, "check_predict_options");
}

// One bag copied exactly and within `l`.
void check_bag_copy(capnp::List<int64_t>::Reader ids, capnp::List<float>::Reader weights,
                    const std::vector<int64_t>& got_ids, const std::vector<float>& got_weights,
                    const limits_config& l) {
  FUZZ_REQUIRE(got_ids.size() <= l.max_ids_per_input, "ids over the limit accepted");
  FUZZ_REQUIRE(got_weights.size() <= l.max_ids_per_input, "weights over the limit accepted");
  FUZZ_REQUIRE(got_ids.size() == ids.size() && got_weights.size() == weights.size(),
               "ids or weights not copied");
  for (uint32_t j = 0; j < ids.size(); ++j) FUZZ_REQUIRE(got_ids[j] == ids[j], "id copied");
  for (uint32_t j = 0; j < weights.size(); ++j) {
    const float w = weights[j];  // compared as bits: NaN weights are copied too
    FUZZ_REQUIRE(std::memcmp(&got_weights[j], &w, sizeof(float)) == 0, "weight not copied");
  }
}

// read_inputs copied `wire` exactly and within `l`.
void check_copy(capnp::List<Input>::Reader wire, const std::vector<input_item>& in,
                const limits_config& l) {
  FUZZ_REQUIRE(in.size() == wire.size() && !in.empty() && in.size() <= l.max_inputs, "input count");
  for (uint32_t i = 0; i < wire.size(); ++i) {
    const auto& item = in[i];
    FUZZ_REQUIRE((item.kind == input_kind::text) == wire[i].isText() &&
                     (item.kind == input_kind::ids) == wire[i].isIds() &&
                     (item.kind == input_kind::tables) == wire[i].isTables(),
                 "input kind");
    if (item.kind == input_kind::text) {
      auto t = wire[i].getText();
      FUZZ_REQUIRE(item.text.size() <= l.max_text_bytes, "text over the limit accepted");
      FUZZ_REQUIRE(item.text == std::string_view(t.begin(), t.size()), "text not copied");
      continue;
    }
    if (item.kind == input_kind::ids) {
      check_bag_copy(wire[i].getIds().getIds(), wire[i].getIds().getWeights(), item.ids,
                     item.weights, l);
      continue;
    }
    auto bags = wire[i].getTables();
    FUZZ_REQUIRE(item.tables.size() == bags.size(), "table bags not copied");
    uint64_t total = 0;
    for (uint32_t j = 0; j < bags.size(); ++j) {
      const auto& t = item.tables[j];
      if (bags[j].isName()) {
        auto n = bags[j].getName();
        FUZZ_REQUIRE(t.name == std::string_view(n.begin(), n.size()) && !t.name.empty(),
                     "table name not copied");
      } else {
        FUZZ_REQUIRE(t.name.empty() && t.index == bags[j].getIndex(), "table index not copied");
      }
      check_bag_copy(bags[j].getIds(), bags[j].getWeights(), t.ids, t.weights, l);
      total += t.ids.size();
    }
    FUZZ_REQUIRE(total <= l.max_ids_per_input, "ids over the limit accepted");
  }
}

void check_bags(const version_route& v, const std::vector<input_item>& in, const limits_config& l) {
  auto bags = build_bags(v, l.max_ids_per_input, in);
  if (!bags) {
    require_code(bags.error(),
                 {errc::invalid_argument, errc::limit_exceeded, errc::id_out_of_range},
                 "build_bags");
    return;
  }
  const size_t tables = v.tables.size();
  FUZZ_REQUIRE(bags->tables == tables && bags->ids.size() == in.size() * tables,
               "one bag per input and table");
  FUZZ_REQUIRE(bags->weights.empty() || bags->weights.size() == bags->ids.size(),
               "weights per bag");
  for (size_t i = 0; i < bags->ids.size(); ++i) {
    const auto& ids = bags->ids[i];
    const auto& shape = v.family->tables()[i % tables];
    FUZZ_REQUIRE(ids.size() <= l.max_ids_per_input, "bag over the id limit");
    for (int64_t id : ids)
      FUZZ_REQUIRE(id >= 0 && static_cast<uint64_t>(id) < shape.rows && id != shape.padding_idx,
                   "id " + std::to_string(id) + " outside the table or its padding");
    if (bags->weights.empty()) continue;
    // A bag without weights in a weighted batch weighs each id 1 (bag_inputs, split_bags).
    const auto& w = bags->weights[i];
    FUZZ_REQUIRE(w.empty() || w.size() == ids.size(), "weights not parallel to ids");
    for (float x : w) FUZZ_REQUIRE(std::isfinite(x), "weight not finite");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& vs = versions();
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>((size + 7) / 8);
  std::memset(words.begin(), 0, words.size() * sizeof(capnp::word));
  if (size > 0) std::memcpy(words.begin(), data, size);
  capnp::ReaderOptions opts;
  opts.traversalLimitInWords = 1 << 16;  // 512 KiB
  opts.nestingLimit = 16;
  const limits_config limits = small_limits();
  try {
    capnp::FlatArrayMessageReader reader(words, opts);
    auto p = reader.getRoot<Session::PredictParams>();
    check_model_ref(p.getModel());
    check_options(p.getTopK(), p.getThreshold());
    auto wire = p.getInputs();
    auto in = read_inputs(wire, limits);
    if (!in) {
      require_code(in.error(), {errc::invalid_argument, errc::limit_exceeded}, "read_inputs");
      return 0;
    }
    check_copy(wire, *in, limits);
    for (const auto& v : vs) check_bags(*v, *in, limits);
  } catch (const kj::Exception&) {
    // A malformed message: the RPC layer answers it with an exception.
  }
  return 0;
}
