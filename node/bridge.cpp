#include "node/bridge.hpp"

#include <caf/all.hpp>

#include "actors/unhandled.hpp"

namespace tessera {

kj::Exception to_kj_exception(const caf::error& e) {
  auto type = kj::Exception::Type::FAILED;
  switch (code_of(e)) {
    case errc::overloaded:
    case errc::unavailable:
    case errc::deadline_exceeded:
      type = kj::Exception::Type::OVERLOADED;
      break;
    case errc::unsupported:
      type = kj::Exception::Type::UNIMPLEMENTED;
      break;
    default:
      break;
  }
  return kj::Exception(type, __FILE__, __LINE__, kj::str(describe(e).c_str()));
}

errc code_of_description(const std::string& description) {
  // kj may prefix the description (e.g. "remote exception: "); find our tag anywhere.
  auto pos = description.find("tessera.");
  if (pos == std::string::npos) return errc::internal;
  auto start = pos + 8;
  auto end = description.find(':', start);
  if (end == std::string::npos) return errc::internal;
  return errc_from_string(description.substr(start, end - start));
}

kj_bridge::kj_bridge(caf::actor_system& sys)
    : worker_(sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
        end_on_exception(self, "bridge");
        return {[self](bridge_job& job) { job(self); }};
      })) {}

kj_bridge::~kj_bridge() {
  caf::anon_send_exit(worker_, caf::exit_reason::user_shutdown);
}

void kj_bridge::submit(bridge_job job) {
  caf::anon_send(worker_, std::move(job));
}

}  // namespace tessera
