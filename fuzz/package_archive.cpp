#include "fuzz/package_archive.hpp"

#include <algorithm>
#include <filesystem>

#include "fuzz/fuzz_support.hpp"
#include "testing/package_builder.hpp"

namespace tessera::fuzz {
namespace {

constexpr std::string_view marker = "#@file ";

bool safe_name(std::string_view n) {
  if (n.empty() || n == "." || n == "..") return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// Position of the next marker line at or after `from`, or npos.
size_t next_marker(std::string_view s, size_t from) {
  for (size_t at = s.find(marker, from); at != std::string_view::npos; at = s.find(marker, at + 1))
    if (at == 0 || s[at - 1] == '\n') return at;
  return std::string_view::npos;
}

}  // namespace

package_archive unpack_archive(std::string_view bytes) {
  package_archive a;
  size_t at = next_marker(bytes, 0);
  a.manifest = std::string(bytes.substr(0, at));
  while (at != std::string_view::npos) {
    size_t eol = bytes.find('\n', at);
    if (eol == std::string_view::npos) break;
    std::string_view line = bytes.substr(at + marker.size(), eol - at - marker.size());
    size_t space = line.rfind(' ');
    std::string_view name = line.substr(0, space == std::string_view::npos ? 0 : space);
    std::string_view size_text = space == std::string_view::npos ? "" : line.substr(space + 1);
    size_t size = 0;
    bool size_ok = !size_text.empty() && size_text.size() <= 9;
    for (char c : size_text) {
      size_ok = size_ok && c >= '0' && c <= '9';
      size = size * 10 + static_cast<size_t>(c - '0');
    }
    if (!size_ok || !safe_name(name)) {
      at = next_marker(bytes, eol + 1);
      continue;
    }
    std::string_view body = bytes.substr(eol + 1, size);
    a.files.emplace_back(std::string(name), std::string(body));
    at = next_marker(bytes, eol + 1 + body.size());
  }
  return a;
}

std::string pack_archive(const package_archive& a) {
  std::string out = a.manifest;
  if (!out.empty() && out.back() != '\n') out.push_back('\n');
  for (const auto& [name, body] : a.files) {
    out += std::string(marker) + name + " " + std::to_string(body.size()) + "\n";
    out += body;
    out.push_back('\n');
  }
  return out;
}

package_archive read_package_dir(const std::string& dir) {
  package_archive a;
  a.manifest = testing::slurp(dir + "/manifest.toml");
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != "manifest.toml")
      names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    FUZZ_REQUIRE(safe_name(n), "package file name " + n + " cannot be archived");
    a.files.emplace_back(n, testing::slurp(dir + "/" + n));
  }
  return a;
}

}  // namespace tessera::fuzz
