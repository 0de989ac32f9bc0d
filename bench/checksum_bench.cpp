// checksum_bench: what package format 2's checksum costs (issue 9).
//
// 1. Checksum throughput, side by side in one run on the same 256 MiB buffer of pseudo-random
//    bytes: XXH3-128 (tessera::xxh3_128, libxxhash, what format 2 writes) against checksum64
//    (format 1's hand-written hash, kept here verbatim as the baseline), and libxxhash's
//    portable entry point XXH3_128bits (SSE2 on x86-64; xxh3_128 uses the runtime-dispatched
//    AVX2/AVX-512 one when the library has it). Each pass hashes the
//    whole buffer once, and once as 1 MiB blocks (what package_writer and read_rows hash); the
//    two algorithms alternate pass by pass. One unmeasured pass first; best and median of --reps.
// 2. package::read_rows throughput on a large tensor (--read-mib MiB, 1 KiB rows, 1 MiB checksum
//    blocks) written with package_writer into a temporary package: the whole tensor read and
//    verified with the file in the page cache (best of --reps), and after the file's pages were
//    dropped with posix_fadvise(DONTNEED) (disk speed; the host may still cache). A raw pread of
//    the same file in the page cache (no checksum), into fresh memory as read_rows does and into
//    reused memory, is the ceiling. The checksums are also timed on a 64 KiB buffer hashed over
//    and over (input in the CPU cache): the hash's own speed, without memory bandwidth.
//
// Usage: checksum_bench [--mib N] [--read-mib N] [--reps N] [--dir PARENT] [--json]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <xxhash.h>

#include "base/errors.hpp"
#include "package/package.hpp"

namespace {

using steady = std::chrono::steady_clock;

// ---- checksum64, format 1's hash, verbatim (package/package.cpp before format 2) ------------
constexpr uint64_t ck_mul = 0x9e6c63d0676a9a99ULL;
constexpr uint64_t ck_fin1 = 0xd1b54a32d192ed03ULL;
constexpr uint64_t ck_fin2 = 0x8cb92ba72f3d8dd7ULL;
constexpr uint64_t ck_init[4] = {0x243f6a8885a308d3ULL, 0x13198a2e03707345ULL,
                                 0xa4093822299f31d1ULL, 0x082efa98ec4e6c89ULL};

inline uint64_t load_le64(const unsigned char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  return w;
}

inline uint64_t ck_step(uint64_t h, uint64_t w) {
  h = (h ^ w) * ck_mul;
  return h ^ (h >> 29);
}

inline uint64_t ck_final(uint64_t h) {
  h ^= h >> 32;
  h *= ck_fin1;
  h ^= h >> 29;
  h *= ck_fin2;
  return h ^ (h >> 32);
}

uint64_t checksum64(const void* data, size_t bytes, uint64_t seed = 0) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t a = seed ^ ck_init[0], b = seed ^ ck_init[1], c = seed ^ ck_init[2],
           d = seed ^ ck_init[3];
  size_t n = bytes;
  for (; n >= 32; n -= 32, p += 32) {
    a = ck_step(a, load_le64(p));
    b = ck_step(b, load_le64(p + 8));
    c = ck_step(c, load_le64(p + 16));
    d = ck_step(d, load_le64(p + 24));
  }
  for (; n >= 8; n -= 8, p += 8) a = ck_step(a, load_le64(p));
  if (n > 0) {
    uint64_t w = 0;
    for (size_t i = 0; i < n; ++i) w |= static_cast<uint64_t>(p[i]) << (8 * i);
    a = ck_step(a, w);
  }
  uint64_t h = ck_step(ck_init[3], static_cast<uint64_t>(bytes));
  h = ck_step(h, a);
  h = ck_step(h, b);
  h = ck_step(h, c);
  h = ck_step(h, d);
  return ck_final(h);
}

// ---- helpers ------------------------------------------------------------------------------

double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

struct stats {
  double best = 0, median = 0;  // GB/s (10^9 bytes per second)
};

stats summarize(std::vector<double> gbs) {
  std::sort(gbs.begin(), gbs.end());
  return {gbs.back(), gbs[gbs.size() / 2]};
}

volatile uint64_t sink;  // keeps results alive

constexpr size_t block_bytes = size_t{1} << 20;

// Hashes the n bytes at p as consecutive chunks of `chunk` bytes (the last may be shorter).
template <class F>
double time_walk(const unsigned char* p, size_t n, size_t chunk, F hash) {
  auto t0 = steady::now();
  uint64_t acc = 0;
  for (size_t off = 0; off < n; off += chunk) acc ^= hash(p + off, std::min(chunk, n - off));
  double s = seconds_since(t0);
  sink = acc;
  return static_cast<double>(n) / s / 1e9;
}

// Hashes a `small`-byte prefix of `p` again and again, `total` bytes in all: the hash's own
// speed with its input in the CPU cache, no memory bandwidth involved.
template <class F>
double time_hot(const unsigned char* p, size_t small, size_t total, F hash) {
  auto t0 = steady::now();
  uint64_t acc = 0;
  for (size_t done = 0; done < total; done += small) {
    asm volatile("" ::: "memory");  // the bytes "may have changed": hash them again
    acc ^= hash(p, small);
  }
  double s = seconds_since(t0);
  sink = acc;
  return static_cast<double>(total) / s / 1e9;
}

int fail(const std::string& what) {
  std::cerr << "checksum_bench: " << what << "\n";
  return 1;
}

int usage() {
  std::cerr
      << "usage: checksum_bench [--mib N] [--read-mib N] [--reps N] [--dir PARENT] [--json]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 256, read_mib = 1024;
  int reps = 5;
  std::string parent = "/tmp";
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--mib" && i + 1 < argc) {
      mib = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--read-mib" && i + 1 < argc) {
      read_mib = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else if (a == "--dir" && i + 1 < argc) {
      parent = argv[++i];
    } else if (a == "--json") {
      json = true;
    } else {
      return usage();
    }
  }
  if (mib == 0 || read_mib == 0 || reps < 1) return usage();

  // 1. Checksums on one buffer.
  const size_t n = mib << 20;
  std::vector<unsigned char> buf(n);
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(&buf[i], &x, 8);
  }
  auto xxh = [](const unsigned char* p, size_t k) { return tessera::xxh3_128(p, k).low; };
  auto c64 = [](const unsigned char* p, size_t k) { return checksum64(p, k); };
  auto sse2 = [](const unsigned char* p, size_t k) { return XXH3_128bits(p, k).low64; };
  const size_t hot_bytes = std::min<size_t>(64 << 10, n);
  time_walk(buf.data(), n, n, xxh);  // warm-up: page faults, caches, frequency
  time_walk(buf.data(), n, n, c64);
  std::vector<double> xw, xb, xh, cw, cb, ch, sw, sb, sh;
  for (int r = 0; r < reps; ++r) {
    xw.push_back(time_walk(buf.data(), n, n, xxh));
    cw.push_back(time_walk(buf.data(), n, n, c64));
    xb.push_back(time_walk(buf.data(), n, block_bytes, xxh));
    cb.push_back(time_walk(buf.data(), n, block_bytes, c64));
    xh.push_back(time_hot(buf.data(), hot_bytes, n, xxh));
    ch.push_back(time_hot(buf.data(), hot_bytes, n, c64));
    sw.push_back(time_walk(buf.data(), n, n, sse2));
    sb.push_back(time_walk(buf.data(), n, block_bytes, sse2));
    sh.push_back(time_hot(buf.data(), hot_bytes, n, sse2));
  }
  buf = {};
  const stats xxh_whole = summarize(xw), xxh_blocks = summarize(xb), c64_whole = summarize(cw),
              c64_blocks = summarize(cb), xxh_hot = summarize(xh), c64_hot = summarize(ch),
              sse2_whole = summarize(sw), sse2_hot = summarize(sh);

  // 2. read_rows on a large tensor.
  std::string tmpl = parent + "/tessera-checksum-bench-XXXXXX";
  if (!mkdtemp(tmpl.data())) return fail("mkdtemp in " + parent + ": " + std::strerror(errno));
  const std::string dir = tmpl;
  struct cleanup {
    std::string dir;
    ~cleanup() { std::system(("rm -rf '" + dir + "'").c_str()); }
  } cleaner{dir};
  const uint64_t cols = 256, rows = (uint64_t{read_mib} << 20) / (cols * sizeof(float));
  const uint64_t bytes = rows * cols * sizeof(float);
  double write_gbs = 0;
  {
    auto w = tessera::package_writer::create(dir);
    if (!w) return fail(tessera::describe(w.error()));
    if (auto e = w->begin_tensor("t", rows, cols)) return fail(tessera::describe(e));
    const uint64_t chunk_rows = 4096;
    std::vector<float> chunk(chunk_rows * cols);
    auto t0 = steady::now();
    for (uint64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
      uint64_t k = std::min(chunk_rows, rows - r0);
      for (uint64_t i = 0; i < k * cols; ++i) chunk[i] = static_cast<float>((r0 * cols + i) % 9973);
      if (auto e = w->append_rows(chunk.data(), k)) return fail(tessera::describe(e));
    }
    if (auto e = w->end_tensor()) return fail(tessera::describe(e));
    tessera::manifest m;
    m.name = "bench";
    if (auto e = w->finish(m)) return fail(tessera::describe(e));
    write_gbs = static_cast<double>(bytes) / seconds_since(t0) / 1e9;
  }
  auto pkg = tessera::package::open(dir);
  if (!pkg) return fail(tessera::describe(pkg.error()));
  const std::string file = dir + "/" + pkg->meta().find_tensor("t")->file;
  const uint64_t block_rows = pkg->meta().find_tensor("t")->block_rows;

  auto read_once = [&]() -> double {
    auto t0 = steady::now();
    auto rb = pkg->read_rows("t", 0, rows);
    double s = seconds_since(t0);
    if (!rb) {
      std::cerr << "checksum_bench: " << tessera::describe(rb.error()) << "\n";
      std::exit(1);
    }
    sink = static_cast<uint64_t>(rb->row(rows - 1)[cols - 1]);
    return static_cast<double>(bytes) / s / 1e9;
  };
  auto drop_cache = [&]() {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ::fdatasync(fd);
    bool ok = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0;
    ::close(fd);
    return ok;
  };

  std::vector<double> cold, warm, raw;
  for (int r = 0; r < reps; ++r) {
    if (!drop_cache()) return fail("posix_fadvise failed on " + file);
    cold.push_back(read_once());
  }
  read_once();  // the file is in the page cache now
  for (int r = 0; r < reps; ++r) warm.push_back(read_once());
  // The same file read with plain pread, into fresh memory each time (as read_rows does: its
  // page faults are part of the cost) and into memory reused from the previous pass.
  std::vector<double> raw_fresh;
  {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail("open " + file);
    auto pread_all = [&](char* dst) {
      uint64_t off = 0;
      while (off < bytes) {
        ssize_t k = ::pread(fd, dst + off, std::min<uint64_t>(bytes - off, 1u << 30),
                            static_cast<off_t>(off));
        if (k <= 0) return false;
        off += static_cast<uint64_t>(k);
      }
      return true;
    };
    for (int r = 0; r < reps; ++r) {
      auto t0 = steady::now();
      void* dst = std::aligned_alloc(64, bytes);
      if (!dst || !pread_all(static_cast<char*>(dst))) return fail("pread " + file);
      raw_fresh.push_back(static_cast<double>(bytes) / seconds_since(t0) / 1e9);
      std::free(dst);
    }
    std::vector<char> dst(bytes);
    for (int r = 0; r < reps; ++r) {
      auto t0 = steady::now();
      if (!pread_all(dst.data())) return fail("pread " + file);
      raw.push_back(static_cast<double>(bytes) / seconds_since(t0) / 1e9);
    }
    ::close(fd);
  }
  const stats read_cold = summarize(cold), read_warm = summarize(warm), pread_warm = summarize(raw),
              pread_fresh = summarize(raw_fresh);

  if (json) {
    std::printf(
        "{\"buffer_mib\": %zu, \"reps\": %d,"
        " \"xxh3_128_gbs\": {\"whole\": %.2f, \"blocks_1mib\": %.2f, \"in_cache\": %.2f},"
        " \"xxh3_128_portable_gbs\": {\"whole\": %.2f, \"in_cache\": %.2f},"
        " \"checksum64_gbs\": {\"whole\": %.2f, \"blocks_1mib\": %.2f, \"in_cache\": %.2f},"
        " \"tensor_mib\": %zu, \"block_rows\": %llu, \"write_gbs\": %.2f,"
        " \"read_rows_gbs\": {\"page_cache\": %.2f, \"evicted\": %.2f},"
        " \"raw_pread_page_cache_gbs\": {\"fresh_memory\": %.2f, \"reused_memory\": %.2f}}\n",
        mib, reps, xxh_whole.best, xxh_blocks.best, xxh_hot.best, sse2_whole.best, sse2_hot.best,
        c64_whole.best, c64_blocks.best, c64_hot.best, read_mib,
        static_cast<unsigned long long>(block_rows), write_gbs, read_warm.best, read_cold.best,
        pread_fresh.best, pread_warm.best);
    return 0;
  }
  std::printf("checksum throughput, %zu MiB buffer, %d passes each (GB/s, best / median):\n", mib,
              reps);
  std::printf("  %-24s %-15s %-15s %s\n", "", "whole buffer", "1 MiB blocks", "64 KiB in cache");
  std::printf("  %-24s %6.2f / %6.2f %6.2f / %6.2f %6.2f / %6.2f\n", "xxh3_128 (dispatched)",
              xxh_whole.best, xxh_whole.median, xxh_blocks.best, xxh_blocks.median, xxh_hot.best,
              xxh_hot.median);
  std::printf("  %-24s %6.2f / %6.2f %6.2f / %6.2f %6.2f / %6.2f\n", "XXH3_128bits (portable)",
              sse2_whole.best, sse2_whole.median, summarize(sb).best, summarize(sb).median,
              sse2_hot.best, sse2_hot.median);
  std::printf("  %-24s %6.2f / %6.2f %6.2f / %6.2f %6.2f / %6.2f\n", "checksum64 (format 1)",
              c64_whole.best, c64_whole.median, c64_blocks.best, c64_blocks.median, c64_hot.best,
              c64_hot.median);
  std::printf("  XXH3-128 / checksum64: %.2fx whole buffer, %.2fx in cache\n",
              xxh_whole.best / c64_whole.best, xxh_hot.best / c64_hot.best);
  std::printf(
      "package::read_rows of one %zu MiB tensor (%llu rows x %llu cols, %llu-row blocks):\n",
      read_mib, static_cast<unsigned long long>(rows), static_cast<unsigned long long>(cols),
      static_cast<unsigned long long>(block_rows));
  std::printf("  %-40s %6.2f / %6.2f GB/s\n", "in page cache (pread + verify + copy)",
              read_warm.best, read_warm.median);
  std::printf("  %-40s %6.2f / %6.2f GB/s\n", "pages dropped first (fadvise DONTNEED)",
              read_cold.best, read_cold.median);
  std::printf("  %-40s %6.2f / %6.2f GB/s\n", "raw pread, page cache, fresh memory",
              pread_fresh.best, pread_fresh.median);
  std::printf("  %-40s %6.2f / %6.2f GB/s\n", "raw pread, page cache, reused memory",
              pread_warm.best, pread_warm.median);
  std::printf("  %-40s %6.2f GB/s\n", "package_writer (generate + hash + write)", write_gbs);
  return 0;
}
