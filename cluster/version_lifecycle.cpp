#include "cluster/version_lifecycle.hpp"

#include <algorithm>

namespace tessera {

namespace {

bool available(version_state s) {
  return s == version_state::ready || s == version_state::serving;
}

bool gone(version_state s) {
  return s == version_state::draining || s == version_state::unloaded;
}

}  // namespace

const char* to_string(version_state s) {
  switch (s) {
    case version_state::new_:
      return "new";
    case version_state::loading:
      return "loading";
    case version_state::ready:
      return "ready";
    case version_state::serving:
      return "serving";
    case version_state::draining:
      return "draining";
    case version_state::unloaded:
      return "unloaded";
    case version_state::error:
      return "error";
  }
  return "unknown";
}

bool can_transition(version_state from, version_state to) {
  using vs = version_state;
  switch (from) {
    case vs::new_:
      return to == vs::loading || to == vs::error;
    case vs::loading:
      return to == vs::ready || to == vs::error;
    case vs::ready:
      return to == vs::serving || to == vs::draining || to == vs::error;
    case vs::serving:
      return to == vs::ready || to == vs::draining || to == vs::error;
    case vs::draining:
      return to == vs::unloaded || to == vs::error;
    case vs::error:
      return to == vs::unloaded;
    case vs::unloaded:
      return false;
  }
  return false;
}

std::vector<version_action> next_actions(const std::vector<version_snapshot>& versions) {
  auto sorted = versions;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.version < b.version; });
  const bool serving = std::any_of(sorted.begin(), sorted.end(),
                                   [](const auto& v) { return v.state == version_state::serving; });
  std::vector<version_action> out;
  for (const auto& v : sorted) {
    if (v.wanted) continue;
    if ((v.state == version_state::ready && serving) || v.state == version_state::error)
      out.push_back({version_action_kind::unload, v.version});
  }
  for (const auto& v : sorted)
    if (v.wanted && v.state == version_state::new_)
      out.push_back({version_action_kind::load, v.version});
  return out;
}

bool may_unload(const std::vector<version_snapshot>& versions, uint64_t version) {
  auto it = std::find_if(versions.begin(), versions.end(),
                         [&](const auto& v) { return v.version == version; });
  if (it == versions.end()) return false;
  if (!available(it->state)) return true;
  bool others = false;
  for (const auto& v : versions) {
    if (v.version == version || gone(v.state)) continue;
    if (available(v.state)) return true;
    others = true;
  }
  return !others;
}

}  // namespace tessera
