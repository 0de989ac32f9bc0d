#include "package/kept_package.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

#include "testing/package_builder.hpp"

using namespace tessera;
using tessera::testing::spit;
using tessera::testing::temp_dir;
using tessera::testing::write_tiny_package;

TEST_CASE("a kept package's metadata describes it without its tensors, and only whole") {
  temp_dir d;
  REQUIRE_FALSE(write_tiny_package(d.sub("p")));
  auto pkg = package::open(d.sub("p"));
  REQUIRE(pkg);
  REQUIRE_FALSE(keep_package_meta(*pkg, d.sub("kept/x")));
  // No tensor file was copied; the metadata opens and reads; the rows do not.
  for (const auto& t : pkg->meta().tensors)
    CHECK_FALSE(std::filesystem::exists(d.sub("kept/x/" + t.file)));
  CHECK_FALSE(package::open(d.sub("kept/x")));
  auto meta = package::open_metadata(d.sub("kept/x"));
  REQUIRE(meta);
  CHECK(to_toml(meta->meta()) == to_toml(pkg->meta()));
  for (const auto& [key, f] : pkg->meta().files)
    CHECK(meta->read_lines(key).value() == pkg->read_lines(key).value());
  CHECK_FALSE(meta->read_rows(pkg->meta().tensors[0].name, 0, 1));
  // Kept once: a second keep leaves it as it is, even with the package gone.
  std::filesystem::remove_all(d.sub("p"));
  CHECK_FALSE(keep_package_meta(*pkg, d.sub("kept/x")));
  CHECK(package::open_metadata(d.sub("kept/x")));
}

TEST_CASE("a sweep deletes kept packages no version uses, once old enough") {
  temp_dir d;
  REQUIRE_FALSE(write_tiny_package(d.sub("p")));
  auto pkg = package::open(d.sub("p"));
  REQUIRE(pkg);
  REQUIRE_FALSE(keep_package_meta(*pkg, d.sub("kept/a")));
  REQUIRE_FALSE(keep_package_meta(*pkg, d.sub("kept/b")));
  // Too new: a load in progress may not have registered it yet.
  CHECK(sweep_kept(d.sub("kept"), {"a"}, std::chrono::seconds(3600)) == 0);
  CHECK(std::filesystem::exists(d.sub("kept/b")));
  CHECK(sweep_kept(d.sub("kept"), {"a"}, std::chrono::seconds(0)) == 1);
  CHECK(std::filesystem::exists(d.sub("kept/a/manifest.toml")));
  CHECK_FALSE(std::filesystem::exists(d.sub("kept/b")));
  CHECK(sweep_kept(d.sub("missing"), {}, std::chrono::seconds(0)) == 0);
}

TEST_CASE("a text file that fails its checksum is not kept, and nothing is left behind") {
  temp_dir d;
  REQUIRE_FALSE(write_tiny_package(d.sub("p")));
  auto pkg = package::open(d.sub("p"));
  REQUIRE(pkg);
  REQUIRE_FALSE(pkg->meta().files.empty());
  spit(d.sub("p/" + pkg->meta().files[0].second.file), "changed\n");
  CHECK(code_of(keep_package_meta(*pkg, d.sub("kept/x"))) == errc::corrupt_package);
  CHECK_FALSE(std::filesystem::exists(d.sub("kept/x")));
  CHECK(std::filesystem::is_empty(d.sub("kept")));
}
