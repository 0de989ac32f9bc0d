// Version lifecycle, table-style: the legality of every (from, to) pair against an explicit
// table.
#include "cluster/version_lifecycle.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace tessera {
namespace {

using vs = version_state;
constexpr vs k_states[] = {vs::new_,     vs::loading,  vs::ready, vs::serving,
                           vs::draining, vs::unloaded, vs::error};

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

}  // namespace
}  // namespace tessera
