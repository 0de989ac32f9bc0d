// A slow disk for tests, as an LD_PRELOAD library: fsync and fdatasync sleep
// TESSERA_TEST_FSYNC_DELAY_MS milliseconds (when set and positive), then do their work. Only
// tests load it (tests/slow_disk_itest.cpp); nothing links it.
#include <dlfcn.h>
#include <time.h>

#include <cerrno>
#include <cstdlib>

namespace {

void slow_down() {
  const char* ms = std::getenv("TESSERA_TEST_FSYNC_DELAY_MS");
  const long delay = ms ? std::strtol(ms, nullptr, 10) : 0;
  if (delay <= 0) return;
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
  slow_down();
  return real(fd);
}

extern "C" int fdatasync(int fd) {
  static const auto real = next<int (*)(int)>("fdatasync");
  slow_down();
  return real(fd);
}
