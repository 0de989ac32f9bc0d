#include "fuzz/fuzz_support.hpp"

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tessera::fuzz {

void broken(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "invariant broken at %s:%d: %s\n", file, line, what.c_str());
  std::fflush(stderr);
  std::abort();
}

void require_code(const caf::error& err, std::initializer_list<errc> codes, const char* where) {
  FUZZ_REQUIRE(err, std::string(where) + ": failed without an error");
  for (errc c : codes)
    if (code_of(err) == c) return;
  broken(__FILE__, __LINE__, std::string(where) + ": unexpected error " + describe(err));
}

namespace {

struct scratch {
  std::string path;
  scratch() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/tessera-fuzz-XXXXXX";
    if (!::mkdtemp(tmpl.data())) broken(__FILE__, __LINE__, "mkdtemp failed for " + tmpl);
    path = tmpl;
  }
  ~scratch() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

const std::string& scratch_dir() {
  static scratch s;
  return s.path;
}

std::string data_path(const std::string& name) {
  return std::string(TESSERA_FUZZ_DATA_DIR) + "/" + name;
}

void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  FUZZ_REQUIRE(out.good(), "cannot write " + path);
}

std::vector<std::string> tokens(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(std::move(word));
  return out;
}

}  // namespace tessera::fuzz
