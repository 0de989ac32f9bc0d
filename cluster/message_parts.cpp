#include "cluster/message_parts.hpp"

#include <algorithm>
#include <cstring>

#include "base/check.hpp"

namespace tessera {

size_t items_per_part(size_t item_bytes, size_t max_bytes) {
  return std::max<size_t>(max_bytes / std::max<size_t>(item_bytes, 1), 1);
}

std::vector<std::vector<char>> split_items(const std::vector<char>& bytes, size_t item_bytes,
                                           size_t items) {
  TESSERA_CHECK(item_bytes > 0 && items > 0 && bytes.size() % item_bytes == 0,
                "split_items: whole items, at least one per part");
  const size_t step = items * item_bytes;
  std::vector<std::vector<char>> out;
  for (size_t at = 0; at < bytes.size(); at += step)
    out.emplace_back(bytes.begin() + at, bytes.begin() + std::min(bytes.size(), at + step));
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
