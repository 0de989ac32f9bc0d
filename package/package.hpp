#pragma once
// The on-disk model package: a directory with manifest.toml, raw little-endian row-major
// float32 tensor files, and newline-separated text files (vocabulary, labels).
//
// Integrity: each tensor is cut into checksum blocks of `block_rows` rows; the manifest lists
// one XXH3-128 checksum per block, so a replica that reads rows [begin, end) verifies exactly
// the blocks it touches and never reads a table it does not own. Text files carry one checksum.
// The same checksums name content: rows_digest() identifies rows by them.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/errors.hpp"

namespace tessera {

// How a bag of rows pools: fastText's mean and sum, and PyTorch EmbeddingBag's sum, mean, max.
enum class pooling_kind { mean, sum, max };
enum class activation_kind { none, relu, tanh, sigmoid };
// The classifier's output rule: softmax over labels, one-vs-all sigmoids, or fastText's
// hierarchical softmax (the last layer's rows are the Huffman tree's inner nodes); for the
// embedding-bag family also sigmoid (one exact probability per label) and none (raw scores).
enum class output_kind { softmax, ova, hs, sigmoid, none };

const char* to_string(pooling_kind k);
const char* to_string(activation_kind k);
const char* to_string(output_kind k);

// An XXH3-128 checksum: xxhash's XXH3_128bits with seed 0 (libxxhash), the value `xxh128sum`
// prints for the same bytes.
struct checksum128 {
  uint64_t high = 0;
  uint64_t low = 0;
  friend bool operator==(const checksum128& a, const checksum128& b) {
    return a.high == b.high && a.low == b.low;
  }
  friend bool operator!=(const checksum128& a, const checksum128& b) { return !(a == b); }
};

// XXH3-128 of `bytes` bytes at `data`. Deterministic across platforms.
checksum128 xxh3_128(const void* data, size_t bytes);

// 32 lowercase hex digits, high half first (xxhash's canonical form, as in the manifest).
std::string to_hex(const checksum128& c);
// The checksum to_hex printed: exactly 32 hex digits (either case); nullopt otherwise.
std::optional<checksum128> checksum_from_hex(std::string_view hex);

struct tensor_info {
  std::string name;  // unique in the package, e.g. "embedder.input", "classifier.l0.weight"
  std::string file;  // path relative to the package directory
  uint64_t rows = 0;
  uint64_t cols = 0;
  uint64_t block_rows = 0;                   // rows per checksum block (the last may be shorter)
  std::vector<checksum128> block_checksums;  // XXH3-128 of each block's bytes
  uint64_t bytes() const { return rows * cols * sizeof(float); }
  // Bytes of one checksum block (the whole tensor when it is shorter): what a ranged read
  // needs as scratch when its range cuts a block.
  uint64_t block_bytes() const { return std::min(block_rows, rows) * cols * sizeof(float); }
};

struct text_file_info {
  std::string file;  // path relative to the package directory
  uint64_t lines = 0;
  checksum128 checksum;  // XXH3-128 of the whole file
};

struct featurizer_spec {
  // "hashing": whitespace tokens, vocabulary ids, OOV tokens dropped, word n-grams (n >= 2)
  //            hashed into `buckets` rows after the vocabulary.
  // "fasttext": fastText 0.9.2's dictionary rules (see FASTTEXT.md).
  // "ids": no text; each input gives a bag of row ids per table (the embedding-bag family,
  //        docs/MODELS.md); embedder_spec::bags describes the tables.
  std::string kind = "hashing";
  std::string vocab;  // key into manifest::files; row id of a word = its line index (not ids)
  uint64_t buckets = 0;
  uint32_t word_ngrams = 1;
  // fastText only.
  uint32_t minn = 0;
  uint32_t maxn = 0;
  std::string label_prefix = "__label__";
  std::string word_types;  // key into files: one line per vocab entry, "0" word / "1" label
};

// One table of an "ids" embedder: how inputs name it and how its bags pool (PyTorch's
// EmbeddingBag semantics, docs/MODELS.md).
struct bag_spec {
  std::string name;  // the table's name in inputs; unique in the embedder
  pooling_kind pooling = pooling_kind::sum;
  int64_t padding_idx = -1;  // a row id skipped by pooling (and not counted by mean); -1: none
};

struct embedder_spec {
  std::string name;
  uint64_t version = 1;
  std::vector<std::string> tables;  // tensor names; tables[0] is the one text featurizes into
  pooling_kind pooling = pooling_kind::mean;  // text featurizers' (fastText, hashing)
  featurizer_spec featurizer;
  std::vector<bag_spec> bags;  // featurizer "ids": one per table, in the order of `tables`
};

struct layer_spec {
  std::string weight;  // tensor name, shape out x in
  std::string bias;    // tensor name, shape out x 1; empty when the layer has no bias
  activation_kind activation = activation_kind::none;
};

struct classifier_spec {
  std::string name;
  uint64_t version = 1;
  std::vector<layer_spec> layers;  // applied in order; the last one yields the output logits
  output_kind output = output_kind::softmax;
  std::string labels;        // key into manifest::files; one label per line
  std::string label_counts;  // key into files (hs only): one decimal count per line
};

struct manifest {
  // Format 2: XXH3-128 checksums. Format 1 (the hand-written checksum64) is refused with a
  // message that says to re-import or re-generate the package.
  static constexpr uint32_t current_format = 2;
  // The manifest's top-level `checksum` key; the only algorithm this build reads and writes.
  static constexpr const char* checksum_algorithm = "xxh3-128";
  uint32_t format = current_format;
  std::string name;  // default model name
  std::optional<embedder_spec> embedder;
  std::optional<classifier_spec> classifier;
  std::vector<tensor_info> tensors;
  std::vector<std::pair<std::string, text_file_info>> files;  // key -> file

  const tensor_info* find_tensor(const std::string& name) const;
  const text_file_info* find_file(const std::string& key) const;
};

// The width of an embedder's pooled vector: its tables' cols summed for featurizer "ids"
// (pooled vectors are concatenated in table order), else tables[0]'s cols; 0 when `m` has no
// embedder or names a tensor it does not list.
uint64_t embedder_dim(const manifest& m);

// Rows per checksum block that package_writer chooses for a tensor of `cols` columns: about
// 1 MiB per block, at least one row.
uint64_t default_block_rows(uint64_t cols);

// Parses manifest.toml text: TOML syntax, required keys, types and value ranges. Consistency
// between sections is validate_manifest's job. `origin` names the source in messages.
// Never throws. Errors: corrupt_package.
caf::expected<manifest> parse_manifest(std::string_view text, const std::string& origin);

// Checks a manifest against itself and the package directory `dir`: what package::open does
// after parsing (unique names, references between sections, the layer shape chain, featurizer
// rows, block counts, file existence and exact tensor file sizes; with `tensor_files` false,
// the tensor files are not looked at). Reads no tensor data. Errors: corrupt_package, io_error.
caf::error validate_manifest(const manifest& m, const std::string& dir, bool tensor_files = true);

// Renders `m` as the manifest.toml text parse_manifest reads back (see docs/PACKAGE.md).
std::string to_toml(const manifest& m);

// Content identity of rows [row_begin, row_end) of `tensor`, from the manifest alone (reads no
// data): 32 lowercase hex digits, an XXH3-128 over the checksum algorithm's name, the tensor's
// rows, cols and block_rows, row_begin and row_end, and the checksum of every block that
// overlaps the range, in order. The tensor's name is not part of it: equal rows are equal
// content whatever they are called.
//
// Contract: when package::read_rows(tensor, row_begin, row_end) succeeds on a package whose
// meta() gives digest D, the returned rows are exactly the bytes D names (read_rows verifies
// every block it touches against those same checksums). So two replicas with the same digest
// hold the same bytes, and a package rewritten on disk (new data, manifest with new checksums)
// yields a different digest for any range whose blocks changed. Compute it from the manifest
// the rows are read with (package::meta()), not from a copy read earlier. A block only partly
// inside the range counts whole: a change to its rows outside the range changes the digest too;
// a change confined to blocks outside the range does not. An empty range (row_begin ==
// row_end) names no blocks; its digest still depends on the shape and row_begin.
// Errors: invalid_argument (unknown tensor, row_begin > row_end or row_end > rows).
caf::expected<std::string> rows_digest(const manifest& m, const std::string& tensor,
                                       uint64_t row_begin, uint64_t row_end);

// Rows of one tensor held in memory, 64-byte aligned.
struct row_block {
  uint64_t row_begin = 0;
  uint64_t rows = 0;
  uint64_t cols = 0;
  std::shared_ptr<float> data;  // rows * cols floats, row-major
  const float* row(uint64_t local) const { return data.get() + local * cols; }
  uint64_t bytes() const { return rows * cols * sizeof(float); }
};

// 64-byte aligned storage for `count` floats, released with std::free; null when out of memory.
std::shared_ptr<float> aligned_floats(uint64_t count);

// Called while reading or writing with (bytes done, bytes total).
using progress_fn = std::function<void(uint64_t, uint64_t)>;

// Fills `buf` with checksum block `block` (its `bytes` bytes), verified.
using block_reader = std::function<caf::error(uint64_t block, char* buf, uint64_t bytes)>;

// Rows [begin, end) of a `rows` x `cols` tensor in checksum blocks of `block_rows` rows,
// assembled from `read_block` block by block: a block inside the range is read in place, one
// that sticks out through a single scratch block. `progress` and `cancel` as in
// package::read_rows; `what` names the rows in messages (e.g. "tensor 'embedder.input'").
// Errors: insufficient_memory, unavailable (cancelled), and read_block's own.
caf::expected<row_block> assemble_rows(uint64_t rows, uint64_t cols, uint64_t block_rows,
                                       uint64_t begin, uint64_t end, const block_reader& read_block,
                                       const std::string& what, const progress_fn& progress = {},
                                       const std::atomic<bool>* cancel = nullptr);

class package {
 public:
  // Parses manifest.toml and validates it against the directory: format version, shapes,
  // every file's existence and exact size, block counts, references between sections.
  // Reads no tensor data. Errors: corrupt_package (naming the file and the mismatch), io_error.
  static caf::expected<package> open(const std::string& dir);
  // The same for a package's metadata alone: manifest.toml and its text files, tensor files
  // absent or not (what keep_package_meta keeps). read_rows and read_block then fail.
  static caf::expected<package> open_metadata(const std::string& dir);

  const manifest& meta() const { return meta_; }
  const std::string& dir() const { return dir_; }

  // Reads rows [begin, end) of `tensor` with pread into aligned memory and verifies the
  // checksum of every block touched. Memory used: the range plus read_scratch_bytes() (one
  // block buffer, reused for both partial blocks).
  // `progress` gets (bytes read, bytes to read) after every block. When `cancel` is set and
  // becomes true (from any thread), the read stops before its next block, frees its memory and
  // fails with unavailable ("... cancelled after N of M bytes"); checked before every block
  // (about 1 MiB, see default_block_rows), the first included.
  caf::expected<row_block> read_rows(const std::string& tensor, uint64_t begin, uint64_t end,
                                     const progress_fn& progress = {},
                                     const std::atomic<bool>* cancel = nullptr) const;

  // Reads checksum block `block` of `tensor` (rows [block * block_rows, ...), the last block
  // maybe shorter) with pread into `out`, which holds at least that many bytes, and verifies its
  // checksum. Errors: invalid_argument (unknown tensor or block), corrupt_package, io_error.
  caf::error read_block(const std::string& tensor, uint64_t block, char* out) const;

  // Bytes of scratch read_rows(tensor, begin, end) allocates besides the rows: one checksum
  // block when the range starts or ends inside a block, else 0 (also for an unknown tensor or
  // an empty range, which read_rows refuses or answers without reading).
  uint64_t read_scratch_bytes(const std::string& tensor, uint64_t begin, uint64_t end) const;

  // Reads a whole text file listed in manifest::files, verifying its checksum.
  caf::expected<std::vector<std::string>> read_lines(const std::string& key) const;

 private:
  static caf::expected<package> open_checked(const std::string& dir, bool tensor_files);
  std::string dir_;
  manifest meta_;
};

// Writes a package with bounded memory: tensors are streamed row chunk by row chunk, and
// checksums are computed as bytes pass. finish() writes manifest.toml last (via a temporary
// file and rename), so a package without a manifest is visibly incomplete.
class package_writer {
 public:
  // Creates `dir` (and parents). Fails with already_exists if dir holds a manifest.toml.
  static caf::expected<package_writer> create(const std::string& dir);

  package_writer(package_writer&&) noexcept;
  package_writer& operator=(package_writer&&) noexcept;
  ~package_writer();

  // Starts tensor `name` with the given shape, stored as file `name + ".f32"`.
  caf::error begin_tensor(const std::string& name, uint64_t rows, uint64_t cols);
  // Appends `nrows` full rows (nrows * cols floats).
  caf::error append_rows(const float* data, uint64_t nrows);
  // Ends the current tensor; fails if fewer or more rows than declared were appended.
  caf::error end_tensor();
  // begin + append all + end.
  caf::error write_tensor(const std::string& name, uint64_t rows, uint64_t cols, const float* data);
  // Writes a text file (one entry per line; entries must not contain '\n').
  caf::error write_lines(const std::string& key, const std::string& file,
                         const std::vector<std::string>& lines);
  // Fills meta.tensors and meta.files from what was written and writes manifest.toml.
  caf::error finish(manifest meta);

 private:
  struct impl;
  explicit package_writer(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace tessera
