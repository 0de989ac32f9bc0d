#include "cluster/replica_state.hpp"

namespace tessera {

const char* to_string(replica_state s) {
  switch (s) {
    case replica_state::loading:
      return "loading";
    case replica_state::ready:
      return "ready";
    case replica_state::lost:
      return "lost";
    case replica_state::unloaded:
      return "unloaded";
    case replica_state::error:
      return "error";
  }
  return "unknown";
}

const char* to_string(submodel_state s) {
  switch (s) {
    case submodel_state::loading:
      return "loading";
    case submodel_state::ready:
      return "ready";
    case submodel_state::error:
      return "error";
    case submodel_state::unloaded:
      return "unloaded";
  }
  return "unknown";
}

}  // namespace tessera
