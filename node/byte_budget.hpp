#pragma once
// Flow control of the bytes of request messages the gateway holds. A message is counted from
// the moment its header has been read off the socket (before the RPC layer allocates room for
// its body) until the call it carries is answered, in up to three accounts: its connection's,
// its tenant's (after login) and the gateway's. A connection whose next message would not fit
// in every account is not read further: the message stays in the client's socket buffers,
// that client waits, the others are served.
//
// An account whose holdings are 0 admits any one message (the frame meter has already bounded
// its size by max_message_bytes), so a message larger than an account never waits forever.
// Waiters are served in arrival order, except that one that does not fit yet does not hold
// back later ones that do.
//
// Thread: the gateway's kj thread only.
#include <cstdint>
#include <list>
#include <memory>
#include <vector>

#include <kj/async.h>

namespace tessera {

struct byte_account {
  explicit byte_account(uint64_t l) : limit(l) {}
  uint64_t limit;     // 0 = unlimited
  uint64_t held = 0;  // bytes of leases granted and not yet released
};

class byte_budget;

// Bytes held in some accounts; gives them back exactly once, when destroyed.
class byte_lease {
 public:
  byte_lease(byte_budget& b, std::vector<std::shared_ptr<byte_account>> a, uint64_t bytes);
  ~byte_lease();
  byte_lease(const byte_lease&) = delete;
  byte_lease& operator=(const byte_lease&) = delete;
  uint64_t bytes() const { return bytes_; }

 private:
  byte_budget& budget_;
  std::vector<std::shared_ptr<byte_account>> accounts_;
  uint64_t bytes_;
};

class byte_budget {
 public:
  // Resolves with a lease of `bytes` in every one of `accounts` once they fit. Dropping the
  // promise before then withdraws the request. The budget must outlive every lease.
  kj::Promise<std::shared_ptr<byte_lease>> acquire(
      std::vector<std::shared_ptr<byte_account>> accounts, uint64_t bytes);

  uint64_t waits() const { return waits_; }  // requests that had to wait, so far
  uint64_t waiting() const { return waiters_.size(); }

 private:
  friend class byte_lease;
  struct waiter {
    std::vector<std::shared_ptr<byte_account>> accounts;
    uint64_t bytes;
    kj::Own<kj::PromiseFulfiller<std::shared_ptr<byte_lease>>> fulfiller;
  };
  static bool fits(const std::vector<std::shared_ptr<byte_account>>& accounts, uint64_t bytes);
  void released();
  std::list<waiter> waiters_;
  uint64_t waits_ = 0;
};

}  // namespace tessera
