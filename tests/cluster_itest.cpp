// End to end over real processes: `tessera up` with a coordinator and 3 shard nodes, a
// generated model of 205,000 x 64 rows plus two dense layers, and every answer compared with
// the in-process Eigen reference. Texts are featurized for the reference by the test's own
// implementation of the hashing featurizer (testing/hashing_reference.hpp), never by the
// server's code, so a featurizer bug cannot cancel out.
//
// The 20,000-label models with a split output layer are in large_label_itest.
#include <catch2/catch.hpp>

#include <capnp/compat/std-iterator.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <set>

#include "tests/support/lifecycle_support.hpp"
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
  check_prediction(*model().ref, model().pool_text(texts[0]), res.getResults()[0], 1);
}

// Checks that status shows the embedding table of `key` ("model@version") cut into `parts`
// contiguous row ranges covering every row, each on its own node: the model is really sharded.
void check_table_split(const status_snapshot& st, const std::string& key, size_t parts) {
  INFO(key);
  auto it = st.shards.find(key);
  REQUIRE(it != st.shards.end());
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  std::set<std::string> nodes;
  for (const auto& s : it->second) {
    if (s.tensor != "embedder.input") continue;
    ranges.emplace_back(s.begin, s.end);
    REQUIRE(s.replicas.size() == 1);
    CHECK(s.replicas[0].second == "ready");
    nodes.insert(s.replicas[0].first);
  }
  std::sort(ranges.begin(), ranges.end());
  REQUIRE(ranges.size() == parts);
  CHECK(nodes.size() == parts);
  CHECK(ranges.front().first == 0);
  CHECK(ranges.back().second == model().ref->rows());
  for (size_t i = 1; i < ranges.size(); ++i) CHECK(ranges[i].first == ranges[i - 1].second);
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
      check_prediction(*model().ref, model().pool_text(texts[start + i]), res.getResults()[i], 3);
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
      check_embedding(model().pool_text(texts[start + i]), res.getVectors()[i]);
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
  REQUIRE(pres.getResults().size() == 300);
  REQUIRE(eres.getVectors().size() == 300);
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
    check_prediction(*model().ref, model().pool_text(texts[i]), res.getResults()[2 * i], 2);
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
  REQUIRE(res.getResults().size() == 1);
  CHECK(res.getResults()[0].getLabels().size() == 0);
  auto eq = cl.session().embedRequest();
  eq.initModel().setName("sections");
  set_text(eq.initInputs(1)[0], "qqqqqq");
  auto er = eq.send().wait(cl.wait_scope());
  REQUIRE(er.getVectors().size() == 1);
  REQUIRE(er.getVectors()[0].size() == model().spec.dim);
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

TEST_CASE("status reports every member up and the model's table split over all three nodes",
          "[cluster]") {
  auto& c = cluster();
  client cl{c.gateway(), c.admin_token()};
  auto st = take_status(cl);
  CHECK(st.ready);
  REQUIRE(st.members.size() == 3);
  for (const auto& [name, m] : st.members) {
    INFO(name);
    CHECK(m.up);
    CHECK(m.used > 0);
  }
  CHECK(st.state["sections@1"] == "serving");
  check_table_split(st, "sections@1", 3);
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
        auto pooled = (i / 4) % 2 == 0 ? model().pool_text(texts[i + j])
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
  // The same rows as "sections" (a shared embedder), split in three: a one-shard table would
  // make bit identity trivial.
  check_table_split(take_status(admin), "sections-exact@1", 3);
  client cl{c.gateway(), c.user_token()};
  auto texts = random_texts(model().spec, 300, 41);
  auto req = cl.session().embedRequest();
  req.initModel().setName("sections-exact");
  auto in = req.initInputs(300);
  for (size_t i = 0; i < 300; ++i) set_text(in[i], texts[i]);
  auto res = req.send().wait(cl.wait_scope());
  REQUIRE(res.getVectors().size() == 300);
  size_t exact = 0;
  for (size_t i = 0; i < 300; ++i) {
    // The reference sums rows in id order and scales by (float)(1.0 / n), as fastText does.
    auto want = model().pool_text(texts[i]);
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
  REQUIRE(pres.getVectors().size() == 300);
  for (size_t i = 0; i < 300; ++i)
    check_embedding(model().pool_text(texts[i]), pres.getVectors()[i]);
}

TEST_CASE("texts with every separator, unknown words and non-ASCII bytes featurize to the spec",
          "[cluster]") {
  auto& c = cluster();
  client cl{c.gateway(), c.user_token()};
  auto w = [](uint64_t i) { return synthetic_word(model().spec.seed, i); };
  const std::vector<std::string> texts{
      w(1) + "\t" + w(2) + "\n" + w(3) + "\r" + w(4) + "\v" + w(5) + "\f" + w(6),
      "  " + w(7) + "   " + w(8) + "\t\t",
      w(9) + " " + w(9) + " " + w(9),
      "unknownword " + w(10) + " otherunknown " + w(11),
      "onlyunknown wordshere",  // no vocabulary word: the bigram alone is a feature
      w(12),
      w(13) + "\n",
      "caf\xc3\xa9 " + w(14) + " \xe6\x97\xa5\xe6\x9c\xac " + w(15),
      " \t\n",  // no token at all
      w(4999) + " " + w(0) + " " + w(2500),
  };
  // The unknown-only text has a feature (its bigram); the separators-only text has none.
  REQUIRE(model().features->ids(texts[4]).size() == 1);
  REQUIRE(model().features->ids(texts[8]).empty());
  auto preq = cl.session().predictRequest();
  preq.initModel().setName("sections");
  preq.setTopK(-1);
  auto eq = cl.session().embedRequest();
  eq.initModel().setName("sections");
  auto pin = preq.initInputs(texts.size());
  auto ein = eq.initInputs(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    set_text(pin[i], texts[i]);
    set_text(ein[i], texts[i]);
  }
  auto pres = preq.send().wait(cl.wait_scope());
  auto eres = eq.send().wait(cl.wait_scope());
  REQUIRE(pres.getResults().size() == texts.size());
  REQUIRE(eres.getVectors().size() == texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    INFO("text " << i);
    auto pooled = model().pool_text(texts[i]);
    check_embedding(pooled, eres.getVectors()[i]);
    if (model().features->ids(texts[i]).empty())
      CHECK(pres.getResults()[i].getLabels().size() == 0);
    else
      check_prediction(*model().ref, pooled, pres.getResults()[i], -1);
  }
}

TEST_CASE(
    "concurrent calls coalesced at the coordinator each get the reference answer for their own k "
    "and threshold",
    "[cluster]") {
  auto& c = cluster();
  client cl{c.gateway(), c.user_token()};
  const size_t calls_n = 240;
  auto texts = random_texts(model().spec, calls_n * 2, 51);
  const int ks[] = {1, 2, 3, 5, -1};
  const float thresholds[] = {0.0f, 0.001f, 0.02f, 0.1f, 0.25f, 0.5f, 0.9f};
  // A call whose threshold drops labels that its k alone would keep: if there were none, a
  // server that ignored the per-call threshold would pass.
  size_t cut_by_threshold = 0;
  size_t answered = 0;
  kj::Vector<kj::Promise<void>> calls;
  for (size_t i = 0; i < calls_n; ++i) {
    int k = ks[i % 5];
    float t = thresholds[i % 7];
    size_t n = 1 + i % 2;
    for (size_t j = 0; j < n; ++j) {
      auto probs = model().ref->probabilities(model().pool_text(texts[2 * i + j]));
      size_t keep = 0, above = 0;
      for (const auto& [label, p] : model().ref->top_k(probs, k)) {
        ++keep;
        above += p >= t;
      }
      cut_by_threshold += above < keep;
    }
    auto req = cl.session().predictRequest();
    req.initModel().setName("sections");
    req.setTopK(k);
    req.setThreshold(t);
    auto in = req.initInputs(n);
    for (size_t j = 0; j < n; ++j) set_text(in[j], texts[2 * i + j]);
    calls.add(req.send().then([&, i, k, t, n](capnp::Response<Session::PredictResults>&& res) {
      INFO("call " << i << " k " << k << " threshold " << t);
      CHECK(res.getResults().size() == n);
      for (size_t j = 0; j < n && j < res.getResults().size(); ++j)
        check_prediction(*model().ref, model().pool_text(texts[2 * i + j]), res.getResults()[j], k,
                         t);
      ++answered;
    }));
  }
  REQUIRE(cut_by_threshold > 50);
  kj::joinPromises(calls.releaseAsArray()).wait(cl.wait_scope());
  CHECK(answered == calls_n);
}

TEST_CASE(
    "inputs over max_text_bytes or max_ids_per_input are refused limit_exceeded, inputs at the "
    "limits are served, and the connection keeps serving",
    "[cluster][errors]") {
  synthetic_spec small;
  small.vocab = 2000;
  small.buckets = 50000;
  small.seed = 61;
  model_fixture m{small};
  cluster_options opts;
  opts.max_text_bytes = 1000;
  opts.max_ids_per_input = 40;
  local_cluster c{opts};
  client admin{c.gateway(), c.admin_token()};
  load_model(admin, m.path, "m");
  client cl{c.gateway(), c.user_token()};
  auto& ws = cl.wait_scope();
  auto w = [&](uint64_t i) { return synthetic_word(small.seed, i); };
  // Texts and id bags at and just over each limit, sized with the test's own featurizer.
  std::string at_bytes = w(1);
  at_bytes += std::string(1000 - at_bytes.size(), ' ');
  std::string over_bytes = at_bytes + " ";
  std::string at_ids, over_ids;  // 20 words + 1 unknown: 20 + 20 bigrams; one more word: 42
  for (uint64_t i = 0; i < 20; ++i) at_ids += w(100 + i) + " ";
  at_ids += "unknownword";
  over_ids = at_ids + " " + w(200);
  REQUIRE(at_bytes.size() == 1000);
  REQUIRE(m.features->ids(at_bytes).size() == 1);
  REQUIRE(m.features->ids(at_ids).size() == 40);
  REQUIRE(m.features->ids(over_ids).size() == 42);
  REQUIRE(over_ids.size() < 1000);
  id_input ids_at, ids_over;
  for (int64_t i = 0; i < 40; ++i) ids_at.ids.push_back(i * 97);
  ids_over = ids_at;
  ids_over.ids.push_back(5);

  // One input per call, so the answer is checked against the reference for that input.
  auto predict_text = [&](const std::string& text) {
    auto req = cl.session().predictRequest();
    req.initModel().setName("m");
    req.setTopK(-1);
    set_text(req.initInputs(1)[0], text);
    return req.send();
  };
  auto predict_ids = [&](const id_input& x) {
    auto req = cl.session().predictRequest();
    req.initModel().setName("m");
    req.setTopK(-1);
    set_ids(req.initInputs(1)[0], x);
    return req.send();
  };
  auto embed_text = [&](const std::string& text) {
    auto req = cl.session().embedRequest();
    req.initModel().setName("m");
    set_text(req.initInputs(1)[0], text);
    return req.send();
  };
  auto refused = [&](auto promise, const std::string& says) {
    try {
      promise.wait(ws);
      FAIL("expected tessera.limit_exceeded");
    } catch (const kj::Exception& e) {
      std::string d = e.getDescription().cStr();
      INFO(d);
      CHECK(error_code(e) == "limit_exceeded");
      CHECK(e.getType() == kj::Exception::Type::FAILED);
      CHECK(d.find(says) != std::string::npos);
    }
    // The same connection still answers, correctly.
    auto ok = predict_text(at_ids).wait(ws);
    REQUIRE(ok.getResults().size() == 1);
    check_prediction(*m.ref, m.pool_text(at_ids), ok.getResults()[0], -1);
  };

  SECTION("at the limits every input is served like the reference") {
    for (const auto& t : {at_bytes, at_ids}) {
      auto res = predict_text(t).wait(ws);
      REQUIRE(res.getResults().size() == 1);
      check_prediction(*m.ref, m.pool_text(t), res.getResults()[0], -1);
      auto emb = embed_text(t).wait(ws);
      REQUIRE(emb.getVectors().size() == 1);
      check_embedding(m.pool_text(t), emb.getVectors()[0]);
    }
    auto res = predict_ids(ids_at).wait(ws);
    REQUIRE(res.getResults().size() == 1);
    check_prediction(*m.ref, m.ref->pool_ids(ids_at.ids), res.getResults()[0], -1);
  }
  SECTION("a text one byte over max_text_bytes") {
    refused(predict_text(over_bytes).ignoreResult(), "1001 bytes");
    refused(embed_text(over_bytes).ignoreResult(), "1001 bytes");
  }
  SECTION("ids given over max_ids_per_input") {
    refused(predict_ids(ids_over).ignoreResult(), "41 ids");
  }
  SECTION("a short text that featurizes to more than max_ids_per_input ids") {
    refused(predict_text(over_ids).ignoreResult(), "42 ids");
    refused(embed_text(over_ids).ignoreResult(), "42 ids");
  }
  SECTION("one over-limit input fails its whole call, naming the input") {
    auto req = cl.session().predictRequest();
    req.initModel().setName("m");
    req.setTopK(1);
    auto in = req.initInputs(3);
    set_text(in[0], at_ids);
    set_text(in[1], at_bytes);
    set_text(in[2], over_ids);
    refused(req.send().ignoreResult(), "input 2");
  }
}
