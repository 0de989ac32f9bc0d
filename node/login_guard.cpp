#include "node/login_guard.hpp"

#include <algorithm>

namespace tessera {

std::chrono::milliseconds login_guard::delay_for(uint32_t failures) {
  if (failures <= 1) return std::chrono::milliseconds{0};
  const uint32_t doublings = std::min<uint32_t>(failures - 2, 6);  // 100 ms * 2^6 > 5 s
  return std::min(std::chrono::milliseconds{100 << doublings}, std::chrono::milliseconds{5000});
}

std::optional<std::string> login_guard::on_failure(clock::time_point now) {
  ++total_;
  ++pending_;
  if (summarized_ && now - last_summary_ < interval_) return std::nullopt;
  auto span = summarized_ ? std::chrono::round<std::chrono::seconds>(now - last_summary_)
                          : std::chrono::seconds{0};
  std::string line = std::to_string(pending_) + " failed login" + (pending_ == 1 ? "" : "s");
  if (summarized_) line += " in the last " + std::to_string(span.count()) + " s";
  line += " (" + std::to_string(total_) + " since start)";
  summarized_ = true;
  last_summary_ = now;
  pending_ = 0;
  return line;
}

}  // namespace tessera
