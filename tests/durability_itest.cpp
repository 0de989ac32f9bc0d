// Acknowledged means durable, over real processes:
// - with the coordinator's state_dir on a full tmpfs, every admin change (load, activate,
//   rollback, label, unload, drain) fails with io_error and takes no effect; status and
//   /metrics show the failure; once there is room again, what is acknowledged survives a
//   coordinator restart (SIGKILL) exactly;
// - a name's version numbers are never issued twice, across unloading the whole model and a
//   coordinator restart; a sliced call runs every slice on the build of its first, or fails
//   whole;
// - a coordinator refuses to start on a registry that breaks an invariant, naming it.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/http_get.hpp"
#include "tests/support/lifecycle_support.hpp"
#include "tests/support/model_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/skip.hpp"

using namespace tessera;
using namespace tessera::test;
using namespace std::chrono_literals;

namespace {

const program_precondition needs_root{
    [] { return ::geteuid() == 0 ? "" : "mounting a full tmpfs as state_dir needs root"; }};

// A small tmpfs mounted at `path` while this lives (unmounted by the destructor, lazily, so a
// failing test never leaves it behind).
struct small_tmpfs {
  std::string path;
  explicit small_tmpfs(std::string p) : path(std::move(p)) {
    std::filesystem::create_directories(path);
    if (::mount("tmpfs", path.c_str(), "tmpfs", 0, "size=1m,mode=0700") != 0)
      FAIL("cannot mount a tmpfs at " << path << ": " << std::strerror(errno));
  }
  ~small_tmpfs() { ::umount2(path.c_str(), MNT_DETACH); }
  // Writes zeros to <path>/filler until the file system is full.
  void fill() const {
    std::ofstream out(path + "/filler", std::ios::binary);
    std::vector<char> block(4096, 0);
    while (out.write(block.data(), static_cast<std::streamsize>(block.size())) && out.flush()) {
    }
  }
  void free() const { std::filesystem::remove(path + "/filler"); }
};

// Runs an admin call; returns its tessera error code, "" when it succeeded.
template <class Request>
std::string code_of_call(client& cl, Request req) {
  try {
    req.send().wait(cl.wait_scope());
    return "";
  } catch (const kj::Exception& e) {
    return error_code(e);
  }
}

// The parts of status an admin change may move.
struct registry_view {
  std::map<std::string, uint64_t> active;
  std::map<std::string, std::string> state;  // "model@version" -> state
  std::map<std::string, uint64_t> labels;
  std::map<std::string, bool> draining;
  bool operator==(const registry_view& o) const {
    return active == o.active && state == o.state && labels == o.labels && draining == o.draining;
  }
};

registry_view view_of(const status_snapshot& s) {
  registry_view v{s.active, s.state, s.labels, {}};
  for (const auto& [n, m] : s.members) v.draining[n] = m.draining;
  return v;
}

std::string describe(const registry_view& v) {
  std::string out;
  for (const auto& [m, a] : v.active) out += m + " active " + std::to_string(a) + "; ";
  for (const auto& [k, s] : v.state) out += k + " " + s + "; ";
  for (const auto& [k, l] : v.labels) out += k + "=" + std::to_string(l) + "; ";
  for (const auto& [n, d] : v.draining) out += d ? n + " draining; " : "";
  return out;
}

// What the coordinator started by restart_node logged (its stdout and stderr).
std::string restarted_log(const local_cluster& c) {
  return c.node_log("coord.restarted") +
         read_text(std::filesystem::path(c.config_path()).parent_path() /
                   "coord.restarted.log.err");
}

// Waits up to 30 s for a child to exit; returns its exit code, or kills it and returns -1 when
// it is still running (a coordinator that accepted what it should have refused).
int exit_code_within(pid_t pid) {
  for (int i = 0; i < 600; ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    std::this_thread::sleep_for(50ms);  // waiting for a process to exit; no event to await
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -1;
}

}  // namespace

TEST_CASE(
    "with state_dir full every admin change fails with io_error and takes no effect, and "
    "what was acknowledged survives a coordinator restart") {
  model_fixture a{small_model(93, 1)}, b{small_model(93, 2)}, other{small_model(94, 3)};
  temp_dir state_parent;
  small_tmpfs state{state_parent / "state"};
  cluster_options o;
  o.supervise = true;
  o.http = true;
  o.state_dir = state.path;
  o.stores_dir = state_parent / "stores";  // the registry's disk fills, not the nodes'
  local_cluster c{o};
  auto admin = std::make_unique<client>(c.gateway(), c.admin_token());
  REQUIRE(load_model(*admin, a.path, "m") == 1);
  REQUIRE(load_model(*admin, b.path, "m") == 2);
  REQUIRE(load_model(*admin, other.path, "n") == 1);
  {
    auto act = admin->admin().activateRequest();
    act.setName("m");
    act.setVersion(2);
    act.send().wait(admin->wait_scope());
  }
  const auto before = view_of(take_status(*admin));
  REQUIRE(before.active.at("m") == 2);
  REQUIRE(take_status(*admin).persist_error.empty());

  state.fill();
  // Every kind of change, each refused whole.
  auto& ad = *admin;
  std::vector<std::pair<std::string, std::string>> answers;  // (what, code)
  {
    auto r = ad.admin().rollbackRequest();
    r.setName("m");
    answers.emplace_back("rollback", code_of_call(ad, std::move(r)));
  }
  {
    auto r = ad.admin().activateRequest();
    r.setName("m");
    r.setVersion(1);
    answers.emplace_back("activate", code_of_call(ad, std::move(r)));
  }
  {
    auto r = ad.admin().setLabelRequest();
    r.setName("m");
    r.setLabel("stable");
    r.setVersion(1);
    answers.emplace_back("label", code_of_call(ad, std::move(r)));
  }
  {
    auto r = ad.admin().unloadRequest();
    r.setName("m");
    r.setVersion(1);
    answers.emplace_back("unload version", code_of_call(ad, std::move(r)));
  }
  {
    auto r = ad.admin().unloadRequest();
    r.setName("n");
    answers.emplace_back("unload model", code_of_call(ad, std::move(r)));
  }
  {
    auto r = ad.admin().loadRequest();
    r.initOptions().setPath(other.path);
    r.getOptions().setName("m");
    r.getOptions().setActivate(true);
    answers.emplace_back("load", code_of_call(ad, std::move(r)));
  }
  {
    auto r = ad.admin().drainRequest();
    r.setNode("shard-3");
    answers.emplace_back("drain", code_of_call(ad, std::move(r)));
  }
  for (const auto& [what, code] : answers) {
    INFO(what);
    CHECK(code == "io_error");
  }
  auto full = take_status(ad);
  INFO("before: " << describe(before) << "\nwhile full: " << describe(view_of(full)));
  CHECK(view_of(full) == before);
  CHECK_FALSE(full.ready);
  CHECK(full.persist_error.find("No space left") != std::string::npos);
  CHECK(full.persist_failures >= answers.size());
  auto metrics = http_get(c.http_port("coord"), "/metrics").body;
  CHECK(metric_value(metrics, "tessera_registry_persisted") == 0);
  CHECK(metric_value(metrics, "tessera_registry_persist_failures_total") >= answers.size());
  // Serving goes on, on what was acknowledged.
  client users{c.gateway(), c.user_token()};
  auto texts = random_texts(b.spec, 60, 7);
  auto t = traffic_n(users, "m", texts, {{2, b.ref.get()}}, 4, 60);
  INFO(t.first_error());
  CHECK(t.ok == 60);

  // Room again: changes are acknowledged once durable, and a restart keeps exactly them.
  state.free();
  {
    auto r = ad.admin().setLabelRequest();
    r.setName("m");
    r.setLabel("stable");
    r.setVersion(1);
    CHECK(code_of_call(ad, std::move(r)) == "");
  }
  {
    auto r = ad.admin().unloadRequest();
    r.setName("n");
    CHECK(code_of_call(ad, std::move(r)) == "");
  }
  auto acknowledged = take_status(ad);
  CHECK(acknowledged.persist_error.empty());
  CHECK(metric_value(http_get(c.http_port("coord"), "/metrics").body,
                     "tessera_registry_persisted") == 1);
  const auto coord = c.node_pid("coord");
  admin.reset();
  REQUIRE(::kill(coord, SIGKILL) == 0);
  auto back = reconnect_coordinator(c, coord, c.admin_token());
  auto after = take_status(*back);
  INFO("acknowledged: " << describe(view_of(acknowledged))
                        << "\nafter restart: " << describe(view_of(after)));
  CHECK(view_of(after) == view_of(acknowledged));
  CHECK(after.labels.at("m@stable") == 1);
  CHECK(after.active.count("n") == 0);
  // The unloaded n's numbers stay used: a new n starts at 2.
  CHECK(load_model(*back, other.path, "n") == 2);
}

TEST_CASE(
    "a name's version numbers are never reused, across unloads and a coordinator restart, and "
    "a sliced call runs on the build of its first slice or fails whole") {
  model_fixture a{small_model(95, 1)}, other{small_model(96, 2)};
  cluster_options o;
  o.supervise = true;
  o.limits_toml = "slice_bytes = 1\n";  // every input is a slice of its own
  local_cluster c{o};
  auto admin = std::make_unique<client>(c.gateway(), c.admin_token());
  REQUIRE(load_model(*admin, a.path, "m") == 1);

  // Calls of many slices while the model is unloaded and another package loaded under its
  // name, again and again: every answer is the first slice's build's, or the call failed whole.
  client users{c.gateway(), c.user_token()};
  auto texts = random_texts(a.spec, 300, 9);
  std::map<uint64_t, const model_fixture*> by_version{{1, &a}};
  size_t failed_whole = 0, answered = 0, flipped_mid_call = 0;
  uint64_t next = 2;
  for (int round = 0; round < 6; ++round) {
    auto req = users.session().predictRequest();
    req.initModel().setName("m");
    req.setTopK(2);
    auto in = req.initInputs(static_cast<unsigned>(texts.size()));
    for (size_t i = 0; i < texts.size(); ++i) in[i].setText(texts[i]);
    bool done = false;
    auto call = req.send().then(
        [&](capnp::Response<Session::PredictResults>&& r) {
          done = true;
          return kj::mv(r);
        },
        [&](kj::Exception&& e) -> capnp::Response<Session::PredictResults> {
          done = true;
          kj::throwFatalException(kj::mv(e));
        });
    // Replace m under the call: unload it whole, load the other package as m.
    const auto& pkg = round % 2 == 0 ? other : a;
    {
      auto u = admin->admin().unloadRequest();
      u.setName("m");
      u.send().wait(admin->wait_scope());
    }
    auto v = load_model(*admin, pkg.path, "m");
    CHECK(v == next);  // never a second m@1
    by_version[v] = &pkg;
    ++next;
    if (!done) ++flipped_mid_call;
    try {
      auto r = call.wait(users.wait_scope());
      auto served = r.getServedBy().getVersion();
      REQUIRE(by_version.count(served));
      const auto& m = *by_version.at(served);
      REQUIRE(r.getResults().size() == texts.size());
      for (size_t i = 0; i < texts.size(); ++i) {
        // The texts are a's: under the other package some have no known feature, and then,
        // as in fastText, no prediction.
        if (m.features->ids(texts[i]).empty())
          CHECK(r.getResults()[i].getLabels().size() == 0);
        else
          check_prediction(*m.ref, m.pool_text(texts[i]), r.getResults()[i], 2);
      }
      ++answered;
    } catch (const kj::Exception& e) {
      auto code = error_code(e);
      INFO(e.getDescription().cStr());
      CHECK((code == "unknown_model" || code == "epoch_mismatch"));
      ++failed_whole;
    }
  }
  WARN("sliced calls: " << answered << " answered, " << failed_whole << " failed whole; "
                        << flipped_mid_call << " saw the model replaced before they ended");
  // The premise: the model was replaced while calls were still running.
  CHECK(flipped_mid_call > 0);

  // A restart keeps the numbers: a coordinator that lost nothing continues after the last.
  {
    auto u = admin->admin().unloadRequest();
    u.setName("m");
    u.send().wait(admin->wait_scope());
  }
  const auto coord = c.node_pid("coord");
  admin.reset();
  REQUIRE(::kill(coord, SIGKILL) == 0);
  auto back = reconnect_coordinator(c, coord, c.admin_token());
  CHECK(load_model(*back, other.path, "m") == next);
}

TEST_CASE("a coordinator refuses to start on a registry that breaks an invariant, naming it") {
  model_fixture a{small_model(97, 1)};
  cluster_options o;
  local_cluster c{o};
  {
    client admin{c.gateway(), c.admin_token()};
    REQUIRE(load_model(admin, a.path, "m") == 1);
  }
  const auto coord = c.node_pid("coord");
  REQUIRE(::kill(coord, SIGKILL) == 0);
  // Without supervision the coordinator stays down; spoil its state, then start it again.
  for (int i = 0; i < 100 && ::kill(coord, 0) == 0; ++i) std::this_thread::sleep_for(50ms);
  const auto state = std::filesystem::path(c.config_path()).parent_path() / "state";
  const auto file = (state / "registry.json").string();
  auto text = read_text(file);
  REQUIRE(text.find("\"active\": 1") != std::string::npos);
  struct spoil_case {
    const char* scenario;
    std::string from, to;
    const char* named;
  };
  std::vector<spoil_case> cases = {
      {"active names no version", "\"active\": 1", "\"active\": 99", "active 99"},
      {"next_version below a version", "\"next_version\": 2", "\"next_version\": 1",
       "next_version"},
  };
  for (const auto& sc : cases) {
    INFO(sc.scenario);
    auto spoiled = text;
    auto at = spoiled.find(sc.from);
    REQUIRE(at != std::string::npos);
    spoiled.replace(at, sc.from.size(), sc.to);
    std::ofstream(file) << spoiled;
    auto code = exit_code_within(c.restart_node("coord"));
    CHECK(code > 0);  // -1: it started on the spoiled registry
    auto log = restarted_log(c);
    CHECK(log.find("cannot recover the registry") != std::string::npos);
    CHECK(log.find(sc.named) != std::string::npos);
  }
  // A directory where the file should be is named as such.
  std::filesystem::remove(file);
  std::filesystem::create_directory(file);
  CHECK(exit_code_within(c.restart_node("coord")) > 0);
  CHECK(restarted_log(c).find("is a directory") != std::string::npos);
}
