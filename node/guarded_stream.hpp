#pragma once
// A client connection's byte stream as the gateway's RPC system sees it, with the bounds that
// keep one client from growing the gateway's memory:
//   - frame_meter reads the Cap'n Proto stream framing (segment table) of every incoming
//     message as its bytes pass, and fails the connection when a message declares more bytes
//     than allowed *now* (a small limit before login, a larger one after), before the RPC
//     layer allocates room for it;
//   - when a message's header has been read, `admit` may hold back handing it to the RPC
//     layer (which would then allocate its body) until the bytes it declares fit the gateway's
//     byte budget (node/byte_budget.hpp): flow control before the body leaves the socket;
//   - read_gate holds back reads while the connection has too many calls unanswered or while
//     an answer is still being written (the client does not read), so the client's further
//     calls stay in its own socket buffers, not in ours.
//
// Thread: the gateway's kj thread only.
#include <cstddef>
#include <cstdint>
#include <functional>

#include <kj/async-io.h>

namespace tessera {

// Incremental parser of the Cap'n Proto stream framing: per message, a 4-byte segment count
// minus one, a 4-byte size (in 8-byte words) per segment, padding to 8 bytes, then the
// segments. Feeding bytes in any split gives the same result.
class frame_meter {
 public:
  // Segment count capnp itself accepts at most.
  static constexpr uint32_t k_max_segments = 512;

  // Consumes `n` bytes. Returns false when a message header in them declares more than
  // `limit()` bytes (framing included) or more than k_max_segments segments; the stream is
  // then unusable. `limit` is asked once per message, when its header is complete.
  bool feed(const unsigned char* data, size_t n, const std::function<uint64_t()>& limit);

  uint64_t messages() const { return messages_; }
  uint64_t declared() const { return declared_; }  // bytes of all message headers complete
  uint64_t largest() const { return largest_; }    // bytes of the largest declared message

 private:
  enum class phase { count, sizes, body };
  phase phase_ = phase::count;
  unsigned char word_[4] = {};
  uint32_t word_fill_ = 0;
  uint32_t segments_ = 0;  // of the current message
  uint32_t sizes_read_ = 0;
  uint64_t body_words_ = 0;
  uint64_t remaining_ = 0;  // bytes left of the current message's padding and body
  uint64_t messages_ = 0, largest_ = 0, declared_ = 0;
};

// When a connection may read its next message.
class read_gate {
 public:
  explicit read_gate(uint32_t max_calls) : max_calls_(max_calls) {}

  // Resolves once the gate is open: fewer than max_calls calls unanswered and no write pending.
  kj::Promise<void> when_open();

  void call_started() { ++calls_; }
  void call_finished() {
    --calls_;
    wake();
  }
  void write_started() { ++writes_; }
  void write_finished() {
    --writes_;
    wake();
  }
  bool open() const { return calls_ < max_calls_ && writes_ == 0; }
  uint32_t calls() const { return calls_; }

 private:
  void wake();
  uint32_t max_calls_;
  uint32_t calls_ = 0, writes_ = 0;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> waiter_;
};

// Wraps a client stream with a frame_meter on reads and a read_gate on both directions.
// `limit` gives the largest message allowed at the moment it is asked. `admit` (may be empty)
// is called with the declared bytes of the message(s) whose header a read completed; the read
// is answered when its promise resolves.
class guarded_stream final : public kj::AsyncIoStream {
 public:
  using admit_fn = std::function<kj::Promise<void>(uint64_t bytes)>;
  guarded_stream(kj::Own<kj::AsyncIoStream> inner, read_gate& gate, std::function<uint64_t()> limit,
                 admit_fn admit = {})
      : inner_(kj::mv(inner)), gate_(gate), limit_(std::move(limit)), admit_(std::move(admit)) {}

  kj::Promise<size_t> tryRead(void* buffer, size_t minBytes, size_t maxBytes) override;
  kj::Promise<void> write(const void* buffer, size_t size) override;
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override;
  kj::Promise<void> whenWriteDisconnected() override { return inner_->whenWriteDisconnected(); }
  void shutdownWrite() override { inner_->shutdownWrite(); }
  void abortRead() override { inner_->abortRead(); }
  void getsockopt(int level, int option, void* value, kj::uint* length) override {
    inner_->getsockopt(level, option, value, length);
  }
  void setsockopt(int level, int option, const void* value, kj::uint length) override {
    inner_->setsockopt(level, option, value, length);
  }
  void getsockname(struct sockaddr* addr, kj::uint* length) override {
    inner_->getsockname(addr, length);
  }
  void getpeername(struct sockaddr* addr, kj::uint* length) override {
    inner_->getpeername(addr, length);
  }

  const frame_meter& meter() const { return meter_; }

 private:
  kj::Promise<void> track(kj::Promise<void> write);
  kj::Own<kj::AsyncIoStream> inner_;
  read_gate& gate_;
  std::function<uint64_t()> limit_;
  admit_fn admit_;
  frame_meter meter_;
  bool failed_ = false;
};

}  // namespace tessera
