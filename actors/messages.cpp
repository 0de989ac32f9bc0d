#include "actors/messages.hpp"

#include "actors/interfaces.hpp"

namespace tessera {

caf::expected<std::string> replica_content(const manifest& meta, const std::string& tensor,
                                           const std::string& bias, uint64_t begin, uint64_t end) {
  auto rows = rows_digest(meta, tensor, begin, end);
  if (!rows) return rows.error();
  if (bias.empty()) return *rows;
  auto b = rows_digest(meta, bias, begin, end);
  if (!b) return b.error();
  return *rows + "+" + *b;
}

std::vector<std::pair<checksum128, uint64_t>> spec_blocks(const shard_spec& spec) {
  std::vector<std::pair<checksum128, uint64_t>> out;
  for (const auto* b : {&spec.rows_blocks, &spec.bias_blocks})
    for (size_t i = 0; i < b->checksums.size(); ++i)
      out.emplace_back(b->checksums[i], b->block_bytes(b->first_block + i));
  return out;
}

const char* to_string(hosted_state s) {
  switch (s) {
    case hosted_state::loading:
      return "loading";
    case hosted_state::ready:
      return "ready";
    case hosted_state::stopping:
      return "stopping";
  }
  return "unknown";
}

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<shard_spec>("tessera.shard_spec");
  cfg.add_message_type<checksum128>("tessera.checksum128");
  cfg.add_message_type<std::vector<uint32_t>>("tessera.u32_list");
  cfg.add_message_type<pool_request>("tessera.pool_request");
  cfg.add_message_type<pool_reply>("tessera.pool_reply");
  cfg.add_message_type<layer_request>("tessera.layer_request");
  cfg.add_message_type<layer_reply>("tessera.layer_reply");
  cfg.add_message_type<replica_status>("tessera.replica_status");
  cfg.add_message_type<std::vector<replica_status>>("tessera.replica_status_list");
  cfg.add_message_type<node_status>("tessera.node_status");
  cfg.add_message_type<std::vector<char>>("tessera.bytes");
  cfg.add_message_type<shard_actor>("tessera.shard_actor");
  cfg.add_message_type<node_actor>("tessera.node_actor");
}

}  // namespace tessera
