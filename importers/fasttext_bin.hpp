#pragma once
// A streaming reader of fastText 0.9.2 model files (`.bin` dense, `.ftz` product-quantized),
// file format versions 11 and 12. See /work/shared/FASTTEXT.md for the layout.
//
// Memory: open() parses the header, the args, the dictionary (with its prune index), the
// small product-quantizer codebooks and the output matrix; the input matrix (the big one) is
// never held: read_input_rows() fetches any row range with pread, dense or dequantized.
//
// Dequantization contract: fastText adds a quantized row into the hidden vector as
// `x[j] += norm * c[j]` (QuantMatrix::addRowToVector -> ProductQuantizer::addcode), one float
// product then one float add. read_input_rows() yields v[j] = (float)(norm * c[j]) (norm = 1
// without -qnorm), so summing our rows sequentially in float reproduces fastText's hidden
// vector bit for bit. The quantized OUTPUT matrix is different: fastText's dotRow computes
// (sum_j x[j] * c[j]) * norm, not sum_j x[j] * (norm * c[j]); quant_matrix::dot_row() does the
// former (exact), and dequantized output rows (what a package stores) give logits that may
// differ in the last bits when the output is quantized with -qnorm. Without -qnorm the two
// are bit-identical.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/errors.hpp"

namespace tessera {

// Random-access bytes (a file through pread, or memory for tests).
class byte_source {
 public:
  virtual ~byte_source() = default;
  virtual uint64_t size() const = 0;
  // Reads exactly `n` bytes at `offset` into `dst`; io_error on failure. The caller checks
  // bounds against size() first. Thread-safe.
  virtual caf::error read_at(uint64_t offset, void* dst, size_t n) const = 0;
};

// Opens a file for pread. Errors: io_error.
caf::expected<std::shared_ptr<byte_source>> open_file_source(const std::string& path);
// Wraps bytes held in memory.
std::shared_ptr<byte_source> make_memory_source(std::string bytes);

namespace ft {

constexpr int32_t file_magic = 793712314;
enum class loss_name : int32_t { hs = 1, ns = 2, softmax = 3, ova = 4 };
enum class model_name : int32_t { cbow = 1, sg = 2, supervised = 3 };

struct args {
  int32_t dim = 0, ws = 0, epoch = 0, min_count = 0, neg = 0, word_ngrams = 0, loss = 0, model = 0,
          bucket = 0, minn = 0, maxn = 0, lr_update_rate = 0;
  double t = 0;
};

struct entry {
  std::string word;  // any bytes but '\0'
  int64_t count = 0;
  int8_t type = 0;  // 0 word, 1 label
};

struct dictionary {
  int32_t nwords = 0;
  int32_t nlabels = 0;
  int64_t ntokens = 0;
  std::vector<entry> entries;  // words then labels, in stored order
  // -1: not pruned. >= 0: pruned, n-gram bucket b maps to row nwords + prune_index[b]; a
  // bucket absent from the index yields no row (so 0 entries drops every n-gram).
  int64_t prune_size = -1;
  std::vector<std::pair<int32_t, int32_t>> prune_index;  // (bucket, compact index), file order
  bool pruned() const { return prune_size >= 0; }
  // The labels' counts, in label order (what an hs model builds its tree from).
  std::vector<int64_t> label_counts() const;
};

// fastText's ProductQuantizer codebook: 256 centroids per sub-quantizer.
struct product_quantizer {
  static constexpr int32_t ksub = 256;
  int32_t dim = 0, nsubq = 0, dsub = 0, lastdsub = 0;
  std::vector<float> centroids;  // dim * ksub
  const float* centroid(int32_t m, uint8_t code) const;
};

// Where a product-quantized matrix's pieces live. Codes (rows * nsubq bytes, row-major) and
// norm codes (one byte per row) stay in the file; the codebooks are loaded.
struct quant_matrix {
  bool qnorm = false;
  int64_t rows = 0, cols = 0;
  uint64_t codes_offset = 0;
  uint64_t norm_codes_offset = 0;
  product_quantizer pq;
  product_quantizer npq;  // only when qnorm
  // Row i's value at column j is (float)(norm_i * c_j) with c from the row's codes.
  void dequantize(const uint8_t* codes, uint8_t norm_code, float* out) const;
  // fastText's QuantMatrix::dotRow, exactly: sequential float sum of x[j] * c[j], times norm.
  float dot(const uint8_t* codes, uint8_t norm_code, const float* x) const;
};

// The output matrix, held in memory (nlabels x dim).
struct output_matrix {
  int64_t rows = 0, cols = 0;
  std::vector<float> dense;  // rows * cols, dequantized when quantized
  bool quantized = false;
  quant_matrix quant;
  std::vector<uint8_t> codes, norm_codes;
  // fastText's dotRow(x, i): sequential float dot, or the quantized rule above.
  float dot_row(const float* x, int64_t i) const;
};

class bin_reader {
 public:
  // Parses and validates everything but the input matrix rows. Errors: corrupt_package
  // (wrong magic, truncated, inconsistent sizes, trailing bytes, a dictionary entry holding
  // a newline, which fastText never writes), unsupported (version other
  // than 11/12, a model that is not supervised, an unknown loss), io_error.
  static caf::expected<bin_reader> open(const std::string& path);
  static caf::expected<bin_reader> open(std::shared_ptr<byte_source> src);

  int32_t version() const { return version_; }
  // As fastText uses them: maxn is forced to 0 for version 11.
  const ft::args& args() const { return args_; }
  const ft::dictionary& dict() const { return dict_; }
  // Input matrix shape: rows = nwords + (pruned ? prune_size : bucket), cols = dim.
  uint64_t input_rows() const { return input_rows_; }
  uint64_t dim() const { return static_cast<uint64_t>(args_.dim); }
  bool input_quantized() const { return input_quantized_; }
  const ft::output_matrix& output() const { return output_; }
  // Bytes the input matrix occupies in the file (for progress).
  uint64_t input_file_bytes() const { return input_file_bytes_; }
  uint64_t file_size() const { return src_->size(); }

  // Reads input rows [begin, begin + n) into out (n * dim floats), dequantizing if needed.
  // Thread-safe. Errors: invalid_argument (range), io_error.
  caf::error read_input_rows(uint64_t begin, uint64_t n, float* out) const;

 private:
  std::shared_ptr<byte_source> src_;
  int32_t version_ = 0;
  ft::args args_;
  ft::dictionary dict_;
  uint64_t input_rows_ = 0;
  bool input_quantized_ = false;
  uint64_t input_offset_ = 0;  // dense: first float
  uint64_t input_file_bytes_ = 0;
  quant_matrix input_quant_;
  ft::output_matrix output_;
  friend class bin_parser;
};

}  // namespace ft
}  // namespace tessera
