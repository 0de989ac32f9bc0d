// End to end over real processes: `tessera up` with a coordinator and 3 shard nodes, a
// generated model of 205,000 x 64 rows plus two dense layers, and every answer compared with
// the in-process Eigen reference.
#include <catch2/catch.hpp>

#include <capnp/compat/std-iterator.h>

#include "tests/support/model_fixture.hpp"

using namespace tessera;
using namespace tessera::test;

namespace {

model_fixture& model() {
  static model_fixture m{synthetic_spec{}};  // 5000 words + 200k buckets, 64 dims, 32 hidden
  return m;
}

local_cluster& cluster() {
  static local_cluster c{};
  static bool loaded = [] {
    client cl{c.gateway(), c.admin_token()};
    auto req = cl.admin().loadRequest();
    req.initOptions().setPath(model().path);
    req.getOptions().setName("sections");
    auto res = req.send().wait(cl.wait_scope());
    REQUIRE(res.getVersion() == 1);
    return true;
  }();
  (void)loaded;
  return c;
}

void set_text(Input::Builder in, const std::string& text) {
  in.setText(text);
}

void set_ids(Input::Builder in, const id_input& x) {
  auto bag = in.initIds();
  auto ids = bag.initIds(static_cast<unsigned>(x.ids.size()));
  for (size_t i = 0; i < x.ids.size(); ++i) ids.set(i, x.ids[i]);
  auto ws = bag.initWeights(static_cast<unsigned>(x.weights.size()));
  for (size_t i = 0; i < x.weights.size(); ++i) ws.set(i, x.weights[i]);
}

// Expects `call` to fail with the tessera error `code`.
template <class F>
void expect_error(kj::WaitScope& ws, const std::string& code, F call) {
  try {
    call().wait(ws);
    FAIL("expected tessera." << code);
  } catch (const kj::Exception& e) {
    INFO(e.getDescription().cStr());
    CHECK(error_code(e) == code);
  }
}

// One good predict; proves the cluster (and this connection) still serve.
void expect_serving(client& cl) {
  auto req = cl.session().predictRequest();
  req.initModel().setName("sections");
  req.setTopK(1);
  auto texts = random_texts(model().spec, 1, 99);
  set_text(req.initInputs(1)[0], texts[0]);
  auto res = req.send().wait(cl.wait_scope());
  REQUIRE(res.getResults().size() == 1);
  check_prediction(*model().ref, model().ref->pool_text(texts[0]), res.getResults()[0], 1);
}

}  // namespace

TEST_CASE("predict on 1,000 random texts equals the Eigen reference", "[cluster]") {
  auto& c = cluster();
  client cl{c.gateway(), c.user_token()};
  auto texts = random_texts(model().spec, 1000, 7);
  for (size_t start = 0; start < texts.size(); start += 100) {
    auto req = cl.session().predictRequest();
    req.initModel().setName("sections");
    req.setTopK(3);
    auto inputs = req.initInputs(100);
    for (size_t i = 0; i < 100; ++i) set_text(inputs[i], texts[start + i]);
    auto res = req.send().wait(cl.wait_scope());
    REQUIRE(res.getResults().size() == 100);
    CHECK(res.getServedBy().getVersion() == 1);
    for (size_t i = 0; i < 100; ++i)
      check_prediction(*model().ref, model().ref->pool_text(texts[start + i]), res.getResults()[i],
                       3);
  }
}

TEST_CASE("embed on 1,000 random texts equals the Eigen reference", "[cluster]") {
  auto& c = cluster();
  client cl{c.gateway(), c.user_token()};
  auto texts = random_texts(model().spec, 1000, 8);
  for (size_t start = 0; start < texts.size(); start += 250) {
    auto req = cl.session().embedRequest();
    req.initModel().setName("sections");
    auto inputs = req.initInputs(250);
    for (size_t i = 0; i < 250; ++i) set_text(inputs[i], texts[start + i]);
    auto res = req.send().wait(cl.wait_scope());
    REQUIRE(res.getVectors().size() == 250);
    for (size_t i = 0; i < 250; ++i)
      check_embedding(model().ref->pool_text(texts[start + i]), res.getVectors()[i]);
  }
}

TEST_CASE("inputs given as weighted ids predict and embed like the reference", "[cluster]") {
  auto& c = cluster();
  client cl{c.gateway(), c.user_token()};
  auto inputs = random_id_inputs(model().ref->rows(), 300, 11);
  auto preq = cl.session().predictRequest();
  preq.initModel().setName("sections");
  preq.setTopK(-1);  // every label
  auto eq = cl.session().embedRequest();
  eq.initModel().setName("sections");
  auto pin = preq.initInputs(300);
  auto ein = eq.initInputs(300);
  for (size_t i = 0; i < 300; ++i) {
    set_ids(pin[i], inputs[i]);
    set_ids(ein[i], inputs[i]);
  }
  auto pres = preq.send().wait(cl.wait_scope());
  auto eres = eq.send().wait(cl.wait_scope());
  for (size_t i = 0; i < 300; ++i) {
    auto pooled = model().ref->pool_ids(inputs[i].ids, inputs[i].weights);
    check_prediction(*model().ref, pooled, pres.getResults()[i], -1);
    check_embedding(pooled, eres.getVectors()[i]);
  }
}

TEST_CASE("a batch mixing texts and ids answers each input in order", "[cluster]") {
  auto& c = cluster();
  client cl{c.gateway(), c.user_token()};
  auto texts = random_texts(model().spec, 128, 21);
  auto ids = random_id_inputs(model().ref->rows(), 128, 22);
  auto req = cl.session().predictRequest();
  req.initModel().setName("sections");
  req.setTopK(2);
  auto in = req.initInputs(256);
  for (size_t i = 0; i < 128; ++i) {
    set_text(in[2 * i], texts[i]);
    set_ids(in[2 * i + 1], ids[i]);
  }
  auto res = req.send().wait(cl.wait_scope());
  REQUIRE(res.getResults().size() == 256);
  for (size_t i = 0; i < 128; ++i) {
    check_prediction(*model().ref, model().ref->pool_text(texts[i]), res.getResults()[2 * i], 2);
    check_prediction(*model().ref, model().ref->pool_ids(ids[i].ids, ids[i].weights),
                     res.getResults()[2 * i + 1], 2);
  }
}

TEST_CASE("a text with no known feature gets no labels and a zero embedding", "[cluster]") {
  auto& c = cluster();
  client cl{c.gateway(), c.user_token()};
  auto req = cl.session().predictRequest();
  req.initModel().setName("sections");
  req.setTopK(1);
  set_text(req.initInputs(1)[0], "qqqqqq");
  auto res = req.send().wait(cl.wait_scope());
  CHECK(res.getResults()[0].getLabels().size() == 0);
  auto eq = cl.session().embedRequest();
  eq.initModel().setName("sections");
  set_text(eq.initInputs(1)[0], "qqqqqq");
  auto er = eq.send().wait(cl.wait_scope());
  for (auto x : er.getVectors()[0]) CHECK(x == 0.0f);
}

TEST_CASE("every kind of bad input gets its typed error and the cluster keeps serving",
          "[cluster][errors]") {
  auto& c = cluster();
  client cl{c.gateway(), c.user_token()};
  auto& ws = cl.wait_scope();
  auto predict = [&](auto fill) {
    return [&cl, fill] {
      auto req = cl.session().predictRequest();
      req.initModel().setName("sections");
      req.setTopK(1);
      fill(req);
      return req.send().ignoreResult();
    };
  };
  SECTION("unknown model") {
    expect_error(ws, "unknown_model", predict([](auto& r) {
                   r.initModel().setName("nope");
                   set_text(r.initInputs(1)[0], "x");
                 }));
  }
  SECTION("unknown version") {
    expect_error(ws, "unknown_model", predict([](auto& r) {
                   r.getModel().setVersion(7);
                   set_text(r.initInputs(1)[0], "x");
                 }));
  }
  SECTION("id past the last row") {
    expect_error(ws, "id_out_of_range", predict([](auto& r) {
                   set_ids(r.initInputs(1)[0], {{1, int64_t(model().ref->rows())}, {}});
                 }));
  }
  SECTION("negative id") {
    expect_error(ws, "id_out_of_range", predict([](auto& r) {
                   set_ids(r.initInputs(1)[0], {{-1}, {}});
                 }));
  }
  SECTION("weights not parallel to ids") {
    expect_error(ws, "invalid_argument", predict([](auto& r) {
                   set_ids(r.initInputs(1)[0], {{1, 2}, {1.0f}});
                 }));
  }
  SECTION("empty text") {
    expect_error(ws, "invalid_argument",
                 predict([](auto& r) { set_text(r.initInputs(1)[0], ""); }));
  }
  SECTION("no inputs") {
    expect_error(ws, "invalid_argument", predict([](auto& r) { r.initInputs(0); }));
  }
  SECTION("over-limit batch") {
    expect_error(ws, "limit_exceeded", predict([](auto& r) {
                   auto in = r.initInputs(1025);
                   for (auto x : in) set_text(x, "a");
                 }));
  }
  SECTION("k of zero") {
    expect_error(ws, "invalid_argument", predict([](auto& r) {
                   r.setTopK(0);
                   set_text(r.initInputs(1)[0], "x");
                 }));
  }
  SECTION("a session without the admin role calling admin") {
    expect_error(ws, "permission_denied",
                 [&] { return cl.admin().statusRequest().send().ignoreResult(); });
  }
  SECTION("a wrong token") {
    client bad{c.gateway(), "not-a-token"};
    expect_error(bad.wait_scope(), "unauthenticated", [&] {
      auto req = bad.session().listModelsRequest();
      return req.send().ignoreResult();
    });
  }
  SECTION("loading a package that does not exist") {
    client admin{c.gateway(), c.admin_token()};
    expect_error(admin.wait_scope(), "io_error", [&] {
      auto req = admin.admin().loadRequest();
      req.initOptions().setPath("/nonexistent/package");
      return req.send().ignoreResult();
    });
    expect_serving(admin);
  }
  expect_serving(cl);
}

TEST_CASE("status reports every member up and the model's shards on all three nodes", "[cluster]") {
  auto& c = cluster();
  client cl{c.gateway(), c.admin_token()};
  auto res = cl.admin().statusRequest().send().wait(cl.wait_scope());
  auto st = res.getStatus();
  CHECK(st.getReady());
  REQUIRE(st.getMembers().size() == 3);
  for (auto m : st.getMembers()) {
    CHECK(m.getUp());
    CHECK(m.getUsedBytes() > 0);
  }
  REQUIRE(st.getModels().size() >= 1);
  auto v = st.getModels()[0].getVersions()[0];
  REQUIRE(std::string{st.getModels()[0].getName().cStr()} == "sections");
  CHECK(std::string{v.getState().cStr()} == "serving");
  std::set<std::string> nodes;
  for (auto s : v.getShards())
    for (auto r : s.getReplicas()) nodes.insert(r.getNode());
  CHECK(nodes.size() == 3);
}

TEST_CASE("concurrent calls coalesced at the coordinator each get their own k and inputs",
          "[cluster]") {
  auto& c = cluster();
  client cl{c.gateway(), c.user_token()};
  auto texts = random_texts(model().spec, 400, 31);
  auto ids = random_id_inputs(model().ref->rows(), 400, 32);
  const int ks[] = {1, 2, 3, -1};
  kj::Vector<kj::Promise<void>> calls;
  size_t answered = 0;
  for (size_t i = 0; i < 400; i += 4) {
    auto req = cl.session().predictRequest();
    req.initModel().setName("sections");
    int k = ks[(i / 4) % 4];
    req.setTopK(k);
    auto in = req.initInputs(4);
    for (size_t j = 0; j < 4; ++j) {
      if ((i / 4) % 2 == 0)
        set_text(in[j], texts[i + j]);
      else
        set_ids(in[j], ids[i + j]);
    }
    calls.add(req.send().then([&, i, k](capnp::Response<Session::PredictResults>&& res) {
      CHECK(res.getResults().size() == 4);
      for (size_t j = 0; j < 4 && j < res.getResults().size(); ++j) {
        auto pooled = (i / 4) % 2 == 0 ? model().ref->pool_text(texts[i + j])
                                       : model().ref->pool_ids(ids[i + j].ids, ids[i + j].weights);
        check_prediction(*model().ref, pooled, res.getResults()[j], k);
      }
      ++answered;
    }));
  }
  kj::joinPromises(calls.releaseAsArray()).wait(cl.wait_scope());
  CHECK(answered == 100);
}

TEST_CASE("with exact pooling, embeddings over 3 shards equal one-shard pooling bit for bit",
          "[cluster]") {
  auto& c = cluster();
  client admin{c.gateway(), c.admin_token()};
  {
    auto req = admin.admin().loadRequest();
    auto o = req.initOptions();
    o.setPath(model().path);
    o.setName("sections-exact");
    o.setExactPooling(true);
    req.send().wait(admin.wait_scope());
  }
  client cl{c.gateway(), c.user_token()};
  auto texts = random_texts(model().spec, 300, 41);
  auto req = cl.session().embedRequest();
  req.initModel().setName("sections-exact");
  auto in = req.initInputs(300);
  for (size_t i = 0; i < 300; ++i) set_text(in[i], texts[i]);
  auto res = req.send().wait(cl.wait_scope());
  size_t exact = 0;
  for (size_t i = 0; i < 300; ++i) {
    // The reference sums rows in id order and scales by (float)(1.0 / n), as fastText does.
    auto want = model().ref->pool_text(texts[i]);
    auto got = res.getVectors()[i];
    bool same = got.size() == static_cast<uint32_t>(want.size());
    for (uint32_t j = 0; same && j < got.size(); ++j) same = got[j] == want[j];
    exact += same;
  }
  CHECK(exact == 300);
  // The default path over the same shards is within 1e-5 but not always bit-identical.
  auto plain = cl.session().embedRequest();
  plain.initModel().setName("sections");
  auto pin = plain.initInputs(300);
  for (size_t i = 0; i < 300; ++i) set_text(pin[i], texts[i]);
  auto pres = plain.send().wait(cl.wait_scope());
  for (size_t i = 0; i < 300; ++i)
    check_embedding(model().ref->pool_text(texts[i]), pres.getVectors()[i]);
}
