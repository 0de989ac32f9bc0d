#include "tests/support/lifecycle_support.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <set>

namespace tessera::test {

uint64_t load_model(client& cl, const std::string& path, const std::string& name, uint32_t replicas,
                    bool activate) {
  auto req = cl.admin().loadRequest();
  auto o = req.initOptions();
  o.setPath(path);
  o.setName(name);
  o.setReplicas(replicas);
  o.setActivate(activate);
  return req.send().wait(cl.wait_scope()).getVersion();
}

status_snapshot take_status(client& cl) {
  auto res = cl.admin().statusRequest().send().wait(cl.wait_scope());
  auto st = res.getStatus();
  status_snapshot out;
  out.ready = st.getReady();
  for (auto m : st.getMembers())
    out.members[m.getName()] = {m.getUp(), m.getUsedBytes(), m.getRssBytes(), m.getBudgetBytes()};
  for (auto m : st.getModels()) {
    out.active[m.getName()] = m.getActiveVersion();
    for (auto v : m.getVersions())
      out.embedder[std::string{m.getName().cStr()} + "@" + std::to_string(v.getVersion())] =
          v.getEmbedder();
  }
  return out;
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
};

kj::Promise<void> one_stream(std::shared_ptr<traffic_ctx> ctx, size_t next) {
  if (ctx->stop) return kj::READY_NOW;
  const auto& text = ctx->texts[next % ctx->texts.size()];
  auto req = ctx->cl.session().predictRequest();
  req.initModel().setName(ctx->name);
  req.setTopK(2);
  req.initInputs(1)[0].setText(text);
  return req.send()
      .then(
          [ctx, text](capnp::Response<Session::PredictResults>&& res) {
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
