#include "actors/request_run.hpp"

#include <cmath>

#include "actors/fan_out.hpp"
#include "base/bytes.hpp"

namespace tessera {
namespace {

using clock = std::chrono::steady_clock;

// Output layers up to this many rows are merged from every logit (see layer_stage).
constexpr uint64_t exact_merge_max_labels = 4096;

// One call's share of a run: its inputs are [offset, offset + count) of the run's batch.
template <class Reply>
struct member {
  caf::typed_response_promise<Reply> rp;
  size_t offset = 0;
  size_t count = 0;
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

// Shared by the stages of one run (one fan-out chain for one or more calls); every member
// is answered exactly once. Each member counts once in v->inflight and requests_running.
template <class Reply>
struct run_state {
  coordinator_self self;
  std::shared_ptr<version_entry> v;
  std::vector<member<Reply>> members;
  clock::time_point deadline;
  size_t batch = 0;
  std::vector<float> counts;      // per bag: total weight that pooling saw
  std::vector<int32_t> ks;        // predict: per input
  std::vector<float> thresholds;  // predict: per input
  std::function<void()> after;    // runs once every member is answered
  bool delivered = false;

  void finish(caf::expected<Reply> r) {
    if (delivered) return;
    delivered = true;
    for (auto& m : members) {
      --v->inflight;
      --self->state.requests_running;
      if (!r)
        m.rp.deliver(r.error());
      else if (members.size() == 1)
        m.rp.deliver(std::move(*r));
      else
        m.rp.deliver(slice(*r, m.offset, m.count));
    }
    if (after) after();
  }
};

template <class Reply>
std::shared_ptr<run_state<Reply>> start(coordinator_self self, std::shared_ptr<version_entry> v,
                                        size_t batch, clock::time_point deadline) {
  auto rs = std::make_shared<run_state<Reply>>();
  rs->self = self;
  rs->v = std::move(v);
  rs->deadline = deadline;
  rs->batch = batch;
  return rs;
}

// Stage 1, exact: gather every bag's rows from the shards and sum them in id order here.
template <class Reply>
void gather_stage(std::shared_ptr<run_state<Reply>> rs, const bag_inputs& bags,
                  std::vector<pool_request> msgs, std::function<void(std::vector<float>)> next) {
  // The bags must outlive the fan-out: keep a copy with the run. Shards need only the rows.
  auto kept = std::make_shared<bag_inputs>(bags);
  for (auto& m : msgs) {
    m.offsets.clear();
    m.weights.clear();
  }
  fan_out<std::vector<char>>(
      rs->self, rs->v, &rs->v->table(), gather_atom::value, std::move(msgs), rs->deadline,
      [rs, kept, next](std::vector<std::vector<char>> replies) {
        auto& v = *rs->v;
        std::vector<std::vector<float>> rows(replies.size());
        for (size_t s = 0; s < replies.size(); ++s)
          if (!from_bytes(replies[s], rows[s]) || rows[s].size() % v.table().cols != 0)
            return rs->finish(make_error(errc::internal,
                                         "malformed gather reply from shard " + std::to_string(s)));
        std::vector<float> pooled;
        pool_gathered(v.table().ranges(), kept->ids, kept->weights, rows, v.table().cols, v.pooling,
                      pooled, rs->counts);
        next(std::move(pooled));
      },
      [rs](caf::error err) { rs->finish(std::move(err)); });
}

// Stage 1: pool every bag over the embedding shards, then reduce into `pooled` (batch x dim).
template <class Reply>
void pool_stage(std::shared_ptr<run_state<Reply>> rs, const bag_inputs& bags,
                std::function<void(std::vector<float>)> next) {
  auto& v = *rs->v;
  auto split = split_bags(v.table().ranges(), bags.ids, bags.weights);
  std::vector<pool_request> msgs(split.size());
  for (size_t s = 0; s < split.size(); ++s) {
    msgs[s].epoch = v.embedder->epoch;
    msgs[s].bags = static_cast<uint32_t>(rs->batch);
    msgs[s].rows = to_bytes(split[s].rows);
    msgs[s].offsets = to_bytes(split[s].offsets);
    msgs[s].weights = to_bytes(split[s].weights);
  }
  if (v.exact_pooling) return gather_stage(rs, bags, std::move(msgs), std::move(next));
  fan_out<pool_reply>(
      rs->self, rs->v, &rs->v->table(), pool_atom::value, std::move(msgs), rs->deadline,
      [rs, next](std::vector<pool_reply> replies) {
        auto& v = *rs->v;
        std::vector<std::vector<float>> sums(replies.size()), counts(replies.size());
        for (size_t s = 0; s < replies.size(); ++s)
          if (!from_bytes(replies[s].sums, sums[s]) || !from_bytes(replies[s].counts, counts[s]) ||
              sums[s].size() != rs->batch * v.table().cols || counts[s].size() != rs->batch)
            return rs->finish(
                make_error(errc::internal, "malformed pool reply from shard " + std::to_string(s)));
        rs->counts.assign(rs->batch, 0.0f);
        for (const auto& c : counts)
          for (size_t b = 0; b < rs->batch; ++b) rs->counts[b] += c[b];
        std::vector<float> pooled;
        reduce_pools(sums, counts, rs->batch, v.table().cols, v.pooling, pooled);
        next(std::move(pooled));
      },
      [rs](caf::error err) { rs->finish(std::move(err)); });
}

// Applies the output rule to full logits (ova, hs) for every input.
std::vector<std::vector<scored_label>> full_output(const version_entry& v,
                                                   const std::vector<float>& logits, size_t batch,
                                                   const std::vector<int32_t>& ks,
                                                   const std::vector<float>& thresholds) {
  std::vector<std::vector<scored_label>> out(batch);
  auto n = logits.size() / std::max<size_t>(batch, 1);
  for (size_t b = 0; b < batch; ++b) {
    const float* row = logits.data() + b * n;
    const auto k = ks[b];
    const auto threshold = thresholds[b];
    if (v.output == output_kind::hs) {
      out[b] = v.hs_tree->predict(row, k, threshold);
    } else if (v.fasttext_rules) {
      out[b] = fasttext_ova_topk(row, static_cast<uint32_t>(n), k, threshold);
    } else {
      std::vector<std::pair<uint32_t, float>> probs(n);
      for (size_t i = 0; i < n; ++i)
        probs[i] = {static_cast<uint32_t>(i), 1.0f / (1.0f + std::exp(-row[i]))};
      out[b] = select_topk(probs, k, threshold);
    }
  }
  return out;
}

// Stage 2..: layer `l` on `x` (batch x in); the last layer applies the output rule.
void layer_stage(std::shared_ptr<run_state<predict_reply>> rs, size_t l, std::vector<float> x) {
  auto& v = *rs->v;
  auto* tensor = &v.layers()[l];
  bool last = l + 1 == v.layers().size();
  std::vector<layer_request> msgs(tensor->shards.size());
  auto payload = to_bytes(x);
  // With few labels, shards send every logit so the merge replays fastText's heap exactly,
  // tie order included; with many, each shard sends its top k (exact up to tie order).
  int32_t shard_k = -1;
  if (tensor->rows > exact_merge_max_labels)
    for (auto k : rs->ks) shard_k = k < 0 ? -1 : std::max(shard_k == -1 ? 0 : shard_k, k);
  for (auto& m : msgs) {
    m.epoch = v.epoch;
    m.batch = static_cast<uint32_t>(rs->batch);
    m.k = shard_k;
    m.inputs = payload;
  }
  auto fail = [rs](caf::error err) { rs->finish(std::move(err)); };
  if (last && v.output == output_kind::softmax) {
    return fan_out<layer_reply>(
        rs->self, rs->v, tensor, topk_atom::value, std::move(msgs), rs->deadline,
        [rs, every_logit = shard_k < 0, labels = tensor->rows](std::vector<layer_reply> replies) {
          std::vector<std::vector<topk_partial>> parts(replies.size());
          for (size_t s = 0; s < replies.size(); ++s)
            if (!decode_topk(replies[s].payload, parts[s]) || parts[s].size() != rs->batch)
              return rs->finish(make_error(errc::internal, "malformed topk reply"));
          predict_reply reply;
          reply.results.resize(rs->batch);
          std::vector<topk_partial> per_input(parts.size());
          for (size_t b = 0; b < rs->batch; ++b) {
            if (rs->counts[b] == 0) continue;  // no known feature: no prediction (as fastText)
            for (size_t s = 0; s < parts.size(); ++s) per_input[s] = std::move(parts[s][b]);
            if (rs->v->exact_pooling && every_logit && per_input.size() > 1)
              per_input = {join_all_logits(per_input, static_cast<uint32_t>(labels))};
            reply.results[b] = merge_topk(per_input, rs->ks[b], rs->thresholds[b]);
          }
          reply.labels = rs->v->labels;
          reply.version = rs->v->version;
          reply.epoch = rs->v->epoch;
          rs->finish(std::move(reply));
        },
        fail);
  }
  fan_out<layer_reply>(
      rs->self, rs->v, tensor, layer_atom::value, std::move(msgs), rs->deadline,
      [rs, l, last](std::vector<layer_reply> replies) {
        auto& v = *rs->v;
        auto* t = &v.layers()[l];
        std::vector<std::vector<float>> parts(replies.size());
        std::vector<uint64_t> sizes(replies.size());
        for (size_t s = 0; s < replies.size(); ++s) {
          sizes[s] = t->shards[s].rows.size();
          if (!from_bytes(replies[s].payload, parts[s]) || parts[s].size() != rs->batch * sizes[s])
            return rs->finish(make_error(errc::internal, "malformed layer reply"));
        }
        std::vector<float> y;
        concat_columns(parts, sizes, rs->batch, y);
        activate(v.activations[l], y);
        if (!last) return layer_stage(rs, l + 1, std::move(y));
        predict_reply reply;
        reply.results = full_output(v, y, rs->batch, rs->ks, rs->thresholds);
        for (size_t b = 0; b < rs->batch; ++b)
          if (rs->counts[b] == 0) reply.results[b].clear();
        reply.labels = v.labels;
        reply.version = v.version;
        reply.epoch = v.epoch;
        rs->finish(std::move(reply));
      },
      fail);
}

}  // namespace

caf::expected<bag_inputs> build_bags(const version_entry& v, uint32_t max_ids_per_input,
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
      if (id < 0 || static_cast<uint64_t>(id) >= v.table().rows)
        return make_error(errc::id_out_of_range, where + ": id " + std::to_string(id) +
                                                     " outside [0, " +
                                                     std::to_string(v.table().rows) + ")");
  }
  return out;
}

namespace {

void flush(coordinator_self self, const version_entry* key);

// Runs `calls` (same version) as one batch.
void run_batch(coordinator_self self, std::shared_ptr<version_entry> v,
               std::vector<predict_call> calls) {
  size_t batch = 0;
  bool weighted = false;
  auto deadline = calls.front().deadline;
  for (const auto& c : calls) {
    batch += c.bags.ids.size();
    weighted = weighted || !c.bags.weights.empty();
    deadline = std::min(deadline, c.deadline);
  }
  auto rs = start<predict_reply>(self, v, batch, deadline);
  bag_inputs bags;
  bags.ids.reserve(batch);
  if (weighted) bags.weights.reserve(batch);
  for (auto& c : calls) {
    rs->members.push_back({std::move(c.rp), bags.ids.size(), c.bags.ids.size()});
    rs->ks.insert(rs->ks.end(), c.bags.ids.size(), c.k);
    rs->thresholds.insert(rs->thresholds.end(), c.bags.ids.size(), c.threshold);
    if (weighted && c.bags.weights.empty()) c.bags.weights.resize(c.bags.ids.size());
    for (auto& ids : c.bags.ids) bags.ids.push_back(std::move(ids));
    for (auto& w : c.bags.weights) bags.weights.push_back(std::move(w));
  }
  const version_entry* key = v.get();
  rs->after = [self, key] {
    auto it = self->state.predict_queues.find(key);
    if (it == self->state.predict_queues.end()) return;
    --it->second.running;
    flush(self, key);
  };
  pool_stage(rs, bags, [rs](std::vector<float> pooled) { layer_stage(rs, 0, std::move(pooled)); });
}

// Starts waiting calls of `key` while fewer than max_parallel_runs batches run; calls whose
// deadline passed while waiting are answered deadline_exceeded on their own.
void flush(coordinator_self self, const version_entry* key) {
  auto& queues = self->state.predict_queues;
  auto it = queues.find(key);
  if (it == queues.end() || it->second.flushing) return;
  auto& q = it->second;
  q.flushing = true;
  while (q.running < max_parallel_runs && !q.waiting.empty()) {
    std::vector<predict_call> take;
    size_t inputs = 0;
    auto now = clock::now();
    auto rest = q.waiting.begin();
    for (; rest != q.waiting.end(); ++rest) {
      if (rest->deadline <= now) {
        --q.v->inflight;
        --self->state.requests_running;
        rest->rp.deliver(make_error(errc::deadline_exceeded, "deadline passed while queued"));
        continue;
      }
      if (!take.empty() && inputs + rest->bags.ids.size() > max_batch_inputs) break;
      inputs += rest->bags.ids.size();
      take.push_back(std::move(*rest));
    }
    q.waiting.erase(q.waiting.begin(), rest);
    if (take.empty()) continue;
    ++q.running;
    run_batch(self, q.v, std::move(take));
  }
  q.flushing = false;
  if (q.running == 0 && q.waiting.empty()) queues.erase(it);
}

}  // namespace

void submit_predict(coordinator_self self, std::shared_ptr<version_entry> v, predict_call call) {
  ++v->inflight;
  ++self->state.requests_running;
  const version_entry* key = v.get();
  auto& q = self->state.predict_queues[key];
  if (!q.v) q.v = std::move(v);
  q.waiting.push_back(std::move(call));
  flush(self, key);
}

void run_embed(coordinator_self self, std::shared_ptr<version_entry> v, bag_inputs bags,
               caf::typed_response_promise<embed_reply> rp) {
  ++v->inflight;
  ++self->state.requests_running;
  auto deadline = clock::now() + std::chrono::milliseconds{5000};
  auto rs = start<embed_reply>(self, std::move(v), bags.ids.size(), deadline);
  rs->members.push_back({std::move(rp), 0, bags.ids.size()});
  pool_stage(rs, bags, [rs](std::vector<float> pooled) {
    embed_reply reply;
    reply.dim = rs->v->dim();
    reply.vectors = std::move(pooled);
    reply.version = rs->v->version;
    reply.epoch = rs->v->epoch;
    rs->finish(std::move(reply));
  });
}

}  // namespace tessera
