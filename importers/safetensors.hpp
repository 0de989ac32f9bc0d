#pragma once
// A streaming reader of safetensors files (the format PyTorch models are exported in):
//
//   u64 little-endian N | N bytes of JSON header | data
//
// The header is an object: tensor name -> {"dtype": "F32", "shape": [d0, ...],
// "data_offsets": [begin, end]} (offsets into the data, end exclusive), plus an optional
// "__metadata__" object of strings. Data is little-endian and row-major.
//
// open() parses only the header, with a SAX parser that keeps nothing but the tensors' entries
// (memory: the entries, never a DOM of the header); read_rows() fetches a row range of one
// tensor with pread in chunks of at most 4 MiB, converted to float32. A whole tensor is never
// held.
//
// Refused by open(), naming the tensor where there is one:
// - corrupt_package: a file shorter than its header, a header length over 100 MB, a header
//   that is not UTF-8 JSON of the shape above (a missing or unknown key, a duplicate tensor, a
//   shape or offsets that are not unsigned integers), offsets out of the data or end < begin,
//   a byte size that is not the shape's elements times the dtype's size, tensors whose data
//   overlap, or data bytes no tensor covers (the format indexes its whole buffer);
// - unsupported: any dtype but F32, F16 and BF16 (F64, I64, U8, BOOL, F8_E4M3, ...).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/errors.hpp"
#include "importers/fasttext_bin.hpp"  // byte_source

namespace tessera::st {

// A header longer than this is refused before any of it is read.
constexpr uint64_t max_header_bytes = 100'000'000;

enum class dtype { f32, f16, bf16 };

// "F32", "F16", "BF16".
const char* to_string(dtype t);
// Bytes per element.
uint64_t size_of(dtype t);

struct tensor_info {
  std::string name;
  dtype type = dtype::f32;
  std::vector<uint64_t> shape;  // empty for a scalar
  uint64_t begin = 0, end = 0;  // absolute offsets in the file, end exclusive

  uint64_t elements() const;  // the product of shape (1 for a scalar)
  // Rows of the tensor: shape[0] (1 for a scalar), and elements per row.
  uint64_t rows() const;
  uint64_t row_elements() const;
};

// IEEE half and bfloat16 to float32, exactly (every value of both is a float32 value;
// subnormals, infinities and NaN included).
float f16_to_f32(uint16_t bits);
float bf16_to_f32(uint16_t bits);

class reader {
 public:
  // Reads and checks the header (see above). Errors: corrupt_package, unsupported, io_error.
  static caf::expected<reader> open(std::shared_ptr<byte_source> src);

  // Every tensor, in the order of their data offsets.
  const std::vector<tensor_info>& tensors() const { return tensors_; }
  // The tensor named `name`, or nullptr.
  const tensor_info* find(const std::string& name) const;
  uint64_t file_size() const { return src_->size(); }

  // Rows [row_begin, row_end) of `t` (one of tensors()) as float32, row-major, into `out`
  // (row_elements() floats per row). Errors: invalid_argument (rows out of range), io_error.
  // Thread-safe.
  caf::error read_rows(const tensor_info& t, uint64_t row_begin, uint64_t row_end,
                       float* out) const;

 private:
  std::shared_ptr<byte_source> src_;
  std::vector<tensor_info> tensors_;
};

}  // namespace tessera::st
