// Model package: checksum, validation, ranged verified reads. See docs/PACKAGE.md.
//
// manifest.toml, format 2 (all integers >= 0; checksums are 32-digit lowercase hex strings of
// XXH3-128, high half first; file paths are relative to the package directory, no "..", no "/"
// prefix; keys not listed here are ignored):
//
//   format = 2
//   checksum = "xxh3-128"                  # the checksum algorithm, the only one read
//   name = "sections"                      # default model name
//   [embedder]                             # optional
//   name = "sections.embedder"
//   version = 1                            # optional, default 1
//   tables = ["embedder.input"]            # tensor names; tables[0] is what text featurizes into
//   pooling = "mean"                       # mean | sum (text featurizers)
//   [embedder.featurizer]
//   kind = "hashing"                       # hashing | fasttext | ids
//   vocab = "vocab"                        # key into [files] (not for ids)
//   buckets = 200000                       # optional, default 0
//   word_ngrams = 2                        # optional, default 1
//   minn = 0                               # optional (fasttext)
//   maxn = 0                               # optional (fasttext)
//   label_prefix = "__label__"             # optional (fasttext)
//   word_types = ""                        # optional key into [files] (fasttext)
//   [[embedder.bags]]                      # ids only: one per table, in the order of tables
//   name = "user"                          # the table's name in inputs, unique
//   pooling = "sum"                        # sum | mean | max
//   padding_idx = 0                        # optional: a row id pooling skips
//   [classifier]                           # optional
//   name = "sections.head"
//   version = 1                            # optional, default 1
//   output = "softmax"                     # softmax | ova | hs | sigmoid | none
//   labels = "labels"                      # key into [files]
//   label_counts = ""                      # optional key into [files] (hs)
//   [[classifier.layers]]                  # in order; weight is out x in, bias out x 1
//   weight = "classifier.l0.weight"
//   bias = "classifier.l0.bias"            # optional, "" = no bias
//   activation = "relu"                    # none | relu | tanh | sigmoid, default none
//   [[tensors]]                            # one per tensor file
//   name = "embedder.input"
//   file = "embedder.input.f32"            # rows*cols little-endian float32, row-major
//   rows = 205000
//   cols = 64
//   block_rows = 4096                      # rows per checksum block (the last may be shorter)
//   block_checksums = ["<32 hex digits>", ...]   # ceil(rows / block_rows) entries
//   [files.vocab]                          # one table per text file, keyed
//   file = "vocab.txt"                     # entries each terminated by '\n'
//   lines = 5000
//   checksum = "<32 hex digits>"           # of the whole file
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>
#ifdef TESSERA_XXH3_DISPATCH
#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxh_x86dispatch.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>

#include "package/package.hpp"
#include "package/row_source.hpp"

namespace tessera {

// ---- checksums ---------------------------------------------------------------------------

// With TESSERA_XXH3_DISPATCH (CMake defines it when libxxhash exports the x86 dispatcher, as
// Debian's does), the widest vector unit the CPU has (AVX-512, AVX2, else SSE2) is chosen at
// run time; the hash value is the same.
checksum128 xxh3_128(const void* data, size_t bytes) {
#ifdef TESSERA_XXH3_DISPATCH
  XXH128_hash_t h = XXH3_128bits_dispatch(data, bytes);
#else
  XXH128_hash_t h = XXH3_128bits(data, bytes);
#endif
  return checksum128{h.high64, h.low64};
}

std::string to_hex(const checksum128& c) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016" PRIx64 "%016" PRIx64, c.high, c.low);
  return buf;
}

std::optional<checksum128> checksum_from_hex(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  uint64_t half[2] = {0, 0};
  for (size_t i = 0; i < hex.size(); ++i) {
    const char c = hex[i];
    const int d = (c >= '0' && c <= '9')   ? c - '0'
                  : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                           : -1;
    if (d < 0) return std::nullopt;
    half[i / 16] = (half[i / 16] << 4) | static_cast<uint64_t>(d);
  }
  return checksum128{half[0], half[1]};
}

// ---- validation ---------------------------------------------------------------------------
namespace {

// A block larger than this is refused: a ranged read may need one block of scratch memory.
constexpr uint64_t max_block_bytes = uint64_t{1} << 30;

caf::error corrupt(const std::string& dir, const std::string& what) {
  return make_error(errc::corrupt_package, dir + "/manifest.toml: " + what);
}

bool safe_relative_path(const std::string& p) {
  if (p.empty() || p[0] == '/' || p.find('\0') != std::string::npos) return false;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    std::string part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

// Size of a regular file, or an error naming it.
caf::expected<uint64_t> file_size(const std::string& dir, const std::string& rel,
                                  const std::string& what) {
  struct stat st;
  std::string path = dir + "/" + rel;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return make_error(errc::corrupt_package, what + " file " + path + " is missing");
    return make_error(errc::io_error, "cannot stat " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode))
    return make_error(errc::corrupt_package, what + " file " + path + " is not a regular file");
  return static_cast<uint64_t>(st.st_size);
}

// `file`: the tensor's file must exist with the shape's exact size (false: a kept package's
// metadata, package::open_metadata).
caf::error check_tensor(const std::string& dir, const tensor_info& t, bool file) {
  std::string id = "tensor '" + t.name + "'";
  if (t.name.empty()) return corrupt(dir, "a tensor has an empty name");
  if (!safe_relative_path(t.file))
    return corrupt(dir, id + " has unsafe file path '" + t.file + "'");
  if (t.rows == 0 || t.cols == 0)
    return corrupt(
        dir, id + " has an empty shape " + std::to_string(t.rows) + " x " + std::to_string(t.cols));
  uint64_t elems = 0, bytes = 0;
  if (__builtin_mul_overflow(t.rows, t.cols, &elems) ||
      __builtin_mul_overflow(elems, uint64_t{sizeof(float)}, &bytes) ||
      bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return corrupt(dir, id + " shape " + std::to_string(t.rows) + " x " + std::to_string(t.cols) +
                            " overflows a file size");
  if (t.block_rows == 0) return corrupt(dir, id + " has block_rows = 0");
  uint64_t blocks = (t.rows - 1) / t.block_rows + 1;
  if (t.block_checksums.size() != blocks)
    return corrupt(dir, id + " lists " + std::to_string(t.block_checksums.size()) +
                            " block checksums, but " + std::to_string(t.rows) +
                            " rows in blocks of " + std::to_string(t.block_rows) + " need " +
                            std::to_string(blocks));
  if (t.block_bytes() > max_block_bytes)
    return corrupt(dir, id + " has checksum blocks larger than 1 GiB");
  if (!file) return {};
  auto size = file_size(dir, t.file, id);
  if (!size) return size.error();
  if (*size != bytes)
    return corrupt(dir, id + " file " + t.file + " has " + std::to_string(*size) +
                            " bytes, but its shape " + std::to_string(t.rows) + " x " +
                            std::to_string(t.cols) + " needs " + std::to_string(bytes));
  return {};
}

// A tensor referenced by `who`, or an error.
caf::expected<const tensor_info*> need_tensor(const std::string& dir, const manifest& m,
                                              const std::string& name, const std::string& who) {
  const tensor_info* t = m.find_tensor(name);
  if (!t) return corrupt(dir, who + " names tensor '" + name + "', which is not in [[tensors]]");
  return t;
}

caf::expected<const text_file_info*> need_file(const std::string& dir, const manifest& m,
                                               const std::string& key, const std::string& who) {
  const text_file_info* f = m.find_file(key);
  if (!f) return corrupt(dir, who + " names file key '" + key + "', which is not in [files]");
  return f;
}

// An "ids" embedder: one [[embedder.bags]] per table, unique names, padding_idx in range.
caf::error check_bags(const std::string& dir, const manifest& m) {
  const embedder_spec& e = *m.embedder;
  if (e.bags.size() != e.tables.size())
    return corrupt(dir, "[embedder] has " + std::to_string(e.tables.size()) + " tables but " +
                            std::to_string(e.bags.size()) + " [[embedder.bags]]");
  std::set<std::string> names;
  for (size_t i = 0; i < e.bags.size(); ++i) {
    const bag_spec& b = e.bags[i];
    const tensor_info* t = m.find_tensor(e.tables[i]);
    if (b.name.empty() || !names.insert(b.name).second)
      return corrupt(dir, "[[embedder.bags]] #" + std::to_string(i) + " name '" + b.name +
                              "' is empty or not unique");
    if (b.padding_idx < -1 || (b.padding_idx >= 0 && uint64_t(b.padding_idx) >= t->rows))
      return corrupt(dir, "[[embedder.bags]] '" + b.name + "' padding_idx " +
                              std::to_string(b.padding_idx) + " is outside [0, " +
                              std::to_string(t->rows) + ")");
  }
  return {};
}

caf::error check_embedder(const std::string& dir, const manifest& m) {
  const embedder_spec& e = *m.embedder;
  if (e.tables.empty()) return corrupt(dir, "[embedder] has no tables");
  for (const auto& name : e.tables)
    if (auto t = need_tensor(dir, m, name, "[embedder] tables"); !t) return t.error();
  const tensor_info* table = m.find_tensor(e.tables[0]);
  const featurizer_spec& f = e.featurizer;
  if (f.kind == "ids") return check_bags(dir, m);
  if (!e.bags.empty()) return corrupt(dir, "[[embedder.bags]] needs featurizer kind 'ids'");
  if (e.pooling == pooling_kind::max)
    return corrupt(dir, "[embedder] pooling 'max' needs featurizer kind 'ids' ([[embedder.bags]])");
  auto vocab = need_file(dir, m, f.vocab, "[embedder.featurizer] vocab");
  if (!vocab) return vocab.error();
  if (f.word_ngrams == 0) return corrupt(dir, "[embedder.featurizer] word_ngrams must be >= 1");
  uint64_t expect = (*vocab)->lines + f.buckets;
  if (expect < f.buckets) return corrupt(dir, "[embedder.featurizer] buckets overflow");
  if (f.kind == "hashing" && table->rows != expect)
    return corrupt(dir, "embedding table '" + table->name + "' has " + std::to_string(table->rows) +
                            " rows, but the hashing featurizer needs vocab " +
                            std::to_string((*vocab)->lines) + " + buckets " +
                            std::to_string(f.buckets) + " = " + std::to_string(expect));
  if (f.kind == "fasttext") {
    // The vocabulary holds words and labels; only words have rows (types are in word_types).
    auto types = need_file(dir, m, f.word_types, "[embedder.featurizer] word_types");
    if (!types) return types.error();
    if ((*types)->lines != (*vocab)->lines)
      return corrupt(dir, "fasttext word_types has " + std::to_string((*types)->lines) +
                              " lines, vocab has " + std::to_string((*vocab)->lines));
    if (table->rows < f.buckets || table->rows > expect)
      return corrupt(dir, "embedding table '" + table->name + "' has " +
                              std::to_string(table->rows) + " rows, outside [buckets, vocab + " +
                              "buckets] = [" + std::to_string(f.buckets) + ", " +
                              std::to_string(expect) + "]");
  }
  return {};
}

caf::error check_classifier(const std::string& dir, const manifest& m) {
  const classifier_spec& c = *m.classifier;
  if (c.layers.empty()) return corrupt(dir, "[classifier] has no layers");
  uint64_t in = embedder_dim(m);
  std::string in_from = m.embedder ? "embedding dim" : "";
  for (size_t i = 0; i < c.layers.size(); ++i) {
    std::string who = "[[classifier.layers]] #" + std::to_string(i);
    auto w = need_tensor(dir, m, c.layers[i].weight, who + " weight");
    if (!w) return w.error();
    if (!in_from.empty() && (*w)->cols != in)
      return corrupt(dir, who + " weight '" + (*w)->name + "' has " + std::to_string((*w)->cols) +
                              " columns, but its input (" + in_from + ") has " +
                              std::to_string(in));
    if (!c.layers[i].bias.empty()) {
      auto b = need_tensor(dir, m, c.layers[i].bias, who + " bias");
      if (!b) return b.error();
      if ((*b)->rows != (*w)->rows || (*b)->cols != 1)
        return corrupt(dir, who + " bias '" + (*b)->name + "' is " + std::to_string((*b)->rows) +
                                " x " + std::to_string((*b)->cols) + ", expected " +
                                std::to_string((*w)->rows) + " x 1");
    }
    in = (*w)->rows;
    in_from = "layer #" + std::to_string(i) + " output";
  }
  auto labels = need_file(dir, m, c.labels, "[classifier] labels");
  if (!labels) return labels.error();
  if (c.output != output_kind::hs && (*labels)->lines != in)
    return corrupt(dir, "[classifier] last layer has " + std::to_string(in) + " outputs, but " +
                            "labels has " + std::to_string((*labels)->lines) + " lines");
  if (c.output == output_kind::hs || !c.label_counts.empty()) {
    auto counts = need_file(dir, m, c.label_counts, "[classifier] label_counts");
    if (!counts) return counts.error();
    if ((*counts)->lines != (*labels)->lines)
      return corrupt(dir, "[classifier] label_counts has " + std::to_string((*counts)->lines) +
                              " lines, labels has " + std::to_string((*labels)->lines));
  }
  return {};
}

}  // namespace

caf::error validate_manifest(const manifest& m, const std::string& dir, bool tensor_files) {
  if (m.format != manifest::current_format)
    return corrupt(dir, "format " + std::to_string(m.format) + " is not supported (this build " +
                            "reads format " + std::to_string(manifest::current_format) + ")");
  std::set<std::string> names;
  for (const auto& t : m.tensors) {
    if (!names.insert(t.name).second)
      return corrupt(dir, "tensor '" + t.name + "' is listed twice");
    if (auto err = check_tensor(dir, t, tensor_files)) return err;
  }
  std::set<std::string> keys;
  for (const auto& [key, f] : m.files) {
    if (!keys.insert(key).second) return corrupt(dir, "file key '" + key + "' is listed twice");
    if (!safe_relative_path(f.file))
      return corrupt(dir, "[files." + key + "] has unsafe path '" + f.file + "'");
    auto size = file_size(dir, f.file, "text file [files." + key + "]");
    if (!size) return size.error();
    if ((*size == 0) != (f.lines == 0))
      return corrupt(dir, "[files." + key + "] " + f.file + " has " + std::to_string(*size) +
                              " bytes for " + std::to_string(f.lines) + " lines");
  }
  if (m.embedder)
    if (auto err = check_embedder(dir, m)) return err;
  if (m.classifier)
    if (auto err = check_classifier(dir, m)) return err;
  return {};
}

// ---- reading ------------------------------------------------------------------------------
namespace {

constexpr uint64_t max_manifest_bytes = uint64_t{256} << 20;

// Owns a file descriptor.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

caf::error open_read(const std::string& path, fd_guard& g, const std::string& what) {
  do {
    g.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (g.fd < 0 && errno == EINTR);
  if (g.fd >= 0) return {};
  if (errno == ENOENT)
    return make_error(errc::corrupt_package, what + " file " + path + " is missing");
  return make_error(errc::io_error, "cannot open " + path + ": " + std::strerror(errno));
}

// Reads exactly `len` bytes at `off`, retrying short reads and EINTR.
caf::error pread_full(int fd, void* buf, uint64_t len, uint64_t off, const std::string& path) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(len, uint64_t{1} << 30));
    ssize_t r = ::pread(fd, p, chunk, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0)
      return make_error(errc::io_error, "cannot read " + path + " at byte " + std::to_string(off) +
                                            ": " + std::strerror(errno));
    if (r == 0)
      return make_error(errc::corrupt_package,
                        path + " is truncated: end of file at byte " + std::to_string(off));
    p += r;
    off += static_cast<uint64_t>(r);
    len -= static_cast<uint64_t>(r);
  }
  return {};
}

caf::expected<std::string> read_whole(const std::string& path, uint64_t max_bytes,
                                      const std::string& what) {
  fd_guard g;
  if (auto err = open_read(path, g, what)) return err;
  struct stat st;
  if (::fstat(g.fd, &st) != 0)
    return make_error(errc::io_error, "cannot stat " + path + ": " + std::strerror(errno));
  auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes)
    return make_error(errc::corrupt_package,
                      path + " is too large (" + std::to_string(size) + " bytes)");
  std::string text(size, '\0');
  if (auto err = pread_full(g.fd, text.data(), size, 0, path)) return err;
  return text;
}

// Reads block `b` of `t` from its open file `fd` (at `path`) into `buf` and verifies it.
caf::error read_verified(const tensor_info& t, int fd, const std::string& path, uint64_t b,
                         char* buf) {
  const uint64_t row_bytes = t.cols * sizeof(float), br = t.block_rows;
  const uint64_t b0 = b * br, b1 = std::min(b0 + br, t.rows), nbytes = (b1 - b0) * row_bytes;
  if (auto err = pread_full(fd, buf, nbytes, b0 * row_bytes, path)) return err;
  const checksum128 sum = xxh3_128(buf, nbytes);
  if (sum != t.block_checksums[b])
    return make_error(errc::corrupt_package,
                      "tensor '" + t.name + "' (" + path + ") block " + std::to_string(b) +
                          " (rows " + std::to_string(b0) + ".." + std::to_string(b1) +
                          ") checksum mismatch: manifest " + to_hex(t.block_checksums[b]) +
                          ", data " + to_hex(sum));
  return {};
}

}  // namespace

std::shared_ptr<float> aligned_floats(uint64_t count) {
  uint64_t bytes = (count * sizeof(float) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
  if (!p) return nullptr;
  return std::shared_ptr<float>(static_cast<float*>(p), [](float* f) { std::free(f); });
}

caf::expected<package> package::open(const std::string& dir) {
  return open_checked(dir, true);
}

caf::expected<package> package::open_metadata(const std::string& dir) {
  return open_checked(dir, false);
}

caf::expected<package> package::open_checked(const std::string& dir, bool tensor_files) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return make_error(errc::io_error, "package directory " + dir + " does not exist");
  std::string path = dir + "/manifest.toml";
  auto text = read_whole(path, max_manifest_bytes, "manifest");
  if (!text) {
    if (code_of(text.error()) == errc::corrupt_package && ::access(path.c_str(), F_OK) != 0)
      return make_error(errc::corrupt_package,
                        dir + " has no manifest.toml (not a package, or an incomplete one)");
    return text.error();
  }
  auto m = parse_manifest(*text, path);
  if (!m) return m.error();
  if (auto err = validate_manifest(*m, dir, tensor_files)) return err;
  package p;
  p.dir_ = dir;
  p.meta_ = std::move(*m);
  return p;
}

uint64_t package::read_scratch_bytes(const std::string& tensor, uint64_t begin,
                                     uint64_t end) const {
  const tensor_info* t = meta_.find_tensor(tensor);
  if (!t || begin >= end || end > t->rows || t->block_rows == 0) return 0;
  const uint64_t br = t->block_rows;
  const bool aligned = begin % br == 0 && (end % br == 0 || end == t->rows);
  return aligned ? 0 : t->block_bytes();
}

caf::expected<row_block> package::read_rows(const std::string& tensor, uint64_t begin, uint64_t end,
                                            const progress_fn& progress,
                                            const std::atomic<bool>* cancel) const {
  const tensor_info* t = meta_.find_tensor(tensor);
  if (!t)
    return make_error(errc::invalid_argument,
                      "package " + dir_ + " has no tensor '" + tensor + "'");
  if (begin > end || end > t->rows)
    return make_error(errc::invalid_argument, "rows [" + std::to_string(begin) + ", " +
                                                  std::to_string(end) + ") are outside tensor '" +
                                                  tensor + "' with " + std::to_string(t->rows) +
                                                  " rows");
  std::string path = dir_ + "/" + t->file;
  fd_guard g;
  if (begin < end)
    if (auto err = open_read(path, g, "tensor '" + tensor + "'")) return err;
  return assemble_rows(
      t->rows, t->cols, t->block_rows, begin, end,
      [&](uint64_t b, char* buf, uint64_t) { return read_verified(*t, g.fd, path, b, buf); },
      "tensor '" + tensor + "'", progress, cancel);
}

caf::expected<row_block> assemble_rows(uint64_t rows, uint64_t cols, uint64_t block_rows,
                                       uint64_t begin, uint64_t end, const block_reader& read_block,
                                       const std::string& what, const progress_fn& progress,
                                       const std::atomic<bool>* cancel) {
  row_block out;
  out.row_begin = begin;
  out.rows = end - begin;
  out.cols = cols;
  if (begin == end) return out;
  out.data = aligned_floats(out.rows * out.cols);
  if (!out.data)
    return make_error(errc::insufficient_memory,
                      "cannot allocate " + std::to_string(out.bytes()) + " bytes for " + what);
  const uint64_t row_bytes = cols * sizeof(float), br = block_rows;
  const uint64_t first = begin / br, last = (end - 1) / br;
  const uint64_t total = (std::min(rows, (last + 1) * br) - first * br) * row_bytes;
  std::shared_ptr<float> scratch;  // one block, only for blocks that stick out of the range
  auto* dst = reinterpret_cast<char*>(out.data.get());
  uint64_t done = 0;
  for (uint64_t b = first; b <= last; ++b) {
    // Returning drops `out` and `scratch`: a cancelled read frees its memory here, at once.
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed))
      return make_error(errc::unavailable, "read of rows [" + std::to_string(begin) + ", " +
                                               std::to_string(end) + ") of " + what +
                                               " cancelled after " + std::to_string(done) + " of " +
                                               std::to_string(total) + " bytes");
    const uint64_t b0 = b * br, b1 = std::min(b0 + br, rows), nbytes = (b1 - b0) * row_bytes;
    const bool inside = b0 >= begin && b1 <= end;
    if (!inside && !scratch) {
      scratch = aligned_floats(std::min(br, rows) * cols);
      if (!scratch) return make_error(errc::insufficient_memory, "cannot allocate a block");
    }
    char* buf = inside ? dst + (b0 - begin) * row_bytes : reinterpret_cast<char*>(scratch.get());
    if (auto err = read_block(b, buf, nbytes)) return err;
    if (!inside) {
      uint64_t lo = std::max(b0, begin), hi = std::min(b1, end);
      std::memcpy(dst + (lo - begin) * row_bytes, buf + (lo - b0) * row_bytes,
                  (hi - lo) * row_bytes);
    }
    done += nbytes;
    if (progress) progress(done, total);
  }
  return out;
}

caf::error package::read_block(const std::string& tensor, uint64_t block, char* out) const {
  const tensor_info* t = meta_.find_tensor(tensor);
  if (!t || block >= t->block_checksums.size())
    return make_error(errc::invalid_argument, "package " + dir_ + " has no block " +
                                                  std::to_string(block) + " of tensor '" + tensor +
                                                  "'");
  const std::string path = dir_ + "/" + t->file;
  fd_guard g;
  if (auto err = open_read(path, g, "tensor '" + tensor + "'")) return err;
  return read_verified(*t, g.fd, path, block, out);
}

caf::expected<std::vector<std::string>> package::read_lines(const std::string& key) const {
  const text_file_info* f = meta_.find_file(key);
  if (!f)
    return make_error(errc::invalid_argument, "package " + dir_ + " has no file key '" + key + "'");
  std::string path = dir_ + "/" + f->file;
  auto text =
      read_whole(path, std::numeric_limits<int64_t>::max(), "text file [files." + key + "]");
  if (!text) return text.error();
  const checksum128 sum = xxh3_128(text->data(), text->size());
  if (sum != f->checksum)
    return make_error(errc::corrupt_package, "text file " + path + " checksum mismatch: manifest " +
                                                 to_hex(f->checksum) + ", data " + to_hex(sum));
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text->size()) {
    size_t nl = text->find('\n', start);
    if (nl == std::string::npos) nl = text->size();
    lines.emplace_back(*text, start, nl - start);
    start = nl + 1;
  }
  if (lines.size() != f->lines)
    return make_error(errc::corrupt_package,
                      "text file " + path + " has " + std::to_string(lines.size()) +
                          " lines, manifest " + "says " + std::to_string(f->lines));
  return lines;
}

// ---- content identity ---------------------------------------------------------------------

caf::expected<std::string> rows_digest(const manifest& m, const std::string& tensor,
                                       uint64_t row_begin, uint64_t row_end) {
  auto blocks = blocks_of(m, tensor, row_begin, row_end);
  if (!blocks) return blocks.error();
  return blocks_digest(*blocks, row_begin, row_end);
}

}  // namespace tessera
