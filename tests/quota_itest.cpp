// Tenant quotas over real processes, on one model (acme's, loaded by four tenants): a flood
// gets its tenant's request rate within 10%, concurrency and batch limits hold with typed
// refusals and a retry-after hint, under overload a low-priority tenant is shed while a
// high-priority one is always served (its latency is measured in bench/tenants.sh), and with
// refusalAsResult an overloaded refusal arrives as a typed Refusal. Every answer served is
// checked against the model's reference.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cluster/tenant_quota.hpp"
#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tenant_config.hpp"

using namespace tessera;
using namespace tessera::test;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// The model every quota tenant loads as "m" (acme's model of tenant_itest).
model_fixture& acme() {
  static model_fixture m{small_model(12)};
  return m;
}

}  // namespace

namespace {

local_cluster& quota_cluster() {
  static local_cluster c{[] {
    cluster_options o;
    o.shard_nodes = 2;
    const std::string root = acme().dir.path();  // every tenant loads acme's package
    o.extra_toml = token_entry("metered", "metered", true, "metered") +
                   token_entry("batchy", "batchy", true, "batchy") +
                   token_entry("hi", "hi", true, "hi") + token_entry("lo", "lo", true, "lo") +
                   tenant_entry("metered", root, "requests_per_s = 40\n") +
                   tenant_entry("batchy", root, "max_concurrent = 2\nmax_batch = 8\n") +
                   tenant_entry("hi", root, "priority = \"high\"\n") +
                   tenant_entry("lo", root, "priority = \"low\"\n");
    // Shedding starts at 8 calls for low priority, 12 for normal, 16 for high.
    o.limits_toml = "capacity = 16\n";
    return o;
  }()};
  static bool loaded = [] {
    for (auto token : {"metered", "batchy", "hi", "lo"}) {
      client cl{c.gateway(), token};
      REQUIRE(load_model(cl, acme().path, "m", 1, true) == 1);
    }
    return true;
  }();
  (void)loaded;
  return c;
}

std::map<uint64_t, const reference_model*> acme_refs() {
  return {{1, acme().ref.get()}};
}

// Every failure of `t` is an overloaded refusal with a retry-after hint and `why` in it.
void check_refusals(const traffic& t, const std::string& why) {
  CHECK(t.by_code.size() <= 1);
  if (!t.by_code.empty()) CHECK(t.by_code.begin()->first == "overloaded");
  for (const auto& e : t.errors) {
    INFO(e);
    CHECK(retry_after_ms_of(e) > 0);
    CHECK(e.find(why) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("a flood gets its tenant's request rate within 10%, refusals carry retry-after",
          "[quotas]") {
  auto& c = quota_cluster();
  client cl{c.gateway(), "metered"};
  auto texts = random_texts(acme().spec, 50, 3);
  const auto duration = 5000ms;
  auto t0 = steady::now();
  auto t = traffic_for(cl, "m", texts, acme_refs(), 8, duration);
  double elapsed_s = std::chrono::duration<double>(steady::now() - t0).count();
  INFO("ok " << t.ok << " refused " << t.failed << " in " << elapsed_s << " s");
  // Premise: it was a flood (far more calls than the quota).
  CHECK(t.failed > 4 * t.ok);
  CHECK(static_cast<double>(t.ok) >= 0.9 * 40 * 5.0);
  CHECK(static_cast<double>(t.ok) <= 1.1 * 40 * elapsed_s);
  check_refusals(t, "requests_per_s");
}

TEST_CASE("concurrency and batch quotas refuse with typed errors and serve the rest", "[quotas]") {
  auto& c = quota_cluster();
  client cl{c.gateway(), "batchy"};
  auto texts = random_texts(acme().spec, 50, 4);
  auto t = traffic_for(cl, "m", texts, acme_refs(), 8, 2000ms);
  INFO("ok " << t.ok << " refused " << t.failed);
  CHECK(t.ok > 0);
  CHECK(t.failed > 0);  // 8 at once against max_concurrent 2
  check_refusals(t, "max_concurrent");
  auto call = [&](unsigned n) {
    auto req = cl.session().predictRequest();
    req.initModel().setName("m");
    req.setTopK(1);
    auto in = req.initInputs(n);
    for (unsigned i = 0; i < n; ++i) in[i].setText(texts[i]);
    return req.send();
  };
  auto ok = call(8).wait(cl.wait_scope());
  REQUIRE(ok.getResults().size() == 8);
  for (unsigned i = 0; i < 8; ++i)
    check_prediction(*acme().ref, acme().pool_text(texts[i]), ok.getResults()[i], 1);
  try {
    call(9).wait(cl.wait_scope());
    FAIL("9 inputs passed a max_batch of 8");
  } catch (const kj::Exception& e) {
    CHECK(error_code(e) == "limit_exceeded");
    CHECK(std::string(e.getDescription().cStr()).find("max_batch") != std::string::npos);
  }
}

TEST_CASE("under overload a low-priority flood is shed and a high-priority tenant is served",
          "[quotas]") {
  auto& c = quota_cluster();
  client lo{c.gateway(), "lo"}, hi{c.gateway(), "hi"};
  auto texts = random_texts(acme().spec, 50, 6);
  bool stop = false;
  traffic lt, ht;
  auto lp = run_traffic(lo, "m", texts, acme_refs(), 32, stop, lt);
  auto hp = run_traffic(hi, "m", texts, acme_refs(), 2, stop, ht);
  // Both clients share this thread's event loop: waiting on one runs both.
  hi.timer().afterDelay(4 * kj::SECONDS).wait(hi.wait_scope());
  stop = true;
  lp.wait(lo.wait_scope());
  hp.wait(hi.wait_scope());
  INFO("low ok " << lt.ok << " shed " << lt.failed << "; high ok " << ht.ok << " failed "
                 << ht.failed << " p99 " << quantile(ht.ok_ms, 0.99) << " ms");
  CHECK(ht.failed == 0);
  CHECK(ht.ok > 0);
  CHECK(lt.ok > 0);
  CHECK(lt.failed > 0);  // 32 at once against a low bound of capacity/2 = 8
  check_refusals(lt, "shed");
}

namespace {

// Rounds of 8 concurrent calls made by `send(i)` (i = 0..7), until one was served and one
// refused, at most 50: every answer is a result (with refusalAsResult a refusal is one too);
// a refusal is checked here, a served call by `served(i, response)`. Returns {served, refused}.
template <class Send, class Served>
std::pair<size_t, size_t> typed_rounds(client& cl, Send send, Served served) {
  size_t ok = 0, refused = 0;
  for (int round = 0; round < 50 && (ok == 0 || refused == 0); ++round) {
    std::vector<decltype(send(0u))> calls;
    for (unsigned i = 0; i < 8; ++i) calls.push_back(send(i));
    for (unsigned i = 0; i < 8; ++i) {
      auto r = calls[i].wait(cl.wait_scope());
      if (!r.hasRefusal()) {
        ++ok;
        served(i, r);
        continue;
      }
      ++refused;
      const std::string reason = r.getRefusal().getReason().cStr();
      INFO(reason);
      CHECK(r.getRefusal().getRetryAfterMs() > 0);
      CHECK(reason.find("max_concurrent") != std::string::npos);
      CHECK(reason.find("tessera.") == std::string::npos);  // the message, not the description
      CHECK(reason.find("retry_after_ms") == std::string::npos);  // the hint is the field
      CHECK(!r.hasServedBy());
    }
  }
  return {ok, refused};
}

}  // namespace

TEST_CASE("refusalAsResult answers overloaded refusals as a typed Refusal; other errors throw",
          "[quotas]") {
  auto& c = quota_cluster();
  client cl{c.gateway(), "batchy"};  // max_concurrent = 2
  const auto& m = acme();
  auto texts = random_texts(m.spec, 8, 7);
  auto predict_typed = [&](unsigned i) {
    auto req = cl.session().predictRequest();
    req.initModel().setName("m");
    req.setTopK(1);
    req.setRefusalAsResult(true);
    req.initInputs(1)[0].setText(texts[i]);
    return req.send();
  };
  auto [ok, refused] = typed_rounds(cl, predict_typed, [&](unsigned i, auto& r) {
    CHECK(r.getServedBy().getVersion() == 1);
    REQUIRE(r.getResults().size() == 1);
    check_prediction(*m.ref, m.pool_text(texts[i]), r.getResults()[0], 1);
  });
  CHECK(ok > 0);
  CHECK(refused > 0);

  auto embed_typed = [&](unsigned i) {
    auto req = cl.session().embedRequest();
    req.initModel().setName("m");
    req.setRefusalAsResult(true);
    req.initInputs(1)[0].setText(texts[i]);
    return req.send();
  };
  auto [eok, erefused] = typed_rounds(cl, embed_typed, [&](unsigned i, auto& r) {
    REQUIRE(r.getVectors().size() == 1);
    const auto want = m.pool_text(texts[i]);
    REQUIRE(r.getVectors()[0].size() == static_cast<unsigned>(want.size()));
    for (unsigned j = 0; j < r.getVectors()[0].size(); ++j)
      CHECK(r.getVectors()[0][j] == Approx(want[j]).margin(1e-5));
  });
  CHECK(eok > 0);
  CHECK(erefused > 0);

  // A failure that is no overloaded refusal stays an exception with the flag set.
  auto unknown = cl.session().predictRequest();
  unknown.initModel().setName("nope");
  unknown.setTopK(1);
  unknown.setRefusalAsResult(true);
  unknown.initInputs(1)[0].setText(texts[0]);
  try {
    unknown.send().wait(cl.wait_scope());
    FAIL("an unknown model was answered");
  } catch (const kj::Exception& e) {
    CHECK(error_code(e) == "unknown_model");
  }
}
