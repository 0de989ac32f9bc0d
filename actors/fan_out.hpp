#pragma once
// Fan-out of one message per shard of a tensor, with a deadline and an explicit
// partial-failure policy: every shard must answer. A shard whose replica fails with a
// retryable error (unavailable: a node that went down, a lost connection) is retried on its
// next live replica while time remains; when no replica is left the whole fan-out fails once
// with errc::unavailable naming the shard. Any other error fails it with its own code (our own
// bugs stay `internal`, never "retry later"). Replies are delivered once, in shard order.
//
// Hedging: a first send whose shard has enough recent replies (hedge_policy) arms a timer at
// that shard's recent p95 (at least the floor); if the shard is still unanswered when it
// fires, the same message goes to another ready replica. The first answer wins (shard_call);
// the other is ignored and its in-flight entry settled at once. Until the loser's own answer
// or failure arrives its node counts as lagging, and the router sends new sub-requests to
// other replicas meanwhile. Hedges sent and won are counted in the router. The timer is a delayed
// (hedge_atom, id) message to the coordinator, which calls router.fire(id).
//
// Metrics (router.metrics()): every answer of an attempt, the winner's and a late loser's, is
// observed by node and shard; a retry after a retryable failure and an attempt that reached
// the deadline are counted by the node that failed.
//
// Replies can be checked per shard (`check`, optional): a reply that fails its check is that
// attempt's failure, errc::internal (a replica's bug, not the caller's), and is retried on the
// shard's next replica like an unavailable one; when none is left the fan-out fails internal.
//
// The fan-out sees the coordinator only through a shard_router (replica choice, in-flight
// registration, hedging state).
// Thread: the coordinator's only.
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "actors/shard_call.hpp"
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

// Everything the attempts of one shard's sub-request share.
template <class Reply, class Self, class Atom, class Msg>
struct shard_job {
  Self self;
  shard_router* router;
  std::shared_ptr<tensor_shards> tensor;
  const std::string* owner;  // the sub-model's name; lives as long as `tensor`
  size_t index;
  Atom atom;
  std::shared_ptr<const Msg> msg;
  std::shared_ptr<fan_out_ctx<Reply>> ctx;
  std::chrono::steady_clock::time_point deadline;
  std::string key;  // shard_key: the latency tracker's key
  shard_call call;
  // Checks shard `index`'s reply (none: every reply is taken); an error retries the shard.
  std::function<caf::error(size_t, const Reply&)> check;
  caf::error bad_reply;  // the last reply that failed `check`: the error when no replica is left
};

template <class Job>
void send_attempt(std::shared_ptr<Job> job, bool hedge);

// Arms the hedge timer of a first send when the shard's recent replies say when
// (hedge_policy) and the shard has another ready replica to ask.
template <class Job>
void arm_hedge(const std::shared_ptr<Job>& job, std::chrono::milliseconds left) {
  auto& shard = job->tensor->shards[job->index];
  size_t ready = 0;
  for (const auto& r : shard.replicas) ready += r.state == replica_state::ready ? 1 : 0;
  if (ready < 2) return;
  auto delay = job->router->hedging().delay(job->key, left);
  if (!delay) return;
  job->call.timer = job->router->arm([job] {
    job->call.timer = 0;
    send_attempt(job, true);
  });
  job->self->delayed_send(job->self, *delay, hedge_atom::value, job->call.timer);
}

template <class Job>
void disarm_hedge(Job& job) {
  if (job.call.timer == 0) return;
  job.router->disarm(job.call.timer);
  job.call.timer = 0;
}

// An attempt's answer arrived at `now`: its reply time, by node and shard.
template <class Job>
void observe_answer(Job& job, const shard_call::attempt& a,
                    std::chrono::steady_clock::time_point now) {
  std::chrono::duration<double> took = now - a.sent;
  job.router->metrics().answered(a.node, job.key, took.count(), [&job] {
    const auto& shard = job.tensor->shards[job.index];
    const uint64_t epoch = shard.replicas.empty() ? 0 : shard.replicas.front().spec.epoch;
    return shard_metrics::series_name{*job.owner + "/" + shard_name(*job.tensor, shard), epoch};
  });
}

// Attempt `i` failed: a retryable failure (or any, with `retry`: a reply that failed its
// check) moves to the next replica not yet asked while time remains (or waits for another
// attempt still in flight); any other failure fails the fan-out.
template <class Job>
void attempt_failed(const std::shared_ptr<Job>& job, size_t i, caf::error err, bool retry = false) {
  auto& call = job->call;
  auto* router = job->router;
  const auto& node = call.at(i).node;
  const bool late = call.returned(i);
  if (late) router->returned(node);
  // Its first failure (an attempt fails once, or once more after the router failed it).
  if ((late || call.at(i).open) && code_of(err) == errc::deadline_exceeded)
    router->metrics().timed_out(node);
  bool matters = call.fail(i);
  router->settle(node, call.at(i).sub);
  if (!matters || job->ctx->finished) return;
  if (retry)
    job->bad_reply = make_error(
        code_of(err), "shard " + shard_name(*job->tensor, job->tensor->shards[job->index]) +
                          " on node " + node + ": " + message_of(err));
  if (retry || retryable(err)) {
    if (remaining(job->deadline).count() > 0) {
      router->metrics().retried(node);
      return send_attempt(job, false);
    }
    if (call.open() > 0) return;  // the attempt still in flight answers or fails the shard
  }
  disarm_hedge(*job);
  auto& shard = job->tensor->shards[job->index];
  job->ctx->finish_error(make_error(code_of(err), "shard " + shard_name(*job->tensor, shard) +
                                                      " on node " + call.at(i).node + ": " +
                                                      message_of(err)));
}

// Attempt `i` answered: the first answer of the shard wins and settles every other attempt's
// in-flight entry; a later answer is ignored.
template <class Job, class Reply>
void attempt_answered(const std::shared_ptr<Job>& job, size_t i, Reply& reply) {
  auto& call = job->call;
  auto* router = job->router;
  const auto& a = call.at(i);
  const bool late = call.returned(i);
  if (late) router->returned(a.node);
  const auto now = std::chrono::steady_clock::now();
  if (late || a.open) observe_answer(*job, a, now);
  router->settle(a.node, a.sub);
  auto won = call.answer(i);
  if (!won) return;
  for (const auto& loser : won->losers) {
    router->settle(loser.node, loser.sub);
    router->abandoned(loser.node);
  }
  disarm_hedge(*job);
  auto& ctx = *job->ctx;
  if (ctx.finished) return;
  router->hedging().record(
      job->key, std::chrono::duration_cast<std::chrono::microseconds>(now - won->winner.sent));
  if (won->winner.hedge) ++router->hedges().won;
  ctx.replies[job->index] = std::move(reply);
  if (--ctx.pending == 0) {
    ctx.finished = true;
    ctx.done(std::move(ctx.replies));
  }
}

// Sends the shard's message to one replica it has not asked yet. A hedge (`hedge`) goes only
// when such a replica exists and the shard is still unanswered; a first send or a retry
// without a replica left fails the fan-out, unless another attempt is still in flight.
template <class Job>
void send_attempt(std::shared_ptr<Job> job, bool hedge) {
  auto& ctx = *job->ctx;
  auto& call = job->call;
  if (ctx.finished || call.answered()) return;
  auto* router = job->router;
  auto& shard = job->tensor->shards[job->index];
  auto* replica = router->pick(shard, call.tried());
  if (!replica) {
    if (hedge || call.open() > 0) return;
    if (job->bad_reply) return ctx.finish_error(job->bad_reply);
    const auto& tried = call.tried();
    std::string detail = tried.empty() ? "" : " (tried";
    for (const auto& n : tried) detail += " " + n;
    if (!tried.empty()) detail += ")";
    return ctx.finish_error(make_error(
        errc::unavailable, "no live replica of shard " + shard_name(*job->tensor, shard) + detail));
  }
  auto left = remaining(job->deadline);
  if (left.count() == 0) {
    if (hedge || call.open() > 0) return;
    return ctx.finish_error(make_error(
        errc::deadline_exceeded,
        "deadline passed before shard " + shard_name(*job->tensor, shard) + " was asked"));
  }
  auto i = call.start(replica->node, hedge, std::chrono::steady_clock::now());
  if (hedge) ++router->hedges().sent;
  call.at(i).sub =
      router->track(replica->node, replica->handle.address(),
                    [job, i](caf::error err) { attempt_failed(job, i, std::move(err)); });
  using reply_type = typename std::decay_t<decltype(ctx.replies)>::value_type;
  job->self->request(replica->handle, left, job->atom, *job->msg)
      .then(
          [job, i](reply_type& reply) {
            if (job->check)
              if (auto err = job->check(job->index, reply))
                return attempt_failed(job, i, std::move(err), true);
            attempt_answered(job, i, reply);
          },
          [job, i](caf::error& err) { attempt_failed(job, i, std::move(err)); });
  if (!hedge && call.timer == 0 && !call.hedged()) arm_hedge(job, left);
}

// Sends msgs[i] to shard i of `tensor` (one message per shard). `tensor` is shared (usually
// an alias of the pinned version) so it outlives every reply; `owner` names its sub-model
// (for metrics) and must live as long as `tensor`. `check` (optional) checks each reply.
template <class Reply, class Self, class Atom, class Msg>
void fan_out(Self self, shard_router& router, std::shared_ptr<tensor_shards> tensor,
             const std::string& owner, Atom atom, std::vector<Msg> msgs,
             std::chrono::steady_clock::time_point deadline,
             std::function<void(std::vector<Reply>)> done, std::function<void(caf::error)> fail,
             std::function<caf::error(size_t, const Reply&)> check = {}) {
  auto ctx = std::make_shared<fan_out_ctx<Reply>>();
  ctx->replies.resize(tensor->shards.size());
  ctx->pending = tensor->shards.size();
  ctx->done = std::move(done);
  ctx->fail = std::move(fail);
  if (ctx->pending == 0) {
    ctx->finished = true;
    return ctx->done({});
  }
  using job_type = shard_job<Reply, Self, Atom, Msg>;
  for (size_t i = 0; i < tensor->shards.size(); ++i) {
    auto job = std::make_shared<job_type>(job_type{
        self, &router, tensor, &owner, i, atom, std::make_shared<const Msg>(std::move(msgs[i])),
        ctx, deadline, shard_key(*tensor, tensor->shards[i]), shard_call{}, check, caf::error{}});
    send_attempt(job, false);
  }
}

}  // namespace tessera
