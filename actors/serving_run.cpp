#include "actors/serving_run.hpp"

#include <algorithm>
#include <type_traits>

#include "actors/serving_fan_out.hpp"
#include "base/bytes.hpp"
#include "cluster/gather.hpp"
#include "cluster/message_parts.hpp"

namespace tessera {
namespace {

using clock = std::chrono::steady_clock;

// One call's share of a run: its inputs are [offset, offset + count) of the run's batch. It
// owns the call's request_context until the call is answered.
// The request kind a reply type answers, as counted in request_metrics.
template <class Reply>
constexpr const char* kind_of() {
  return std::is_same_v<Reply, predict_reply> ? "predict" : "embed";
}

template <class Reply>
struct member {
  caf::typed_response_promise<Reply> rp;
  size_t offset = 0;
  size_t count = 0;
  request_context ctx;
};

predict_reply slice(const predict_reply& all, size_t offset, size_t count) {
  predict_reply out;
  out.results.assign(all.results.begin() + offset, all.results.begin() + offset + count);
  out.labels = all.labels;
  out.version = all.version;
  out.epoch = all.epoch;
  return out;
}

embed_reply slice(const embed_reply& all, size_t offset, size_t count) {
  embed_reply out = all;
  out.vectors.assign(all.vectors.begin() + offset * all.dim,
                     all.vectors.begin() + (offset + count) * all.dim);
  return out;
}

// Shared by the stages of one run (one fan-out chain for one or more calls of one version).
// Every member is answered exactly once, and its request_context released right after.
template <class Reply>
struct run_state {
  serving_self self;
  route_ptr v;  // the run's version; every member holds it too
  std::vector<member<Reply>> members;
  clock::time_point deadline;  // the earliest of the members'
  size_t batch = 0;
  std::vector<float> counts;      // per bag: total weight that pooling saw
  std::vector<int32_t> ks;        // predict: per input
  std::vector<float> thresholds;  // predict: per input
  std::function<void()> after;    // runs once every member is answered
  bool delivered = false;

  void finish(caf::expected<Reply> r) {
    if (delivered) return;
    delivered = true;
    const caf::error no_error;
    for (auto& m : members) {
      count_answer(self->state.metrics, m.ctx, kind_of<Reply>(), m.count, r ? no_error : r.error());
      if (!r)
        m.rp.deliver(r.error());
      else if (members.size() == 1)
        m.rp.deliver(std::move(*r));
      else
        m.rp.deliver(slice(*r, m.offset, m.count));
    }
    members.clear();  // releases every request context (and its snapshot), once
    if (after) after();
  }

  // The tensor, kept alive by the run's snapshot for as long as a reply may arrive.
  std::shared_ptr<const tensor_route> share(const tensor_route& t) const { return {v, &t}; }
};

template <class Reply>
std::shared_ptr<run_state<Reply>> start(serving_self self, route_ptr v, size_t batch) {
  auto rs = std::make_shared<run_state<Reply>>();
  rs->self = self;
  rs->v = std::move(v);
  rs->batch = batch;
  return rs;
}

// Stage 1, exact: gather the batch's distinct rows from the shards (each once) and sum every
// bag in its own id order here, reading the rows where they arrived (cluster/gather.hpp).
// Each shard's rows are asked in parts whose replies are at most max_part_bytes
// (cluster/message_parts.hpp): one reply of tens of MB held a node's middleman long enough
// for its peers to drop it as silent. A part's reply that is not exactly the rows it asked is
// that sub-request's internal error, asked again of another replica.
template <class Reply>
void gather_stage(std::shared_ptr<run_state<Reply>> rs, bag_inputs bags,
                  std::function<void(std::vector<float>)> next) {
  auto& v = *rs->v;
  const auto& table = v.tables.at(0);  // exact pooling is for one-table models (the family's)
  auto plan = std::make_shared<gather_plan>(plan_gather(table.ranges(), bags.ids));
  bags.ids = {};  // the plan holds what pooling needs of them
  auto weights = std::make_shared<std::vector<std::vector<float>>>(std::move(bags.weights));
  const uint64_t cols = table.cols;
  const uint64_t row_bytes = cols * sizeof(float);
  const size_t part_rows = items_per_part(row_bytes, max_part_bytes);
  std::vector<std::vector<pool_request>> parts(plan->shards());
  auto want = std::make_shared<std::vector<std::vector<uint64_t>>>(parts.size());  // bytes
  for (size_t s = 0; s < parts.size(); ++s) {
    for (auto& ids : split_items(to_bytes(plan->rows[s]), sizeof(uint32_t), part_rows)) {
      (*want)[s].push_back(ids.size() / sizeof(uint32_t) * row_bytes);
      pool_request part;
      part.epoch = table.epoch;
      part.bags = static_cast<uint32_t>(rs->batch);
      part.rows = std::move(ids);
      parts[s].push_back(std::move(part));
    }
    plan->rows[s] = {};
  }
  fan_out_parts<std::vector<char>>(
      rs->self, rs->self->state.router, rs->share(table), gather_atom::value, std::move(parts),
      part_window, rs->deadline,
      [rs, plan, weights, next](std::vector<std::vector<std::vector<char>>> replies) {
        // Each shard's parts, in order, are its rows: one buffer per shard for pooling.
        std::vector<std::vector<char>> rows(replies.size());
        for (size_t s = 0; s < replies.size(); ++s) {
          if (replies[s].size() == 1) {
            rows[s] = std::move(replies[s].front());
            continue;
          }
          size_t total = 0;
          for (const auto& p : replies[s]) total += p.size();
          rows[s].reserve(total);
          for (auto& p : replies[s]) {
            rows[s].insert(rows[s].end(), p.begin(), p.end());
            p = {};
          }
        }
        replies = {};
        std::vector<float> pooled;
        const auto& shape = rs->v->family->tables().at(0);
        pool_gathered(*plan, *weights, rows, shape.cols, shape.pooling, pooled, rs->counts);
        rows = {};  // the rows go before the layers run
        next(std::move(pooled));
      },
      [rs](caf::error err) { rs->finish(std::move(err)); },
      [want, cols](size_t s, size_t part, const std::vector<char>& reply) -> caf::error {
        const uint64_t expected = (*want)[s][part];
        if (reply.size() == expected) return caf::none;
        return make_error(errc::internal, "gather reply of " + std::to_string(reply.size()) +
                                              " bytes; expected " + std::to_string(expected) +
                                              " (" + std::to_string(expected / (cols * 4)) +
                                              " rows of " + std::to_string(cols) + " floats)");
      });
}

// Pools table `t`'s bags (one per input) over its shards and hands `next` the pooled vectors
// (inputs x cols) and each bag's count (its weights' sum, or rows for max).
template <class Reply>
void pool_table(std::shared_ptr<run_state<Reply>> rs, size_t t, bag_inputs bags,
                std::function<void(std::vector<float>, std::vector<float>)> next) {
  const auto& table = rs->v->tables[t];
  const auto& shape = rs->v->family->tables()[t];
  auto split = split_bags(table.ranges(), bags.ids, bags.weights);
  bags = {};
  std::vector<pool_request> msgs(split.size());
  for (size_t s = 0; s < split.size(); ++s) {
    msgs[s].epoch = table.epoch;
    msgs[s].bags = static_cast<uint32_t>(rs->batch);
    msgs[s].rows = to_bytes(split[s].rows);
    msgs[s].offsets = to_bytes(split[s].offsets);
    msgs[s].weights = to_bytes(split[s].weights);
    msgs[s].op = static_cast<uint8_t>(pool_op_for(shape.pooling));
  }
  fan_out<pool_reply>(
      rs->self, rs->self->state.router, rs->share(table), pool_atom::value, std::move(msgs),
      rs->deadline,
      [rs, t, next](std::vector<pool_reply> replies) {
        const auto& shape = rs->v->family->tables()[t];
        std::vector<std::vector<float>> sums(replies.size()), counts(replies.size());
        for (size_t s = 0; s < replies.size(); ++s)
          if (!from_bytes(replies[s].sums, sums[s]) || !from_bytes(replies[s].counts, counts[s]) ||
              sums[s].size() != rs->batch * shape.cols || counts[s].size() != rs->batch)
            return rs->finish(make_error(errc::internal, "malformed pool reply from shard " +
                                                             std::to_string(s) + " of table '" +
                                                             shape.name + "'"));
        std::vector<float> total(rs->batch, 0.0f);
        for (const auto& c : counts)
          for (size_t b = 0; b < rs->batch; ++b) total[b] += c[b];
        std::vector<float> pooled;
        reduce_pools(sums, counts, rs->batch, shape.cols, shape.pooling, pooled);
        next(std::move(pooled), std::move(total));
      },
      [rs](caf::error err) { rs->finish(std::move(err)); });
}

// The tables' pooled vectors of a run, joined once every table has answered.
struct pooled_tables {
  std::vector<std::vector<float>> pooled;  // per table: inputs x its cols
  std::vector<float> counts;               // per input: summed over the tables
  size_t pending = 0;
};

// Stage 1: pool every bag over its table's shards (the tables at once), reduce, and hand
// `next` the pooled vectors concatenated in table order (batch x dim). When a table fails, the
// run is answered with its error and `next` never runs.
template <class Reply>
void pool_stage(std::shared_ptr<run_state<Reply>> rs, bag_inputs bags,
                std::function<void(std::vector<float>)> next) {
  auto& v = *rs->v;
  if (v.exact_pooling) return gather_stage(rs, std::move(bags), std::move(next));
  const size_t n = v.tables.size();
  if (n == 1) {
    return pool_table(rs, 0, std::move(bags),
                      [rs, next](std::vector<float> pooled, std::vector<float> counts) {
                        rs->counts = std::move(counts);
                        next(std::move(pooled));
                      });
  }
  auto join = std::make_shared<pooled_tables>();
  join->pooled.resize(n);
  join->counts.assign(rs->batch, 0.0f);
  join->pending = n;
  for (size_t t = 0; t < n; ++t) {
    bag_inputs one;  // table t's bag of every input
    one.ids.resize(rs->batch);
    if (!bags.weights.empty()) one.weights.resize(rs->batch);
    for (size_t b = 0; b < rs->batch; ++b) {
      one.ids[b] = std::move(bags.ids[b * n + t]);
      if (!bags.weights.empty()) one.weights[b] = std::move(bags.weights[b * n + t]);
    }
    pool_table(rs, t, std::move(one),
               [rs, join, t, next](std::vector<float> pooled, std::vector<float> counts) {
                 join->pooled[t] = std::move(pooled);
                 for (size_t b = 0; b < rs->batch; ++b) join->counts[b] += counts[b];
                 if (--join->pending > 0 || rs->delivered) return;
                 const auto& shapes = rs->v->family->tables();
                 const uint64_t dim = rs->v->family->dim();
                 std::vector<float> x(rs->batch * dim);
                 uint64_t offset = 0;
                 for (size_t u = 0; u < shapes.size(); ++u) {
                   const uint64_t cols = shapes[u].cols;
                   for (size_t b = 0; b < rs->batch; ++b)
                     std::copy_n(join->pooled[u].data() + b * cols, cols,
                                 x.data() + b * dim + offset);
                   offset += cols;
                 }
                 join->pooled = {};
                 rs->counts = std::move(join->counts);
                 next(std::move(x));
               });
  }
}

// `all` (for every input of the batch) as parts per shard of `t`: runs of inputs whose
// replies (a topk partial, or one float per row, per input) stay under max_part_bytes, like
// gather_stage's.
std::vector<std::vector<layer_request>> layer_parts(const tensor_route& t, const layer_request& all,
                                                    bool topk) {
  std::vector<std::vector<layer_request>> out(t.shards.size());
  const size_t input_bytes = all.batch == 0 ? 0 : all.inputs.size() / all.batch;
  for (size_t s = 0; s < t.shards.size(); ++s) {
    const uint64_t rows = t.shards[s].rows.size();
    const uint64_t kept = all.k < 0 ? rows : std::min<uint64_t>(rows, uint64_t(all.k));
    const size_t reply_bytes = topk ? 12 + 8 * kept : sizeof(float) * rows;
    if (input_bytes == 0) {
      out[s].push_back(all);
      continue;
    }
    for (auto& inputs :
         split_items(all.inputs, input_bytes, items_per_part(reply_bytes, max_part_bytes))) {
      layer_request part;
      part.epoch = all.epoch;
      part.k = all.k;
      part.batch = static_cast<uint32_t>(inputs.size() / input_bytes);
      part.inputs = std::move(inputs);
      out[s].push_back(std::move(part));
    }
  }
  return out;
}

// One shard's topk partials, its parts' in input order; false when a part is malformed.
bool join_topk(const std::vector<layer_reply>& parts, std::vector<topk_partial>& out) {
  out.clear();
  std::vector<topk_partial> one;
  for (const auto& p : parts) {
    if (!decode_topk(p.payload, one)) return false;
    out.insert(out.end(), std::make_move_iterator(one.begin()), std::make_move_iterator(one.end()));
  }
  return true;
}

// One shard's layer outputs (batch x rows floats), its parts' in input order.
bool join_layer(std::vector<layer_reply>& parts, std::vector<float>& out) {
  std::vector<std::vector<char>> bytes(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) bytes[i] = std::move(parts[i].payload);
  out.clear();
  return join_float_parts(bytes, out);
}

// Stage 2..: layer `l` on `x` (batch x in); the last layer applies the output rule.
void layer_stage(std::shared_ptr<run_state<predict_reply>> rs, size_t l, std::vector<float> x) {
  auto& v = *rs->v;
  const auto& tensor = v.layers[l];
  bool last = l + 1 == v.layers.size();
  const bool softmax_topk = last && v.family->topk_on_shards();
  layer_request all;
  all.epoch = tensor.epoch;
  all.batch = static_cast<uint32_t>(rs->batch);
  all.k = softmax_topk ? v.family->shard_k(tensor.rows, rs->ks, v.exact_pooling) : -1;
  all.inputs = to_bytes(x);
  const int32_t shard_k = all.k;
  auto msgs = layer_parts(tensor, all, softmax_topk);
  auto fail = [rs](caf::error err) { rs->finish(std::move(err)); };
  auto& router = rs->self->state.router;
  if (softmax_topk) {
    return fan_out_parts<layer_reply>(
        rs->self, router, rs->share(tensor), topk_atom::value, std::move(msgs), part_window,
        rs->deadline,
        [rs, shard_k, labels = tensor.rows](std::vector<std::vector<layer_reply>> replies) {
          std::vector<std::vector<topk_partial>> parts(replies.size());
          for (size_t s = 0; s < replies.size(); ++s)
            if (!join_topk(replies[s], parts[s]) || parts[s].size() != rs->batch)
              return rs->finish(make_error(errc::internal, "malformed topk reply"));
          const auto& family = *rs->v->family;
          predict_reply reply;
          reply.results.resize(rs->batch);
          for (size_t b = 0; b < rs->batch; ++b) {
            if (rs->counts[b] == 0 && !family.answers_empty_inputs()) continue;
            std::vector<topk_partial> per_input(parts.size());
            for (size_t s = 0; s < parts.size(); ++s) per_input[s] = std::move(parts[s][b]);
            reply.results[b] =
                family.from_partials(std::move(per_input), static_cast<uint32_t>(labels), shard_k,
                                     rs->v->exact_pooling, rs->ks[b], rs->thresholds[b]);
          }
          reply.labels = rs->v->labels;
          reply.version = rs->v->version;
          reply.epoch = rs->v->epoch;
          reply.build = rs->v;
          rs->finish(std::move(reply));
        },
        fail);
  }
  fan_out_parts<layer_reply>(
      rs->self, router, rs->share(tensor), layer_atom::value, std::move(msgs), part_window,
      rs->deadline,
      [rs, l, last](std::vector<std::vector<layer_reply>> replies) {
        auto& v = *rs->v;
        const auto& t = v.layers[l];
        std::vector<std::vector<float>> parts(replies.size());
        std::vector<uint64_t> sizes(replies.size());
        for (size_t s = 0; s < replies.size(); ++s) {
          sizes[s] = t.shards[s].rows.size();
          if (!join_layer(replies[s], parts[s]) || parts[s].size() != rs->batch * sizes[s])
            return rs->finish(make_error(errc::internal, "malformed layer reply"));
        }
        std::vector<float> y;
        concat_columns(parts, sizes, rs->batch, y);
        activate(v.activations[l], y);
        if (!last) return layer_stage(rs, l + 1, std::move(y));
        predict_reply reply;
        reply.results.resize(rs->batch);
        const auto n = static_cast<uint32_t>(y.size() / std::max<size_t>(rs->batch, 1));
        for (size_t b = 0; b < rs->batch; ++b)
          if (rs->counts[b] != 0 || v.family->answers_empty_inputs())
            reply.results[b] =
                v.family->from_logits(y.data() + b * n, n, rs->ks[b], rs->thresholds[b]);
        reply.labels = v.labels;
        reply.version = v.version;
        reply.epoch = v.epoch;
        reply.build = rs->v;
        rs->finish(std::move(reply));
      },
      fail);
}

void start_steps(serving_self self, uint64_t key, coalescer<predict_call>::step step);

// Runs `calls` (one version) as one batch; when it is answered, the coalescer may start more.
void run_batch(serving_self self, uint64_t key, std::vector<predict_call> calls) {
  size_t batch = 0;
  bool weighted = false;
  for (const auto& c : calls) {
    batch += c.inputs();
    weighted = weighted || !c.bags.weights.empty();
  }
  auto rs = start<predict_reply>(self, calls.front().ctx.version, batch);
  self->state.metrics.batched(rs->v->model, calls.size(), batch);
  rs->deadline = calls.front().deadline();
  bag_inputs bags;
  bags.tables = calls.front().bags.tables;  // one version: one family
  bags.ids.reserve(batch * bags.tables);
  if (weighted) bags.weights.reserve(batch * bags.tables);
  size_t offset = 0;  // the next call's first input in the batch
  for (auto& c : calls) {
    rs->deadline = std::min(rs->deadline, c.deadline());
    rs->ks.insert(rs->ks.end(), c.inputs(), c.k);
    rs->thresholds.insert(rs->thresholds.end(), c.inputs(), c.threshold);
    rs->members.push_back({std::move(c.rp), offset, c.inputs(), std::move(c.ctx)});
    offset += c.inputs();
    if (weighted && c.bags.weights.empty()) c.bags.weights.resize(c.bags.ids.size());
    for (auto& ids : c.bags.ids) bags.ids.push_back(std::move(ids));
    for (auto& w : c.bags.weights) bags.weights.push_back(std::move(w));
  }
  rs->after = [self, key] {
    start_steps(self, key, self->state.predicts.finished(key, clock::now()));
  };
  pool_stage(rs, std::move(bags),
             [rs](std::vector<float> pooled) { layer_stage(rs, 0, std::move(pooled)); });
}

// Carries out a coalescer step: answers expired calls, runs the batches it started.
void start_steps(serving_self self, uint64_t key, coalescer<predict_call>::step step) {
  for (auto& c : step.expired) {
    auto err = make_error(errc::deadline_exceeded, "deadline passed while queued");
    count_answer(self->state.metrics, c.ctx, "predict", c.inputs(), err);
    c.rp.deliver(std::move(err));
  }
  step.expired.clear();  // releases their request contexts
  for (auto& calls : step.start) run_batch(self, key, std::move(calls));
}

}  // namespace

void submit_predict(serving_self self, predict_call call) {
  const uint64_t key = call.ctx.version->epoch;
  const auto due = call.deadline();
  auto& co = self->state.predicts;
  const bool queued = co.saturated(key);
  auto step = co.submit(key, std::move(call), clock::now());
  // Queued behind running batches: answer it at its deadline even if they hang.
  if (queued)
    self->delayed_send(self, remaining(due) + std::chrono::milliseconds(1), expire_atom::value,
                       key);
  start_steps(self, key, std::move(step));
}

void expire_predicts(serving_self self, uint64_t key) {
  start_steps(self, key, self->state.predicts.expire(key, clock::now()));
}

void run_embed(serving_self self, request_context ctx, bag_inputs bags,
               caf::typed_response_promise<embed_reply> rp) {
  auto rs = start<embed_reply>(self, ctx.version, bags.inputs());
  rs->deadline = ctx.deadline;
  rs->members.push_back({std::move(rp), 0, bags.inputs(), std::move(ctx)});
  pool_stage(rs, std::move(bags), [rs](std::vector<float> pooled) {
    embed_reply reply;
    reply.dim = rs->v->dim();
    reply.vectors = std::move(pooled);
    reply.version = rs->v->version;
    reply.epoch = rs->v->epoch;
    reply.build = rs->v;
    rs->finish(std::move(reply));
  });
}

}  // namespace tessera
