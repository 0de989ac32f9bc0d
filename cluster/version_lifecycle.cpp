#include "cluster/version_lifecycle.hpp"

namespace tessera {

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

}  // namespace tessera
