#include "cli/model_ref.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace tessera::cli {
namespace {

[[noreturn]] void bad(const std::string& text, const std::string& why) {
  throw std::invalid_argument("tessera.invalid_argument: bad model reference '" + text +
                              "': " + why + " (expected NAME, NAME@VERSION or NAME@LABEL)");
}

bool all_digits(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

}  // namespace

model_ref parse_model_ref(const std::string& text) {
  model_ref ref;
  auto at = text.find('@');
  ref.name = text.substr(0, at);
  if (ref.name.empty()) bad(text, "empty model name");
  if (at == std::string::npos) return ref;
  std::string rest = text.substr(at + 1);
  if (rest.empty()) bad(text, "nothing after '@'");
  if (rest.find('@') != std::string::npos) bad(text, "more than one '@'");
  if (!all_digits(rest)) {
    ref.which = model_ref::kind::label;
    ref.label = rest;
    return ref;
  }
  try {
    ref.version = std::stoull(rest);
  } catch (const std::out_of_range&) {
    bad(text, "version number too large");
  }
  if (ref.version == 0) bad(text, "versions start at 1");
  ref.which = model_ref::kind::version;
  return ref;
}

void fill(::ModelRef::Builder out, const model_ref& ref) {
  out.setName(ref.name);
  switch (ref.which) {
    case model_ref::kind::active:
      out.setActive();
      break;
    case model_ref::kind::version:
      out.setVersion(ref.version);
      break;
    case model_ref::kind::label:
      out.setLabel(ref.label);
      break;
  }
}

}  // namespace tessera::cli
