// Exact pooling (--exact-pooling) within bounded memory: a call gathers each distinct row once,
// so a 1 MiB line of one-letter words (half a million ids, a few hundred distinct rows) costs
// the coordinator a few MiB instead of a full row per id; a call whose distinct rows exceed
// [limits] max_gather_bytes is refused with limit_exceeded naming the limit. Meanwhile another
// client keeps getting correct answers.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

void load_exact(client& admin, const std::string& path, const std::string& name) {
  auto req = admin.admin().loadRequest();
  auto o = req.initOptions();
  o.setPath(path);
  o.setName(name);
  o.setReplicas(1);
  o.setExactPooling(true);
  req.send().wait(admin.wait_scope());
}

// One text of `bytes` bytes: one-letter words "a b c ... z a b ..." (OOV; their word bigrams
// are at most 26 x 26 distinct rows however long the line is).
std::string one_letter_words(size_t bytes) {
  std::string out;
  out.reserve(bytes);
  for (size_t i = 0; out.size() + 2 <= bytes; ++i) {
    out += static_cast<char>('a' + i % 26);
    out += ' ';
  }
  return out;
}

// One text of `n` distinct tokens: as many distinct word bigrams (rows of the bucket table).
std::string distinct_words(size_t n, uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::string out;
  for (size_t i = 0; i < n; ++i) out += "t" + std::to_string(rng()) + " ";
  return out;
}

}  // namespace

TEST_CASE(
    "a 1 MiB line of one-letter words on an exact-pooling model is answered bit for bit "
    "with the coordinator's memory bounded, while another client is served") {
  model_fixture m{split_table_model(91)};  // its table is split over the shards
  local_cluster c;
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  client side{c.gateway(), c.user_token()};
  load_exact(admin, m.path, "m");
  const auto text = one_letter_words((1u << 20) - 1);  // max_text_bytes is 1 MiB
  const auto ids = m.features->ids(text).size();
  REQUIRE(ids > 500000);
  const pid_t coord = c.node_pid("coord");
  REQUIRE(coord > 0);

  auto texts = random_texts(m.spec, 200, 92);
  bool stop = false;
  traffic during;
  auto p = run_traffic(side, "m", texts, {{1, m.ref.get()}}, 2, stop, during);
  REQUIRE(wait_for_answers(side, during, 20));
  const uint64_t hwm_before = vm_hwm_kib(coord);
  auto req = users.session().embedRequest();
  req.initModel().setName("m");
  req.initInputs(1)[0].setText(text);
  auto res = req.send().wait(users.wait_scope());
  const uint64_t hwm_after = vm_hwm_kib(coord);
  REQUIRE(wait_for_answers(side, during, during.answered() + 20));
  stop = true;
  p.wait(side.wait_scope());

  // The reference sums every occurrence's row in id order, as fastText does.
  REQUIRE(res.getVectors().size() == 1);
  auto want = m.pool_text(text);
  auto got = res.getVectors()[0];
  REQUIRE(got.size() == static_cast<uint32_t>(want.size()));
  size_t same = 0;
  for (uint32_t j = 0; j < got.size(); ++j) same += got[j] == want[j];
  CHECK(same == got.size());
  // A row per id would be ids x dim x 4 bytes (128 MiB here) on the coordinator, copied more
  // than once; the distinct rows are a few hundred. Allow half of one copy (a whole copy under
  // AddressSanitizer, whose quarantine keeps freed memory resident).
  const uint64_t rows_kib = ids * m.spec.dim * 4 / 1024;
  const uint64_t grew_kib = hwm_after - hwm_before;
  INFO("coordinator peak RSS grew by " << grew_kib << " KiB; a row per id is " << rows_kib
                                       << " KiB");
  CHECK(grew_kib < (built_with_asan ? rows_kib : rows_kib / 2));
  WARN("coordinator peak RSS grew by " << grew_kib << " KiB for " << ids << " ids");
  INFO(during.first_error());
  CHECK(during.failed == 0);
}

TEST_CASE(
    "a call gathering more than max_gather_bytes is refused with limit_exceeded naming the "
    "limit, and the coordinator keeps serving") {
  model_fixture m{split_table_model(93)};
  cluster_options o;
  o.limits_toml = "max_gather_bytes = \"1MiB\"\n";  // 4,096 rows of 64 floats
  local_cluster c{o};
  client admin{c.gateway(), c.admin_token()};
  client users{c.gateway(), c.user_token()};
  client side{c.gateway(), c.user_token()};
  load_exact(admin, m.path, "m");
  const auto text = distinct_words(20000, 94);  // ~18,000 distinct bucket rows of 100,000
  bool stop = false;
  traffic during;
  auto p =
      run_traffic(side, "m", random_texts(m.spec, 200, 96), {{1, m.ref.get()}}, 2, stop, during);
  REQUIRE(wait_for_answers(side, during, 20));
  for (bool predict : {true, false}) {
    INFO((predict ? "predict" : "embed"));
    std::string error;
    try {
      if (predict) {
        auto req = users.session().predictRequest();
        req.initModel().setName("m");
        req.setTopK(1);
        req.initInputs(1)[0].setText(text);
        req.send().wait(users.wait_scope());
      } else {
        auto req = users.session().embedRequest();
        req.initModel().setName("m");
        req.initInputs(1)[0].setText(text);
        req.send().wait(users.wait_scope());
      }
    } catch (const kj::Exception& e) {
      error = e.getDescription().cStr();
    }
    INFO(error);
    CHECK(error.find("tessera.limit_exceeded") != std::string::npos);
    CHECK(error.find("1048576 bytes per call") != std::string::npos);
    CHECK(error.find("max_gather_bytes") != std::string::npos);
  }
  REQUIRE(wait_for_answers(side, during, during.answered() + 20));
  stop = true;
  p.wait(side.wait_scope());
  INFO(during.first_error());
  CHECK(during.failed == 0);
  // Short texts gather a few rows each: served, and correct.
  expect_reference_predictions(users, m, "m", 50, 95);
  // The one-letter line needs a few hundred distinct rows: under the limit too.
  auto req = users.session().embedRequest();
  req.initModel().setName("m");
  req.initInputs(1)[0].setText(one_letter_words(100000));
  CHECK(req.send().wait(users.wait_scope()).getVectors().size() == 1);
}
