#include "testing/safetensors_writer.hpp"

#include <cstring>

#include <nlohmann/json.hpp>

namespace tessera::testing {

std::string safetensors_bytes(const std::vector<st_tensor>& tensors,
                              const std::vector<std::pair<std::string, std::string>>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) {
    auto& m = header["__metadata__"] = nlohmann::json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
  }
  std::string data;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", t.dtype},
                      {"shape", t.shape},
                      {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // as the reference writer pads: data 8-aligned
  std::string out(8, '\0');
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + text + data;
}

std::string f32_bytes(const std::vector<float>& values) {
  std::string out(values.size() * sizeof(float), '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &values[i], sizeof bits);
    for (int b = 0; b < 4; ++b) out[i * 4 + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  return out;
}

}  // namespace tessera::testing
