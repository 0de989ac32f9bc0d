#include "package/package.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <regex>
#include <set>
#include <vector>

#include <xxhash.h>

#include "testing/package_builder.hpp"

using namespace tessera;
using tessera::testing::rewrite_manifest;
using tessera::testing::slurp;
using tessera::testing::spit;
using tessera::testing::temp_dir;
using tessera::testing::write_tiny_package;

namespace {

// A 3000 x 300 tensor: 1200-byte rows, 873 rows per block, blocks 0..3, the last has 381 rows.
constexpr uint64_t big_rows = 3000, big_cols = 300;
float cell(uint64_t r, uint64_t c) {
  return static_cast<float>(r * 1000 + c);
}

// Writes "t" in chunks of 7 rows (never aligned to blocks) plus a vocab/labels-free manifest.
// With `changed_row` < big_rows, that row's first cell is negated (other data, same shape).
void write_big(const std::string& dir, uint64_t changed_row = big_rows) {
  auto w = package_writer::create(dir);
  REQUIRE(w);
  REQUIRE_FALSE(w->begin_tensor("t", big_rows, big_cols));
  std::vector<float> chunk;
  for (uint64_t r0 = 0; r0 < big_rows; r0 += 7) {
    uint64_t n = std::min<uint64_t>(7, big_rows - r0);
    chunk.clear();
    for (uint64_t r = r0; r < r0 + n; ++r)
      for (uint64_t c = 0; c < big_cols; ++c)
        chunk.push_back(r == changed_row && c == 0 ? -cell(r, c) - 1 : cell(r, c));
    REQUIRE_FALSE(w->append_rows(chunk.data(), n));
  }
  REQUIRE_FALSE(w->end_tensor());
  manifest m;
  m.name = "big";
  REQUIRE_FALSE(w->finish(m));
}

void check_rows(const row_block& b, uint64_t begin, uint64_t end) {
  REQUIRE(b.row_begin == begin);
  REQUIRE(b.rows == end - begin);
  REQUIRE(b.cols == big_cols);
  REQUIRE(reinterpret_cast<uintptr_t>(b.data.get()) % 64 == 0);
  for (uint64_t r = begin; r < end; ++r)
    for (uint64_t c = 0; c < big_cols; ++c) REQUIRE(b.row(r - begin)[c] == cell(r, c));
}

bool mentions(const caf::error& e, const std::string& what) {
  return message_of(e).find(what) != std::string::npos;
}

void flip_byte(const std::string& path, uint64_t offset) {
  std::string bytes = slurp(path);
  bytes[offset] = static_cast<char>(bytes[offset] ^ 0x40);
  spit(path, bytes);
}

}  // namespace

TEST_CASE("xxh3_128 is libxxhash's XXH3-128 and prints in its canonical form") {
  // xxhash's published vector for XXH128 of the empty input, seed 0 (what `xxh128sum` prints).
  CHECK(to_hex(xxh3_128("", 0)) == "99aa06d3014798d86001c324468d497f");
  // xxh3_128 may take the library's runtime-dispatched AVX2/AVX-512 path; the portable entry
  // point must agree at every input size class (short, mid, one and several 1 KiB stripes).
  std::vector<unsigned char> buf(5000);
  std::mt19937_64 rng(7);
  for (auto& b : buf) b = static_cast<unsigned char>(rng());
  for (size_t len : {size_t{1}, size_t{16}, size_t{129}, size_t{240}, size_t{241}, size_t{1024},
                     size_t{1025}, size_t{4099}, buf.size()}) {
    INFO("length " << len);
    const checksum128 c = xxh3_128(buf.data(), len);
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits(buf.data(), len));
    std::string hex;
    for (unsigned char d : canon.digest) {
      const char* digits = "0123456789abcdef";
      hex += digits[d >> 4];
      hex += digits[d & 15];
    }
    CHECK(to_hex(c) == hex);
    CHECK(to_hex(c).size() == 32);
  }
}

TEST_CASE("xxh3_128 is deterministic and sees every single-bit change at short lengths") {
  std::mt19937_64 rng(7);
  for (size_t len = 0; len < 80; ++len) {
    std::vector<unsigned char> buf(len);
    for (auto& b : buf) b = static_cast<unsigned char>(rng());
    const checksum128 h = xxh3_128(buf.data(), len);
    REQUIRE(xxh3_128(buf.data(), len) == h);
    for (size_t i = 0; i < len; ++i)
      for (int bit = 0; bit < 8; ++bit) {
        buf[i] ^= static_cast<unsigned char>(1u << bit);
        REQUIRE(xxh3_128(buf.data(), len) != h);
        buf[i] ^= static_cast<unsigned char>(1u << bit);
      }
  }
  // Zero tails of different length differ.
  const char zeros[16] = {};
  REQUIRE(xxh3_128(zeros, 3) != xxh3_128(zeros, 4));
  REQUIRE(xxh3_128(zeros, 8) != xxh3_128(zeros, 16));
}

// Speed is a benchmark's business (bench/checksum_bench.cpp, docs/PACKAGE.md quotes it); this
// checks what the block checksums rely on at block sizes: a one-bit change anywhere is seen.
TEST_CASE("xxh3_128 sees a one-bit change anywhere in a 64 MiB buffer") {
  std::vector<uint64_t> words(8 << 20, 0x0123456789abcdefULL);  // 64 MiB
  auto* bytes = reinterpret_cast<unsigned char*>(words.data());
  const size_t len = words.size() * 8;
  const checksum128 h = xxh3_128(bytes, len);
  const size_t at[] = {0, 7, 8, 31, 32, 33, len / 2, len / 2 + 17, len - 33, len - 9, len - 1};
  for (size_t i : at) {
    INFO("byte " << i);
    bytes[i] ^= 0x10;
    CHECK(xxh3_128(bytes, len) != h);
    bytes[i] ^= 0x10;
  }
  CHECK(xxh3_128(bytes, len) == h);
  CHECK(xxh3_128(bytes, len - 1) != h);  // and a one-byte shorter buffer
}

TEST_CASE("rows written in unaligned chunks read back exactly for any range") {
  temp_dir tmp;
  write_big(tmp.path);
  auto pkg = package::open(tmp.path);
  REQUIRE(pkg);
  const tensor_info* t = pkg->meta().find_tensor("t");
  REQUIRE(t);
  REQUIRE(t->block_rows == default_block_rows(big_cols));
  REQUIRE(t->block_rows == 873);
  REQUIRE(t->block_checksums.size() == 4);
  const std::pair<uint64_t, uint64_t> ranges[] = {
      {0, big_rows}, {0, 1},       {872, 874},   {873, 1746},  {10, 20},
      {860, 2700},   {2999, 3000}, {2619, 3000}, {2700, 2800}, {1746, 1747}};
  for (auto [b, e] : ranges) {
    INFO("range " << b << ".." << e);
    uint64_t last_done = 0, last_total = 0;
    auto rb = pkg->read_rows("t", b, e, [&](uint64_t d, uint64_t tot) {
      REQUIRE(d > last_done);
      last_done = d;
      last_total = tot;
    });
    REQUIRE(rb);
    check_rows(*rb, b, e);
    REQUIRE(last_done == last_total);  // the last call reports completion
  }
  auto empty = pkg->read_rows("t", 5, 5);
  REQUIRE(empty);
  REQUIRE(empty->rows == 0);
}

TEST_CASE("a ranged read needs one block of scratch only when it cuts a block") {
  temp_dir tmp;
  write_big(tmp.path);  // 3000 rows in blocks of 873
  auto pkg = package::open(tmp.path);
  REQUIRE(pkg);
  const uint64_t block = 873 * big_cols * sizeof(float);
  CHECK(pkg->read_scratch_bytes("t", 0, big_rows) == 0);
  CHECK(pkg->read_scratch_bytes("t", 873, 1746) == 0);
  CHECK(pkg->read_scratch_bytes("t", 2619, 3000) == 0);  // the short last block, whole
  CHECK(pkg->read_scratch_bytes("t", 0, 1) == block);
  CHECK(pkg->read_scratch_bytes("t", 860, 2700) == block);
  CHECK(pkg->read_scratch_bytes("t", 1746, 2619 + 1) == block);
  CHECK(pkg->read_scratch_bytes("t", 5, 5) == 0);
  CHECK(pkg->read_scratch_bytes("t", 0, big_rows + 1) == 0);  // refused by read_rows
  CHECK(pkg->read_scratch_bytes("nope", 0, 1) == 0);
}

TEST_CASE("a read cancelled after its first block stops there and fails with unavailable") {
  temp_dir tmp;
  write_big(tmp.path);
  auto pkg = package::open(tmp.path);
  REQUIRE(pkg);
  std::atomic<bool> cancel{false};
  std::vector<uint64_t> calls;
  auto rb = pkg->read_rows(
      "t", 0, big_rows,
      [&](uint64_t done, uint64_t) {
        calls.push_back(done);
        cancel = true;  // as the node's unload does, from another thread, mid-read
      },
      &cancel);
  REQUIRE_FALSE(rb);
  CHECK(code_of(rb.error()) == errc::unavailable);
  CHECK(mentions(rb.error(), "cancelled"));
  CHECK(mentions(rb.error(), "'t'"));
  // One block of four read: the other three never were.
  REQUIRE(calls.size() == 1);
  CHECK(calls[0] == 873 * big_cols * sizeof(float));
}

TEST_CASE("a read cancelled before it starts reads nothing; an unset flag changes nothing") {
  temp_dir tmp;
  write_big(tmp.path);
  auto pkg = package::open(tmp.path);
  REQUIRE(pkg);
  std::atomic<bool> cancel{true};
  size_t calls = 0;
  auto rb = pkg->read_rows(
      "t", 10, 20, [&](uint64_t, uint64_t) { ++calls; }, &cancel);
  REQUIRE_FALSE(rb);
  CHECK(code_of(rb.error()) == errc::unavailable);
  CHECK(calls == 0);
  cancel = false;
  auto ok = pkg->read_rows("t", 10, 2000, {}, &cancel);
  REQUIRE(ok);
  check_rows(*ok, 10, 2000);
}

TEST_CASE("a read range outside the tensor or naming an unknown tensor is invalid_argument") {
  temp_dir tmp;
  write_big(tmp.path);
  auto pkg = package::open(tmp.path);
  REQUIRE(pkg);
  REQUIRE(code_of(pkg->read_rows("t", 10, 3001).error()) == errc::invalid_argument);
  REQUIRE(code_of(pkg->read_rows("t", 20, 10).error()) == errc::invalid_argument);
  auto unknown = pkg->read_rows("nope", 0, 1);
  REQUIRE(code_of(unknown.error()) == errc::invalid_argument);
  REQUIRE(mentions(unknown.error(), "nope"));
}

TEST_CASE("a flipped byte fails only the reads that touch its block, naming tensor and block") {
  temp_dir tmp;
  write_big(tmp.path);
  flip_byte(tmp.sub("t.f32"), 2000 * 1200 + 17);  // row 2000 is in block 2 (rows 1746..2619)
  auto pkg = package::open(tmp.path);             // open reads no tensor data
  REQUIRE(pkg);
  REQUIRE(pkg->read_rows("t", 0, 1746));
  REQUIRE(pkg->read_rows("t", 2619, 3000));
  for (auto [b, e] : {std::pair<uint64_t, uint64_t>{2000, 2001}, {1745, 1747}, {0, 3000}}) {
    auto rb = pkg->read_rows("t", b, e);
    REQUIRE_FALSE(rb);
    REQUIRE(code_of(rb.error()) == errc::corrupt_package);
    REQUIRE(mentions(rb.error(), "'t'"));
    REQUIRE(mentions(rb.error(), "block 2"));
  }
  // Row 1745 is in block 1 but its block's neighbour is not read.
  REQUIRE(pkg->read_rows("t", 1700, 1746));
}

TEST_CASE("truncated, extended and missing tensor files are refused at open naming the file") {
  temp_dir tmp;
  write_big(tmp.path);
  const std::string file = tmp.sub("t.f32"), good = slurp(file);
  spit(file, good.substr(0, good.size() - 4));
  auto e = package::open(tmp.path);
  REQUIRE(code_of(e.error()) == errc::corrupt_package);
  REQUIRE(mentions(e.error(), "t.f32"));
  REQUIRE(mentions(e.error(), std::to_string(good.size())));
  spit(file, good + "x");
  REQUIRE(code_of(package::open(tmp.path).error()) == errc::corrupt_package);
  std::filesystem::remove(file);
  e = package::open(tmp.path);
  REQUIRE(code_of(e.error()) == errc::corrupt_package);
  REQUIRE(mentions(e.error(), "t.f32"));
  REQUIRE(mentions(e.error(), "missing"));
}

TEST_CASE("a missing manifest or directory is refused with a typed error") {
  temp_dir tmp;
  auto e = package::open(tmp.path);
  REQUIRE(code_of(e.error()) == errc::corrupt_package);
  REQUIRE(mentions(e.error(), "manifest.toml"));
  REQUIRE(code_of(package::open(tmp.sub("absent")).error()) == errc::io_error);
}

TEST_CASE("manifest errors are corrupt_package and name the key or the mismatch") {
  temp_dir tmp;
  REQUIRE_FALSE(write_tiny_package(tmp.path));
  REQUIRE(package::open(tmp.path));
  const std::string path = tmp.sub("manifest.toml"), good = slurp(path);
  auto with = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    auto pos = text.find(from);
    REQUIRE(pos != std::string::npos);
    text.replace(pos, from.size(), to);
    spit(path, text);
    auto pkg = package::open(tmp.path);
    REQUIRE_FALSE(pkg);
    REQUIRE(code_of(pkg.error()) == errc::corrupt_package);
    return message_of(pkg.error());
  };
  CHECK_THAT(with("format = 2", "format = 3"), Catch::Contains("format = 3"));
  CHECK_THAT(with("format = 2", ""), Catch::Contains("'format'"));
  CHECK_THAT(with("checksum = 'xxh3-128'", "checksum = 'sha256'"), Catch::Contains("sha256"));
  CHECK_THAT(with("checksum = 'xxh3-128'", ""), Catch::Contains("'checksum'"));
  CHECK_THAT(with("\nrows = 5", "\nrows = -5"), Catch::Contains("'rows'"));
  CHECK_THAT(with("\nrows = 5", "\nrowz = 5"), Catch::Contains("'rows'"));
  CHECK_THAT(with("\nrows = 5", "\nrows = 9223372036854775807"), Catch::Contains("overflows"));
  CHECK_THAT(with("\nrows = 5", "\nrows = 99999999999999999999"), Catch::Contains("syntax"));
  CHECK_THAT(with("\nrows = 5", "\nrows = \"5\""), Catch::Contains("integer"));
  CHECK_THAT(with("pooling = 'mean'", "pooling = 'max'"), Catch::Contains("max"));
  CHECK_THAT(with("buckets = 2", "buckets = 3"), Catch::Contains("embedder.input"));
  CHECK_THAT(with("file = 'vocab.txt'", "file = '../vocab.txt'"), Catch::Contains("unsafe"));
  CHECK_THAT(with("block_rows = 5", "block_rows = 0"), Catch::Contains("block_rows"));
  CHECK_THAT(with("block_rows = 5", "block_rows = 2"), Catch::Contains("need 3"));
  CHECK_THAT(with("weight = 'classifier.l0.weight'", "weight = 'embedder.input'"),
             Catch::Contains("bias"));
  CHECK_THAT(with("labels = 'labels'", "labels = 'nolabels'"), Catch::Contains("nolabels"));
  spit(path, good);
  REQUIRE(package::open(tmp.path));
}

TEST_CASE("a format-1 package (checksum64) is refused, saying how to write it again") {
  temp_dir tmp;
  REQUIRE_FALSE(write_tiny_package(tmp.path));
  const std::string path = tmp.sub("manifest.toml");
  // What an older tessera wrote: format = 1, no checksum key, 16-digit checksum64 values.
  std::string old = slurp(path);
  old = std::regex_replace(old, std::regex("format = 2"), "format = 1");
  old = std::regex_replace(old, std::regex("checksum = 'xxh3-128'\n"), "");
  old = std::regex_replace(old, std::regex("'([0-9a-f]{16})[0-9a-f]{16}'"), "'$1'");
  REQUIRE(old.find("xxh3-128") == std::string::npos);
  spit(path, old);
  auto e = package::open(tmp.path);
  REQUIRE_FALSE(e);
  REQUIRE(code_of(e.error()) == errc::corrupt_package);
  const std::string msg = message_of(e.error());
  INFO(msg);
  CHECK_THAT(msg, Catch::Contains(path));
  CHECK_THAT(msg, Catch::Contains("format = 1"));
  CHECK_THAT(msg, Catch::Contains("older tessera"));
  CHECK_THAT(msg, Catch::Contains("checksum64"));
  CHECK_THAT(msg, Catch::Contains("xxh3-128"));
  CHECK_THAT(msg, Catch::Contains("tessera import fasttext"));
  CHECK_THAT(msg, Catch::Contains("tessera gen-model"));
}

TEST_CASE("layer shapes that do not chain and duplicate tensors are refused at open") {
  temp_dir tmp;
  REQUIRE_FALSE(write_tiny_package(tmp.path));
  rewrite_manifest(tmp.path, [](manifest& m) {
    // The 3 x 1 bias as a weight: 1 column, but the embedding dim is 2.
    m.classifier->layers[0].weight = "classifier.l0.bias";
    m.classifier->layers[0].bias = "";
  });
  auto e = package::open(tmp.path);
  REQUIRE(code_of(e.error()) == errc::corrupt_package);
  REQUIRE(mentions(e.error(), "classifier.l0.bias"));
  REQUIRE(mentions(e.error(), "columns"));
  rewrite_manifest(tmp.path, [](manifest& m) {
    m.classifier->layers[0].weight = "classifier.l0.weight";
    m.tensors.push_back(m.tensors[0]);
  });
  e = package::open(tmp.path);
  REQUIRE(mentions(e.error(), "listed twice"));
}

TEST_CASE("garbage, random and truncated manifests never crash open") {
  temp_dir tmp;
  REQUIRE_FALSE(write_tiny_package(tmp.path));
  const std::string path = tmp.sub("manifest.toml"), good = slurp(path);
  std::mt19937_64 rng(123);
  for (int i = 0; i < 300; ++i) {
    std::string junk(rng() % 512, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    spit(path, junk);
    auto pkg = package::open(tmp.path);
    REQUIRE_FALSE(pkg);
    REQUIRE(code_of(pkg.error()) == errc::corrupt_package);
  }
  for (size_t n = 0; n < good.size(); n += 3) {
    spit(path, good.substr(0, n));
    auto pkg = package::open(tmp.path);
    if (!pkg) REQUIRE(code_of(pkg.error()) == errc::corrupt_package);
  }
  for (int i = 0; i < 300; ++i) {  // a few mutated bytes in a valid manifest
    std::string text = good;
    for (int k = 0; k < 3; ++k) text[rng() % text.size()] = static_cast<char>(rng());
    spit(path, text);
    auto pkg = package::open(tmp.path);
    if (!pkg) REQUIRE((code_of(pkg.error()) == errc::corrupt_package));
  }
}

TEST_CASE("non-ASCII code points around TOML syntax parse without undefined behaviour") {
  // toml++ 3.3.0 reached __builtin_unreachable classifying most of U+00A1..U+0499 as
  // whitespace or not (found by fuzz/package_fuzz.cpp). In Release builds nothing shows; the
  // sanitizer build (scripts/sanitize.sh) aborts here without base/toml.hpp.
  for (const std::string bare : {"\xc3\xa9", "\xc2\xa7", "\xe3\x80\x81", "\xef\xbc\x81"}) {
    auto m = parse_manifest("format = 2\n" + bare + " = 1\n", "bare");
    REQUIRE_FALSE(m);
    CHECK(is(m.error(), errc::corrupt_package));
  }
  // Valid TOML: a line-ending backslash trims the whitespace before the next character.
  auto m = parse_manifest(
      "format = 2\nchecksum = \"xxh3-128\"\nname = \"\"\"\\\n  \xc2\xa7x\"\"\"\n", "trimmed");
  REQUIRE(m);
  CHECK(m->name == "\xc2\xa7x");
}

TEST_CASE("the manifest survives a TOML round trip unchanged") {
  temp_dir tmp;
  REQUIRE_FALSE(write_tiny_package(tmp.path));
  auto pkg = package::open(tmp.path);
  REQUIRE(pkg);
  const manifest& m = pkg->meta();
  auto again = parse_manifest(to_toml(m), "again");
  REQUIRE(again);
  REQUIRE(to_toml(*again) == to_toml(m));
  REQUIRE(again->tensors.size() == 3);
  REQUIRE(again->find_tensor("embedder.input")->block_checksums ==
          m.find_tensor("embedder.input")->block_checksums);
  REQUIRE(again->embedder->featurizer.buckets == 2);
  REQUIRE(again->classifier->layers.at(0).bias == "classifier.l0.bias");
}

TEST_CASE("rows_digest: the same content gives the same digest, wherever it lies") {
  temp_dir tmp;
  write_big(tmp.sub("a"));
  write_big(tmp.sub("b"));
  auto a = package::open(tmp.sub("a")), b = package::open(tmp.sub("b"));
  REQUIRE(a);
  REQUIRE(b);
  for (auto [lo, hi] : {std::pair<uint64_t, uint64_t>{0, big_rows}, {10, 20}, {872, 874}, {5, 5}}) {
    auto da = rows_digest(a->meta(), "t", lo, hi), db = rows_digest(b->meta(), "t", lo, hi);
    REQUIRE(da);
    REQUIRE(db);
    CHECK(*da == *db);
    CHECK(*da == *rows_digest(a->meta(), "t", lo, hi));  // deterministic
    CHECK(std::regex_match(*da, std::regex("[0-9a-f]{32}")));
  }
}

TEST_CASE("rows_digest: another row range gives another digest") {
  temp_dir tmp;
  write_big(tmp.path);
  auto pkg = package::open(tmp.path);
  REQUIRE(pkg);
  const manifest& m = pkg->meta();
  // Blocks are rows [0, 873), [873, 1746), [1746, 2619), [2619, 3000).
  const std::pair<uint64_t, uint64_t> ranges[] = {{0, big_rows}, {0, 873}, {873, 1746},
                                                  {10, 20},      {10, 21}, {11, 20},
                                                  {0, 0},        {1, 1},   {2619, 3000}};
  std::set<std::string> seen;
  for (auto [lo, hi] : ranges) {
    auto d = rows_digest(m, "t", lo, hi);
    REQUIRE(d);
    CHECK(seen.insert(*d).second);  // same blocks, other rows: still a different digest
  }
  CHECK(code_of(rows_digest(m, "nope", 0, 1).error()) == errc::invalid_argument);
  CHECK(code_of(rows_digest(m, "t", 20, 10).error()) == errc::invalid_argument);
  CHECK(code_of(rows_digest(m, "t", 0, big_rows + 1).error()) == errc::invalid_argument);
}

TEST_CASE("rows_digest: a rewritten tensor changes the digest of exactly the ranges it touches") {
  temp_dir tmp;
  write_big(tmp.path);
  auto before = package::open(tmp.path);
  REQUIRE(before);
  const manifest old = before->meta();
  // The package is written again with row 2000 (block 2, rows 1746..2619) changed.
  std::filesystem::remove_all(tmp.path);
  write_big(tmp.path, 2000);
  auto after = package::open(tmp.path);
  REQUIRE(after);
  const manifest& now = after->meta();
  auto same = [&](uint64_t lo, uint64_t hi) {
    return *rows_digest(old, "t", lo, hi) == *rows_digest(now, "t", lo, hi);
  };
  CHECK_FALSE(same(0, big_rows));
  CHECK_FALSE(same(1999, 2001));  // the changed row
  CHECK_FALSE(same(1800, 1900));  // inside block 2, not the changed row: blocks count whole
  CHECK_FALSE(same(1700, 1800));  // straddles blocks 1 and 2
  CHECK(same(0, 873));            // block 0 only
  CHECK(same(900, 1746));         // inside block 1, which did not change
  CHECK(same(2619, 3000));        // block 3, after the change
  // And what the digest names is what read_rows returns: the new rows verify against `now`.
  auto rows = after->read_rows("t", 1999, 2001);
  REQUIRE(rows);
  CHECK(rows->row(1)[0] == -cell(2000, 0) - 1);
}

TEST_CASE("rows_digest: a manifest rewritten with other checksums gives another digest") {
  temp_dir tmp;
  write_big(tmp.path);
  const manifest old = package::open(tmp.path)->meta();
  rewrite_manifest(tmp.path, [](manifest& m) { m.tensors[0].block_checksums[1].low ^= 1; });
  auto pkg = package::open(tmp.path);  // open reads no data: it accepts the new checksums
  REQUIRE(pkg);
  CHECK(*rows_digest(old, "t", 900, 1000) != *rows_digest(pkg->meta(), "t", 900, 1000));
  CHECK(*rows_digest(old, "t", 0, 873) == *rows_digest(pkg->meta(), "t", 0, 873));
  // The changed manifest no longer matches the data, and read_rows says so.
  CHECK(code_of(pkg->read_rows("t", 900, 1000).error()) == errc::corrupt_package);
}

TEST_CASE("rows_digest: content, not names; shape and block size are part of it") {
  temp_dir tmp;
  auto w = package_writer::create(tmp.path);
  REQUIRE(w);
  std::vector<float> data(6 * 4);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i);
  REQUIRE_FALSE(w->write_tensor("x", 6, 4, data.data()));
  REQUIRE_FALSE(w->write_tensor("y", 6, 4, data.data()));   // same bytes, other name
  REQUIRE_FALSE(w->write_tensor("z", 4, 6, data.data()));   // same bytes, other shape
  REQUIRE_FALSE(w->write_tensor("v", 24, 1, data.data()));  // same bytes, other shape
  manifest m;
  m.name = "names";
  REQUIRE_FALSE(w->finish(m));
  auto pkg = package::open(tmp.path);
  REQUIRE(pkg);
  const manifest& meta = pkg->meta();
  CHECK(*rows_digest(meta, "x", 0, 6) == *rows_digest(meta, "y", 0, 6));
  CHECK(*rows_digest(meta, "x", 0, 4) != *rows_digest(meta, "z", 0, 4));
  CHECK(*rows_digest(meta, "x", 0, 6) != *rows_digest(meta, "v", 0, 6));
  manifest other = meta;  // the same checksum list under another block size names other rows
  other.tensors[0].block_rows = 7;  // still one block
  CHECK(*rows_digest(meta, "x", 0, 6) != *rows_digest(other, "x", 0, 6));
}

// Digests may be persisted (coordinator state) and compared across builds: the encoding is
// pinned. A change here is a change of every replica's identity, and needs a new digest tag.
TEST_CASE("rows_digest of the tiny package is pinned") {
  temp_dir tmp;
  REQUIRE_FALSE(write_tiny_package(tmp.path));
  auto pkg = package::open(tmp.path);
  REQUIRE(pkg);
  CHECK(to_hex(pkg->meta().find_tensor("embedder.input")->block_checksums.at(0)) ==
        "519eebbfcdc48562fd28469fb7b2d93a");
  CHECK(*rows_digest(pkg->meta(), "embedder.input", 0, 5) == "1c58e62fe70906c6df95355b2a8b7551");
  CHECK(*rows_digest(pkg->meta(), "embedder.input", 1, 3) == "05708ba15ad3b53d657160bbc20d0b56");
}

TEST_CASE("the writer refuses wrong row counts, reuse of names and a second package") {
  temp_dir tmp;
  auto w = package_writer::create(tmp.path);
  REQUIRE(w);
  std::vector<float> rows(10 * 4, 1.0f);
  REQUIRE_FALSE(w->begin_tensor("a", 5, 4));
  REQUIRE(code_of(w->append_rows(rows.data(), 6)) == errc::invalid_argument);
  REQUIRE_FALSE(w->append_rows(rows.data(), 4));
  auto short_err = w->end_tensor();
  REQUIRE(code_of(short_err) == errc::invalid_argument);
  REQUIRE(mentions(short_err, "got 4 rows"));
  REQUIRE_FALSE(w->write_tensor("a", 5, 4, rows.data()));
  REQUIRE(code_of(w->write_tensor("a", 5, 4, rows.data())) == errc::invalid_argument);
  REQUIRE(code_of(w->begin_tensor("../x", 1, 1)) == errc::invalid_argument);
  REQUIRE(code_of(w->begin_tensor("z", 0, 4)) == errc::invalid_argument);
  REQUIRE(code_of(w->write_lines("k", "k.txt", {"one\ntwo"})) == errc::invalid_argument);
  manifest m;
  m.name = "w";
  REQUIRE_FALSE(w->finish(m));
  REQUIRE(code_of(package_writer::create(tmp.path).error()) == errc::already_exists);
}

TEST_CASE("read_lines returns the written lines and refuses a changed file") {
  temp_dir tmp;
  REQUIRE_FALSE(write_tiny_package(tmp.path));
  auto pkg = package::open(tmp.path);
  REQUIRE(pkg);
  auto lines = pkg->read_lines("vocab");
  REQUIRE(lines);
  REQUIRE(*lines == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(code_of(pkg->read_lines("nope").error()) == errc::invalid_argument);
  spit(tmp.sub("vocab.txt"), "a\nb\nd\n");  // same size, different bytes
  auto bad = pkg->read_lines("vocab");
  REQUIRE(code_of(bad.error()) == errc::corrupt_package);
  REQUIRE(mentions(bad.error(), "vocab.txt"));
  REQUIRE(mentions(bad.error(), "checksum"));
}

TEST_CASE("empty lines survive write_lines and read_lines") {
  temp_dir tmp;
  auto w = package_writer::create(tmp.path);
  REQUIRE(w);
  const std::vector<std::string> lines{"", "x", "", "y z", ""};
  REQUIRE_FALSE(w->write_lines("k", "k.txt", lines));
  REQUIRE_FALSE(w->write_lines("none", "none.txt", {}));
  manifest m;
  m.name = "lines";
  REQUIRE_FALSE(w->finish(m));
  auto pkg = package::open(tmp.path);
  REQUIRE(pkg);
  REQUIRE(*pkg->read_lines("k") == lines);
  REQUIRE(pkg->read_lines("none")->empty());
}

TEST_CASE("enum names are the manifest spellings") {
  REQUIRE(std::string(to_string(pooling_kind::sum)) == "sum");
  REQUIRE(std::string(to_string(activation_kind::relu)) == "relu");
  REQUIRE(std::string(to_string(output_kind::ova)) == "ova");
  REQUIRE(std::string(to_string(output_kind::hs)) == "hs");
}
