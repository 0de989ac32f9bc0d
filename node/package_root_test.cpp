#include "node/package_root.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace tessera;
namespace fs = std::filesystem;

namespace {

// <tmp>/a (root of tenant a, with package pkg and a link out), <tmp>/b (another tenant's
// package), removed at the end.
struct tree {
  fs::path top;
  tree() {
    top = fs::temp_directory_path() / ("package_root_test." + std::to_string(::getpid()));
    fs::remove_all(top);
    fs::create_directories(top / "a/pkg");
    fs::create_directories(top / "b/pkg");
    std::ofstream(top / "b/pkg/manifest.json") << "{}";
    fs::create_directory_symlink(top / "b/pkg", top / "a/link-out");
    fs::create_directory_symlink(top / "a/pkg", top / "a/link-in");
  }
  ~tree() { fs::remove_all(top); }
  std::string root() const { return (top / "a").string(); }
};

std::string refusal(const caf::expected<std::string>& r) {
  REQUIRE_FALSE(r);
  CHECK(is(r.error(), errc::permission_denied));
  return message_of(r.error());
}

}  // namespace

TEST_CASE("paths under the root resolve to their real path") {
  tree t;
  const auto real_root = fs::canonical(t.root()).string();
  CHECK(*confine_to_root(t.root(), t.root() + "/pkg", "a") == real_root + "/pkg");
  CHECK(*confine_to_root(t.root(), "pkg", "a") == real_root + "/pkg");  // relative to the root
  CHECK(*confine_to_root(t.root(), t.root() + "/link-in", "a") == real_root + "/pkg");
  CHECK(*confine_to_root(t.root() + "/", t.root() + "/pkg/../pkg", "a") == real_root + "/pkg");
  // Missing under the root: allowed here (the load itself then fails as not found).
  CHECK(*confine_to_root(t.root(), t.root() + "/nope", "a") == real_root + "/nope");
}

TEST_CASE("every path outside the root gets one and the same refusal") {
  tree t;
  const std::string b = (t.top / "b/pkg").string();
  const std::string expected = refusal(confine_to_root(t.root(), b, "a"));
  CHECK(expected.find("b/pkg") == std::string::npos);  // names no path
  for (const std::string& p : std::vector<std::string>{
           b + "/../pkg", (t.top / "b/nope").string(), t.root() + "/../b/pkg", "../b/pkg",
           t.root() + "/link-out", t.root() + "/link-out/manifest.json",
           t.root() + "/nope/../../b/pkg", std::string("/"), std::string("/etc/passwd"),
           t.root() + "x", std::string("")}) {
    INFO(p);
    CHECK(refusal(confine_to_root(t.root(), p, "a")) == expected);
  }
  // A root that does not exist admits nothing.
  CHECK(refusal(confine_to_root((t.top / "gone").string(), (t.top / "gone/pkg").string(), "a")) ==
        expected);
}
