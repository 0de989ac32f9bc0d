#pragma once
// Where a replica's rows come from. A replica is named by content (tensor_blocks: the shape and
// the checksums of the blocks that cover its rows), never by a path; a node reads those rows
// from its block store (block_store.hpp) and fetches only the blocks the store lacks from a
// block_source: a package directory (pread), a peer's store, or a client's stream. Every block
// is verified against its checksum whichever way it came, before it is stored or used.
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "package/block_store.hpp"
#include "package/package.hpp"

namespace tessera {

// The content of rows [row_begin, row_end) of one tensor: its shape, and the checksums of
// the blocks that cover the range (blocks first_block, first_block + 1, ...).
struct tensor_blocks {
  uint64_t rows = 0;
  uint64_t cols = 0;
  uint64_t block_rows = 0;
  uint64_t first_block = 0;
  std::vector<checksum128> checksums;

  // Bytes of the tensor's block `block` (an index into the whole tensor): block_rows rows,
  // the last block maybe fewer.
  uint64_t block_bytes(uint64_t block) const;
  // Bytes of every listed block.
  uint64_t bytes() const;
  // Bytes of scratch read_through(*this, begin, end) allocates besides the rows: one block
  // when the range starts or ends inside a block, else 0.
  uint64_t scratch_bytes(uint64_t begin, uint64_t end) const;
};

// The blocks of `tensor` in `m` that cover rows [begin, end) (none when begin == end).
// Errors: invalid_argument (unknown tensor, a range outside it, block_rows 0, too few
// checksums).
caf::expected<tensor_blocks> blocks_of(const manifest& m, const std::string& tensor, uint64_t begin,
                                       uint64_t end);

// rows_digest (package.hpp) of rows [begin, end) from the blocks alone: equal to
// rows_digest(m, tensor, begin, end) for blocks_of(m, tensor, begin, end). A node checks the
// content a shard_spec names against its blocks with it. Errors: invalid_argument (a range the
// blocks do not cover).
caf::expected<std::string> blocks_digest(const tensor_blocks& b, uint64_t begin, uint64_t end);

// Somewhere blocks the store lacks come from.
class block_source {
 public:
  virtual ~block_source() = default;
  // Fills `out` (b.block_bytes(block) bytes) with block `block` (an index into the whole
  // tensor) of the tensor whose content `b` names; the caller verifies it.
  virtual caf::error fetch(const tensor_blocks& b, uint64_t block, char* out) = 0;
  // What the source is, for messages ("package /srv/m", "peer shard-2").
  virtual std::string describe() const = 0;
};

// A package directory: the named tensor's blocks, read with pread (package::read_block). The
// package is opened (manifest parsed and validated) at the first fetch, so a load whose blocks
// are all stored never touches the directory. A tensor whose shape or blocking differs from the
// replica's is corrupt_package (the package changed since the version was loaded).
class package_blocks final : public block_source {
 public:
  package_blocks(std::string dir, std::string tensor)
      : dir_(std::move(dir)), tensor_(std::move(tensor)) {}
  caf::error fetch(const tensor_blocks& b, uint64_t block, char* out) override;
  std::string describe() const override { return "package " + dir_; }

 private:
  std::string dir_;
  std::string tensor_;
  std::optional<package> pkg_;
};

// Bytes of a read, by where they came from.
struct read_counts {
  uint64_t from_store = 0;  // blocks found in the store
  uint64_t fetched = 0;     // blocks fetched from the source (and stored)
};

// Rows [begin, end) of the tensor `b` names, read block by block from `store`; a block the store
// lacks (or holds corrupt) is fetched from `source`, verified and written to the store (a
// block_batch: installed once durable, at the latest when the read returns). Memory:
// the rows plus one block of scratch. `progress` gets (bytes done, bytes total) after every
// block; `cancel`, when set and true, stops the read before its next block (unavailable).
// Errors: unavailable (a block missing with no source, or cancelled), corrupt_package (a fetched
// block fails its checksum; nothing of it is stored), io_error (the store cannot be written:
// a full disk among them), insufficient_memory, and the source's own errors.
caf::expected<row_block> read_through(block_store& store, const tensor_blocks& b, uint64_t begin,
                                      uint64_t end, block_source* source, read_counts& counts,
                                      const progress_fn& progress = {},
                                      const std::atomic<bool>* cancel = nullptr);

}  // namespace tessera
