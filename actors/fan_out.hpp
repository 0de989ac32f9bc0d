#pragma once
// Fan-out of one message per shard of a tensor, with a deadline and an explicit
// partial-failure policy: every shard must answer. A shard whose replica fails or whose node
// goes down is retried on its next live replica while time remains; when no replica is left,
// the whole fan-out fails once with errc::unavailable naming the shard. Replies are delivered
// once, in shard order. Runs on the coordinator's thread only.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actors/coordinator_state.hpp"

namespace tessera {

template <class Reply>
struct fan_out_ctx {
  std::vector<Reply> replies;
  size_t pending = 0;
  bool finished = false;
  std::function<void(std::vector<Reply>)> done;
  std::function<void(caf::error)> fail;

  void finish_error(caf::error err) {
    if (finished) return;
    finished = true;
    fail(std::move(err));
  }
};

inline std::string shard_name(const tensor_shards& t, const shard_ref& s) {
  return t.tensor + "[" + std::to_string(s.rows.begin) + ":" + std::to_string(s.rows.end) + ")";
}

// Picks the next ready replica of `s` on a live node not in `tried`; nullptr if none.
inline replica_ref* pick_replica(coordinator_state& st, shard_ref& s,
                                 const std::set<std::string>& tried) {
  auto n = s.replicas.size();
  for (size_t i = 0; i < n; ++i) {
    auto& r = s.replicas[(s.next + i) % n];
    if (r.state != "ready" || tried.count(r.node)) continue;
    auto m = st.members.find(r.node);
    if (m == st.members.end() || !m->second.up) continue;
    s.next = (s.next + i + 1) % n;
    return &r;
  }
  return nullptr;
}

inline bool retryable(const caf::error& e) {
  auto c = code_of(e);
  return c == errc::unavailable;
}

// Sends `msg` (atom + payload, as the shard interface takes them) to one replica of shard
// `index` of `tensor` and records the reply in ctx; retries on another replica on failure.
template <class Reply, class Atom, class Msg>
void send_to_shard(coordinator_self self, std::shared_ptr<version_entry> v, tensor_shards* tensor,
                   size_t index, Atom atom, std::shared_ptr<const Msg> msg,
                   std::shared_ptr<fan_out_ctx<Reply>> ctx,
                   std::chrono::steady_clock::time_point deadline, std::set<std::string> tried) {
  if (ctx->finished) return;
  auto& st = self->state;
  auto& shard = tensor->shards[index];
  auto* replica = pick_replica(st, shard, tried);
  if (!replica) {
    std::string detail = tried.empty() ? "" : " (tried";
    for (const auto& n : tried) detail += " " + n;
    if (!tried.empty()) detail += ")";
    return ctx->finish_error(make_error(
        errc::unavailable, "no live replica of shard " + shard_name(*tensor, shard) + detail));
  }
  auto left = remaining(deadline);
  if (left.count() == 0)
    return ctx->finish_error(
        make_error(errc::deadline_exceeded,
                   "deadline passed before shard " + shard_name(*tensor, shard) + " was asked"));
  auto node = replica->node;
  auto sub = ++st.next_sub;
  auto settled = std::make_shared<bool>(false);
  auto on_fail = [self, v, tensor, index, atom, msg, ctx, deadline, tried, node, sub,
                  settled](caf::error err) mutable {
    if (*settled) return;
    *settled = true;
    self->state.inflight[node].erase(sub);
    auto& s = tensor->shards[index];
    if (retryable(err) && remaining(deadline).count() > 0) {
      tried.insert(node);
      return send_to_shard<Reply>(self, v, tensor, index, atom, msg, ctx, deadline, tried);
    }
    auto code = code_of(err);
    ctx->finish_error(make_error(
        code == errc::internal ? errc::unavailable : code,
        "shard " + shard_name(*tensor, s) + " on node " + node + ": " + message_of(err)));
  };
  st.inflight[node][sub] = on_fail;
  self->request(replica->handle, left, atom, *msg)
      .then(
          [self, ctx, index, node, sub, settled](Reply& reply) {
            if (*settled) return;
            *settled = true;
            self->state.inflight[node].erase(sub);
            if (ctx->finished) return;
            ctx->replies[index] = std::move(reply);
            if (--ctx->pending == 0) {
              ctx->finished = true;
              ctx->done(std::move(ctx->replies));
            }
          },
          [on_fail](caf::error& err) mutable { on_fail(std::move(err)); });
}

// Sends msgs[i] to shard i of `tensor` (one message per shard).
template <class Reply, class Atom, class Msg>
void fan_out(coordinator_self self, std::shared_ptr<version_entry> v, tensor_shards* tensor,
             Atom atom, std::vector<Msg> msgs, std::chrono::steady_clock::time_point deadline,
             std::function<void(std::vector<Reply>)> done, std::function<void(caf::error)> fail) {
  auto ctx = std::make_shared<fan_out_ctx<Reply>>();
  ctx->replies.resize(tensor->shards.size());
  ctx->pending = tensor->shards.size();
  ctx->done = std::move(done);
  ctx->fail = std::move(fail);
  if (ctx->pending == 0) {
    ctx->finished = true;
    return ctx->done({});
  }
  for (size_t i = 0; i < tensor->shards.size(); ++i)
    send_to_shard<Reply>(self, v, tensor, i, atom, std::make_shared<const Msg>(std::move(msgs[i])),
                         ctx, deadline, {});
}

}  // namespace tessera
