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
// (hedge_atom, id) message to the serving actor, which calls router.fire(id).
//
// Metrics (router.metrics()): every answer of an attempt, the winner's and a late loser's, is
// observed by node and shard; a retry after a retryable failure and an attempt that reached
// the deadline are counted by the node that failed.
//
// Parts (fan_out_parts): a shard's sub-request may be split into parts, each its own request
// with its own retries; replies are delivered in part order. At most `window` parts of one
// shard are in flight at once; the next is sent when one is answered. A shard of several parts
// is never hedged and its part times are not recorded for hedging. Parts keep every BASP
// message small, and the window bounds how many bytes of replies a shard's middleman has to
// serialize at once: CAF 0.17 serializes messages in the middleman's one thread without
// returning to its event loop, and a peer counts as alive only when a whole message (or a
// heartbeat queued behind one) has arrived, so single replies of tens of MB under CPU
// contention held a middleman past connection_timeout_ms and got healthy nodes dropped.
//
// Replies can be checked per part (`check`, optional): a reply that fails its check is that
// attempt's failure, errc::internal (a replica's bug, not the caller's), and is retried on the
// shard's next replica like an unavailable one; when none is left the fan-out fails internal.
//
// The fan-out sees its serving actor only through a serving_router (replica choice, in-flight
// registration, hedging state) and its cluster only through a tensor's route, taken from the
// request's routing snapshot (actors/serving_routes.hpp).
// Thread: its serving actor's only.
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "actors/serving_router.hpp"
#include "actors/serving_shard_call.hpp"
#include "base/check.hpp"

namespace tessera {

// Time left until `deadline`, at least zero.
inline std::chrono::milliseconds remaining(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? left : std::chrono::milliseconds{0};
}

template <class Reply>
struct fan_out_ctx {
  std::vector<std::vector<Reply>> replies;  // [shard][part]
  size_t pending = 0;                       // parts not answered yet
  bool finished = false;
  std::function<void(std::vector<std::vector<Reply>>)> done;
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

// The parts of one shard's sub-request, and how many of them were sent.
template <class Msg>
struct shard_parts {
  std::vector<Msg> msgs;
  size_t sent = 0;
};

// Everything the attempts of one part of one shard's sub-request share.
template <class Reply, class Self, class Atom, class Msg>
struct shard_job {
  Self self;
  serving_router* router;
  std::shared_ptr<const tensor_route> tensor;
  size_t index;  // the shard
  size_t part;   // the part of the shard's sub-request
  Atom atom;
  std::shared_ptr<shard_parts<Msg>> parts;
  std::shared_ptr<fan_out_ctx<Reply>> ctx;
  std::chrono::steady_clock::time_point deadline;
  std::string key;  // shard_key: the latency tracker's key
  shard_call call;
  std::function<caf::error(size_t, size_t, const Reply&)> check;  // (shard, part, reply)
  caf::error bad_reply;  // the last reply that failed `check`: the error when no replica is left
};

template <class Job>
void send_attempt(std::shared_ptr<Job> job, bool hedge);

// Sends the next unsent part of `job`'s shard, if any, as a new job.
template <class Job>
void send_next_part(const Job& job) {
  auto& parts = *job.parts;
  if (parts.sent == parts.msgs.size()) return;
  auto next = std::make_shared<Job>(Job{job.self, job.router, job.tensor, job.index, parts.sent++,
                                        job.atom, job.parts, job.ctx, job.deadline, job.key,
                                        shard_call{}, job.check, caf::error{}});
  send_attempt(next, false);
}

// Arms the hedge timer of a first send when the shard's recent replies say when
// (hedge_policy) and the shard has another ready replica to ask.
template <class Job>
void arm_hedge(const std::shared_ptr<Job>& job, std::chrono::milliseconds left) {
  if (job->parts->msgs.size() > 1) return;
  if (job->tensor->shards[job->index].replicas.size() < 2) return;
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
    const auto& t = *job.tensor;
    return shard_metrics::series_name{t.owner + "/" + t.shards[job.index].name, t.epoch};
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
    job->bad_reply = make_error(code_of(err), "shard " + job->tensor->shards[job->index].name +
                                                  " on node " + node + ": " + message_of(err));
  if (retry || retryable(err)) {
    if (remaining(job->deadline).count() > 0) {
      router->metrics().retried(node);
      return send_attempt(job, false);
    }
    if (call.open() > 0) return;  // the attempt still in flight answers or fails the shard
  }
  disarm_hedge(*job);
  const auto& shard = job->tensor->shards[job->index];
  job->ctx->finish_error(make_error(code_of(err), "shard " + shard.name + " on node " +
                                                      call.at(i).node + ": " + message_of(err)));
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
  if (job->parts->msgs.size() == 1)
    router->hedging().record(
        job->key, std::chrono::duration_cast<std::chrono::microseconds>(now - won->winner.sent));
  if (won->winner.hedge) ++router->hedges().won;
  ctx.replies[job->index][job->part] = std::move(reply);
  if (--ctx.pending == 0) {
    ctx.finished = true;
    return ctx.done(std::move(ctx.replies));
  }
  send_next_part(*job);
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
  const auto& shard = job->tensor->shards[job->index];
  const auto* replica = router->pick(shard, call.tried());
  if (!replica) {
    if (hedge || call.open() > 0) return;
    if (job->bad_reply) return ctx.finish_error(job->bad_reply);
    const auto& tried = call.tried();
    std::string detail = tried.empty() ? "" : " (tried";
    for (const auto& n : tried) detail += " " + n;
    if (!tried.empty()) detail += ")";
    return ctx.finish_error(
        make_error(errc::unavailable, "no live replica of shard " + shard.name + detail));
  }
  auto left = remaining(job->deadline);
  if (left.count() == 0) {
    if (hedge || call.open() > 0) return;
    return ctx.finish_error(make_error(
        errc::deadline_exceeded, "deadline passed before shard " + shard.name + " was asked"));
  }
  auto i = call.start(replica->node, hedge, std::chrono::steady_clock::now());
  if (hedge) ++router->hedges().sent;
  call.at(i).sub =
      router->track(replica->node, replica->handle.address(),
                    [job, i](caf::error err) { attempt_failed(job, i, std::move(err)); });
  using reply_type = typename std::decay_t<decltype(ctx.replies)>::value_type::value_type;
  job->self->request(replica->handle, left, job->atom, job->parts->msgs[job->part])
      .then(
          [job, i](reply_type& reply) {
            if (job->check)
              if (auto err = job->check(job->index, job->part, reply))
                return attempt_failed(job, i, std::move(err), true);
            attempt_answered(job, i, reply);
          },
          [job, i](caf::error& err) { attempt_failed(job, i, std::move(err)); });
  if (!hedge && call.timer == 0 && !call.hedged()) arm_hedge(job, left);
}

// Sends parts[i][j] to shard i of `tensor`, at most `window` (>= 1) parts of one shard in
// flight at once, and delivers the replies as replies[i][j]; every shard needs at least one
// part. `tensor` is shared (an alias of the request's routing snapshot) so it outlives every
// reply. `check` (optional) checks each part's reply.
template <class Reply, class Self, class Atom, class Msg>
void fan_out_parts(Self self, serving_router& router, std::shared_ptr<const tensor_route> tensor,
                   Atom atom, std::vector<std::vector<Msg>> parts, size_t window,
                   std::chrono::steady_clock::time_point deadline,
                   std::function<void(std::vector<std::vector<Reply>>)> done,
                   std::function<void(caf::error)> fail,
                   std::function<caf::error(size_t, size_t, const Reply&)> check = {}) {
  TESSERA_CHECK(parts.size() == tensor->shards.size() && window > 0,
                "fan_out_parts: one list of parts per shard, window >= 1");
  auto ctx = std::make_shared<fan_out_ctx<Reply>>();
  ctx->replies.resize(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    TESSERA_CHECK(!parts[i].empty(), "fan_out_parts: a shard without parts");
    ctx->replies[i].resize(parts[i].size());
    ctx->pending += parts[i].size();
  }
  ctx->done = std::move(done);
  ctx->fail = std::move(fail);
  if (ctx->pending == 0) {
    ctx->finished = true;
    return ctx->done({});
  }
  using job_type = shard_job<Reply, Self, Atom, Msg>;
  for (size_t i = 0; i < parts.size(); ++i) {
    auto shared = std::make_shared<shard_parts<Msg>>();
    shared->msgs = std::move(parts[i]);
    job_type first{self,         &router, tensor,      i,        0,
                   atom,         shared,  ctx,         deadline, tensor->shards[i].key,
                   shard_call{}, check,   caf::error{}};
    for (size_t w = 0; w < window && shared->sent < shared->msgs.size() && !ctx->finished; ++w)
      send_next_part(first);
  }
}

// Sends msgs[i] to shard i of `tensor` (one message per shard): fan_out_parts with one part
// each. `check` (optional) checks each shard's reply.
template <class Reply, class Self, class Atom, class Msg>
void fan_out(Self self, serving_router& router, std::shared_ptr<const tensor_route> tensor,
             Atom atom, std::vector<Msg> msgs, std::chrono::steady_clock::time_point deadline,
             std::function<void(std::vector<Reply>)> done, std::function<void(caf::error)> fail,
             std::function<caf::error(size_t, const Reply&)> check = {}) {
  std::vector<std::vector<Msg>> parts(msgs.size());
  for (size_t i = 0; i < msgs.size(); ++i) parts[i].push_back(std::move(msgs[i]));
  fan_out_parts<Reply>(
      self, router, std::move(tensor), atom, std::move(parts), 1, deadline,
      [done = std::move(done)](std::vector<std::vector<Reply>> all) {
        std::vector<Reply> one(all.size());
        for (size_t i = 0; i < all.size(); ++i) one[i] = std::move(all[i].front());
        done(std::move(one));
      },
      std::move(fail),
      check ? std::function<caf::error(size_t, size_t, const Reply&)>(
                  [check](size_t shard, size_t, const Reply& r) { return check(shard, r); })
            : nullptr);
}

}  // namespace tessera
