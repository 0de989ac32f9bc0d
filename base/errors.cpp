#include "base/errors.hpp"

#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace tessera {
namespace {

struct code_name {
  errc code;
  const char* name;
};

constexpr code_name code_names[] = {
    {errc::ok, "ok"},
    {errc::invalid_argument, "invalid_argument"},
    {errc::unknown_model, "unknown_model"},
    {errc::id_out_of_range, "id_out_of_range"},
    {errc::limit_exceeded, "limit_exceeded"},
    {errc::unauthenticated, "unauthenticated"},
    {errc::permission_denied, "permission_denied"},
    {errc::unavailable, "unavailable"},
    {errc::deadline_exceeded, "deadline_exceeded"},
    {errc::overloaded, "overloaded"},
    {errc::corrupt_package, "corrupt_package"},
    {errc::io_error, "io_error"},
    {errc::insufficient_memory, "insufficient_memory"},
    {errc::epoch_mismatch, "epoch_mismatch"},
    {errc::already_exists, "already_exists"},
    {errc::unsupported, "unsupported"},
    {errc::internal, "internal"},
    {errc::insufficient_storage, "insufficient_storage"},
};

}  // namespace

const char* to_string(errc code) {
  for (const auto& cn : code_names)
    if (cn.code == code) return cn.name;
  return "internal";
}

errc errc_from_string(const std::string& name) {
  for (const auto& cn : code_names)
    if (name == cn.name) return cn.code;
  return errc::internal;
}

caf::error make_error(errc code, std::string message) {
  return caf::error{static_cast<uint8_t>(code), errc_category::value,
                    caf::make_message(std::move(message))};
}

bool is(const caf::error& e, errc code) {
  return e && code_of(e) == code;
}

errc code_of(const caf::error& e) {
  if (!e) return errc::ok;
  if (e.category() == errc_category::value) return static_cast<errc>(e.code());
  if (e.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(e.code())) {
      case caf::sec::request_timeout:
        return errc::deadline_exceeded;
      case caf::sec::request_receiver_down:
      case caf::sec::cannot_connect_to_node:
      case caf::sec::no_route_to_receiving_node:
      case caf::sec::connection_timeout:
      case caf::sec::socket_disconnected:
        return errc::unavailable;
      default:
        return errc::internal;
    }
  }
  return errc::internal;
}

std::string message_of(const caf::error& e) {
  if (!e) return {};
  if (e.category() == errc_category::value) {
    const auto& ctx = e.context();
    if (ctx.size() == 1 && ctx.match_element<std::string>(0)) return ctx.get_as<std::string>(0);
    return {};
  }
  return caf::to_string(e);
}

std::string describe(const caf::error& e) {
  return std::string{"tessera."} + to_string(code_of(e)) + ": " + message_of(e);
}

}  // namespace tessera
