#include "package/row_source.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <vector>

#include "package/block_store.hpp"
#include "testing/package_builder.hpp"

using namespace tessera;
using tessera::testing::temp_dir;

namespace {

namespace fs = std::filesystem;

// A 3000 x 300 tensor "t": 873 rows per block, blocks 0..3, the last has 381 rows. With
// `changed_row` < 3000 that row's first cell differs (other data, same shape).
constexpr uint64_t n_rows = 3000, n_cols = 300;
float cell(uint64_t r, uint64_t c) {
  return static_cast<float>(r * 1000 + c);
}

package write_package(const std::string& dir, uint64_t changed_row = n_rows) {
  auto w = package_writer::create(dir);
  REQUIRE(w);
  REQUIRE_FALSE(w->begin_tensor("t", n_rows, n_cols));
  std::vector<float> row(n_cols);
  for (uint64_t r = 0; r < n_rows; ++r) {
    for (uint64_t c = 0; c < n_cols; ++c) row[c] = cell(r, c) + (r == changed_row ? 0.5f : 0.0f);
    REQUIRE_FALSE(w->append_rows(row.data(), 1));
  }
  REQUIRE_FALSE(w->end_tensor());
  manifest m;
  m.name = "rows";
  REQUIRE_FALSE(w->finish(m));
  auto p = package::open(dir);
  REQUIRE(p);
  return *p;
}

void check_rows(const row_block& b, uint64_t begin, uint64_t end, uint64_t changed = n_rows) {
  REQUIRE(b.row_begin == begin);
  REQUIRE(b.rows == end - begin);
  for (uint64_t r = begin; r < end; ++r)
    for (uint64_t c = 0; c < n_cols; ++c)
      REQUIRE(b.row(r - begin)[c] == cell(r, c) + (r == changed ? 0.5f : 0.0f));
}

// A source that counts its fetches and can hand out wrong bytes.
class counting_source final : public block_source {
 public:
  explicit counting_source(const package& pkg) : inner_(pkg.dir(), "t") {}
  caf::error fetch(const tensor_blocks& b, uint64_t block, char* out) override {
    ++fetches;
    if (auto err = inner_.fetch(b, block, out)) return err;
    if (corrupt) out[5] ^= 1;
    return {};
  }
  std::string describe() const override { return "counting"; }
  int fetches = 0;
  bool corrupt = false;

 private:
  package_blocks inner_;
};

}  // namespace

TEST_CASE("blocks_of and blocks_digest name the same content as rows_digest") {
  temp_dir d;
  auto pkg = write_package(d.path + "/p");
  for (auto [b, e] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, 3000}, {0, 873}, {100, 2000}, {2999, 3000}, {873, 1746}, {5, 5}}) {
    auto blocks = blocks_of(pkg.meta(), "t", b, e);
    REQUIRE(blocks);
    CHECK(blocks->first_block == (b == e ? 0 : b / 873));
    CHECK(blocks->checksums.size() == (b == e ? 0 : (e - 1) / 873 - b / 873 + 1));
    auto want = rows_digest(pkg.meta(), "t", b, e);
    REQUIRE(want);
    CHECK(blocks_digest(*blocks, b, e).value() == *want);
  }
  auto all = blocks_of(pkg.meta(), "t", 0, 3000);
  CHECK(all->bytes() == n_rows * n_cols * 4);
  CHECK(all->block_bytes(3) == 381 * n_cols * 4);
  // A list that does not cover the range names nothing.
  CHECK_FALSE(blocks_digest(*all, 0, 873));
  CHECK_FALSE(blocks_of(pkg.meta(), "t", 10, 3001));
  CHECK_FALSE(blocks_of(pkg.meta(), "u", 0, 1));
}

TEST_CASE("read_through fetches only what the store lacks, and a changed row ships its block") {
  temp_dir d;
  auto v1 = write_package(d.path + "/v1");
  auto v2 = write_package(d.path + "/v2", 1000);  // block 1 differs
  auto store = block_store::open(d.path + "/store");
  REQUIRE(store);
  auto b1 = blocks_of(v1.meta(), "t", 100, 2900).value();
  counting_source src1{v1};
  read_counts c1;
  auto rows = read_through(**store, b1, 100, 2900, &src1, c1);
  REQUIRE(rows);
  check_rows(*rows, 100, 2900);
  CHECK(src1.fetches == 4);
  CHECK(c1.fetched == b1.bytes());
  CHECK(c1.from_store == 0);
  CHECK((*store)->block_count() == 4);
  CHECK((*store)->used_bytes() == b1.bytes());

  // Again: every block from the store, nothing fetched.
  read_counts c2;
  rows = read_through(**store, b1, 100, 2900, &src1, c2);
  REQUIRE(rows);
  check_rows(*rows, 100, 2900);
  CHECK(src1.fetches == 4);
  CHECK(c2.from_store == b1.bytes());
  CHECK(c2.fetched == 0);

  // v2 changed one row: only its block ships.
  auto b2 = blocks_of(v2.meta(), "t", 100, 2900).value();
  counting_source src2{v2};
  read_counts c3;
  rows = read_through(**store, b2, 100, 2900, &src2, c3);
  REQUIRE(rows);
  check_rows(*rows, 100, 2900, 1000);
  CHECK(src2.fetches == 1);
  CHECK(c3.fetched == b2.block_bytes(1));
  CHECK((*store)->block_count() == 5);

  // Without a source, what is stored reads; what is not fails with unavailable.
  read_counts c4;
  CHECK(read_through(**store, b2, 100, 2900, nullptr, c4));
  auto b3 = blocks_of(write_package(d.path + "/v3", 2000).meta(), "t", 0, 3000).value();
  auto missing = read_through(**store, b3, 0, 3000, nullptr, c4);
  REQUIRE_FALSE(missing);
  CHECK(code_of(missing.error()) == errc::unavailable);
}

TEST_CASE("a block that fails its checksum is never stored nor returned") {
  temp_dir d;
  auto v1 = write_package(d.path + "/v1");
  auto store = block_store::open(d.path + "/store");
  REQUIRE(store);
  auto b = blocks_of(v1.meta(), "t", 0, 3000).value();
  counting_source src{v1};
  src.corrupt = true;
  read_counts c;
  auto rows = read_through(**store, b, 0, 3000, &src, c);
  REQUIRE_FALSE(rows);
  CHECK(code_of(rows.error()) == errc::corrupt_package);
  CHECK((*store)->block_count() == 0);

  // A stored block corrupted on disk is detected, deleted and fetched again.
  src.corrupt = false;
  REQUIRE(read_through(**store, b, 0, 3000, &src, c));
  const auto path =
      (*store)->dir() + "/" + block_store::relative_path(b.checksums[2], b.block_bytes(2));
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(17);
    f.put('\x7f');
  }
  std::vector<char> buf(b.block_bytes(2));
  auto err = (*store)->read(b.checksums[2], buf.size(), buf.data());
  CHECK(code_of(err) == errc::corrupt_package);
  CHECK_FALSE((*store)->contains(b.checksums[2], buf.size()));
  CHECK_FALSE(fs::exists(path));
  const int before = src.fetches;
  read_counts again;
  rows = read_through(**store, b, 0, 3000, &src, again);
  REQUIRE(rows);
  check_rows(*rows, 0, 3000);
  CHECK(src.fetches == before + 1);
  CHECK(again.fetched == b.block_bytes(2));
}

TEST_CASE("a package whose tensor changed shape is refused before a byte is read") {
  temp_dir d;
  auto v1 = write_package(d.path + "/v1");
  auto b = blocks_of(v1.meta(), "t", 0, 3000).value();
  b.block_rows = 500;  // what the replica was loaded with: other blocking
  package_blocks src{v1.dir(), "t"};
  std::vector<char> buf(b.block_bytes(0));
  CHECK(code_of(src.fetch(b, 0, buf.data())) == errc::corrupt_package);
  package_blocks gone{d.path + "/nowhere", "t"};
  CHECK(code_of(gone.fetch(b, 0, buf.data())) == errc::io_error);
}

TEST_CASE("the store reopens with its blocks, drops temp files and cut files, and removes") {
  temp_dir d;
  auto v1 = write_package(d.path + "/v1");
  auto b = blocks_of(v1.meta(), "t", 0, 3000).value();
  {
    auto store = block_store::open(d.path + "/store");
    REQUIRE(store);
    counting_source src{v1};
    read_counts c;
    REQUIRE(read_through(**store, b, 0, 3000, &src, c));
  }
  // What a crash leaves: a temp file mid-write, and a block file cut short.
  std::ofstream(d.path + "/store/tmp/leftover.1.2") << "partial";
  const auto cut =
      d.path + "/store/" + block_store::relative_path(b.checksums[0], b.block_bytes(0));
  fs::resize_file(cut, 100);
  auto store = block_store::open(d.path + "/store");
  REQUIRE(store);
  CHECK(fs::is_empty(d.path + "/store/tmp"));
  CHECK((*store)->block_count() == 3);
  CHECK_FALSE((*store)->contains(b.checksums[0], b.block_bytes(0)));
  CHECK((*store)->used_bytes() == b.bytes() - b.block_bytes(0));
  (*store)->remove(b.checksums[1], b.block_bytes(1));
  CHECK((*store)->block_count() == 2);
  CHECK_FALSE(fs::exists(d.path + "/store/" +
                         block_store::relative_path(b.checksums[1], b.block_bytes(1))));
  // put refuses bytes that do not match the checksum.
  std::vector<char> junk(b.block_bytes(1), 'x');
  CHECK(code_of((*store)->put(b.checksums[1], junk.data(), junk.size())) == errc::corrupt_package);
  CHECK((*store)->block_count() == 2);
}
