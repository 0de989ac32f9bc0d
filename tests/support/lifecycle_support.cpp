#include "tests/support/lifecycle_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <set>
#include <thread>

namespace tessera::test {

uint64_t load_model(client& cl, const std::string& path, const std::string& name, uint32_t replicas,
                    bool activate, bool exact_pooling) {
  auto req = cl.admin().loadRequest();
  auto o = req.initOptions();
  o.setPath(path);
  o.setName(name);
  o.setReplicas(replicas);
  o.setActivate(activate);
  o.setExactPooling(exact_pooling);
  return req.send().wait(cl.wait_scope()).getVersion();
}

status_snapshot take_status(client& cl) {
  auto res = cl.admin().statusRequest().send().wait(cl.wait_scope());
  auto st = res.getStatus();
  status_snapshot out;
  out.ready = st.getReady();
  out.hedges_sent = st.getHedgesSent();
  out.hedges_won = st.getHedgesWon();
  for (auto u : st.getUnderReplicated()) out.under_replicated.emplace_back(u.cStr());
  for (auto m : st.getMembers())
    out.members[m.getName()] = {m.getUp(),          m.getUsedBytes(), m.getRssBytes(),
                                m.getBudgetBytes(), m.getReplicas(),  m.getOverheadBytes(),
                                m.getDraining()};
  out.persist_error = st.getPersistError();
  out.persist_failures = st.getPersistFailures();
  for (auto m : st.getModels()) {
    out.active[m.getName()] = m.getActiveVersion();
    for (auto l : m.getLabels())
      out.labels[std::string{m.getName().cStr()} + "@" + l.getLabel().cStr()] = l.getVersion();
    for (auto v : m.getVersions()) {
      auto key = std::string{m.getName().cStr()} + "@" + std::to_string(v.getVersion());
      out.embedder[key] = v.getEmbedder();
      out.state[key] = v.getState();
      auto& shards = out.shards[key];
      for (auto s : v.getShards()) {
        shard_snapshot snap{s.getTensor(), s.getRowBegin(), s.getRowEnd(), {}};
        for (auto r : s.getReplicas()) snap.replicas.emplace_back(r.getNode(), r.getState());
        shards.push_back(std::move(snap));
      }
    }
  }
  return out;
}

std::unique_ptr<client> reconnect_coordinator(local_cluster& c, pid_t old_pid,
                                              const std::string& token) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (std::chrono::steady_clock::now() < until) {
    auto pid = c.node_pid("coord");
    if (pid > 0 && pid != old_pid) {
      try {
        auto cl = std::make_unique<client>(c.gateway(), token);
        if (take_status(*cl).ready) return cl;
      } catch (const kj::Exception&) {
        // not listening yet
      }
    }
    // Polling a process that is starting; there is no event loop to wait on.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  FAIL("the coordinator did not come back ready");
  return nullptr;
}

bool wait_cluster_ready(const std::string& gateway, const std::string& token,
                        std::chrono::milliseconds limit, const cli::tls_client_options& tls) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    try {
      client cl{gateway, token, tls};
      if (take_status(cl).ready) return true;
    } catch (const kj::Exception&) {  // gateway not listening yet
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

bool wait_until(client& cl, std::chrono::milliseconds limit, const std::function<bool()>& cond) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    cl.timer().afterDelay(10 * kj::MILLISECONDS).wait(cl.wait_scope());
  }
  return true;
}

bool wait_for_answers(client& cl, const traffic& t, size_t total, std::chrono::milliseconds limit) {
  return wait_until(cl, limit, [&] { return t.answered() >= total; });
}

bool wait_for_status(client& cl, std::chrono::milliseconds limit,
                     const std::function<bool(const status_snapshot&)>& pred,
                     status_snapshot* last) {
  auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto s = take_status(cl);
    bool held = pred(s);
    if (last) *last = std::move(s);
    if (held) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    cl.timer().afterDelay(100 * kj::MILLISECONDS).wait(cl.wait_scope());
  }
}

std::vector<std::pair<uint64_t, uint64_t>> tensor_row_ranges(client& cl, const std::string& model,
                                                             const std::string& tensor) {
  auto res = cl.admin().statusRequest().send().wait(cl.wait_scope());
  std::set<std::pair<uint64_t, uint64_t>> ranges;
  for (auto m : res.getStatus().getModels()) {
    if (model != m.getName().cStr()) continue;
    for (auto v : m.getVersions()) {
      if (v.getVersion() != m.getActiveVersion()) continue;
      for (auto s : v.getShards())
        if (tensor == s.getTensor().cStr()) ranges.insert({s.getRowBegin(), s.getRowEnd()});
    }
  }
  return {ranges.begin(), ranges.end()};
}

namespace {

// What every stream of one run_traffic call shares; copies, so callers may pass temporaries.
struct traffic_ctx {
  client& cl;
  std::string name;
  std::vector<std::string> texts;
  std::map<uint64_t, const reference_model*> refs;
  size_t stride;
  const bool& stop;
  traffic& out;
  size_t limit = 0;  // requests to issue in all; 0 = until stop
  size_t issued = 0;
};

kj::Promise<void> one_stream(std::shared_ptr<traffic_ctx> ctx, size_t next) {
  if (ctx->stop || (ctx->limit > 0 && ctx->issued >= ctx->limit)) return kj::READY_NOW;
  ++ctx->issued;
  const auto& text = ctx->texts[next % ctx->texts.size()];
  auto req = ctx->cl.session().predictRequest();
  auto model = req.initModel();
  // NAME, NAME@VERSION (digits) or NAME@LABEL.
  auto at = ctx->name.find('@');
  model.setName(ctx->name.substr(0, at));
  if (at != std::string::npos) {
    auto ref = ctx->name.substr(at + 1);
    if (!ref.empty() && ref.find_first_not_of("0123456789") == std::string::npos)
      model.setVersion(std::stoull(ref));
    else
      model.setLabel(ref);
  }
  req.setTopK(2);
  req.initInputs(1)[0].setText(text);
  auto sent = std::chrono::steady_clock::now();
  return req.send()
      .then(
          [ctx, text, sent](capnp::Response<Session::PredictResults>&& res) {
            ctx->out.ok_ms.push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent)
                    .count());
            auto version = res.getServedBy().getVersion();
            auto ref = ctx->refs.find(version);
            CHECK(ref != ctx->refs.end());  // never REQUIRE inside a kj callback
            if (ref != ctx->refs.end())
              check_prediction(*ref->second, ref->second->pool_text(text), res.getResults()[0], 2);
            ++ctx->out.ok;
            ++ctx->out.by_version[version];
          },
          [ctx](kj::Exception&& e) {
            ++ctx->out.failed;
            ++ctx->out.by_code[error_code(e)];
            if (ctx->out.errors.size() < 5) ctx->out.errors.push_back(e.getDescription().cStr());
          })
      .then([ctx, next] { return one_stream(ctx, next + ctx->stride); });
}

}  // namespace

kj::Promise<void> run_traffic(client& cl, const std::string& name,
                              const std::vector<std::string>& texts,
                              const std::map<uint64_t, const reference_model*>& refs,
                              size_t concurrency, const bool& stop, traffic& out) {
  auto ctx =
      std::make_shared<traffic_ctx>(traffic_ctx{cl, name, texts, refs, concurrency, stop, out});
  kj::Vector<kj::Promise<void>> streams;
  for (size_t i = 0; i < concurrency; ++i) streams.add(one_stream(ctx, i));
  return kj::joinPromises(streams.releaseAsArray());
}

double quantile(std::vector<double> ms, double q) {
  if (ms.empty()) return 0;
  std::sort(ms.begin(), ms.end());
  auto i = static_cast<size_t>(q * static_cast<double>(ms.size() - 1) + 0.5);
  return ms[std::min(i, ms.size() - 1)];
}

traffic traffic_n(client& cl, const std::string& name, const std::vector<std::string>& texts,
                  const std::map<uint64_t, const reference_model*>& refs, size_t concurrency,
                  size_t requests) {
  const bool never = false;
  traffic t;
  auto ctx = std::make_shared<traffic_ctx>(
      traffic_ctx{cl, name, texts, refs, concurrency, never, t, requests, 0});
  kj::Vector<kj::Promise<void>> streams;
  for (size_t i = 0; i < concurrency; ++i) streams.add(one_stream(ctx, i));
  kj::joinPromises(streams.releaseAsArray()).wait(cl.wait_scope());
  return t;
}

traffic traffic_for(client& cl, const std::string& name, const std::vector<std::string>& texts,
                    const std::map<uint64_t, const reference_model*>& refs, size_t concurrency,
                    std::chrono::milliseconds duration) {
  bool stop = false;
  traffic t;
  auto p = run_traffic(cl, name, texts, refs, concurrency, stop, t);
  cl.timer().afterDelay(duration.count() * kj::MILLISECONDS).wait(cl.wait_scope());
  stop = true;
  p.wait(cl.wait_scope());
  return t;
}

}  // namespace tessera::test
