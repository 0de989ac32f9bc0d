#include "package/row_source.hpp"

#include <algorithm>
#include <cstring>

namespace tessera {

uint64_t tensor_blocks::block_bytes(uint64_t block) const {
  const uint64_t b0 = block * block_rows;
  if (b0 >= rows) return 0;
  return (std::min(b0 + block_rows, rows) - b0) * cols * sizeof(float);
}

uint64_t tensor_blocks::bytes() const {
  uint64_t total = 0;
  for (uint64_t i = 0; i < checksums.size(); ++i) total += block_bytes(first_block + i);
  return total;
}

uint64_t tensor_blocks::scratch_bytes(uint64_t begin, uint64_t end) const {
  if (block_rows == 0 || begin >= end || end > rows) return 0;
  const bool aligned = begin % block_rows == 0 && (end % block_rows == 0 || end == rows);
  return aligned ? 0 : std::min(block_rows, rows) * cols * sizeof(float);
}

caf::expected<tensor_blocks> blocks_of(const manifest& m, const std::string& tensor, uint64_t begin,
                                       uint64_t end) {
  const tensor_info* t = m.find_tensor(tensor);
  if (!t)
    return make_error(errc::invalid_argument,
                      "manifest of '" + m.name + "' has no tensor '" + tensor + "'");
  if (begin > end || end > t->rows)
    return make_error(errc::invalid_argument, "rows [" + std::to_string(begin) + ", " +
                                                  std::to_string(end) + ") are outside tensor '" +
                                                  tensor + "' with " + std::to_string(t->rows) +
                                                  " rows");
  if (t->block_rows == 0)
    return make_error(errc::invalid_argument, "tensor '" + tensor + "' has block_rows = 0");
  tensor_blocks out;
  out.rows = t->rows;
  out.cols = t->cols;
  out.block_rows = t->block_rows;
  if (begin == end) return out;
  const uint64_t first = begin / t->block_rows, last = (end - 1) / t->block_rows;
  if (last >= t->block_checksums.size())
    return make_error(errc::invalid_argument, "tensor '" + tensor + "' lists " +
                                                  std::to_string(t->block_checksums.size()) +
                                                  " block checksums, too few for its rows");
  out.first_block = first;
  out.checksums.assign(t->block_checksums.begin() + static_cast<std::ptrdiff_t>(first),
                       t->block_checksums.begin() + static_cast<std::ptrdiff_t>(last + 1));
  return out;
}

namespace {

// Whether `b` lists exactly the blocks that cover rows [begin, end).
bool covers(const tensor_blocks& b, uint64_t begin, uint64_t end) {
  if (b.block_rows == 0 || begin > end || end > b.rows) return false;
  if (begin == end) return b.checksums.empty();
  const uint64_t first = begin / b.block_rows, last = (end - 1) / b.block_rows;
  return b.first_block == first && b.checksums.size() == last - first + 1;
}

// invalid_argument unless `b` lists exactly the blocks that cover rows [begin, end).
caf::error check_covers(const tensor_blocks& b, uint64_t begin, uint64_t end) {
  if (covers(b, begin, end)) return {};
  return make_error(errc::invalid_argument, "the blocks listed do not cover rows [" +
                                                std::to_string(begin) + ", " + std::to_string(end) +
                                                ") exactly");
}

}  // namespace

caf::expected<std::string> blocks_digest(const tensor_blocks& b, uint64_t begin, uint64_t end) {
  if (auto err = check_covers(b, begin, end)) return err;
  // Every field goes in with a fixed width (strings length-prefixed), little-endian, so no two
  // different inputs share an encoding.
  std::string in;
  auto put_u64 = [&in](uint64_t x) {
    for (int i = 0; i < 8; ++i) in.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
  };
  auto put_str = [&](std::string_view s) {
    put_u64(s.size());
    in.append(s);
  };
  put_str("tessera.rows_digest.1");
  put_str(manifest::checksum_algorithm);
  put_u64(b.rows);
  put_u64(b.cols);
  put_u64(b.block_rows);
  put_u64(begin);
  put_u64(end);
  put_u64(b.checksums.size());
  for (const auto& c : b.checksums) {
    put_u64(c.high);
    put_u64(c.low);
  }
  return to_hex(xxh3_128(in.data(), in.size()));
}

caf::error package_blocks::fetch(const tensor_blocks& b, uint64_t block, char* out) {
  if (!pkg_) {
    auto p = package::open(dir_);
    if (!p) return p.error();
    pkg_.emplace(std::move(*p));
  }
  const tensor_info* t = pkg_->meta().find_tensor(tensor_);
  // read_block writes the package's block: its size must be the one `out` holds.
  if (!t || t->rows != b.rows || t->cols != b.cols || t->block_rows != b.block_rows)
    return make_error(errc::corrupt_package,
                      "package " + dir_ + " changed: its tensor '" + tensor_ +
                          "' is not the shape and blocking the replica was loaded with");
  return pkg_->read_block(tensor_, block, out);
}

caf::expected<row_block> read_through(block_store& store, const tensor_blocks& b, uint64_t begin,
                                      uint64_t end, block_source* source, read_counts& counts,
                                      const progress_fn& progress,
                                      const std::atomic<bool>* cancel) {
  if (auto err = check_covers(b, begin, end)) return err;
  block_batch batch{store};  // fetched blocks: one file-system flush per 64 MiB
  auto read_block = [&](uint64_t block, char* buf, uint64_t nbytes) -> caf::error {
    const checksum128& sum = b.checksums[block - b.first_block];
    auto err = store.read(sum, nbytes, buf);
    if (!err) {
      counts.from_store += nbytes;
      return {};
    }
    // Not stored, or stored corrupt (read() deleted it): fetch it again.
    if (code_of(err) != errc::unavailable && code_of(err) != errc::corrupt_package) return err;
    if (source == nullptr)
      return make_error(errc::unavailable, "block " + std::to_string(block) + " (" + to_hex(sum) +
                                               ") is not in this node's store and no source "
                                               "was given");
    if (auto f = source->fetch(b, block, buf)) return f;
    if (auto p = batch.add(sum, buf, nbytes))  // verifies first: a bad block is not stored
      return make_error(code_of(p), "block " + std::to_string(block) + " from " +
                                        source->describe() + ": " + message_of(p));
    counts.fetched += nbytes;
    return {};
  };
  auto rows = assemble_rows(b.rows, b.cols, b.block_rows, begin, end, read_block,
                            "the listed blocks", progress, cancel);
  if (!rows) return rows;
  if (auto err = batch.flush()) return err;
  return rows;
}

}  // namespace tessera
