// Version lifecycle, table-style: the legality of every (from, to) pair against an explicit
// table, then the availability policy and may_unload with one scenario per row.
#include "cluster/version_lifecycle.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace tessera {
namespace {

using vs = version_state;
constexpr vs k_states[] = {vs::new_,     vs::loading,  vs::ready, vs::serving,
                           vs::draining, vs::unloaded, vs::error};

version_action load(uint64_t v) {
  return {version_action_kind::load, v};
}
version_action unload(uint64_t v) {
  return {version_action_kind::unload, v};
}

std::string describe(const std::vector<version_action>& actions) {
  std::string out;
  for (const auto& a : actions)
    out += std::string(a.kind == version_action_kind::load ? "load " : "unload ") +
           std::to_string(a.version) + "; ";
  return out.empty() ? "none" : out;
}

TEST_CASE("state names", "[lifecycle]") {
  const char* names[] = {"new", "loading", "ready", "serving", "draining", "unloaded", "error"};
  for (size_t i = 0; i < 7; ++i) CHECK(std::string(to_string(k_states[i])) == names[i]);
}

TEST_CASE("every (from, to) pair matches the legality table", "[lifecycle]") {
  // Rows: from; columns: to, in k_states order (new loading ready serving draining unloaded
  // error). 1 = legal.
  const int legal[7][7] = {
      {0, 1, 0, 0, 0, 0, 1},  // new: starts loading, or fails
      {0, 0, 1, 0, 0, 0, 1},  // loading: every replica loaded, or a load failed
      {0, 0, 0, 1, 1, 0, 1},  // ready: activated, or drained without ever serving
      {0, 0, 1, 0, 1, 0, 1},  // serving: another version activated, or drained
      {0, 0, 0, 0, 0, 1, 1},  // draining: in-flight requests done, then unloaded
      {0, 0, 0, 0, 0, 0, 0},  // unloaded: final
      {0, 0, 0, 0, 0, 1, 0},  // error: only cleaned up
  };
  for (size_t f = 0; f < 7; ++f)
    for (size_t t = 0; t < 7; ++t) {
      INFO(to_string(k_states[f]) << " -> " << to_string(k_states[t]));
      CHECK(can_transition(k_states[f], k_states[t]) == (legal[f][t] == 1));
    }
}

struct policy_case {
  const char* scenario;
  std::vector<version_snapshot> versions;
  std::vector<version_action> expected;
};

TEST_CASE("availability-preserving policy", "[lifecycle]") {
  const policy_case cases[] = {
      // The only serving version is unwanted: never unload it.
      {"only serving version unwanted", {{1, vs::serving, false}}, {}},
      // A new version is ready (and activated), the old one unwanted: unload the old one.
      {"new version serving, old ready and unwanted",
       {{1, vs::ready, false}, {2, vs::serving, true}},
       {unload(1)}},
      // The old version still serves while the new one is ready: wait for activation.
      {"new version ready, old unwanted still serving",
       {{1, vs::serving, false}, {2, vs::ready, true}},
       {}},
      // Two ready, one serving: unload the unwanted one that does not serve.
      {"two ready one serving",
       {{1, vs::ready, true}, {2, vs::ready, false}, {3, vs::serving, true}},
       {unload(2)}},
      // A version is loading beside the serving one: nothing to do.
      {"loading beside serving", {{1, vs::serving, true}, {2, vs::loading, true}}, {}},
      // An unwanted version mid-load is not interrupted.
      {"unwanted loading version", {{1, vs::serving, true}, {2, vs::loading, false}}, {}},
      // A wanted new version is loaded.
      {"wanted new version", {{1, vs::serving, true}, {2, vs::new_, true}}, {load(2)}},
      // First version of a model: load it.
      {"first version", {{1, vs::new_, true}}, {load(1)}},
      // An unwanted new version was never loaded: nothing to unload.
      {"unwanted new version", {{1, vs::serving, true}, {2, vs::new_, false}}, {}},
      // An unwanted failed version is unloaded even with nothing serving: it serves nothing.
      {"unwanted error version", {{1, vs::error, false}}, {unload(1)}},
      // A wanted failed version stays for the operator to see.
      {"wanted error version", {{1, vs::serving, true}, {2, vs::error, true}}, {}},
      // Draining and unloaded versions need nothing more.
      {"draining and unloaded", {{1, vs::draining, false}, {2, vs::unloaded, false}}, {}},
      // Unwanted ready versions with nothing serving: keep them (one may be activated).
      {"ready but nothing serving", {{1, vs::ready, false}, {2, vs::ready, false}}, {}},
      // Both unloads and loads at once, unloads first, by version, whatever the input order.
      {"unloads then loads",
       {{5, vs::new_, true}, {3, vs::ready, false}, {4, vs::serving, true}, {2, vs::ready, false}},
       {unload(2), unload(3), load(5)}},
      // No versions: nothing to do.
      {"no versions", {}, {}},
  };
  for (const auto& c : cases) {
    INFO(c.scenario);
    auto got = next_actions(c.versions);
    CAPTURE(describe(got));
    CHECK(got == c.expected);
  }
}

struct unload_case {
  const char* scenario;
  std::vector<version_snapshot> versions;
  uint64_t version;
  bool allowed;
};

TEST_CASE("may_unload keeps a ready or serving version", "[lifecycle]") {
  const unload_case cases[] = {
      // The serving version with another ready one: the ready one keeps the model available.
      {"serving with a ready peer", {{1, vs::serving, true}, {2, vs::ready, true}}, 1, true},
      // The serving version beside a loading one: the model would have nothing ready.
      {"serving with a loading peer", {{1, vs::serving, true}, {2, vs::loading, true}}, 1, false},
      // The serving version beside a failed one: refused too.
      {"serving with an error peer", {{1, vs::serving, true}, {2, vs::error, true}}, 1, false},
      // A ready, non-serving version while another serves.
      {"ready beside serving", {{1, vs::ready, true}, {2, vs::serving, true}}, 1, true},
      // The last version of the model: unloading it unloads the model.
      {"last version", {{1, vs::serving, true}}, 1, true},
      // Other versions are only draining or unloaded: this is the model's last.
      {"others already going", {{1, vs::serving, true}, {2, vs::draining, false}}, 1, true},
      // A loading version serves nothing: unloading it never costs availability.
      {"loading version", {{1, vs::serving, true}, {2, vs::loading, true}}, 2, true},
      // A failed version serves nothing either.
      {"error version", {{1, vs::error, true}}, 1, true},
      // An unknown version cannot be unloaded.
      {"unknown version", {{1, vs::serving, true}}, 7, false},
  };
  for (const auto& c : cases) {
    INFO(c.scenario);
    CHECK(may_unload(c.versions, c.version) == c.allowed);
  }
}

}  // namespace
}  // namespace tessera
