#pragma once
// A check of the BASP frames (CAF 0.17.6) on one node-to-node connection, run by the node
// transport (node/node_transport.hpp) on the plaintext between TLS and CAF's BASP broker.
// It sees every byte in both directions; bytes from the peer reach CAF only when it lets them.
//
// A frame is a 32-byte header (network byte order: operation, 2 padding bytes, flags,
// payload_len u32, operation_data u64, source_actor u64, dest_actor u64) and payload_len bytes.
// A node id is 32 bytes on the wire (atom u64, pid u32, 20-byte host id); the handshakes and
// the monitor/down messages start their payload with node ids.
//
// From the peer the guard closes the connection on: a frame CAF would not call valid, a payload
// above `max_payload` (checked before any byte of it is passed on, so CAF never allocates it), a
// handshake out of place, a routed message (no relaying through this node), a monitor/down
// message whose source is not the peer or whose destination is not this node. As the BASP
// client (the coordinator's side) it also drops, without closing, every direct message that is
// not the response to a request this process sent on this connection: a member answers, it
// never commands. Not thread-safe: one pump thread owns a guard.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <utility>

namespace tessera {

enum class basp_side {
  server,  // this process published the actor (a shard); the peer sends the client handshake
  client,  // this process connected (the coordinator); the peer sends the server handshake
};

class basp_guard {
 public:
  static constexpr size_t header_size = 32;
  static constexpr size_t node_id_size = 32;

  basp_guard(basp_side side, size_t max_payload);

  // Bytes from the peer: appends what may reach CAF to `out`. False: close the connection
  // (error() says why); `out` then holds only whole frames allowed before.
  bool inbound(const char* data, size_t n, std::string& out);

  // Bytes from CAF to the peer (passed on unchanged): notes this node's id and the requests.
  void outbound(const char* data, size_t n);

  const std::string& error() const { return error_; }
  uint64_t dropped_frames() const { return dropped_; }

 private:
  struct header {
    uint8_t op = 0, flags = 0;
    uint32_t payload_len = 0;
    uint64_t op_data = 0, source = 0, dest = 0;
  };
  static header parse(const std::string& b);
  // Decides on `in_hdr_` once its header (and `in_prefix_want_` payload bytes) are in.
  bool decide(std::string& out);
  bool fail(std::string why);

  basp_side side_;
  size_t max_payload_;
  // Inbound parser: the header (and a payload prefix) being read, then the rest of the payload.
  std::string in_buf_;
  header in_hdr_;
  size_t in_prefix_want_ = 0;  // payload bytes needed before deciding
  uint64_t in_left_ = 0;       // payload bytes still to pass or skip
  bool in_pass_ = false;
  bool in_frames_seen_ = false;
  bool in_have_header_ = false;
  int client_handshakes_ = 0;  // seen from the peer (server side: at most 2)
  // Outbound parser.
  std::string out_buf_;
  header out_hdr_;
  bool out_have_header_ = false;
  uint64_t out_left_ = 0;
  bool out_want_node_ = false;
  // Node ids from the handshakes: the peer's (inbound) and this node's (outbound).
  std::string peer_node_, self_node_;
  // Requests this node sent on the connection: (source actor, request id), oldest first.
  std::set<std::pair<uint64_t, uint64_t>> requests_;
  std::deque<std::pair<uint64_t, uint64_t>> request_order_;
  uint64_t dropped_ = 0;
  std::string error_;
};

}  // namespace tessera
