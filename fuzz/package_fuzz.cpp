// The package reader: manifest parsing and validation (package::open), verified reads, and
// what a load builds from a package (describe_version: featurizer, labels, hs tree).
//
// Input: a package archive (fuzz/package_archive.hpp): manifest text plus files. Each input
// is written into a fresh directory and read twice:
// 1. as given: package::open either refuses with corrupt_package or io_error, or the package
//    opens; a manifest that parses renders (to_toml) to text that parses to the same manifest.
// 2. re-signed: every checksum and line count in the parsed manifest is recomputed from the
//    files, as an attacker who writes a whole package would. This reaches everything behind the
//    checksums. When it opens, every tensor reads whole (a sub-range gives the same bytes),
//    every text file reads with its line count, and describe_version either refuses with a
//    typed error or gives a featurizer whose ids stay inside the table, and an hs tree whose
//    predictions name real labels.
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "actors/version_builder.hpp"
#include "fuzz/fuzz_support.hpp"
#include "fuzz/package_archive.hpp"
#include "testing/package_builder.hpp"

using namespace tessera;
using namespace tessera::fuzz;

namespace {

const char* const k_texts[] = {"a b c", "hello world\n", "x", " \t", "</s> __label__a q\n"};

// Recomputes block checksums and file checksums / line counts from the files in `dir`, where
// they exist and fit the declared shape. Leaves everything else as parsed. (A manifest that
// names manifest.toml as a data file cannot be signed: the signing rewrites it.)
void resign(manifest& m, const std::string& dir) {
  for (auto& t : m.tensors) {
    if (t.rows == 0 || t.cols == 0 || t.block_rows == 0 || t.file.find('/') != std::string::npos)
      continue;
    std::string bytes = testing::slurp(dir + "/" + t.file);
    uint64_t row_bytes = 0, want = 0;
    if (__builtin_mul_overflow(t.cols, uint64_t{4}, &row_bytes) ||
        __builtin_mul_overflow(t.rows, row_bytes, &want) || want != bytes.size())
      continue;
    uint64_t blocks = (t.rows - 1) / t.block_rows + 1;
    t.block_checksums.assign(blocks, checksum128{});
    for (uint64_t b = 0; b < blocks; ++b) {
      uint64_t b0 = b * t.block_rows, b1 = std::min(t.rows, b0 + t.block_rows);
      t.block_checksums[b] = xxh3_128(bytes.data() + b0 * row_bytes, (b1 - b0) * row_bytes);
    }
  }
  for (auto& [key, f] : m.files) {
    if (f.file.find('/') != std::string::npos) continue;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(dir + "/" + f.file, ec)) continue;
    std::string text = testing::slurp(dir + "/" + f.file);
    f.checksum = xxh3_128(text.data(), text.size());
    uint64_t newlines = static_cast<uint64_t>(std::count(text.begin(), text.end(), '\n'));
    f.lines = newlines + (!text.empty() && text.back() != '\n' ? 1 : 0);
  }
}

void check_round_trip(const manifest& m) {
  std::string text = to_toml(m);
  auto again = parse_manifest(text, "round trip");
  FUZZ_REQUIRE(again, "to_toml output does not parse: " + describe(again.error()) + "\n" + text);
  FUZZ_REQUIRE(to_toml(*again) == text, "to_toml is not stable over a parse:\n" + text);
}

// Everything a load reads, on a package whose checksums are right.
void check_reads(const package& p) {
  for (const auto& t : p.meta().tensors) {
    if (t.file == "manifest.toml") continue;  // rewritten after signing: cannot match
    auto whole = p.read_rows(t.name, 0, t.rows);
    FUZZ_REQUIRE(whole, "tensor '" + t.name +
                            "' of a re-signed package does not read: " + describe(whole.error()));
    FUZZ_REQUIRE(whole->rows == t.rows && whole->cols == t.cols, "read_rows shape");
    uint64_t begin = t.rows / 3, end = t.rows - t.rows / 4;
    auto part = p.read_rows(t.name, begin, end);
    FUZZ_REQUIRE(part, "sub-range of '" + t.name + "' does not read: " + describe(part.error()));
    FUZZ_REQUIRE(
        part->rows == 0 || std::memcmp(part->data.get(), whole->row(begin), part->bytes()) == 0,
        "rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") of '" + t.name +
            "' differ from the whole read");
    FUZZ_REQUIRE(rows_digest(p.meta(), t.name, begin, end), "rows_digest of a valid range");
  }
  for (const auto& [key, f] : p.meta().files) {
    if (f.file == "manifest.toml") continue;
    auto lines = p.read_lines(key);
    FUZZ_REQUIRE(lines, "file [" + key +
                            "] of a re-signed package does not read: " + describe(lines.error()));
    FUZZ_REQUIRE(lines->size() == f.lines, "read_lines count differs from the manifest");
  }
  version_entry v;
  if (auto err = describe_version(v, p)) {
    require_code(err, {errc::corrupt_package, errc::unsupported}, "describe_version");
    return;
  }
  FUZZ_REQUIRE(v.family && v.family->tables().size() == v.embedder->tensors.size(),
               "one tensor per table of the family");
  for (const char* text : k_texts) {
    input_item in;
    in.text = text;
    auto bags = v.family->bags_of({in}, 1 << 20);
    if (!bags) {  // the embedding-bag family takes no text
      require_code(bags.error(), {errc::invalid_argument}, "bags_of(text)");
      continue;
    }
    for (int64_t id : bags->ids.at(0))
      FUZZ_REQUIRE(id >= 0 && static_cast<uint64_t>(id) < v.table().rows,
                   "featurizer id " + std::to_string(id) + " outside the table");
  }
  if (v.output == output_kind::hs && v.has_classifier()) {
    size_t nlabels = v.labels->size();
    std::vector<float> logits(nlabels > 0 ? nlabels - 1 : 0, 0.5f);
    for (const auto& l : v.family->from_logits(logits.data(), uint32_t(logits.size()), -1, 0.0f))
      FUZZ_REQUIRE(l.label < nlabels, "hs tree predicts label " + std::to_string(l.label) + " of " +
                                          std::to_string(nlabels));
  }
}

// Opens the package in `dir` with `manifest_text` as its manifest.
caf::expected<package> open_with(const std::string& dir, const std::string& manifest_text) {
  write_file(dir + "/manifest.toml", manifest_text);
  auto p = package::open(dir);
  if (!p) require_code(p.error(), {errc::corrupt_package, errc::io_error}, "package::open");
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const package_archive a = unpack_archive({reinterpret_cast<const char*>(data), size});
  const std::string dir = scratch_dir() + "/pkg";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directory(dir);
  for (const auto& [name, body] : a.files)
    if (name != "manifest.toml") write_file(dir + "/" + name, body);

  auto m = parse_manifest(a.manifest, "fuzz");
  if (!m) require_code(m.error(), {errc::corrupt_package}, "parse_manifest");
  auto as_given = open_with(dir, a.manifest);
  FUZZ_REQUIRE(!as_given || m, "package::open accepts a manifest parse_manifest refuses");
  if (!m) return 0;
  check_round_trip(*m);

  resign(*m, dir);
  auto p = open_with(dir, to_toml(*m));
  if (p) check_reads(*p);
  return 0;
}
