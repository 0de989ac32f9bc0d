// ctest: release only
// Composition (docs/MODELS.md) over real processes: an embedder package loaded alone, and two
// classifier packages loaded on it with `--embedder`, each answering like its own PyTorch
// model (tests/torch/make_model.py: one seed gives both models the same tables and inputs,
// their layer seeds differ). The rows are loaded once; the embedder cannot be unloaded while a
// classifier uses it; detaching one classifier under load leaves the other serving.
//
// Release only, like torch_itest (CI's time); composed descriptions and the unload rule are
// under the sanitizers in version_builder_test, registry_test and registry_store_test.
#include <catch2/catch.hpp>

#include <capnp/compat/std-iterator.h>
#include <signal.h>

#include "tests/support/skip.hpp"
#include "tests/support/torch_models.hpp"

using namespace tessera;
using namespace tessera::test;

namespace {

const program_precondition needs_torch{torch_missing};

// Two 70,000 x 64 tables (17.9 MB each: split over the 3 nodes), shared by both models.
std::vector<std::string> model_args(const std::string& layer_seed, std::vector<std::string> more) {
  std::vector<std::string> args{
      "--seed",         "21",           "--table",  "u:70000:64:sum:0", "--table",
      "i:70000:64:max", "--layer-seed", layer_seed, "--inputs",         "60"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// Loads `pkg` as `name` on the embedder of `embedder` (NAME or NAME@VERSION) with the CLI;
// returns its exit code and fills `err`.
int load_on(local_cluster& c, const std::string& pkg, const std::string& name,
            const std::string& embedder, std::string* err) {
  std::string out;
  return c.cli({"load", pkg, "--name", name, "--embedder", embedder}, &out, err);
}

// Bytes of replicas over every node.
uint64_t used_bytes(client& cl) {
  uint64_t total = 0;
  for (const auto& [name, m] : take_status(cl).members) total += m.used;
  return total;
}

void expect_unload_refused(client& cl, const std::string& name, const std::string& part) {
  auto req = cl.admin().unloadRequest();
  req.setName(name);
  req.setVersion(0);
  try {
    req.send().wait(cl.wait_scope());
    FAIL("unloading " << name << " was not refused");
  } catch (const kj::Exception& e) {
    INFO(e.getDescription().cStr());
    CHECK(error_code(e) == "invalid_argument");
    CHECK(std::string(e.getDescription().cStr()).find(part) != std::string::npos);
  }
}

}  // namespace

TEST_CASE(
    "two classifiers on one embedder answer like their own PyTorch models; the embedder "
    "stays while used",
    "[compose][release]") {
  temp_dir root;
  auto a = make_torch_model(
      root, "a",
      model_args("100", {"--layer", "16:relu", "--layer", "4:none", "--output", "softmax"}));
  auto b = make_torch_model(
      root, "b",
      model_args("200", {"--layer", "8:tanh", "--layer", "3:none", "--output", "sigmoid"}));
  REQUIRE(a.expected.at("pooled") == b.expected.at("pooled"));  // one embedder for both
  const auto emb_pkg = a.import_part("spec_embedder.toml", "emb");
  const auto a_cls = a.import_part("spec_classifier.toml", "cls");
  const auto b_cls = b.import_part("spec_classifier.toml", "cls");

  local_cluster c;
  client admin{c.gateway(), c.admin_token()};
  client cl{c.gateway(), c.user_token()};
  REQUIRE(load_model(admin, emb_pkg, "emb") == 1);
  check_tables_split(admin, "emb", {"u", "i"});
  check_embeddings(cl, "emb", a);  // an embedder alone serves embed
  const uint64_t with_embedder = used_bytes(admin);

  std::string err;
  // A classifier-only package needs an embedder; a classifier of another width is refused.
  std::string out;
  CHECK(c.cli({"load", a_cls, "--name", "alone"}, &out, &err) != 0);
  CHECK(err.find("holds only a classifier") != std::string::npos);
  auto narrow = make_torch_model(root, "narrow",
                                 {"--seed", "5", "--table", "x:100:8:mean", "--layer", "2:none"});
  const auto narrow_cls = narrow.import_part("spec_classifier.toml", "cls");
  CHECK(load_on(c, narrow_cls, "narrow", "emb@1", &err) != 0);
  CHECK(err.find("invalid_argument") != std::string::npos);
  CHECK(err.find("takes 8 inputs, but embedder") != std::string::npos);
  CHECK(err.find("gives 128") != std::string::npos);

  REQUIRE(load_on(c, a_cls, "ca", "emb@1", &err) == 0);
  REQUIRE(load_on(c, b_cls, "cb", "emb", &err) == 0);
  // The rows are shared: the two classifiers added only their own layers (well under one of
  // the 17.9 MB tables).
  CHECK(used_bytes(admin) - with_embedder < (uint64_t{1} << 20));
  check_predictions(cl, "ca", a);
  check_predictions(cl, "cb", b);
  check_embeddings(cl, "ca", a);
  // status names the embedder each classifier runs on.
  REQUIRE(c.cli({"status", "--json"}, &out, &err) == 0);
  size_t on_emb = 0;
  for (size_t at = out.find("\"embedder_of\":\"emb@1\""); at != std::string::npos;
       at = out.find("\"embedder_of\":\"emb@1\"", at + 1))
    ++on_emb;
  CHECK(on_emb == 2);

  expect_unload_refused(admin, "emb", "in use by ca v1, cb v1");

  // Detach cb while ca is under load: every ca answer arrives and is right.
  const size_t n = a.inputs.size();
  bool detached = false;
  auto t = predict_waves(cl, "ca", a, 3, 6, [&](size_t start, kj::Vector<kj::Promise<void>>& wave) {
    if (detached || start < n) return;
    auto req = admin.admin().unloadRequest();
    req.setName("cb");
    req.setVersion(0);
    wave.add(req.send().ignoreResult());
    detached = true;
  });
  INFO(t.first_error);
  CHECK(detached);
  CHECK(t.failed == 0);
  CHECK(t.ok == n * 3);
  expect_unload_refused(admin, "emb", "in use by ca v1");
  check_predictions(cl, "ca", a);

  // With its last classifier gone the embedder unloads.
  auto un = admin.admin().unloadRequest();
  un.setName("ca");
  un.setVersion(0);
  un.send().wait(admin.wait_scope());
  auto last = admin.admin().unloadRequest();
  last.setName("emb");
  last.setVersion(0);
  last.send().wait(admin.wait_scope());
  CHECK(take_status(admin).active.count("emb") == 0);
}

TEST_CASE(
    "a coordinator killed with SIGKILL comes back with its composed model on the same "
    "embedder",
    "[compose][release]") {
  temp_dir root;
  auto a = make_torch_model(
      root, "a",
      model_args("100", {"--layer", "16:relu", "--layer", "4:none", "--output", "softmax"}));
  const auto emb_pkg = a.import_part("spec_embedder.toml", "emb");
  const auto a_cls = a.import_part("spec_classifier.toml", "cls");
  cluster_options o;
  o.supervise = true;  // `tessera up` restarts the coordinator
  local_cluster c{o};
  {
    client admin{c.gateway(), c.admin_token()};
    REQUIRE(load_model(admin, emb_pkg, "emb") == 1);
  }
  std::string err;
  REQUIRE(load_on(c, a_cls, "ca", "emb@1", &err) == 0);
  const auto coord = c.node_pid("coord");
  REQUIRE(::kill(coord, SIGKILL) == 0);
  auto admin = reconnect_coordinator(c, coord, c.admin_token());
  client cl{c.gateway(), c.user_token()};
  check_predictions(cl, "ca", a);
  check_embeddings(cl, "emb", a);
  expect_unload_refused(*admin, "emb", "in use by ca v1");
  std::string out;
  REQUIRE(c.cli({"status", "--json"}, &out, &err) == 0);
  CHECK(out.find("\"embedder_of\":\"emb@1\"") != std::string::npos);
}
