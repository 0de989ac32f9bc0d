#include "actors/serving_request.hpp"

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
  return v.family->bags_of(inputs, max_ids_per_input);
}

caf::expected<uint64_t> held_bytes(const version_route& v, const bag_inputs& bags,
                                   uint64_t max_gather_bytes) {
  uint64_t ids = 0;
  for (const auto& bag : bags.ids) ids += bag.size();
  uint64_t held = ids * (sizeof(int64_t) + (bags.weights.empty() ? 0 : sizeof(float)));
  if (!v.exact_pooling) return held;
  // TODO(perf): plan_gather sorts the same ids again when the call's batch runs.
  const uint64_t rows = distinct_ids(bags.ids);
  // Exact pooling is for one-table (fastText) models (control_package_reader).
  const uint64_t cols = v.tables.at(0).cols;
  if (auto err = check_gather_bytes(rows, cols, max_gather_bytes)) return err;
  return held + gather_bytes(rows, cols);
}

}  // namespace tessera
