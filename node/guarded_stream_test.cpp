#include "node/guarded_stream.hpp"

#include <vector>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <catch2/catch.hpp>

#include "schemas/tessera.capnp.h"

using namespace tessera;

namespace {

// The framed bytes of a real message with `segments` segments and about `text` bytes of text.
std::vector<unsigned char> framed(size_t text, bool multi_segment) {
  capnp::MallocMessageBuilder msg(multi_segment ? 8 : 1 << 20,
                                  capnp::AllocationStrategy::FIXED_SIZE);
  auto in = msg.initRoot<Input>();
  std::string t(text, 'x');
  in.setText(t);
  auto words = capnp::messageToFlatArray(msg);
  auto bytes = words.asBytes();
  return {bytes.begin(), bytes.end()};
}

std::function<uint64_t()> fixed(uint64_t n) {
  return [n] { return n; };
}

}  // namespace

TEST_CASE("the meter counts real messages fed in any split, one segment or many") {
  for (bool multi : {false, true}) {
    auto a = framed(100, multi), b = framed(5000, multi);
    std::vector<unsigned char> stream(a);
    stream.insert(stream.end(), b.begin(), b.end());
    for (size_t chunk : {size_t{1}, size_t{3}, size_t{8}, size_t{1000}, stream.size()}) {
      frame_meter m;
      for (size_t i = 0; i < stream.size(); i += chunk)
        REQUIRE(m.feed(stream.data() + i, std::min(chunk, stream.size() - i), fixed(1 << 20)));
      CHECK(m.messages() == 2);
      CHECK(m.largest() == b.size());
    }
  }
}

TEST_CASE("a message declaring more than the limit fails at its header, before its body") {
  auto big = framed(10000, false);
  frame_meter m;
  // Only the 8-byte header is fed: the declared size alone decides.
  CHECK_FALSE(m.feed(big.data(), 8, fixed(4096)));
  frame_meter ok;
  CHECK(ok.feed(big.data(), big.size(), fixed(big.size())));
}

TEST_CASE("a header claiming 500 MiB or too many segments is refused") {
  // One segment of 500 MiB / 8 words.
  const uint32_t words = (500u << 20) / 8;
  unsigned char claim[8] = {0,
                            0,
                            0,
                            0,
                            static_cast<unsigned char>(words),
                            static_cast<unsigned char>(words >> 8),
                            static_cast<unsigned char>(words >> 16),
                            static_cast<unsigned char>(words >> 24)};
  frame_meter m;
  CHECK_FALSE(m.feed(claim, sizeof claim, fixed(64u << 20)));
  unsigned char many[4] = {0xff, 0xff, 0xff, 0xff};  // 2^32 segments (wraps to 0)
  frame_meter m2;
  CHECK_FALSE(m2.feed(many, sizeof many, fixed(64u << 20)));
  unsigned char segs[4] = {0x00, 0x02, 0, 0};  // 513 segments
  frame_meter m3;
  CHECK_FALSE(m3.feed(segs, sizeof segs, fixed(64u << 20)));
}

TEST_CASE("the limit is asked per message, so it can grow after login") {
  auto small = framed(100, false), big = framed(10000, false);
  uint64_t limit = 4096;
  frame_meter m;
  auto now = [&] { return limit; };
  REQUIRE(m.feed(small.data(), small.size(), now));
  limit = 1 << 20;  // authenticated
  CHECK(m.feed(big.data(), big.size(), now));
}

TEST_CASE("the read gate closes at the call bound or while a write is pending") {
  read_gate g{2};
  CHECK(g.open());
  g.call_started();
  g.call_started();
  CHECK_FALSE(g.open());
  g.call_finished();
  CHECK(g.open());
  g.write_started();
  CHECK_FALSE(g.open());
  g.write_finished();
  CHECK(g.open());
}
