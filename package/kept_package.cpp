#include "package/kept_package.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace tessera {
namespace {

namespace fs = std::filesystem;

caf::error io_failure(const std::string& what, const std::string& path) {
  return make_error(errc::io_error, "cannot " + what + " " + path + ": " + std::strerror(errno));
}

caf::error fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return io_failure("open", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return io_failure("fsync", path);
  return {};
}

// Copies `from` to `to` (creating its parent directories) and fsyncs it; `want`, when set, is
// the checksum the bytes must have.
caf::error copy_file(const std::string& from, const std::string& to,
                     const checksum128* want = nullptr) {
  std::ifstream in(from, std::ios::binary);
  if (!in) return make_error(errc::io_error, "cannot read " + from);
  std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (want && xxh3_128(bytes.data(), bytes.size()) != *want)
    return make_error(errc::corrupt_package, from + " does not match its checksum");
  std::error_code ec;
  fs::create_directories(fs::path{to}.parent_path(), ec);
  if (ec) return make_error(errc::io_error, "cannot create the directory of " + to);
  {
    std::ofstream out(to, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) return make_error(errc::io_error, "cannot write " + to);
  }
  return fsync_path(to, O_WRONLY);
}

}  // namespace

size_t sweep_kept(const std::string& root, const std::set<std::string>& live,
                  std::chrono::seconds min_age) {
  size_t removed = 0;
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (auto it = fs::directory_iterator(root, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (live.count(name)) continue;
    std::error_code t_ec;
    const auto when = fs::last_write_time(it->path(), t_ec);
    if (t_ec || now - when < min_age) continue;
    std::error_code r_ec;
    if (fs::remove_all(it->path(), r_ec) > 0 && !r_ec) ++removed;
  }
  return removed;
}

caf::error keep_package_meta(const package& pkg, const std::string& dir) {
  std::error_code ec;
  if (fs::exists(fs::path{dir} / "manifest.toml", ec)) return {};
  const auto parent = fs::path{dir}.parent_path();
  fs::create_directories(parent, ec);
  if (ec) return make_error(errc::io_error, "cannot create " + parent.string());
  const std::string temp = dir + ".tmp." + std::to_string(::getpid());
  fs::remove_all(temp, ec);
  auto fail = [&](caf::error err) {
    fs::remove_all(temp, ec);
    return err;
  };
  if (auto err = copy_file(pkg.dir() + "/manifest.toml", temp + "/manifest.toml"))
    return fail(std::move(err));
  for (const auto& [key, f] : pkg.meta().files)
    if (auto err = copy_file(pkg.dir() + "/" + f.file, temp + "/" + f.file, &f.checksum))
      return fail(std::move(err));
  if (auto err = fsync_path(temp, O_RDONLY | O_DIRECTORY)) return fail(std::move(err));
  if (::rename(temp.c_str(), dir.c_str()) != 0) {
    if (fs::exists(fs::path{dir} / "manifest.toml", ec)) return fail(caf::none);  // a racer won
    return fail(io_failure("rename", temp));
  }
  return fsync_path(parent.string(), O_RDONLY | O_DIRECTORY);
}

}  // namespace tessera
