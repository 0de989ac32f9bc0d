#pragma once
// Trivially copyable arrays as little-endian byte buffers, the wire form of tensor payloads
// (see actors/messages.hpp). All supported hosts are little-endian.
#include <cstring>
#include <type_traits>
#include <vector>

namespace tessera {

template <class T>
std::vector<char> to_bytes(const T* data, size_t n) {
  static_assert(std::is_trivially_copyable<T>::value, "plain data only");
  std::vector<char> out(n * sizeof(T));
  if (n > 0) std::memcpy(out.data(), data, out.size());
  return out;
}

template <class T>
std::vector<char> to_bytes(const std::vector<T>& v) {
  return to_bytes(v.data(), v.size());
}

// Fails (returns false, leaves out empty) when the size is not a multiple of sizeof(T).
template <class T>
bool from_bytes(const std::vector<char>& bytes, std::vector<T>& out) {
  static_assert(std::is_trivially_copyable<T>::value, "plain data only");
  out.clear();
  if (bytes.size() % sizeof(T) != 0) return false;
  out.resize(bytes.size() / sizeof(T));
  if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  return true;
}

}  // namespace tessera
