#include "cli/tables.hpp"

#include <map>
#include <sstream>

#include <capnp/compat/std-iterator.h>

#include "cli/format.hpp"
#include "cli/progress.hpp"

namespace tessera::cli {
namespace {

std::string text(capnp::Text::Reader t) {
  return std::string(t.cStr(), t.size());
}

std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

std::string join_roles(capnp::List<capnp::Text>::Reader roles) {
  std::string out;
  for (auto r : roles) out += (out.empty() ? "" : ",") + text(r);
  return out.empty() ? "-" : out;
}

nlohmann::json shard_json(::ShardInfo::Reader s) {
  auto replicas = nlohmann::json::array();
  for (auto r : s.getReplicas())
    replicas.push_back({{"node", text(r.getNode())},
                        {"state", text(r.getState())},
                        {"id", text(r.getId())},
                        {"error", text(r.getError())},
                        {"fetched_bytes", r.getFetchedBytes()},
                        {"stored_bytes", r.getStoredBytes()}});
  return {{"tensor", text(s.getTensor())},
          {"row_begin", s.getRowBegin()},
          {"row_end", s.getRowEnd()},
          {"bytes", s.getBytes()},
          {"replicas", replicas}};
}

nlohmann::json version_json(::VersionInfo::Reader v) {
  auto shards = nlohmann::json::array();
  for (auto s : v.getShards()) shards.push_back(shard_json(s));
  return {{"version", v.getVersion()},
          {"state", text(v.getState())},
          {"epoch", v.getEpoch()},
          {"path", text(v.getPath())},
          {"embedder", text(v.getEmbedder())},
          {"embedder_of", text(v.getEmbedderOf())},
          {"family", text(v.getFamily())},
          {"classifier", text(v.getClassifier())},
          {"dim", v.getDim()},
          {"rows", v.getRows()},
          {"label_count", v.getLabelCount()},
          {"output", text(v.getOutput())},
          {"shards", shards},
          {"error", text(v.getError())},
          {"exact_pooling", v.getExactPooling()},
          {"shipped_bytes", v.getShippedBytes()},
          {"stored_bytes", v.getStoredBytes()},
          {"replica_bytes", v.getReplicaBytes()}};
}

// Labels pinned to version `version`, e.g. " [stable,canary]".
std::string labels_of(::ModelInfo::Reader m, uint64_t version) {
  std::string out;
  for (auto l : m.getLabels())
    if (l.getVersion() == version) out += (out.empty() ? "" : ",") + text(l.getLabel());
  return out.empty() ? "" : "  labels: " + out;
}

void render_version(std::ostringstream& os, ::ModelInfo::Reader m, ::VersionInfo::Reader v) {
  os << "  v" << v.getVersion() << "  " << text(v.getState()) << "  epoch " << v.getEpoch()
     << labels_of(m, v.getVersion()) << "  dim " << v.getDim() << "  rows " << v.getRows()
     << "  labels " << v.getLabelCount() << "  output " << text(v.getOutput())
     << (v.getExactPooling() ? "  exact pooling" : "");
  if (v.getError().size() > 0) os << "  error: " << text(v.getError());
  os << "\n";
  // Sub-models: a shared embedder shows its user count (to cluster admins); its bytes count
  // once per node.
  if (v.getEmbedder().size() > 0)
    os << "    embedder " << text(v.getEmbedder())
       << (v.getEmbedderOf().size() > 0 ? "  of " + text(v.getEmbedderOf()) : "") << "\n";
  if (v.getClassifier().size() > 0) os << "    classifier " << text(v.getClassifier()) << "\n";
  // Only nodes with a block store report these (docs/ARCHITECTURE.md, "Block stores").
  if (v.getShippedBytes() + v.getStoredBytes() > 0)
    os << "    shipped " << human_bytes(v.getShippedBytes()) << " of "
       << human_bytes(v.getReplicaBytes()) << " to node stores; " << human_bytes(v.getStoredBytes())
       << " were there already\n";
  std::map<std::string, uint64_t> per_node;
  for (auto s : v.getShards()) {
    os << "    shard " << text(s.getTensor()) << " rows [" << s.getRowBegin() << ", "
       << s.getRowEnd() << ")  " << human_bytes(s.getBytes()) << "  replicas:";
    for (auto r : s.getReplicas()) {
      os << " " << text(r.getNode()) << "(" << text(r.getState()) << ")";
      per_node[text(r.getNode())] += s.getBytes();
    }
    os << "\n";
  }
  if (per_node.empty()) return;
  os << "    bytes per node (this version's view, shared embedder included):";
  for (const auto& [node, bytes] : per_node) os << " " << node << "=" << human_bytes(bytes);
  os << "\n";
}

}  // namespace

std::string render_models_text(capnp::List<::ModelInfo>::Reader models) {
  std::ostringstream os;
  if (models.size() == 0) os << "no models loaded\n";
  for (auto m : models) {
    os << "MODEL " << text(m.getName()) << "  active ";
    if (m.getActiveVersion() == 0)
      os << "-";
    else
      os << "v" << m.getActiveVersion();
    os << "\n";
    for (auto v : m.getVersions()) render_version(os, m, v);
  }
  return os.str();
}

nlohmann::json models_json(capnp::List<::ModelInfo>::Reader models) {
  auto out = nlohmann::json::array();
  for (auto m : models) {
    auto versions = nlohmann::json::array();
    for (auto v : m.getVersions()) versions.push_back(version_json(v));
    auto labels = nlohmann::json::object();
    for (auto l : m.getLabels()) labels[text(l.getLabel())] = l.getVersion();
    out.push_back({{"name", text(m.getName())},
                   {"active_version", m.getActiveVersion()},
                   {"labels", labels},
                   {"versions", versions}});
  }
  return out;
}

std::string member_state(::Member::Reader m) {
  if (!m.getUp()) return "DOWN";
  if (!m.getDraining()) return "up";
  return m.getReplicas() == 0 ? "DRAINED" : "DRAINING";
}

std::string render_status_text(::Status::Reader status) {
  std::ostringstream os;
  os << "cluster: " << (status.getReady() ? "ready" : "NOT READY") << "\n";
  os << pad("NAME", 14) << pad("ADDRESS", 22) << pad("ROLES", 18) << pad("STATE", 9)
     << pad("USED/BUDGET", 26) << pad("RSS", 12) << pad("REPLICAS", 9) << "LOADING\n";
  for (auto m : status.getMembers()) {
    std::string budget = m.getBudgetBytes() == 0 ? "unlimited" : human_bytes(m.getBudgetBytes());
    os << pad(text(m.getName()), 14) << pad(text(m.getAddress()), 22)
       << pad(join_roles(m.getRoles()), 18) << pad(member_state(m), 9)
       << pad(human_bytes(m.getUsedBytes()) + " / " + budget, 26)
       << pad(human_bytes(m.getRssBytes()), 12) << pad(std::to_string(m.getReplicas()), 9)
       << progress_figures(m.getLoadingBytesDone(), m.getLoadingBytesTotal(),
                           {m.getLoadingBytesPerS(), m.getLoadingMsLeft()})
       << "\n";
  }
  std::string stores;
  for (auto m : status.getMembers())
    if (m.getStoreBytes() > 0 || m.getDiskBudgetBytes() > 0)
      stores += " " + text(m.getName()) + "=" + human_bytes(m.getStoreBytes()) +
                (m.getDiskBudgetBytes() ? "/" + human_bytes(m.getDiskBudgetBytes()) : "");
  if (!stores.empty()) os << "block stores (stored/disk_budget):" << stores << "\n";
  os << render_models_text(status.getModels());
  // A tenant's view (no cluster_admin) has no cluster-wide figures: no coordinator.
  if (status.hasCoordinator()) {
    os << "hedges: " << status.getHedgesSent() << " sent, " << status.getHedgesWon() << " won\n";
    auto co = status.getCoordinator();
    os << "coordinator " << text(co.getName()) << ": RSS " << human_bytes(co.getRssBytes())
       << (co.getBudgetBytes() ? " / budget " + human_bytes(co.getBudgetBytes()) : "") << ", "
       << co.getConnections() << " connections; refused " << co.getRefusedQuota() << " by quotas, "
       << co.getRefusedMemory() << " for memory; " << co.getFailedLogins() << " failed logins\n";
  }
  for (auto u : status.getUnderReplicated()) os << "UNDER-REPLICATED: " << text(u) << "\n";
  if (status.getPersistError().size() > 0)
    os << "NOT PERSISTED: " << text(status.getPersistError())
       << " (admin changes are refused until the registry can be written)\n";
  return os.str();
}

nlohmann::json status_json(::Status::Reader status) {
  auto members = nlohmann::json::array();
  for (auto m : status.getMembers()) {
    std::vector<std::string> roles;
    for (auto r : m.getRoles()) roles.push_back(text(r));
    members.push_back({{"name", text(m.getName())},
                       {"address", text(m.getAddress())},
                       {"roles", roles},
                       {"up", m.getUp()},
                       {"budget_bytes", m.getBudgetBytes()},
                       {"used_bytes", m.getUsedBytes()},
                       {"rss_bytes", m.getRssBytes()},
                       {"replicas", m.getReplicas()},
                       {"loading_bytes_done", m.getLoadingBytesDone()},
                       {"loading_bytes_total", m.getLoadingBytesTotal()},
                       {"loading_bytes_per_s", m.getLoadingBytesPerS()},
                       {"loading_ms_left", m.getLoadingMsLeft()},
                       {"overhead_bytes", m.getOverheadBytes()},
                       {"draining", m.getDraining()},
                       {"store_bytes", m.getStoreBytes()},
                       {"disk_budget_bytes", m.getDiskBudgetBytes()}});
  }
  std::vector<std::string> under;
  for (auto u : status.getUnderReplicated()) under.push_back(text(u));
  return {{"ready", status.getReady()},
          {"members", members},
          {"models", models_json(status.getModels())},
          {"hedges_sent", status.getHedgesSent()},
          {"hedges_won", status.getHedgesWon()},
          {"under_replicated", under},
          {"persist_error", text(status.getPersistError())},
          {"persist_failures", status.getPersistFailures()},
          {"coordinator",
           {{"name", text(status.getCoordinator().getName())},
            {"rss_bytes", status.getCoordinator().getRssBytes()},
            {"budget_bytes", status.getCoordinator().getBudgetBytes()},
            {"connections", status.getCoordinator().getConnections()},
            {"refused_quota", status.getCoordinator().getRefusedQuota()},
            {"refused_memory", status.getCoordinator().getRefusedMemory()},
            {"failed_logins", status.getCoordinator().getFailedLogins()}}}};
}

}  // namespace tessera::cli
