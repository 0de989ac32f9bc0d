#include "node/basp_guard.hpp"

#include <catch2/catch.hpp>

using namespace tessera;

namespace {

std::string header(uint8_t op, uint8_t flags, uint32_t len, uint64_t op_data, uint64_t src = 0,
                   uint64_t dst = 0) {
  std::string h(32, '\0');
  h[0] = static_cast<char>(op);
  h[3] = static_cast<char>(flags);
  for (int i = 0; i < 4; ++i) h[4 + i] = static_cast<char>(len >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) h[8 + i] = static_cast<char>(op_data >> (56 - 8 * i));
  for (int i = 0; i < 8; ++i) h[16 + i] = static_cast<char>(src >> (56 - 8 * i));
  for (int i = 0; i < 8; ++i) h[24 + i] = static_cast<char>(dst >> (56 - 8 * i));
  return h;
}

const std::string peer_id(32, 'P'), self_id(32, 'S');

bool feed(basp_guard& g, const std::string& bytes, std::string& out) {
  // One byte at a time: the guard must not depend on how TLS records split frames.
  for (char c : bytes)
    if (!g.inbound(&c, 1, out)) return false;
  return true;
}

}  // namespace

TEST_CASE("a shard's guard takes the client handshakes, then refuses handshakes and relaying") {
  basp_guard g{basp_side::server, 1 << 20};
  g.outbound(header(0, 0, 40, 3).data(), 32);
  g.outbound((self_id + std::string(8, 'x')).data(), 40);
  std::string out;
  const std::string hs = header(1, 0, 32, 0) + peer_id;
  REQUIRE(feed(g, hs, out));
  REQUIRE(feed(g, header(1, 2, 32, 0) + peer_id, out));  // CAF's second client handshake
  CHECK(out.size() == 2 * hs.size());
  const std::string msg = header(2, 0, 4, 7, 1, 2) + "abcd";
  REQUIRE(feed(g, msg, out));
  CHECK(out.substr(out.size() - msg.size()) == msg);
  REQUIRE(feed(g, header(4, 0, 64, 0, 0, 9) + peer_id + self_id, out));  // monitor for us
  {
    basp_guard h = g;
    std::string o;
    CHECK_FALSE(feed(h, header(1, 0, 32, 0) + peer_id, o));  // a third handshake
  }
  {
    basp_guard h = g;
    std::string o;
    CHECK_FALSE(feed(h, header(0, 1, 0, ~0ull), o));  // the header that crashes 0.17.6
  }
  {
    basp_guard h = g;
    std::string o;
    CHECK_FALSE(feed(h, header(3, 0, 8, 0, 1, 2) + "12345678", o));  // routed
    CHECK(o.empty());
  }
  {
    basp_guard h = g;
    std::string o;
    // A down message for a third node: not forwarded.
    CHECK_FALSE(feed(h, header(5, 0, 64, 0, 4, 0) + peer_id + std::string(32, 'T'), o));
    CHECK(o.empty());
  }
}

TEST_CASE("a payload over the limit closes before one byte of it passes") {
  basp_guard g{basp_side::server, 1 << 20};
  std::string out;
  REQUIRE(feed(g, header(1, 0, 32, 0) + peer_id, out));
  const size_t before = out.size();
  CHECK_FALSE(g.inbound(header(2, 0, 1u << 30, 0, 0, 1).data(), 32, out));
  CHECK(out.size() == before);
  CHECK_THAT(g.error(), Catch::Contains("1073741824"));
  basp_guard first{basp_side::server, 1 << 20};
  std::string o;
  CHECK_FALSE(feed(first, header(0, 1, 0, ~0ull), o));  // not a client handshake
  CHECK(o.empty());
}

TEST_CASE("the coordinator's guard passes only responses to its own requests") {
  basp_guard g{basp_side::client, 1 << 20};
  std::string out;
  REQUIRE(feed(g, header(0, 0, 40, 3) + peer_id + std::string(8, 'x'), out));
  g.outbound((header(1, 0, 32, 0) + self_id).data(), 64);
  // This node's actor 5 asks the peer's actor 9 (request id 42, normal category).
  const uint64_t req = 0x1000000000000000ull | 42;
  const std::string ask = header(2, 0, 3, req, 5, 9) + "abc";
  g.outbound(ask.data(), ask.size());
  out.clear();
  // Not a response, a response to another request or actor, a named receiver: dropped.
  REQUIRE(feed(g, header(2, 0, 3, 0x1000000000000000ull | 43, 9, 5) + "cmd", out));
  REQUIRE(feed(g, header(2, 0, 3, 0x8000000000000000ull | 0x1000000000000000ull | 43, 9, 5) + "bad",
               out));
  REQUIRE(feed(g, header(2, 0, 3, 0x9000000000000000ull | 42, 9, 6) + "bad", out));
  REQUIRE(feed(g, header(2, 1, 3, 0, 9, 1) + "cmd", out));
  CHECK(out.empty());
  CHECK(g.dropped_frames() == 4);
  // The response: passed once.
  const std::string answer = header(2, 0, 3, 0x9000000000000000ull | 42, 9, 5) + "yes";
  REQUIRE(feed(g, answer, out));
  CHECK(out == answer);
  REQUIRE(feed(g, answer, out));
  CHECK(out == answer);
  // Heartbeats pass; a second server handshake closes.
  REQUIRE(feed(g, header(6, 0, 0, 0), out));
  CHECK(out.size() == answer.size() + 32);
  CHECK_FALSE(feed(g, header(0, 0, 40, 3) + peer_id + std::string(8, 'x'), out));
}
