#include "importers/safetensors.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

namespace tessera::st {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; F32 rows are copied as they are");

// Most dimensions a tensor may have (PyTorch allows 64 too).
constexpr size_t max_dims = 64;
// Bytes read at once by read_rows.
constexpr uint64_t chunk_bytes = uint64_t{4} << 20;

caf::error corrupt(const std::string& what) {
  return make_error(errc::corrupt_package, "safetensors: " + what);
}

std::string tensor_named(const std::string& name) {
  return "tensor '" + name + "'";
}

// What the header parser keeps: only the tensors' entries. Every callback that meets
// something the format does not allow records why and returns false, which stops the parse.
class header_sax {
 public:
  using json = nlohmann::json;

  std::vector<tensor_info> tensors;
  caf::error error;

  bool null() { return bad("a null"); }
  bool boolean(bool) { return bad("a boolean"); }
  bool number_integer(json::number_integer_t) { return bad("a negative number"); }
  bool number_float(json::number_float_t, const json::string_t&) { return bad("a fraction"); }
  bool binary(json::binary_t&) { return bad("binary data"); }

  bool number_unsigned(json::number_unsigned_t v) {
    if (where_ == place::shape) {
      if (cur_.shape.size() == max_dims)
        return fail(tensor_named(cur_.name) + " has over " + std::to_string(max_dims) +
                    " dimensions");
      cur_.shape.push_back(v);
      return true;
    }
    if (where_ == place::offsets) {
      if (offsets_.size() == 2)
        return fail(tensor_named(cur_.name) + ": data_offsets has over 2 numbers");
      offsets_.push_back(v);
      return true;
    }
    return bad("a number");
  }

  bool string(json::string_t& s) {
    if (where_ == place::metadata_value) {
      where_ = place::metadata;
      return true;
    }
    if (where_ != place::dtype) return bad("a string");
    where_ = place::tensor;
    if (s == "F32")
      cur_.type = dtype::f32;
    else if (s == "F16")
      cur_.type = dtype::f16;
    else if (s == "BF16")
      cur_.type = dtype::bf16;
    else
      return fail(tensor_named(cur_.name) + " has dtype " + s.substr(0, 32) +
                      "; tessera reads F32, F16 and BF16",
                  errc::unsupported);
    return true;
  }

  bool start_object(std::size_t) {
    switch (where_) {
      case place::start:
        where_ = place::top;
        return true;
      case place::top_value:
        if (key_ == "__metadata__") {
          where_ = place::metadata;
          return true;
        }
        if (!names_.insert(key_).second) return fail("tensor '" + key_ + "' is listed twice");
        cur_ = tensor_info{};
        cur_.name = key_;
        offsets_.clear();
        seen_.clear();
        where_ = place::tensor;
        return true;
      default:
        return bad("an object");
    }
  }

  bool key(json::string_t& k) {
    switch (where_) {
      case place::top:
        key_ = k;
        where_ = place::top_value;
        return true;
      case place::metadata:
        where_ = place::metadata_value;
        return true;
      case place::tensor:
        if (!seen_.insert(k).second)
          return fail(tensor_named(cur_.name) + " has two '" + k + "' keys");
        if (k == "dtype")
          where_ = place::dtype;
        else if (k == "shape")
          where_ = place::shape_value;
        else if (k == "data_offsets")
          where_ = place::offsets_value;
        else
          return fail(tensor_named(cur_.name) + " has an unknown key '" + k.substr(0, 64) + "'");
        return true;
      default:
        return bad("a key");
    }
  }

  bool end_object() {
    switch (where_) {
      case place::metadata:
        where_ = place::top;
        return true;
      case place::tensor:
        if (seen_.size() != 3)
          return fail(tensor_named(cur_.name) + " needs dtype, shape and data_offsets");
        if (offsets_.size() != 2)
          return fail(tensor_named(cur_.name) + ": data_offsets needs 2 numbers");
        cur_.begin = offsets_[0];
        cur_.end = offsets_[1];
        tensors.push_back(std::move(cur_));
        where_ = place::top;
        return true;
      case place::top:
        where_ = place::done;
        return true;
      default:
        return bad("the end of an object");
    }
  }

  bool start_array(std::size_t) {
    if (where_ == place::shape_value) {
      where_ = place::shape;
      return true;
    }
    if (where_ == place::offsets_value) {
      where_ = place::offsets;
      return true;
    }
    return bad("an array");
  }

  bool end_array() {
    if (where_ == place::shape || where_ == place::offsets) {
      where_ = place::tensor;
      return true;
    }
    return bad("the end of an array");
  }

  bool parse_error(std::size_t pos, const std::string&, const nlohmann::detail::exception& e) {
    if (!error)
      error = corrupt("the header is not JSON at byte " + std::to_string(pos) + ": " +
                      std::string(e.what()).substr(0, 200));
    return false;
  }

 private:
  enum class place {
    start,           // before the top object
    top,             // in the top object, between entries
    top_value,       // after a top-level key
    metadata,        // in __metadata__, between entries
    metadata_value,  // after a __metadata__ key: a string
    tensor,          // in a tensor's object, between entries
    dtype,           // after "dtype"
    shape_value,     // after "shape": an array
    shape,           // in the shape array
    offsets_value,   // after "data_offsets": an array
    offsets,         // in the data_offsets array
    done,            // after the top object
  };

  bool fail(const std::string& what, errc code = errc::corrupt_package) {
    if (!error) error = make_error(code, "safetensors: " + what);
    return false;
  }
  // Something the place does not allow.
  bool bad(const char* what) {
    std::string in = where_ == place::start ? "instead of the header's object"
                     : cur_.name.empty()    ? "in the header"
                                            : "in " + tensor_named(cur_.name);
    if (where_ == place::metadata_value) in = "as a __metadata__ value (a string)";
    return fail(std::string(what) + " " + in);
  }

  place where_ = place::start;
  std::string key_;
  tensor_info cur_;
  std::vector<uint64_t> offsets_;
  std::set<std::string> names_;
  std::set<std::string> seen_;  // keys of the current tensor's object
};

// Checks one tensor's sizes and makes its offsets absolute (the data starts at `data_at`).
caf::error place_tensor(tensor_info& t, uint64_t data_at, uint64_t data_size) {
  if (t.end < t.begin)
    return corrupt(tensor_named(t.name) + " ends (" + std::to_string(t.end) +
                   ") before it begins (" + std::to_string(t.begin) + ")");
  if (t.end > data_size)
    return corrupt(tensor_named(t.name) + " ends at byte " + std::to_string(t.end) +
                   " of the data, which has " + std::to_string(data_size));
  uint64_t n = 1;
  for (uint64_t d : t.shape)
    if (__builtin_mul_overflow(n, d, &n))
      return corrupt(tensor_named(t.name) + " has too many elements");
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(n, size_of(t.type), &bytes) || bytes != t.end - t.begin)
    return corrupt(tensor_named(t.name) + " of shape with " + std::to_string(n) + " " +
                   to_string(t.type) + " elements has " + std::to_string(t.end - t.begin) +
                   " bytes");
  t.begin += data_at;
  t.end += data_at;
  return {};
}

void convert(dtype type, const unsigned char* in, size_t n, float* out) {
  switch (type) {
    case dtype::f32:
      std::memcpy(out, in, n * sizeof(float));
      return;
    case dtype::f16:
      for (size_t i = 0; i < n; ++i)
        out[i] = f16_to_f32(static_cast<uint16_t>(in[2 * i] | (in[2 * i + 1] << 8)));
      return;
    case dtype::bf16:
      for (size_t i = 0; i < n; ++i)
        out[i] = bf16_to_f32(static_cast<uint16_t>(in[2 * i] | (in[2 * i + 1] << 8)));
      return;
  }
}

}  // namespace

const char* to_string(dtype t) {
  switch (t) {
    case dtype::f16:
      return "F16";
    case dtype::bf16:
      return "BF16";
    default:
      return "F32";
  }
}

uint64_t size_of(dtype t) {
  return t == dtype::f32 ? 4 : 2;
}

uint64_t tensor_info::elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;  // checked against the byte size by open()
  return n;
}

uint64_t tensor_info::rows() const {
  return shape.empty() ? 1 : shape[0];
}

uint64_t tensor_info::row_elements() const {
  uint64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant != 0) {  // subnormal: mant * 2^-24, exact in float
      const float v = std::ldexp(static_cast<float>(mant), -24);
      return sign ? -v : v;
    }
    bits = sign;
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);  // infinity or NaN (payload kept)
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // rebias 15 -> 127
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

float bf16_to_f32(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

caf::expected<reader> reader::open(std::shared_ptr<byte_source> src) {
  reader r;
  r.src_ = std::move(src);
  const uint64_t size = r.src_->size();
  if (size < 8) return corrupt("the file has " + std::to_string(size) + " bytes, under 8");
  unsigned char len_bytes[8];
  if (auto err = r.src_->read_at(0, len_bytes, 8)) return err;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n > max_header_bytes)
    return corrupt("the header length " + std::to_string(n) + " is over " +
                   std::to_string(max_header_bytes) + " bytes");
  if (n > size - 8)
    return corrupt("the header length " + std::to_string(n) + " runs past the file's " +
                   std::to_string(size) + " bytes");
  std::string header(n, '\0');
  if (auto err = r.src_->read_at(8, header.data(), n)) return err;
  header_sax sax;
  const bool ok = nlohmann::json::sax_parse(header, &sax);
  if (!ok || sax.error) return sax.error ? sax.error : corrupt("the header is not JSON");
  const uint64_t data_at = 8 + n, data_size = size - data_at;
  for (auto& t : sax.tensors)
    if (auto err = place_tensor(t, data_at, data_size)) return err;
  std::sort(sax.tensors.begin(), sax.tensors.end(), [](const auto& a, const auto& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  // The data is the tensors back to back: no overlap, no byte left over.
  uint64_t at = data_at;
  for (const auto& t : sax.tensors) {
    if (t.begin < at)
      return corrupt(tensor_named(t.name) + " overlaps the tensor before it in the data");
    if (t.begin > at)
      return corrupt("data bytes " + std::to_string(at - data_at) + ".." +
                     std::to_string(t.begin - data_at) + " belong to no tensor");
    at = t.end;
  }
  if (at != size)
    return corrupt("data bytes " + std::to_string(at - data_at) + ".." + std::to_string(data_size) +
                   " belong to no tensor");
  r.tensors_ = std::move(sax.tensors);
  return r;
}

const tensor_info* reader::find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

caf::error reader::read_rows(const tensor_info& t, uint64_t row_begin, uint64_t row_end,
                             float* out) const {
  if (row_begin > row_end || row_end > t.rows())
    return make_error(errc::invalid_argument, "rows [" + std::to_string(row_begin) + ", " +
                                                  std::to_string(row_end) + ") of " +
                                                  tensor_named(t.name) + ", which has " +
                                                  std::to_string(t.rows()));
  const uint64_t per_row = t.row_elements(), esize = size_of(t.type);
  uint64_t first = row_begin * per_row;
  const uint64_t last = row_end * per_row;
  const uint64_t step = std::max<uint64_t>(1, chunk_bytes / esize);
  std::vector<unsigned char> buf(static_cast<size_t>(std::min(last - first, step) * esize));
  while (first < last) {
    const uint64_t n = std::min(last - first, step);
    if (auto err = src_->read_at(t.begin + first * esize, buf.data(), n * esize)) return err;
    convert(t.type, buf.data(), static_cast<size_t>(n), out);
    out += n;
    first += n;
  }
  return {};
}

}  // namespace tessera::st
