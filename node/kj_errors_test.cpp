// The one translation of tessera errors into Cap'n Proto exception types (node/bridge.hpp):
// the type tells a client what to do, so our own bugs never read as "retry later".
#include <catch2/catch.hpp>

#include "node/bridge.hpp"

using namespace tessera;

TEST_CASE("each error code maps to the exception type that tells the client what to do") {
  using T = kj::Exception::Type;
  const std::vector<std::pair<errc, T>> rows = {
      {errc::overloaded, T::OVERLOADED},
      {errc::unavailable, T::OVERLOADED},
      {errc::deadline_exceeded, T::OVERLOADED},
      {errc::unsupported, T::UNIMPLEMENTED},
      {errc::internal, T::FAILED},
      {errc::invalid_argument, T::FAILED},
      {errc::unknown_model, T::FAILED},
      {errc::id_out_of_range, T::FAILED},
      {errc::limit_exceeded, T::FAILED},
      {errc::unauthenticated, T::FAILED},
      {errc::permission_denied, T::FAILED},
      {errc::corrupt_package, T::FAILED},
      {errc::io_error, T::FAILED},
      {errc::insufficient_memory, T::FAILED},
      {errc::epoch_mismatch, T::FAILED},
      {errc::already_exists, T::FAILED},
      {errc::insufficient_storage, T::FAILED},
  };
  for (const auto& [code, type] : rows) {
    INFO(to_string(code));
    auto e = to_kj_exception(make_error(code, "why"));
    CHECK(e.getType() == type);
    CHECK(std::string{e.getDescription().cStr()} ==
          std::string{"tessera."} + to_string(code) + ": why");
    CHECK(code_of_description(e.getDescription().cStr()) == code);
  }
}
