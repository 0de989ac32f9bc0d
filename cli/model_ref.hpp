#pragma once
// Model references as written on the command line: NAME, NAME@VERSION or NAME@LABEL.
// VERSION is all digits (a positive number); anything else after '@' is a label. No '@' means
// the model's active version.
#include <cstdint>
#include <string>

#include "schemas/tessera.capnp.h"

namespace tessera::cli {

struct model_ref {
  enum class kind { active, version, label };
  std::string name;
  kind which = kind::active;
  uint64_t version = 0;  // when which == version
  std::string label;     // when which == label
};

// Parses a reference. Throws std::invalid_argument ("tessera.invalid_argument: ...") for an
// empty name, an empty part after '@', version 0, a version that overflows, or a second '@'.
model_ref parse_model_ref(const std::string& text);

// Writes `ref` into a wire ModelRef.
void fill(::ModelRef::Builder out, const model_ref& ref);

}  // namespace tessera::cli
