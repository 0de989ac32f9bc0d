#include "tests/support/caf_peer.hpp"

#include <caf/atom.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

#include "actors/messages.hpp"

namespace tessera::test {

caf_peer_config::caf_peer_config(const std::string& tls_dir, const std::string& as) {
  load<caf::io::middleman>();
  load<caf::openssl::manager>();
  openssl_certificate = tls_dir + "/" + as + ".pem";
  openssl_key = tls_dir + "/" + as + ".key";
  openssl_cafile = tls_dir + "/ca.pem";
  register_message_types(*this);
  set("logger.console", caf::atom("none"));
}

}  // namespace tessera::test
