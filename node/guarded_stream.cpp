#include "node/guarded_stream.hpp"

#include <algorithm>

#include <kj/debug.h>

namespace tessera {

bool frame_meter::feed(const unsigned char* data, size_t n,
                       const std::function<uint64_t()>& limit) {
  size_t i = 0;
  while (i < n) {
    if (phase_ == phase::body) {
      const uint64_t take = std::min<uint64_t>(remaining_, n - i);
      remaining_ -= take;
      i += take;
      if (remaining_ == 0) phase_ = phase::count;
      continue;
    }
    word_[word_fill_++] = data[i++];
    if (word_fill_ < 4) continue;
    word_fill_ = 0;
    const uint32_t v = uint32_t{word_[0]} | uint32_t{word_[1]} << 8 | uint32_t{word_[2]} << 16 |
                       uint32_t{word_[3]} << 24;
    if (phase_ == phase::count) {
      // v is the segment count minus one; 0xFFFFFFFF wraps to 0 segments, which is invalid.
      if (v >= k_max_segments) return false;
      segments_ = v + 1;
      sizes_read_ = 0;
      body_words_ = 0;
      phase_ = phase::sizes;
      continue;
    }
    body_words_ += v;  // phase::sizes
    if (++sizes_read_ < segments_) continue;
    const uint64_t header = 4 + 4 * uint64_t{segments_};
    const uint64_t padding = header % 8;  // 0 or 4
    const uint64_t total = header + padding + body_words_ * 8;
    if (total > limit()) return false;
    ++messages_;
    declared_ += total;
    largest_ = std::max(largest_, total);
    remaining_ = padding + body_words_ * 8;
    phase_ = remaining_ == 0 ? phase::count : phase::body;
  }
  return true;
}

kj::Promise<void> read_gate::when_open() {
  if (open()) return kj::READY_NOW;
  // One reader at a time: the RPC system reads its connection sequentially.
  auto paf = kj::newPromiseAndFulfiller<void>();
  waiter_ = kj::mv(paf.fulfiller);
  return kj::mv(paf.promise);
}

void read_gate::wake() {
  if (!open()) return;
  KJ_IF_MAYBE (w, waiter_) {
    auto fulfiller = kj::mv(*w);
    waiter_ = nullptr;
    fulfiller->fulfill();
  }
}

kj::Promise<size_t> guarded_stream::tryRead(void* buffer, size_t minBytes, size_t maxBytes) {
  return gate_.when_open().then([this, buffer, minBytes, maxBytes]() {
    return inner_->tryRead(buffer, minBytes, maxBytes)
        .then([this, buffer](size_t n) -> kj::Promise<size_t> {
          const uint64_t before = meter_.declared();
          if (failed_ || !meter_.feed(static_cast<const unsigned char*>(buffer), n, limit_)) {
            failed_ = true;
            // Closes this connection only: the RPC system ends it on a failed read.
            kj::throwFatalException(
                KJ_EXCEPTION(DISCONNECTED, "message over the connection's limit"));
          }
          const uint64_t declared = meter_.declared() - before;
          if (declared == 0 || !admit_) return n;
          return admit_(declared).then([n] { return n; });
        });
  });
}

kj::Promise<void> guarded_stream::track(kj::Promise<void> write) {
  gate_.write_started();
  return write.then([this]() { gate_.write_finished(); },
                    [this](kj::Exception&& e) {
                      gate_.write_finished();
                      kj::throwFatalException(kj::mv(e));
                    });
}

kj::Promise<void> guarded_stream::write(const void* buffer, size_t size) {
  return track(inner_->write(buffer, size));
}

kj::Promise<void> guarded_stream::write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) {
  return track(inner_->write(pieces));
}

}  // namespace tessera
