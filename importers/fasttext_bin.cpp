#include "importers/fasttext_bin.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tessera {

namespace {

class file_source final : public byte_source {
 public:
  file_source(int fd, uint64_t size, std::string path)
      : fd_(fd), size_(size), path_(std::move(path)) {}
  ~file_source() override { ::close(fd_); }
  uint64_t size() const override { return size_; }
  caf::error read_at(uint64_t offset, void* dst, size_t n) const override {
    auto* p = static_cast<char*>(dst);
    while (n > 0) {
      ssize_t got = ::pread(fd_, p, n, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        return make_error(errc::io_error, "cannot read " + path_ + " at offset " +
                                              std::to_string(offset) + ": " +
                                              (got < 0 ? std::strerror(errno) : "end of file"));
      p += got;
      offset += static_cast<uint64_t>(got);
      n -= static_cast<size_t>(got);
    }
    return caf::none;
  }

 private:
  int fd_;
  uint64_t size_;
  std::string path_;
};

class memory_source final : public byte_source {
 public:
  explicit memory_source(std::string bytes) : bytes_(std::move(bytes)) {}
  uint64_t size() const override { return bytes_.size(); }
  caf::error read_at(uint64_t offset, void* dst, size_t n) const override {
    if (offset > bytes_.size() || n > bytes_.size() - offset)
      return make_error(errc::io_error, "read past the end of a memory source");
    std::memcpy(dst, bytes_.data() + offset, n);
    return caf::none;
  }

 private:
  std::string bytes_;
};

caf::error corrupt(const std::string& msg) {
  return make_error(errc::corrupt_package, "fastText model: " + msg);
}

// Sequential buffered reads over a byte_source; every read is bounds-checked so a truncated
// file fails with the offset and the field that was cut.
class cursor {
 public:
  explicit cursor(const byte_source& src) : src_(src) {}
  uint64_t offset() const { return off_; }
  uint64_t remaining() const { return src_.size() - off_; }

  caf::error read(void* dst, size_t n, const char* what) {
    if (n > remaining())
      return corrupt(std::string("truncated file: ") + what + " needs " + std::to_string(n) +
                     " bytes at offset " + std::to_string(off_) + ", only " +
                     std::to_string(remaining()) + " left");
    auto* p = static_cast<char*>(dst);
    while (n > 0) {
      if (buf_pos_ == buf_.size()) {
        if (auto err = refill()) return err;
      }
      size_t take = std::min(n, buf_.size() - buf_pos_);
      std::memcpy(p, buf_.data() + buf_pos_, take);
      buf_pos_ += take;
      p += take;
      n -= take;
      off_ += take;
    }
    return caf::none;
  }

  template <class T>
  caf::error get(T& v, const char* what) {
    return read(&v, sizeof(T), what);
  }

  caf::error skip(uint64_t n, const char* what) {
    if (n > remaining())
      return corrupt(std::string("truncated file: ") + what + " needs " + std::to_string(n) +
                     " bytes at offset " + std::to_string(off_) + ", only " +
                     std::to_string(remaining()) + " left");
    off_ += n;
    buf_.clear();
    buf_pos_ = 0;
    return caf::none;
  }

  // Bytes up to a '\0' (consumed, not returned).
  caf::error read_cstring(std::string& out, const char* what) {
    out.clear();
    for (;;) {
      if (buf_pos_ == buf_.size()) {
        if (remaining() == 0)
          return corrupt(std::string("truncated file: ") + what + " at offset " +
                         std::to_string(off_) + " has no terminating NUL");
        if (auto err = refill()) return err;
      }
      const char* b = buf_.data() + buf_pos_;
      size_t avail = buf_.size() - buf_pos_;
      const void* nul = std::memchr(b, 0, avail);
      size_t take = nul ? static_cast<size_t>(static_cast<const char*>(nul) - b) : avail;
      out.append(b, take);
      buf_pos_ += take;
      off_ += take;
      if (nul) {
        ++buf_pos_;
        ++off_;
        return caf::none;
      }
    }
  }

 private:
  caf::error refill() {
    size_t n = static_cast<size_t>(std::min<uint64_t>(remaining(), 1 << 20));
    buf_.resize(n);
    buf_pos_ = 0;
    return src_.read_at(off_, buf_.data(), n);
  }

  const byte_source& src_;
  uint64_t off_ = 0;
  std::string buf_;
  size_t buf_pos_ = 0;
};

constexpr int32_t max_dim = 1 << 16;

caf::error read_bool(cursor& c, bool& v, const char* what) {
  uint8_t b = 0;
  if (auto err = c.get(b, what)) return err;
  if (b > 1) return corrupt(std::string(what) + " is " + std::to_string(b) + ", not 0 or 1");
  v = b != 0;
  return caf::none;
}

caf::error read_pq(cursor& c, ft::product_quantizer& pq, int32_t want_dim, const char* what) {
  int32_t hdr[4];
  if (auto err = c.read(hdr, sizeof(hdr), what)) return err;
  pq.dim = hdr[0];
  pq.nsubq = hdr[1];
  pq.dsub = hdr[2];
  pq.lastdsub = hdr[3];
  if (pq.dim != want_dim || pq.dsub < 1 || pq.dsub > pq.dim)
    return corrupt(std::string(what) + ": dim " + std::to_string(pq.dim) + " dsub " +
                   std::to_string(pq.dsub) + " (expected dim " + std::to_string(want_dim) + ")");
  int32_t nsubq = (pq.dim + pq.dsub - 1) / pq.dsub;
  int32_t last = pq.dim % pq.dsub == 0 ? pq.dsub : pq.dim % pq.dsub;
  if (pq.nsubq != nsubq || pq.lastdsub != last)
    return corrupt(std::string(what) + ": nsubq " + std::to_string(pq.nsubq) + " lastdsub " +
                   std::to_string(pq.lastdsub) + " do not match dim and dsub");
  uint64_t n = static_cast<uint64_t>(pq.dim) * ft::product_quantizer::ksub;
  if (n * sizeof(float) > c.remaining())
    return corrupt(std::string("truncated file: ") + what + " centroids at offset " +
                   std::to_string(c.offset()));
  pq.centroids.resize(n);
  return c.read(pq.centroids.data(), n * sizeof(float), what);
}

// QuantMatrix::load: qnorm, m, n, codesize, codes, pq, [norm codes, npq]. Codes and norm
// codes are skipped (their offsets kept) unless `keep` is given.
caf::error read_quant(cursor& c, ft::quant_matrix& q, int64_t want_rows, int32_t dim,
                      const char* what, std::vector<uint8_t>* keep_codes,
                      std::vector<uint8_t>* keep_norms) {
  int64_t m = 0, n = 0;
  int32_t codesize = 0;
  if (auto err = read_bool(c, q.qnorm, what)) return err;
  if (auto err = c.get(m, what)) return err;
  if (auto err = c.get(n, what)) return err;
  if (auto err = c.get(codesize, what)) return err;
  if (m != want_rows || n != dim)
    return corrupt(std::string(what) + " is " + std::to_string(m) + " x " + std::to_string(n) +
                   ", expected " + std::to_string(want_rows) + " x " + std::to_string(dim));
  q.rows = m;
  q.cols = n;
  if (codesize < 0 || static_cast<uint64_t>(codesize) > c.remaining())
    return corrupt(std::string("truncated file: ") + what + " codes (" + std::to_string(codesize) +
                   " bytes) at offset " + std::to_string(c.offset()));
  q.codes_offset = c.offset();
  if (keep_codes) {
    keep_codes->resize(static_cast<size_t>(codesize));
    if (auto err = c.read(keep_codes->data(), keep_codes->size(), what)) return err;
  } else if (auto err = c.skip(static_cast<uint64_t>(codesize), what)) {
    return err;
  }
  if (auto err = read_pq(c, q.pq, dim, what)) return err;
  if (static_cast<int64_t>(codesize) != m * q.pq.nsubq)
    return corrupt(std::string(what) + ": " + std::to_string(codesize) + " code bytes for " +
                   std::to_string(m) + " rows of " + std::to_string(q.pq.nsubq) + " sub-vectors");
  if (q.qnorm) {
    if (static_cast<uint64_t>(m) > c.remaining())
      return corrupt(std::string("truncated file: ") + what + " norm codes at offset " +
                     std::to_string(c.offset()));
    q.norm_codes_offset = c.offset();
    if (keep_norms) {
      keep_norms->resize(static_cast<size_t>(m));
      if (auto err = c.read(keep_norms->data(), keep_norms->size(), what)) return err;
    } else if (auto err = c.skip(static_cast<uint64_t>(m), what)) {
      return err;
    }
    if (auto err = read_pq(c, q.npq, 1, what)) return err;
  }
  return caf::none;
}

}  // namespace

caf::expected<std::shared_ptr<byte_source>> open_file_source(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error(errc::io_error, "cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return make_error(errc::io_error, "cannot stat " + path + ": " + std::strerror(e));
  }
  return std::shared_ptr<byte_source>(
      std::make_shared<file_source>(fd, static_cast<uint64_t>(st.st_size), path));
}

std::shared_ptr<byte_source> make_memory_source(std::string bytes) {
  return std::make_shared<memory_source>(std::move(bytes));
}

namespace ft {

std::vector<int64_t> dictionary::label_counts() const {
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(nlabels));
  for (size_t i = static_cast<size_t>(nwords); i < entries.size(); ++i)
    out.push_back(entries[i].count);
  return out;
}

const float* product_quantizer::centroid(int32_t m, uint8_t code) const {
  if (m == nsubq - 1)
    return &centroids[static_cast<size_t>(m) * ksub * dsub + static_cast<size_t>(code) * lastdsub];
  return &centroids[(static_cast<size_t>(m) * ksub + code) * dsub];
}

void quant_matrix::dequantize(const uint8_t* codes, uint8_t norm_code, float* out) const {
  float norm = qnorm ? npq.centroid(0, norm_code)[0] : 1.0f;
  for (int32_t m = 0; m < pq.nsubq; ++m) {
    const float* c = pq.centroid(m, codes[m]);
    int32_t d = m == pq.nsubq - 1 ? pq.lastdsub : pq.dsub;
    for (int32_t j = 0; j < d; ++j) out[m * pq.dsub + j] = norm * c[j];
  }
}

float quant_matrix::dot(const uint8_t* codes, uint8_t norm_code, const float* x) const {
  float norm = qnorm ? npq.centroid(0, norm_code)[0] : 1.0f;
  float res = 0.0f;
  for (int32_t m = 0; m < pq.nsubq; ++m) {
    const float* c = pq.centroid(m, codes[m]);
    int32_t d = m == pq.nsubq - 1 ? pq.lastdsub : pq.dsub;
    for (int32_t j = 0; j < d; ++j) res += x[m * pq.dsub + j] * c[j];
  }
  return res * norm;
}

float output_matrix::dot_row(const float* x, int64_t i) const {
  if (quantized)
    return quant.dot(codes.data() + i * quant.pq.nsubq, quant.qnorm ? norm_codes[i] : 0, x);
  const float* row = dense.data() + i * cols;
  float d = 0.0f;
  for (int64_t j = 0; j < cols; ++j) d += row[j] * x[j];
  return d;
}

class bin_parser {
 public:
  static caf::error parse(bin_reader& r);
};

caf::error bin_parser::parse(bin_reader& r) {
  cursor c(*r.src_);
  int32_t magic = 0;
  if (auto err = c.get(magic, "magic")) return err;
  if (magic != file_magic)
    return corrupt("wrong magic " + std::to_string(magic) + " (expected " +
                   std::to_string(file_magic) + "): not a fastText .bin/.ftz file");
  if (auto err = c.get(r.version_, "version")) return err;
  if (r.version_ != 11 && r.version_ != 12)
    return make_error(errc::unsupported, "fastText model: file format version " +
                                             std::to_string(r.version_) +
                                             " (only 11 and 12 are supported)");
  auto& a = r.args_;
  int32_t ints[12];
  if (auto err = c.read(ints, sizeof(ints), "args")) return err;
  if (auto err = c.get(a.t, "args")) return err;
  a.dim = ints[0], a.ws = ints[1], a.epoch = ints[2], a.min_count = ints[3], a.neg = ints[4];
  a.word_ngrams = ints[5], a.loss = ints[6], a.model = ints[7], a.bucket = ints[8];
  a.minn = ints[9], a.maxn = ints[10], a.lr_update_rate = ints[11];
  if (a.model != static_cast<int32_t>(model_name::supervised))
    return make_error(errc::unsupported,
                      "fastText model: model type " + std::to_string(a.model) +
                          " is not supervised (3); word-vector models cannot be served");
  if (a.loss < 1 || a.loss > 4) return corrupt("unknown loss " + std::to_string(a.loss));
  if (r.version_ == 11) a.maxn = 0;  // fastText: old supervised models have no char n-grams
  if (a.dim < 1 || a.dim > max_dim) return corrupt("absurd dim " + std::to_string(a.dim));
  if (a.bucket < 0 || a.minn < 0 || a.maxn < 0 || a.maxn > 1024 || a.word_ngrams < 0 ||
      a.word_ngrams > 1024)
    return corrupt("absurd args: bucket " + std::to_string(a.bucket) + " minn " +
                   std::to_string(a.minn) + " maxn " + std::to_string(a.maxn) + " wordNgrams " +
                   std::to_string(a.word_ngrams));
  if (a.bucket == 0 && (a.maxn > 0 || a.word_ngrams > 1))
    return corrupt("n-grams are enabled but bucket is 0");

  auto& d = r.dict_;
  int32_t size = 0;
  if (auto err = c.get(size, "dictionary header")) return err;
  if (auto err = c.get(d.nwords, "dictionary header")) return err;
  if (auto err = c.get(d.nlabels, "dictionary header")) return err;
  if (auto err = c.get(d.ntokens, "dictionary header")) return err;
  if (auto err = c.get(d.prune_size, "dictionary header")) return err;
  if (d.nwords < 0 || d.nlabels < 1 || size < 0 ||
      static_cast<int64_t>(size) != static_cast<int64_t>(d.nwords) + d.nlabels)
    return corrupt("dictionary size " + std::to_string(size) + " != nwords " +
                   std::to_string(d.nwords) + " + nlabels " + std::to_string(d.nlabels) +
                   " (a supervised model needs at least one label)");
  // Each entry takes at least 10 bytes (a 1-byte word, NUL, count, type).
  if (static_cast<uint64_t>(size) * 11 > c.remaining())
    return corrupt("truncated file: dictionary of " + std::to_string(size) +
                   " entries cannot fit in the " + std::to_string(c.remaining()) + " bytes left");
  d.entries.resize(static_cast<size_t>(size));
  for (int32_t i = 0; i < size; ++i) {
    auto& e = d.entries[static_cast<size_t>(i)];
    if (auto err = c.read_cstring(e.word, "dictionary word")) return err;
    if (auto err = c.get(e.count, "dictionary entry count")) return err;
    if (auto err = c.get(e.type, "dictionary entry type")) return err;
    int8_t want = i < d.nwords ? 0 : 1;
    if (e.type != want || e.word.empty())
      return corrupt("dictionary entry " + std::to_string(i) + " has type " +
                     std::to_string(e.type) + " (words must come first, then labels) or is empty");
    // fastText's tokens end at whitespace; a package stores one entry per line.
    if (e.word.find('\n') != std::string::npos)
      return corrupt("dictionary entry " + std::to_string(i) + " holds a newline");
  }
  // Each entry takes 8 bytes; divided, not multiplied, so a size near 2^63 cannot wrap.
  if (d.prune_size < -1 ||
      (d.prune_size > 0 && static_cast<uint64_t>(d.prune_size) > c.remaining() / 8))
    return corrupt("prune index size " + std::to_string(d.prune_size) +
                   " is negative or longer than the file");
  if (d.prune_size > 0) {
    d.prune_index.resize(static_cast<size_t>(d.prune_size));
    for (auto& p : d.prune_index) {
      if (auto err = c.get(p.first, "prune index")) return err;
      if (auto err = c.get(p.second, "prune index")) return err;
      if (p.second < 0 || p.second >= d.prune_size || p.first < 0 || p.first >= a.bucket)
        return corrupt("prune index entry (" + std::to_string(p.first) + ", " +
                       std::to_string(p.second) + ") is out of range");
    }
  }

  int64_t want_rows =
      static_cast<int64_t>(d.nwords) + (d.pruned() ? d.prune_size : static_cast<int64_t>(a.bucket));
  r.input_rows_ = static_cast<uint64_t>(want_rows);
  if (auto err = read_bool(c, r.input_quantized_, "quant_input flag")) return err;
  uint64_t input_begin = c.offset();
  if (!r.input_quantized_) {
    if (d.pruned()) return corrupt("a dense input matrix with a pruned dictionary");
    int64_t rows = 0, cols = 0;
    if (auto err = c.get(rows, "input matrix shape")) return err;
    if (auto err = c.get(cols, "input matrix shape")) return err;
    if (rows != want_rows || cols != a.dim)
      return corrupt("input matrix is " + std::to_string(rows) + " x " + std::to_string(cols) +
                     ", expected " + std::to_string(want_rows) + " x " + std::to_string(a.dim));
    r.input_offset_ = c.offset();
    uint64_t bytes = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) * sizeof(float);
    if (auto err = c.skip(bytes, "input matrix data")) return err;
  } else {
    if (auto err = read_quant(c, r.input_quant_, want_rows, a.dim, "quantized input matrix",
                              nullptr, nullptr))
      return err;
  }
  r.input_file_bytes_ = c.offset() - input_begin;

  bool qout = false;
  if (auto err = read_bool(c, qout, "quant_output flag")) return err;
  auto& o = r.output_;
  o.quantized = r.input_quantized_ && qout;  // fastText honours qout only for .ftz
  if (o.quantized) {
    if (auto err = read_quant(c, o.quant, d.nlabels, a.dim, "quantized output matrix", &o.codes,
                              &o.norm_codes))
      return err;
    o.rows = o.quant.rows;
    o.cols = o.quant.cols;
    o.dense.resize(static_cast<size_t>(o.rows * o.cols));
    for (int64_t i = 0; i < o.rows; ++i)
      o.quant.dequantize(o.codes.data() + i * o.quant.pq.nsubq,
                         o.quant.qnorm ? o.norm_codes[static_cast<size_t>(i)] : 0,
                         o.dense.data() + i * o.cols);
  } else {
    if (auto err = c.get(o.rows, "output matrix shape")) return err;
    if (auto err = c.get(o.cols, "output matrix shape")) return err;
    if (o.rows != d.nlabels || o.cols != a.dim)
      return corrupt("output matrix is " + std::to_string(o.rows) + " x " + std::to_string(o.cols) +
                     ", expected " + std::to_string(d.nlabels) + " x " + std::to_string(a.dim));
    uint64_t n = static_cast<uint64_t>(o.rows) * static_cast<uint64_t>(o.cols);
    if (n * sizeof(float) > c.remaining())
      return corrupt("truncated file: output matrix data at offset " + std::to_string(c.offset()));
    o.dense.resize(n);
    if (auto err = c.read(o.dense.data(), n * sizeof(float), "output matrix data")) return err;
  }
  if (c.remaining() != 0)
    return corrupt(std::to_string(c.remaining()) + " unexpected trailing bytes at offset " +
                   std::to_string(c.offset()));
  return caf::none;
}

caf::expected<bin_reader> bin_reader::open(const std::string& path) {
  auto src = open_file_source(path);
  if (!src) return std::move(src.error());
  auto r = open(std::move(*src));
  if (!r) return make_error(code_of(r.error()), message_of(r.error()) + " (" + path + ")");
  return r;
}

caf::expected<bin_reader> bin_reader::open(std::shared_ptr<byte_source> src) {
  bin_reader r;
  r.src_ = std::move(src);
  if (auto err = bin_parser::parse(r)) return err;
  return r;
}

caf::error bin_reader::read_input_rows(uint64_t begin, uint64_t n, float* out) const {
  if (begin > input_rows_ || n > input_rows_ - begin)
    return make_error(errc::invalid_argument, "input rows [" + std::to_string(begin) + ", " +
                                                  std::to_string(begin + n) + ") outside [0, " +
                                                  std::to_string(input_rows_) + ")");
  uint64_t dim = this->dim();
  if (!input_quantized_)
    return src_->read_at(input_offset_ + begin * dim * sizeof(float), out,
                         static_cast<size_t>(n * dim * sizeof(float)));
  const auto& q = input_quant_;
  uint64_t nsubq = static_cast<uint64_t>(q.pq.nsubq);
  std::vector<uint8_t> codes(static_cast<size_t>(n * nsubq));
  std::vector<uint8_t> norms(static_cast<size_t>(q.qnorm ? n : 0));
  if (auto err = src_->read_at(q.codes_offset + begin * nsubq, codes.data(), codes.size()))
    return err;
  if (q.qnorm) {
    if (auto err = src_->read_at(q.norm_codes_offset + begin, norms.data(), norms.size()))
      return err;
  }
  for (uint64_t i = 0; i < n; ++i)
    q.dequantize(codes.data() + i * nsubq, q.qnorm ? norms[i] : 0, out + i * dim);
  return caf::none;
}

}  // namespace ft
}  // namespace tessera
