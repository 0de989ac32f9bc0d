#pragma once
// A shard node's content-addressed block store (its data_dir): one file per checksum block of
// a tensor (package.hpp), named by the block's XXH3-128 and byte size, so equal rows are
// stored once whatever version, tensor or model they belong to, and a new version ships only
// the blocks the store lacks.
//
// Layout: <dir>/blocks/<2 hex>/<32 hex>-<bytes> holds a block; <dir>/tmp/ holds blocks being
// written. A block is written to a unique temp name, made durable (fsync, or one syncfs for a
// block_batch) and only then renamed into place, so after a crash at any point a block file
// either is absent or holds all its bytes; open() deletes leftover temp files. The directories'
// entries are fsynced by sync() (a loader calls it once per replica, not per block): a power loss
// before it may lose renamed blocks, never corrupt them. A block is still verified every time it is
// read: a file that fails its checksum (a bad disk, a hand edit) is deleted and reported, never
// returned.
//
// Thread: every method may be called from any thread at once (the node actor and its loader
// threads). Which blocks may be removed is the caller's business (the node counts the
// replicas that use each block).
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "package/package.hpp"

namespace tessera {

class block_store {
 public:
  // Opens (creating it and its subdirectories) the store at `dir`, deletes leftover temp files
  // and indexes the block files present (names only: blocks are verified when read; a file
  // whose size does not match its name is deleted). Errors: io_error.
  static caf::expected<std::shared_ptr<block_store>> open(const std::string& dir);

  const std::string& dir() const { return dir_; }

  // Whether block `sum` of `bytes` bytes is stored (by name; read() verifies it).
  bool contains(const checksum128& sum, uint64_t bytes) const;

  // Reads block `sum` of `bytes` bytes into `out` and verifies it. Errors: unavailable (not
  // stored), corrupt_package (the file failed its checksum or was short; it is
  // deleted, so the next fill fetches it again), io_error.
  caf::error read(const checksum128& sum, uint64_t bytes, char* out) const;

  // Stores `bytes` bytes at `data` as block `sum` unless already stored: verifies the checksum
  // first (corrupt_package, nothing written), then temp file, fsync, rename, directory fsync.
  // Errors: corrupt_package, io_error (a full disk among them; the temp file is removed).
  caf::error put(const checksum128& sum, const char* data, uint64_t bytes);

  // Fsyncs the directories put() renamed blocks into since the last sync(), so those blocks
  // survive a power loss. Errors: io_error.
  caf::error sync();

  // Deletes block `sum` of `bytes` bytes if stored.
  void remove(const checksum128& sum, uint64_t bytes);

  uint64_t used_bytes() const;  // bytes of the stored blocks
  size_t block_count() const;
  // Every stored block: (checksum, bytes).
  std::vector<std::pair<checksum128, uint64_t>> list() const;

  // File name of block `sum` under dir(): "blocks/ab/ab...-<bytes>".
  static std::string relative_path(const checksum128& sum, uint64_t bytes);

 private:
  friend class block_batch;
  // Verifies `data` against `sum` and writes it to a new temp file (not synced); its path.
  caf::expected<std::string> write_temp(const checksum128& sum, const char* data, uint64_t bytes);
  // Renames a durable temp file into place as block `sum` and indexes it.
  caf::error install(const checksum128& sum, uint64_t bytes, const std::string& temp);
  explicit block_store(std::string dir) : dir_(std::move(dir)) {}
  void forget(const checksum128& sum, uint64_t bytes) const;

  std::string dir_;
  mutable std::mutex mtx_;  // guards index_ and used_
  // (high, low, bytes) of every stored block.
  mutable std::set<std::tuple<uint64_t, uint64_t, uint64_t>> index_;
  mutable uint64_t used_ = 0;
  mutable uint64_t next_temp_ = 0;
  std::set<std::string> unsynced_;  // directories with renames not yet fsynced (guarded by mtx_)
};

// Stores many blocks with one flush of the file system per batch instead of one fsync per
// block (fsync per 1 MiB block writes about 180 MiB/s here, a tenth of plain writes): add()
// writes a block to a temp file; flush() runs syncfs once, then renames every block written
// since into place. A block is in the store (contains, read) only once the flush that installs
// it returned. The destructor deletes temp files never flushed. One thread at a time.
class block_batch {
 public:
  // Flushes by itself once `flush_bytes` bytes wait.
  explicit block_batch(block_store& store, uint64_t flush_bytes = uint64_t{64} << 20)
      : store_(store), flush_bytes_(flush_bytes) {}
  ~block_batch();
  block_batch(const block_batch&) = delete;
  block_batch& operator=(const block_batch&) = delete;

  // As block_store::put, durable and visible at the next flush. Errors: as put.
  caf::error add(const checksum128& sum, const char* data, uint64_t bytes);
  // Makes every added block durable and installs it. Errors: io_error (the temp files are
  // deleted; none of them is installed).
  caf::error flush();

 private:
  struct item {
    checksum128 sum;
    uint64_t bytes = 0;
    std::string temp;
  };
  block_store& store_;
  uint64_t flush_bytes_;
  uint64_t pending_ = 0;
  std::vector<item> items_;
};

}  // namespace tessera
