#include "actors/serving_request.hpp"

#include <cmath>
#include <string>

#include "cluster/gather.hpp"

namespace tessera {

caf::expected<request_context> open_request(const snapshot_ptr& snap, const predict_request& req,
                                            std::chrono::milliseconds default_timeout) {
  auto v = req.build ? caf::expected<route_ptr>{req.build} : resolve(snap, req.model);
  if (!v) return v.error();
  request_context ctx;
  ctx.opened = std::chrono::steady_clock::now();
  ctx.deadline = req.deadline != std::chrono::steady_clock::time_point{}
                     ? req.deadline
                     : std::chrono::steady_clock::now() + default_timeout;
  ctx.version = std::move(*v);
  return ctx;
}

void count_answer(request_metrics& m, const request_context& ctx, const char* kind, uint64_t inputs,
                  const caf::error& err) {
  if (!m.enabled()) return;
  static const model_key no_model;
  const auto& model = ctx.version ? ctx.version->model : no_model;
  const uint64_t version = ctx.version ? ctx.version->version : 0;
  if (err) return m.answered(model, version, kind, to_string(code_of(err)), inputs, -1);
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - ctx.opened;
  m.answered(model, version, kind, "ok", inputs, took.count());
}

caf::expected<bag_inputs> build_bags(const version_route& v, uint32_t max_ids_per_input,
                                     const std::vector<input_item>& inputs) {
  // The gateway already refused empty or oversized calls and texts (before copying them).
  if (inputs.empty()) return make_error(errc::invalid_argument, "no inputs");
  bag_inputs out;
  out.ids.resize(inputs.size());
  bool weighted = false;
  for (const auto& in : inputs) weighted = weighted || (!in.is_text && !in.weights.empty());
  if (weighted) out.weights.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& in = inputs[i];
    auto where = "input " + std::to_string(i);
    auto& ids = out.ids[i];
    if (in.is_text) {
      if (in.text.empty()) return make_error(errc::invalid_argument, where + ": empty text");
      v.feat->featurize(in.text, ids);
    } else {
      if (in.ids.empty()) return make_error(errc::invalid_argument, where + ": no ids");
      if (!in.weights.empty() && in.weights.size() != in.ids.size())
        return make_error(errc::invalid_argument, where + ": " + std::to_string(in.weights.size()) +
                                                      " weights for " +
                                                      std::to_string(in.ids.size()) + " ids");
      for (auto w : in.weights)
        if (!std::isfinite(w))
          return make_error(errc::invalid_argument, where + ": weight is not finite");
      ids = in.ids;
      if (weighted)
        out.weights[i] = in.weights.empty() ? std::vector<float>(ids.size(), 1.0f) : in.weights;
    }
    if (ids.size() > max_ids_per_input)
      return make_error(errc::limit_exceeded, where + ": " + std::to_string(ids.size()) +
                                                  " ids exceed the limit of " +
                                                  std::to_string(max_ids_per_input));
    for (auto id : ids)
      if (id < 0 || static_cast<uint64_t>(id) >= v.table.rows)
        return make_error(errc::id_out_of_range, where + ": id " + std::to_string(id) +
                                                     " outside [0, " +
                                                     std::to_string(v.table.rows) + ")");
  }
  return out;
}

caf::expected<uint64_t> held_bytes(const version_route& v, const bag_inputs& bags,
                                   uint64_t max_gather_bytes) {
  uint64_t ids = 0;
  for (const auto& bag : bags.ids) ids += bag.size();
  uint64_t held = ids * (sizeof(int64_t) + (bags.weights.empty() ? 0 : sizeof(float)));
  if (!v.exact_pooling) return held;
  // TODO(perf): plan_gather sorts the same ids again when the call's batch runs.
  const uint64_t rows = distinct_ids(bags.ids);
  if (auto err = check_gather_bytes(rows, v.table.cols, max_gather_bytes)) return err;
  return held + gather_bytes(rows, v.table.cols);
}

}  // namespace tessera
