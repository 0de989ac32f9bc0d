#include "node/byte_budget.hpp"

#include "base/check.hpp"

namespace tessera {

byte_lease::byte_lease(byte_budget& b, std::vector<std::shared_ptr<byte_account>> a, uint64_t bytes)
    : budget_(b), accounts_(std::move(a)), bytes_(bytes) {
  for (auto& acc : accounts_) acc->held += bytes_;
}

byte_lease::~byte_lease() {
  for (auto& acc : accounts_) {
    TESSERA_CHECK(acc->held >= bytes_, "a byte lease gives back more than its account holds");
    acc->held -= bytes_;
  }
  budget_.released();
}

bool byte_budget::fits(const std::vector<std::shared_ptr<byte_account>>& accounts, uint64_t bytes) {
  for (const auto& a : accounts)
    if (a->limit != 0 && a->held != 0 && a->held + bytes > a->limit) return false;
  return true;
}

kj::Promise<std::shared_ptr<byte_lease>> byte_budget::acquire(
    std::vector<std::shared_ptr<byte_account>> accounts, uint64_t bytes) {
  if (waiters_.empty() && fits(accounts, bytes))
    return std::make_shared<byte_lease>(*this, std::move(accounts), bytes);
  ++waits_;
  auto paf = kj::newPromiseAndFulfiller<std::shared_ptr<byte_lease>>();
  waiters_.push_back(waiter{std::move(accounts), bytes, kj::mv(paf.fulfiller)});
  // A waiter queued behind others may fit already (another account than theirs).
  released();
  return kj::mv(paf.promise);
}

void byte_budget::released() {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (!it->fulfiller->isWaiting()) {  // its connection is gone
      it = waiters_.erase(it);
      continue;
    }
    if (!fits(it->accounts, it->bytes)) {
      ++it;
      continue;
    }
    auto w = std::move(*it);
    it = waiters_.erase(it);
    w.fulfiller->fulfill(std::make_shared<byte_lease>(*this, std::move(w.accounts), w.bytes));
  }
}

}  // namespace tessera
