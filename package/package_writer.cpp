// package_writer: streams tensors to `<dir>/<name>.f32` one checksum block at a time, so memory
// stays at one block (about 1 MiB) whatever the tensor size. Not thread-safe: one writer, one
// thread.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "package/package.hpp"

namespace tessera {
namespace {

caf::error write_full(int fd, const char* p, uint64_t len, const std::string& path) {
  while (len > 0) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(len, uint64_t{1} << 30));
    ssize_t r = ::write(fd, p, chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0)
      return make_error(errc::io_error, "cannot write " + path + ": " + std::strerror(errno));
    p += r;
    len -= static_cast<uint64_t>(r);
  }
  return {};
}

caf::error write_file(const std::string& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return make_error(errc::io_error, "cannot create " + path + ": " + std::strerror(errno));
  auto err = write_full(fd, content.data(), content.size(), path);
  if (::close(fd) != 0 && !err)
    err = make_error(errc::io_error, "cannot close " + path + ": " + std::strerror(errno));
  return err;
}

bool safe_file_name(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
         s.find('\0') == std::string::npos;
}

}  // namespace

struct package_writer::impl {
  std::string dir;
  std::vector<tensor_info> tensors;
  std::vector<std::pair<std::string, text_file_info>> files;
  bool finished = false;
  // The tensor being written, when fd >= 0.
  int fd = -1;
  std::string path;
  tensor_info cur;
  uint64_t appended = 0;    // rows received so far
  std::vector<char> block;  // bytes of the current partial block
  uint64_t fill = 0;        // bytes used in `block`

  ~impl() { close_tensor(); }

  void close_tensor() {
    if (fd >= 0) ::close(fd);
    fd = -1;
    fill = 0;
  }

  uint64_t row_bytes() const { return cur.cols * sizeof(float); }
  uint64_t block_bytes() const { return cur.block_rows * row_bytes(); }

  // Checksums and writes one block's bytes.
  caf::error put_block(const char* p, uint64_t n) {
    cur.block_checksums.push_back(xxh3_128(p, n));
    return write_full(fd, p, n, path);
  }

  caf::error usable() const {
    if (finished) return make_error(errc::invalid_argument, "package " + dir + " is finished");
    return {};
  }
};

package_writer::package_writer(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
package_writer::package_writer(package_writer&&) noexcept = default;
package_writer& package_writer::operator=(package_writer&&) noexcept = default;
package_writer::~package_writer() = default;

caf::expected<package_writer> package_writer::create(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(errc::io_error, "cannot create directory " + dir + ": " + ec.message());
  if (std::filesystem::exists(dir + "/manifest.toml", ec))
    return make_error(errc::already_exists, dir + " already holds a package (manifest.toml)");
  auto p = std::make_unique<impl>();
  p->dir = dir;
  return package_writer(std::move(p));
}

caf::error package_writer::begin_tensor(const std::string& name, uint64_t rows, uint64_t cols) {
  impl& s = *impl_;
  if (auto err = s.usable()) return err;
  if (s.fd >= 0)
    return make_error(errc::invalid_argument, "cannot begin tensor '" + name + "': tensor '" +
                                                  s.cur.name + "' is still open");
  if (!safe_file_name(name))
    return make_error(errc::invalid_argument, "tensor name '" + name + "' is not a file name");
  for (const auto& t : s.tensors)
    if (t.name == name)
      return make_error(errc::invalid_argument, "tensor '" + name + "' was already written");
  uint64_t elems = 0, bytes = 0;
  if (rows == 0 || cols == 0 || __builtin_mul_overflow(rows, cols, &elems) ||
      __builtin_mul_overflow(elems, uint64_t{sizeof(float)}, &bytes) ||
      bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return make_error(errc::invalid_argument, "tensor '" + name + "' has invalid shape " +
                                                  std::to_string(rows) + " x " +
                                                  std::to_string(cols));
  s.cur = tensor_info{};
  s.cur.name = name;
  s.cur.file = name + ".f32";
  s.cur.rows = rows;
  s.cur.cols = cols;
  s.cur.block_rows = std::min(default_block_rows(cols), rows);
  s.path = s.dir + "/" + s.cur.file;
  s.fd = ::open(s.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (s.fd < 0)
    return make_error(errc::io_error, "cannot create " + s.path + ": " + std::strerror(errno));
  s.appended = 0;
  s.fill = 0;
  s.block.resize(s.block_bytes());
  return {};
}

caf::error package_writer::append_rows(const float* data, uint64_t nrows) {
  impl& s = *impl_;
  if (auto err = s.usable()) return err;
  if (s.fd < 0) return make_error(errc::invalid_argument, "append_rows without begin_tensor");
  if (nrows > s.cur.rows - s.appended)
    return make_error(errc::invalid_argument,
                      "tensor '" + s.cur.name + "': appending " + std::to_string(nrows) +
                          " rows after " + std::to_string(s.appended) + " exceeds the declared " +
                          std::to_string(s.cur.rows));
  s.appended += nrows;
  const char* p = reinterpret_cast<const char*>(data);
  uint64_t left = nrows * s.row_bytes();
  const uint64_t bb = s.block_bytes();
  while (left > 0) {
    if (s.fill == 0 && left >= bb) {  // whole block straight from the caller's memory
      if (auto err = s.put_block(p, bb)) return err;
      p += bb;
      left -= bb;
      continue;
    }
    uint64_t n = std::min(bb - s.fill, left);
    std::memcpy(s.block.data() + s.fill, p, n);
    s.fill += n;
    p += n;
    left -= n;
    if (s.fill == bb) {
      s.fill = 0;
      if (auto err = s.put_block(s.block.data(), bb)) return err;
    }
  }
  return {};
}

caf::error package_writer::end_tensor() {
  impl& s = *impl_;
  if (auto err = s.usable()) return err;
  if (s.fd < 0) return make_error(errc::invalid_argument, "end_tensor without begin_tensor");
  if (s.appended != s.cur.rows) {
    std::string msg = "tensor '" + s.cur.name + "' got " + std::to_string(s.appended) +
                      " rows, but " + std::to_string(s.cur.rows) + " were declared";
    s.close_tensor();
    ::unlink(s.path.c_str());
    return make_error(errc::invalid_argument, std::move(msg));
  }
  caf::error err;
  if (s.fill > 0) err = s.put_block(s.block.data(), s.fill);
  int fd = s.fd;
  s.fd = -1;
  s.fill = 0;
  if (::close(fd) != 0 && !err)
    err = make_error(errc::io_error, "cannot close " + s.path + ": " + std::strerror(errno));
  if (err) return err;
  s.block = {};
  s.tensors.push_back(std::move(s.cur));
  return {};
}

caf::error package_writer::write_tensor(const std::string& name, uint64_t rows, uint64_t cols,
                                        const float* data) {
  if (auto err = begin_tensor(name, rows, cols)) return err;
  if (auto err = append_rows(data, rows)) return err;
  return end_tensor();
}

caf::error package_writer::write_lines(const std::string& key, const std::string& file,
                                       const std::vector<std::string>& lines) {
  impl& s = *impl_;
  if (auto err = s.usable()) return err;
  if (key.empty()) return make_error(errc::invalid_argument, "text file key is empty");
  if (!safe_file_name(file) || file == "manifest.toml" || file == "manifest.toml.tmp")
    return make_error(errc::invalid_argument, "text file name '" + file + "' is not allowed");
  for (const auto& f : s.files)
    if (f.first == key || f.second.file == file)
      return make_error(errc::invalid_argument,
                        "text file key '" + key + "' or file '" + file + "' was already written");
  std::string content;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find('\n') != std::string::npos)
      return make_error(errc::invalid_argument, "text file '" + file + "' entry " +
                                                    std::to_string(i) + " contains a newline");
    content += lines[i];
    content += '\n';
  }
  if (auto err = write_file(s.dir + "/" + file, content)) return err;
  text_file_info info;
  info.file = file;
  info.lines = lines.size();
  info.checksum = xxh3_128(content.data(), content.size());
  s.files.emplace_back(key, std::move(info));
  return {};
}

caf::error package_writer::finish(manifest meta) {
  impl& s = *impl_;
  if (auto err = s.usable()) return err;
  if (s.fd >= 0)
    return make_error(errc::invalid_argument, "finish with tensor '" + s.cur.name + "' still open");
  meta.tensors = s.tensors;
  meta.files = s.files;
  if (auto err = validate_manifest(meta, s.dir)) return err;
  std::string tmp = s.dir + "/manifest.toml.tmp", final_path = s.dir + "/manifest.toml";
  if (auto err = write_file(tmp, to_toml(meta))) return err;
  if (::rename(tmp.c_str(), final_path.c_str()) != 0)
    return make_error(errc::io_error, "cannot rename " + tmp + ": " + std::strerror(errno));
  s.finished = true;
  return {};
}

}  // namespace tessera
