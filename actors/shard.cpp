#include "actors/shard.hpp"

#include <cstring>
#include <string>

#include "actors/unhandled.hpp"
#include "base/bytes.hpp"
#include "cluster/sharding.hpp"
#include "cluster/topk.hpp"

namespace tessera {
namespace {

std::string where(const shard_data& d) {
  return d.spec.tensor + "[" + std::to_string(d.spec.row_begin) + ":" +
         std::to_string(d.spec.row_end) + ")";
}

caf::error check(const shard_data& d, uint64_t epoch, shard_kind kind) {
  if (epoch != d.spec.epoch)
    return make_error(errc::epoch_mismatch, "replica " + where(d) + " serves epoch " +
                                                std::to_string(d.spec.epoch) + ", not " +
                                                std::to_string(epoch));
  if (static_cast<shard_kind>(d.spec.kind) != kind)
    return make_error(errc::invalid_argument, "replica " + where(d) + " is the wrong kind");
  return caf::none;
}

// Decodes a layer request's inputs; each must have the layer's input width.
caf::expected<std::vector<float>> layer_inputs(const shard_data& d, const layer_request& req) {
  std::vector<float> x;
  if (!from_bytes(req.inputs, x) || x.size() != uint64_t{req.batch} * d.rows.cols)
    return make_error(errc::invalid_argument, "layer input for " + where(d) + " is not " +
                                                  std::to_string(req.batch) + " x " +
                                                  std::to_string(d.rows.cols) + " floats");
  return x;
}

}  // namespace

caf::expected<pool_reply> handle_pool(const shard_data& d, const pool_request& req) {
  if (auto err = check(d, req.epoch, shard_kind::embedding)) return err;
  bag_batch batch;
  if (!from_bytes(req.rows, batch.rows) || !from_bytes(req.offsets, batch.offsets) ||
      !from_bytes(req.weights, batch.weights))
    return make_error(errc::invalid_argument, "ragged pool payload for " + where(d));
  if (batch.offsets.size() != uint64_t{req.bags} + 1 || batch.offsets.front() != 0 ||
      batch.offsets.back() != batch.rows.size() ||
      (!batch.weights.empty() && batch.weights.size() != batch.rows.size()))
    return make_error(errc::invalid_argument, "inconsistent bag offsets for " + where(d));
  for (size_t b = 0; b + 1 < batch.offsets.size(); ++b)
    if (batch.offsets[b] > batch.offsets[b + 1])
      return make_error(errc::invalid_argument, "decreasing bag offsets for " + where(d));
  for (auto r : batch.rows)
    if (r >= d.rows.rows)
      return make_error(errc::id_out_of_range,
                        "local row " + std::to_string(r) + " outside replica " + where(d));
  if (req.op > static_cast<uint8_t>(pool_op::max))
    return make_error(errc::invalid_argument,
                      "unknown pool op " + std::to_string(req.op) + " for " + where(d));
  std::vector<float> sums;
  std::vector<float> counts;
  pool_bags(d.rows, batch, sums, counts, static_cast<pool_op>(req.op));
  return pool_reply{to_bytes(sums), to_bytes(counts)};
}

caf::expected<std::vector<char>> handle_gather(const shard_data& d, const pool_request& req) {
  if (auto err = check(d, req.epoch, shard_kind::embedding)) return err;
  std::vector<uint32_t> rows;
  if (!from_bytes(req.rows, rows)) return make_error(errc::invalid_argument, "ragged gather ids");
  for (auto r : rows)
    if (r >= d.rows.rows)
      return make_error(errc::id_out_of_range,
                        "local row " + std::to_string(r) + " outside replica " + where(d));
  // The reply's bytes are written once, row after row (no float copy in between).
  const uint64_t row_bytes = d.rows.cols * sizeof(float);
  std::vector<char> out(rows.size() * row_bytes);
  for (size_t i = 0; i < rows.size(); ++i)
    if (row_bytes != 0) std::memcpy(out.data() + i * row_bytes, d.rows.row(rows[i]), row_bytes);
  return out;
}

caf::expected<layer_reply> handle_layer(const shard_data& d, const layer_request& req) {
  if (auto err = check(d, req.epoch, shard_kind::layer)) return err;
  auto x = layer_inputs(d, req);
  if (!x) return x.error();
  std::vector<float> out;
  layer_partial(d.rows, d.bias ? &*d.bias : nullptr, *x, req.batch, out);
  return layer_reply{to_bytes(out)};
}

caf::expected<layer_reply> handle_topk(const shard_data& d, const layer_request& req) {
  if (auto err = check(d, req.epoch, shard_kind::layer)) return err;
  if (req.k == 0) return make_error(errc::invalid_argument, "k must not be 0");
  auto x = layer_inputs(d, req);
  if (!x) return x.error();
  std::vector<float> logits;
  layer_partial(d.rows, d.bias ? &*d.bias : nullptr, *x, req.batch, logits);
  auto n = static_cast<uint32_t>(d.rows.rows);
  std::vector<topk_partial> parts;
  parts.reserve(req.batch);
  for (uint32_t i = 0; i < req.batch; ++i)
    parts.push_back(shard_topk(logits.data() + uint64_t{i} * n, n,
                               static_cast<uint32_t>(d.spec.row_begin), req.k));
  return layer_reply{encode_topk(parts)};
}

shard_actor::behavior_type shard_impl(shard_actor::stateful_pointer<shard_state> self,
                                      std::shared_ptr<const shard_data> data) {
  // An exception ends this replica alone: its node and the coordinator load it again.
  end_on_exception(self, "shard actor " + data->spec.replica_id);
  self->state.data = std::move(data);
  return {
      [self](pool_atom, const pool_request& req) -> caf::result<pool_reply> {
        auto r = handle_pool(*self->state.data, req);
        if (!r) return r.error();
        return std::move(*r);
      },
      [self](gather_atom, const pool_request& req) -> caf::result<std::vector<char>> {
        auto r = handle_gather(*self->state.data, req);
        if (!r) return r.error();
        return std::move(*r);
      },
      [self](layer_atom, const layer_request& req) -> caf::result<layer_reply> {
        auto r = handle_layer(*self->state.data, req);
        if (!r) return r.error();
        return std::move(*r);
      },
      [self](topk_atom, const layer_request& req) -> caf::result<layer_reply> {
        auto r = handle_topk(*self->state.data, req);
        if (!r) return r.error();
        return std::move(*r);
      },
  };
}

}  // namespace tessera
