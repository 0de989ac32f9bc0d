#pragma once
// Fan-out of one message per shard of a tensor, with a deadline and an explicit
// partial-failure policy: every shard must answer. A shard whose replica fails with a
// retryable error (unavailable: a node that went down, a lost connection) is retried on its
// next live replica while time remains; when no replica is left the whole fan-out fails once
// with errc::unavailable naming the shard. Any other error fails it with its own code (our own
// bugs stay `internal`, never "retry later"). Replies are delivered once, in shard order.
//
// The fan-out sees the coordinator only through a shard_router (replica choice, in-flight
// registration), so hedging is a change here and in shard_router alone.
// Thread: the coordinator's only.
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actors/shard_router.hpp"

namespace tessera {

// Time left until `deadline`, at least zero.
inline std::chrono::milliseconds remaining(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? left : std::chrono::milliseconds{0};
}

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

inline bool retryable(const caf::error& e) {
  return code_of(e) == errc::unavailable;
}

// Sends `msg` to one replica of shard `index` of `tensor` and records the reply in ctx;
// retries on another replica on a retryable failure.
template <class Reply, class Self, class Atom, class Msg>
void send_to_shard(Self self, shard_router* router, std::shared_ptr<tensor_shards> tensor,
                   size_t index, Atom atom, std::shared_ptr<const Msg> msg,
                   std::shared_ptr<fan_out_ctx<Reply>> ctx,
                   std::chrono::steady_clock::time_point deadline, std::set<std::string> tried) {
  if (ctx->finished) return;
  auto& shard = tensor->shards[index];
  auto* replica = router->pick(shard, tried);
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
  auto settled = std::make_shared<bool>(false);
  auto sub = std::make_shared<uint64_t>(0);
  auto on_fail = [self, router, tensor, index, atom, msg, ctx, deadline, tried, node, sub,
                  settled](caf::error err) mutable {
    if (*settled) return;
    *settled = true;
    router->settle(node, *sub);
    if (retryable(err) && remaining(deadline).count() > 0) {
      tried.insert(node);
      return send_to_shard<Reply>(self, router, tensor, index, atom, msg, ctx, deadline, tried);
    }
    ctx->finish_error(make_error(code_of(err), "shard " +
                                                   shard_name(*tensor, tensor->shards[index]) +
                                                   " on node " + node + ": " + message_of(err)));
  };
  *sub = router->track(node, replica->handle.address(), on_fail);
  self->request(replica->handle, left, atom, *msg)
      .then(
          [router, ctx, index, node, sub, settled](Reply& reply) {
            if (*settled) return;
            *settled = true;
            router->settle(node, *sub);
            if (ctx->finished) return;
            ctx->replies[index] = std::move(reply);
            if (--ctx->pending == 0) {
              ctx->finished = true;
              ctx->done(std::move(ctx->replies));
            }
          },
          [on_fail](caf::error& err) mutable { on_fail(std::move(err)); });
}

// Sends msgs[i] to shard i of `tensor` (one message per shard). `tensor` is shared (usually
// an alias of the pinned version) so it outlives every reply.
template <class Reply, class Self, class Atom, class Msg>
void fan_out(Self self, shard_router& router, std::shared_ptr<tensor_shards> tensor, Atom atom,
             std::vector<Msg> msgs, std::chrono::steady_clock::time_point deadline,
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
    send_to_shard<Reply>(self, &router, tensor, i, atom,
                         std::make_shared<const Msg>(std::move(msgs[i])), ctx, deadline, {});
}

}  // namespace tessera
