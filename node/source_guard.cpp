#include "node/source_guard.hpp"

#include <iterator>

namespace tessera {

bool source_guard::open_prelogin(const std::string& source) {
  if (prelogin_ >= max_prelogin_) {
    ++refused_connections_;
    return false;
  }
  auto& e = entries_[source];
  if (e.prelogin >= max_per_source_) {
    ++refused_connections_;
    return false;
  }
  ++e.prelogin;
  ++prelogin_;
  return true;
}

void source_guard::close_prelogin(const std::string& source, clock::time_point now) {
  auto it = entries_.find(source);
  if (it == entries_.end() || it->second.prelogin == 0) return;
  --it->second.prelogin;
  --prelogin_;
  if (it->second.prelogin == 0 && (it->second.failures == 0 || expired(it->second, now)))
    entries_.erase(it);
}

bool source_guard::may_try_login(const std::string& source, clock::time_point now) {
  auto it = entries_.find(source);
  if (it == entries_.end() || expired(it->second, now) || it->second.failures < max_failures_)
    return true;
  ++refused_logins_;
  return false;
}

void source_guard::login_failed(const std::string& source, clock::time_point now) {
  if (entries_.size() > 4096) prune(now);
  auto& e = entries_[source];
  if (e.failures == 0 || expired(e, now)) {
    e.failures = 0;
    e.window_start = now;
  }
  ++e.failures;
}

void source_guard::prune(clock::time_point now) {
  for (auto it = entries_.begin(); it != entries_.end();)
    it = it->second.prelogin == 0 && expired(it->second, now) ? entries_.erase(it) : std::next(it);
}

}  // namespace tessera
