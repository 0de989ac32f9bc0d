#include "cluster/message_parts.hpp"

#include <algorithm>
#include <cstring>

#include "base/check.hpp"

namespace tessera {

size_t rows_per_part(size_t cols, size_t max_bytes) {
  const size_t row_bytes = std::max<size_t>(cols, 1) * sizeof(float);
  return std::max<size_t>(max_bytes / row_bytes, 1);
}

std::vector<std::vector<char>> split_row_ids(const std::vector<char>& ids, size_t rows) {
  TESSERA_CHECK(rows > 0 && ids.size() % sizeof(uint32_t) == 0,
                "split_row_ids: rows >= 1 and whole uint32 ids");
  const size_t step = rows * sizeof(uint32_t);
  std::vector<std::vector<char>> out;
  for (size_t at = 0; at < ids.size(); at += step)
    out.emplace_back(ids.begin() + at, ids.begin() + std::min(ids.size(), at + step));
  if (out.empty()) out.emplace_back();
  return out;
}

bool join_float_parts(const std::vector<std::vector<char>>& parts, std::vector<float>& out) {
  size_t total = 0;
  for (const auto& p : parts) {
    if (p.size() % sizeof(float) != 0) return false;
    total += p.size() / sizeof(float);
  }
  out.reserve(out.size() + total);
  for (const auto& p : parts) {
    const size_t at = out.size();
    out.resize(at + p.size() / sizeof(float));
    if (!p.empty()) std::memcpy(out.data() + at, p.data(), p.size());
  }
  return true;
}

}  // namespace tessera
