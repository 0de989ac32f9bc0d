#pragma once
// Project error codes. Inside the cluster every failure is a value: caf::error built by
// make_error(errc, message). The RPC edge translates them once into Cap'n Proto exceptions
// whose description reads "tessera.<code_name>: <message>".
#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace tessera {

enum class errc : uint8_t {
  ok = 0,
  invalid_argument,      // malformed input: empty text, bad shape, bad flag value
  unknown_model,         // the named model, version or label does not exist
  id_out_of_range,       // a row id outside [0, rows)
  limit_exceeded,        // a request is over a configured limit (inputs, bytes, ids)
  unauthenticated,       // unknown or missing token
  permission_denied,     // the token lacks the right (admin, or this model)
  unavailable,           // no live replica of a needed shard, or a shard failed
  deadline_exceeded,     // the request's deadline passed before every shard answered
  overloaded,            // too much work in flight; retry later
  corrupt_package,       // a package failed validation (shape, size, checksum, syntax)
  io_error,              // a file could not be read or written
  insufficient_memory,   // a load does not fit the nodes' memory budgets
  epoch_mismatch,        // a shard message carried an epoch the replica does not serve
  already_exists,        // a model or version with that name already exists
  unsupported,           // a valid request for something tessera does not do
  internal,              // our own bug; never the caller's fault
  insufficient_storage,  // a load's blocks do not fit a node's disk_budget (its block store)
};

// The atom that tags tessera errors inside caf::error.
using errc_category = caf::atom_constant<caf::atom("tessera")>;

// Stable snake_case name of a code, as used in error descriptions ("unknown_model").
const char* to_string(errc code);

// Parses a name produced by to_string; returns errc::internal for unknown names.
errc errc_from_string(const std::string& name);

// Builds a tessera error carrying a human-readable message.
caf::error make_error(errc code, std::string message);

// True if `e` is a tessera error with the given code.
bool is(const caf::error& e, errc code);

// The tessera code of `e`; CAF's own errors (timeouts, dead actors) map to the nearest code.
errc code_of(const caf::error& e);

// The message carried by a tessera error, or CAF's rendering of a foreign error.
std::string message_of(const caf::error& e);

// "tessera.<code>: <message>", the form used at the RPC edge and in logs.
std::string describe(const caf::error& e);

}  // namespace tessera
