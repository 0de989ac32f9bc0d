#pragma once
// Admission of client requests: at most `limit` are admitted at once. An admitted request
// holds an admission_ticket until it is answered; the ticket gives its place back exactly once,
// when it is destroyed, so no path can forget to release it or release it twice.
//
// Thread: any. The serving actors (one per core) share one admission: its count is an atomic,
// taken and given back without a lock; copies of an admission share the count.
#include <atomic>
#include <cstdint>
#include <memory>

#include "base/errors.hpp"

namespace tessera {

class admission_ticket {
 public:
  admission_ticket() = default;  // holds no place
  admission_ticket(admission_ticket&& other) noexcept = default;
  admission_ticket& operator=(admission_ticket&& other) noexcept;
  admission_ticket(const admission_ticket&) = delete;
  admission_ticket& operator=(const admission_ticket&) = delete;
  ~admission_ticket() { release(); }

  // Holds a place (false once released or moved from).
  bool held() const { return running_ != nullptr; }

 private:
  friend class admission;
  explicit admission_ticket(std::shared_ptr<std::atomic<uint64_t>> running)
      : running_(std::move(running)) {}
  void release();

  std::shared_ptr<std::atomic<uint64_t>> running_;  // the admission's counter; null when not held
};

class admission {
 public:
  explicit admission(uint64_t limit) : limit_(limit) {}

  // A ticket while fewer than `limit` are held. Errors: overloaded ("N requests in flight").
  caf::expected<admission_ticket> admit();

  // Tickets held now.
  uint64_t running() const { return running_->load(std::memory_order_relaxed); }
  uint64_t limit() const { return limit_; }

 private:
  uint64_t limit_;
  std::shared_ptr<std::atomic<uint64_t>> running_ = std::make_shared<std::atomic<uint64_t>>(0);
};

}  // namespace tessera
