#include "actors/control_registry_writer.hpp"

namespace tessera {

registry_writer_actor::behavior_type registry_writer_impl() {
  return {
      [](persist_atom, const std::string& dir, const registry_snapshot& s) -> caf::result<bool> {
        if (auto err = write_snapshot(dir, s)) return err;
        return true;
      },
  };
}

}  // namespace tessera
