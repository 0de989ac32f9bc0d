#pragma once
// What the fuzz targets share: invariant checks that abort (libFuzzer then saves the input as
// a crash), a scratch directory for one run, and the fixtures in fuzz/data/.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "base/errors.hpp"

namespace tessera::fuzz {

// Prints "invariant broken: <what>" with the place and aborts.
[[noreturn]] void broken(const char* file, int line, const std::string& what);

// Aborts unless `ok`: an invariant of the code under test does not hold for this input.
#define FUZZ_REQUIRE(ok, what)                                      \
  do {                                                              \
    if (!(ok)) ::tessera::fuzz::broken(__FILE__, __LINE__, (what)); \
  } while (0)

// Aborts unless `err` carries one of `codes`: a refusal must be a typed error of the kinds
// the function documents, never another kind.
void require_code(const caf::error& err, std::initializer_list<errc> codes, const char* where);

// A directory under $TMPDIR (else /tmp), made on first use and removed at exit.
const std::string& scratch_dir();

// Path of a file in fuzz/data/ (the source tree's, compiled in).
std::string data_path(const std::string& name);

// Writes `bytes` to `path` (truncating); aborts when it cannot (the harness is broken).
void write_file(const std::string& path, std::string_view bytes);

// Splits `text` at white space (as operator>> does; the featurizers also split at '\0').
std::vector<std::string> tokens(std::string_view text);

}  // namespace tessera::fuzz
