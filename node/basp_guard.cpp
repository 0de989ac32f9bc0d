#include "node/basp_guard.hpp"

#include <algorithm>

namespace tessera {
namespace {

constexpr uint8_t op_server_handshake = 0, op_client_handshake = 1, op_direct = 2, op_routed = 3,
                  op_monitor = 4, op_down = 5, op_heartbeat = 6;
constexpr uint8_t named_receiver_flag = 0x01, select_connection_flag = 0x02;
constexpr uint64_t basp_version = 3;
constexpr uint64_t response_flag = 0x8000000000000000ull;
constexpr uint64_t request_id_mask = 0x0FFFFFFFFFFFFFFFull;
constexpr size_t max_server_handshake = 64 * 1024;
constexpr size_t max_requests = 1u << 18;

uint64_t be(const std::string& b, size_t at, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

}  // namespace

basp_guard::basp_guard(basp_side side, size_t max_payload)
    : side_(side), max_payload_(max_payload) {}

basp_guard::header basp_guard::parse(const std::string& b) {
  header h;
  h.op = static_cast<uint8_t>(b[0]);
  h.flags = static_cast<uint8_t>(b[3]);
  h.payload_len = static_cast<uint32_t>(be(b, 4, 4));
  h.op_data = be(b, 8, 8);
  h.source = be(b, 16, 8);
  h.dest = be(b, 24, 8);
  return h;
}

bool basp_guard::fail(std::string why) {
  error_ = std::move(why);
  return false;
}

bool basp_guard::inbound(const char* data, size_t n, std::string& out) {
  if (!error_.empty()) return false;
  while (n > 0) {
    if (in_left_ > 0) {  // the rest of a decided payload
      size_t k = static_cast<size_t>(std::min<uint64_t>(in_left_, n));
      if (in_pass_) out.append(data, k);
      in_left_ -= k;
      data += k;
      n -= k;
      continue;
    }
    const size_t want = header_size + (in_have_header_ ? in_prefix_want_ : 0);
    size_t k = std::min(n, want - in_buf_.size());
    in_buf_.append(data, k);
    data += k;
    n -= k;
    if (in_buf_.size() < want) break;
    if (!in_have_header_) {
      in_hdr_ = parse(in_buf_);
      in_have_header_ = true;
      const auto& h = in_hdr_;
      if (h.payload_len > max_payload_)
        return fail("BASP payload of " + std::to_string(h.payload_len) + " bytes (limit " +
                    std::to_string(max_payload_) + ")");
      const bool zero_ids = h.source == 0 && h.dest == 0;
      bool valid = false;
      switch (h.op) {
        case op_server_handshake:
          valid = h.op_data != 0;
          break;
        case op_client_handshake:
          valid = zero_ids;
          break;
        case op_direct:
        case op_routed:
          valid = h.dest != 0 && h.payload_len != 0;
          break;
        case op_monitor:
          valid = h.payload_len != 0 && h.op_data == 0;
          break;
        case op_down:
          valid = h.source != 0 && h.dest == 0 && h.payload_len != 0 && h.op_data == 0;
          break;
        case op_heartbeat:
          valid = zero_ids && h.payload_len == 0 && h.op_data == 0;
          break;
        default:
          break;
      }
      if (!valid) return fail("malformed BASP header (operation " + std::to_string(h.op) + ")");
      in_prefix_want_ = 0;
      if (!in_frames_seen_) {
        if (side_ == basp_side::server &&
            (h.op != op_client_handshake || (h.flags & ~select_connection_flag) != 0 ||
             h.payload_len != node_id_size))
          return fail("the first BASP frame is not a client handshake");
        if (side_ == basp_side::client &&
            (h.op != op_server_handshake || h.flags != 0 || h.op_data != basp_version ||
             h.payload_len < node_id_size || h.payload_len > max_server_handshake))
          return fail("the first BASP frame is not a server handshake");
        in_prefix_want_ = node_id_size;
      } else if (h.op == op_client_handshake && side_ == basp_side::server &&
                 client_handshakes_ == 1) {
        // CAF's client sends its handshake on connect and again on the server's handshake.
        if ((h.flags & ~select_connection_flag) != 0 || h.payload_len != node_id_size)
          return fail("a malformed second client handshake");
        in_prefix_want_ = node_id_size;
      } else if (h.op == op_server_handshake || h.op == op_client_handshake) {
        return fail("a second BASP handshake");
      } else if (h.op == op_routed) {
        return fail("a routed BASP message (no relaying through this node)");
      } else if (h.op == op_monitor || h.op == op_down) {
        if (h.payload_len < 2 * node_id_size) return fail("a short monitor/down message");
        in_prefix_want_ = 2 * node_id_size;
      }
      if (in_prefix_want_ > 0) continue;  // read the payload prefix, then decide
    }
    if (!decide(out)) return false;
  }
  return true;
}

bool basp_guard::decide(std::string& out) {
  const auto& h = in_hdr_;
  bool pass = true;
  if (!in_frames_seen_) {
    peer_node_ = in_buf_.substr(header_size, node_id_size);
    in_frames_seen_ = true;
    if (h.op == op_client_handshake) ++client_handshakes_;
  } else if (h.op == op_client_handshake) {
    if (in_buf_.compare(header_size, node_id_size, peer_node_) != 0)
      return fail("a second client handshake for another node");
    ++client_handshakes_;
  } else if (h.op == op_monitor || h.op == op_down) {
    if (in_buf_.compare(header_size, node_id_size, peer_node_) != 0)
      return fail("a monitor/down message for another node than the peer");
    if (self_node_.empty())
      pass = false;
    else if (in_buf_.compare(header_size + node_id_size, node_id_size, self_node_) != 0)
      return fail("a monitor/down message addressed to another node");
  } else if (h.op == op_direct && side_ == basp_side::client) {
    // A member only answers: a response to a request this node sent on this connection.
    pass = false;
    if ((h.flags & named_receiver_flag) == 0 && (h.op_data & response_flag) != 0) {
      auto it = requests_.find({h.dest, h.op_data & request_id_mask});
      if (it != requests_.end()) {
        requests_.erase(it);
        pass = true;
      }
    }
  }
  in_left_ = h.payload_len - (in_buf_.size() - header_size);
  in_pass_ = pass;
  if (pass)
    out += in_buf_;
  else
    ++dropped_;
  in_buf_.clear();
  in_have_header_ = false;
  in_prefix_want_ = 0;
  return true;
}

void basp_guard::outbound(const char* data, size_t n) {
  while (n > 0) {
    if (out_have_header_) {
      if (out_want_node_) {
        size_t k = std::min(n, node_id_size - out_buf_.size());
        out_buf_.append(data, k);
        data += k;
        n -= k;
        out_left_ -= k;
        if (out_buf_.size() < node_id_size) break;
        self_node_ = out_buf_;
        out_buf_.clear();
        out_want_node_ = false;
      }
      size_t k = static_cast<size_t>(std::min<uint64_t>(out_left_, n));
      out_left_ -= k;
      data += k;
      n -= k;
      if (out_left_ == 0) out_have_header_ = false;
      continue;
    }
    size_t k = std::min(n, header_size - out_buf_.size());
    out_buf_.append(data, k);
    data += k;
    n -= k;
    if (out_buf_.size() < header_size) break;
    out_hdr_ = parse(out_buf_);
    out_buf_.clear();
    out_have_header_ = out_hdr_.payload_len > 0;
    out_left_ = out_hdr_.payload_len;
    const uint8_t own_handshake =
        side_ == basp_side::server ? op_server_handshake : op_client_handshake;
    out_want_node_ =
        out_hdr_.op == own_handshake && self_node_.empty() && out_hdr_.payload_len >= node_id_size;
    if (out_hdr_.op == op_direct && (out_hdr_.op_data & response_flag) == 0 &&
        (out_hdr_.op_data & request_id_mask) != 0) {
      std::pair<uint64_t, uint64_t> key{out_hdr_.source, out_hdr_.op_data & request_id_mask};
      if (requests_.insert(key).second) request_order_.push_back(key);
      while (requests_.size() > max_requests && !request_order_.empty()) {
        requests_.erase(request_order_.front());
        request_order_.pop_front();
      }
      if (request_order_.size() > 2 * max_requests) {  // answered keys linger in the order
        std::deque<std::pair<uint64_t, uint64_t>> live;
        for (auto& k2 : request_order_)
          if (requests_.count(k2) != 0) live.push_back(k2);
        request_order_.swap(live);
      }
    }
  }
}

}  // namespace tessera
