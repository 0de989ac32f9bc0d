#include "package/block_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace tessera {
namespace {

namespace fs = std::filesystem;

caf::error io_failure(const std::string& what, const std::string& path, int err) {
  return make_error(errc::io_error, "cannot " + what + " " + path + ": " + std::strerror(err));
}

// Owns a file descriptor.
struct fd_owner {
  int fd = -1;
  ~fd_owner() {
    if (fd >= 0) ::close(fd);
  }
};

caf::error fsync_dir(const std::string& dir) {
  fd_owner d;
  d.fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d.fd < 0) return io_failure("open directory", dir, errno);
  if (::fsync(d.fd) != 0) return io_failure("fsync directory", dir, errno);
  return {};
}

caf::error write_all(int fd, const char* data, uint64_t bytes, const std::string& path) {
  while (bytes > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(bytes, uint64_t{1} << 30));
    const ssize_t w = ::write(fd, data, chunk);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return io_failure("write", path, errno);
    data += w;
    bytes -= static_cast<uint64_t>(w);
  }
  return {};
}

caf::error read_all(int fd, char* out, uint64_t bytes, const std::string& path) {
  uint64_t off = 0;
  while (off < bytes) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(bytes - off, uint64_t{1} << 30));
    const ssize_t r = ::pread(fd, out + off, chunk, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return io_failure("read", path, errno);
    if (r == 0)
      return make_error(errc::corrupt_package, "block file " + path +
                                                   " is short: " + std::to_string(off) + " of " +
                                                   std::to_string(bytes) + " bytes");
    off += static_cast<uint64_t>(r);
  }
  return {};
}

// (checksum, bytes) from a block file name "<32 hex>-<bytes>"; nullopt for any other name.
std::optional<std::pair<checksum128, uint64_t>> parse_name(const std::string& name) {
  if (name.size() < 34 || name[32] != '-') return std::nullopt;
  auto sum = checksum_from_hex(std::string_view{name}.substr(0, 32));
  if (!sum) return std::nullopt;
  uint64_t bytes = 0;
  for (size_t i = 33; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || bytes > (UINT64_MAX - 9) / 10) return std::nullopt;
    bytes = bytes * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  return std::make_pair(*sum, bytes);
}

}  // namespace

std::string block_store::relative_path(const checksum128& sum, uint64_t bytes) {
  const auto hex = to_hex(sum);
  return "blocks/" + hex.substr(0, 2) + "/" + hex + "-" + std::to_string(bytes);
}

caf::expected<std::shared_ptr<block_store>> block_store::open(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(fs::path{dir} / "blocks", ec);
  if (!ec) fs::create_directories(fs::path{dir} / "tmp", ec);
  if (ec)
    return make_error(errc::io_error,
                      "cannot create the block store at " + dir + ": " + ec.message());
  std::shared_ptr<block_store> store{new block_store(dir)};
  // A temp file is a write a crash interrupted: never a block.
  for (auto it = fs::directory_iterator(fs::path{dir} / "tmp", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec))
    fs::remove(it->path(), ec);
  ec.clear();
  for (auto it = fs::recursive_directory_iterator(fs::path{dir} / "blocks", ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    auto parsed = parse_name(it->path().filename().string());
    std::error_code size_ec;
    const auto size = it->file_size(size_ec);
    if (!parsed || size_ec || size != parsed->second) {  // not ours, or cut short
      fs::remove(it->path(), size_ec);
      continue;
    }
    store->index_.insert({parsed->first.high, parsed->first.low, parsed->second});
    store->used_ += parsed->second;
  }
  if (ec)
    return make_error(errc::io_error,
                      "cannot list the block store at " + dir + ": " + ec.message());
  return store;
}

bool block_store::contains(const checksum128& sum, uint64_t bytes) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return index_.count({sum.high, sum.low, bytes}) != 0;
}

void block_store::forget(const checksum128& sum, uint64_t bytes) const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (index_.erase({sum.high, sum.low, bytes}) != 0) used_ -= bytes;
}

caf::error block_store::read(const checksum128& sum, uint64_t bytes, char* out) const {
  if (!contains(sum, bytes))
    return make_error(errc::unavailable, "block " + to_hex(sum) + " is not in the store");
  const std::string path = dir_ + "/" + relative_path(sum, bytes);
  fd_owner f;
  do {
    f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (f.fd < 0 && errno == EINTR);
  if (f.fd < 0) {
    const int err = errno;
    if (err == ENOENT) {  // deleted behind our back
      forget(sum, bytes);
      return make_error(errc::unavailable, "block " + to_hex(sum) + " is not in the store");
    }
    return io_failure("open", path, err);
  }
  auto err = read_all(f.fd, out, bytes, path);
  if (!err && xxh3_128(out, bytes) != sum)
    err = make_error(errc::corrupt_package, "block file " + path + " fails its checksum");
  if (err && code_of(err) == errc::corrupt_package) {
    std::error_code ec;
    fs::remove(path, ec);
    forget(sum, bytes);
  }
  return err;
}

caf::expected<std::string> block_store::write_temp(const checksum128& sum, const char* data,
                                                   uint64_t bytes) {
  if (xxh3_128(data, bytes) != sum)
    return make_error(errc::corrupt_package,
                      "block " + to_hex(sum) + " does not match its checksum; not stored");
  uint64_t n;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    n = next_temp_++;
  }
  const std::string temp =
      dir_ + "/tmp/" + to_hex(sum) + "." + std::to_string(::getpid()) + "." + std::to_string(n);
  fd_owner f;
  f.fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (f.fd < 0) return io_failure("create", temp, errno);
  if (auto err = write_all(f.fd, data, bytes, temp)) {
    ::unlink(temp.c_str());
    return err;
  }
  return temp;
}

caf::error block_store::install(const checksum128& sum, uint64_t bytes, const std::string& temp) {
  const std::string path = dir_ + "/" + relative_path(sum, bytes);
  const std::string parent = fs::path{path}.parent_path().string();
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) {
    ::unlink(temp.c_str());
    return make_error(errc::io_error, "cannot create " + parent + ": " + ec.message());
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return io_failure("rename", temp, err);
  }
  std::lock_guard<std::mutex> guard{mtx_};
  unsynced_.insert(parent);
  if (index_.insert({sum.high, sum.low, bytes}).second) used_ += bytes;
  return {};
}

caf::error block_store::put(const checksum128& sum, const char* data, uint64_t bytes) {
  if (contains(sum, bytes)) {
    if (xxh3_128(data, bytes) != sum)
      return make_error(errc::corrupt_package,
                        "block " + to_hex(sum) + " does not match its checksum; not stored");
    return {};
  }
  auto temp = write_temp(sum, data, bytes);
  if (!temp) return temp.error();
  {
    fd_owner f;
    f.fd = ::open(temp->c_str(), O_WRONLY | O_CLOEXEC);
    if (f.fd < 0 || ::fsync(f.fd) != 0) {
      const int err = errno;
      ::unlink(temp->c_str());
      return io_failure("fsync", *temp, err);
    }
  }
  return install(sum, bytes, *temp);
}

block_batch::~block_batch() {
  for (const auto& it : items_) ::unlink(it.temp.c_str());
}

caf::error block_batch::add(const checksum128& sum, const char* data, uint64_t bytes) {
  if (store_.contains(sum, bytes)) return store_.put(sum, data, bytes);  // verifies only
  auto temp = store_.write_temp(sum, data, bytes);
  if (!temp) return temp.error();
  items_.push_back({sum, bytes, std::move(*temp)});
  pending_ += bytes;
  return pending_ >= flush_bytes_ ? flush() : caf::error{};
}

caf::error block_batch::flush() {
  if (items_.empty()) return {};
  auto items = std::move(items_);
  items_.clear();
  pending_ = 0;
  auto drop = [&](size_t from) {
    for (size_t i = from; i < items.size(); ++i) ::unlink(items[i].temp.c_str());
  };
  {
    fd_owner d;
    d.fd = ::open(store_.dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d.fd < 0 || ::syncfs(d.fd) != 0) {
      const int err = errno;
      drop(0);
      return io_failure("syncfs", store_.dir(), err);
    }
  }
  for (size_t i = 0; i < items.size(); ++i)
    if (auto err = store_.install(items[i].sum, items[i].bytes, items[i].temp)) {
      drop(i + 1);
      return err;
    }
  return {};
}

caf::error block_store::sync() {
  std::set<std::string> dirs;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    dirs.swap(unsynced_);
  }
  for (const auto& d : dirs)
    if (auto err = fsync_dir(d)) return err;
  return {};
}

void block_store::remove(const checksum128& sum, uint64_t bytes) {
  std::error_code ec;
  fs::remove(dir_ + "/" + relative_path(sum, bytes), ec);
  forget(sum, bytes);
}

uint64_t block_store::used_bytes() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return used_;
}

size_t block_store::block_count() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return index_.size();
}

std::vector<std::pair<checksum128, uint64_t>> block_store::list() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<checksum128, uint64_t>> out;
  for (const auto& [hi, lo, bytes] : index_) out.push_back({checksum128{hi, lo}, bytes});
  return out;
}

}  // namespace tessera
