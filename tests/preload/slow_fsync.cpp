// A slow disk for tests, as an LD_PRELOAD library: fsync, fdatasync and syncfs sleep
// TESSERA_TEST_FSYNC_DELAY_MS milliseconds (when set and positive), then do their work; not for
// files whose path contains TESSERA_TEST_FSYNC_SKIP (when set). Only tests load it
// (tests/slow_disk_itest.cpp, tests/store_itest.cpp); nothing links it.
#include <dlfcn.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

// Whether `fd`'s path contains TESSERA_TEST_FSYNC_SKIP (when set and not empty).
bool skipped(int fd) {
  const char* skip = std::getenv("TESSERA_TEST_FSYNC_SKIP");
  if (skip == nullptr || *skip == '\0') return false;
  char link[64], path[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  return std::strstr(path, skip) != nullptr;
}

void slow_down(int fd) {
  const char* ms = std::getenv("TESSERA_TEST_FSYNC_DELAY_MS");
  const long delay = ms ? std::strtol(ms, nullptr, 10) : 0;
  if (delay <= 0 || skipped(fd)) return;
  timespec left{delay / 1000, (delay % 1000) * 1000000};
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

template <class Fn>
Fn next(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" int fsync(int fd) {
  static const auto real = next<int (*)(int)>("fsync");
  slow_down(fd);
  return real(fd);
}

extern "C" int fdatasync(int fd) {
  static const auto real = next<int (*)(int)>("fdatasync");
  slow_down(fd);
  return real(fd);
}

extern "C" int syncfs(int fd) {
  static const auto real = next<int (*)(int)>("syncfs");
  slow_down(fd);
  return real(fd);
}
