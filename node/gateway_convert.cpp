#include "node/gateway_convert.hpp"

#include <algorithm>

namespace tessera {

caf::expected<model_ref> read_model_ref(ModelRef::Reader r) {
  model_ref out;
  out.name = r.getName();
  if (out.name.empty()) return make_error(errc::invalid_argument, "model name is empty");
  switch (r.which()) {
    case ModelRef::VERSION:
      out.version = r.getVersion();
      if (out.version == 0) return make_error(errc::invalid_argument, "version 0 is invalid");
      break;
    case ModelRef::LABEL:
      out.label = r.getLabel();
      if (out.label.empty()) return make_error(errc::invalid_argument, "label is empty");
      break;
    default:
      break;
  }
  return out;
}

namespace {

// Table bags one input may carry, and the bytes of a table's name.
constexpr uint32_t max_table_bags = 1024;
constexpr size_t max_table_name_bytes = 128;

// Copies one bag's ids and weights; `budget` is the ids the input may still carry.
caf::error read_bag(capnp::List<int64_t>::Reader ids, capnp::List<float>::Reader weights,
                    const std::string& where, uint64_t& budget, const limits_config& limits,
                    std::vector<int64_t>& out_ids, std::vector<float>& out_weights) {
  if (ids.size() > budget || weights.size() > budget)
    return make_error(errc::limit_exceeded,
                      where + ": " + std::to_string(std::max(ids.size(), weights.size())) +
                          " ids or weights exceed the limit of " +
                          std::to_string(limits.max_ids_per_input) + " per input");
  budget -= ids.size();
  out_ids.reserve(ids.size());
  for (auto id : ids) out_ids.push_back(id);
  out_weights.reserve(weights.size());
  for (auto w : weights) out_weights.push_back(w);
  return caf::none;
}

}  // namespace

caf::expected<std::vector<input_item>> read_inputs(capnp::List<Input>::Reader in,
                                                   const limits_config& limits) {
  if (in.size() == 0) return make_error(errc::invalid_argument, "no inputs");
  if (in.size() > limits.max_inputs)
    return make_error(errc::limit_exceeded, std::to_string(in.size()) +
                                                " inputs exceed the limit of " +
                                                std::to_string(limits.max_inputs));
  std::vector<input_item> out(in.size());
  for (uint32_t i = 0; i < in.size(); ++i) {
    auto src = in[i];
    auto& dst = out[i];
    auto where = "input " + std::to_string(i);
    uint64_t budget = limits.max_ids_per_input;
    switch (src.which()) {
      case Input::TEXT: {
        auto t = src.getText();
        if (t.size() > limits.max_text_bytes)
          return make_error(errc::limit_exceeded, where + ": text of " + std::to_string(t.size()) +
                                                      " bytes exceeds the limit of " +
                                                      std::to_string(limits.max_text_bytes));
        dst.kind = input_kind::text;
        dst.text.assign(t.begin(), t.size());
        break;
      }
      case Input::IDS: {
        auto bag = src.getIds();
        dst.kind = input_kind::ids;
        if (auto err = read_bag(bag.getIds(), bag.getWeights(), where, budget, limits, dst.ids,
                                dst.weights))
          return err;
        break;
      }
      case Input::TABLES: {
        auto bags = src.getTables();
        if (bags.size() > max_table_bags)
          return make_error(errc::limit_exceeded, where + ": " + std::to_string(bags.size()) +
                                                      " table bags exceed the limit of " +
                                                      std::to_string(max_table_bags));
        dst.kind = input_kind::tables;
        dst.tables.resize(bags.size());
        for (uint32_t j = 0; j < bags.size(); ++j) {
          auto b = bags[j];
          auto& t = dst.tables[j];
          if (b.isName()) {
            auto name = b.getName();
            if (name.size() == 0 || name.size() > max_table_name_bytes)
              return make_error(errc::invalid_argument, where + ": a table name must have 1-" +
                                                            std::to_string(max_table_name_bytes) +
                                                            " bytes");
            t.name.assign(name.begin(), name.size());
          } else if (b.isIndex()) {
            t.index = b.getIndex();
          } else {
            return make_error(errc::invalid_argument, where + ": a table bag names no table");
          }
          if (auto err =
                  read_bag(b.getIds(), b.getWeights(), where, budget, limits, t.ids, t.weights))
            return err;
        }
        break;
      }
      default:
        return make_error(errc::invalid_argument,
                          where + ": an input kind this server does not know");
    }
  }
  return out;
}

std::vector<size_t> slice_bounds(const std::vector<input_item>& inputs, uint64_t slice_bytes) {
  std::vector<size_t> bounds{0};
  uint64_t bytes = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& in = inputs[i];
    const uint64_t cost = in.cost();
    if (i > bounds.back() && bytes + cost > slice_bytes) {
      bounds.push_back(i);
      bytes = 0;
    }
    bytes += cost;
  }
  if (!inputs.empty()) bounds.push_back(inputs.size());
  return bounds;
}

namespace {

::VersionState version_state_of(version_state s) {
  switch (s) {
    case version_state::new_:
      return ::VersionState::NEW;
    case version_state::loading:
      return ::VersionState::LOADING;
    case version_state::ready:
      return ::VersionState::READY;
    case version_state::serving:
      return ::VersionState::SERVING;
    case version_state::draining:
      return ::VersionState::DRAINING;
    case version_state::unloaded:
      return ::VersionState::UNLOADED;
    case version_state::error:
      return ::VersionState::ERROR;
  }
  return ::VersionState::UNSPECIFIED;
}

::ReplicaState replica_state_of(replica_state s) {
  switch (s) {
    case replica_state::loading:
      return ::ReplicaState::LOADING;
    case replica_state::ready:
      return ::ReplicaState::READY;
    case replica_state::lost:
      return ::ReplicaState::LOST;
    case replica_state::unloaded:
      return ::ReplicaState::UNLOADED;
    case replica_state::error:
      return ::ReplicaState::ERROR;
  }
  return ::ReplicaState::UNSPECIFIED;
}

// version_info::output's names ("none" for an embed-only version).
::OutputKind output_kind_of(const std::string& output) {
  if (output == "none") return ::OutputKind::NONE;
  if (output == "softmax") return ::OutputKind::SOFTMAX;
  if (output == "ova") return ::OutputKind::OVA;
  if (output == "hs") return ::OutputKind::HS;
  if (output == "sigmoid") return ::OutputKind::SIGMOID;
  if (output == "raw") return ::OutputKind::RAW;
  return ::OutputKind::UNSPECIFIED;
}

}  // namespace

void fill(ModelInfo::Builder b, const model_info& m, model_naming naming) {
  b.setName(naming == model_naming::qualified ? model_key{m.tenant, m.name}.display() : m.name);
  b.setTenant(m.tenant.name());
  b.setActiveVersion(m.active_version);
  auto vs = b.initVersions(static_cast<unsigned>(m.versions.size()));
  for (size_t i = 0; i < m.versions.size(); ++i) {
    const auto& v = m.versions[i];
    auto vb = vs[i];
    vb.setVersion(v.version);
    vb.setState(to_string(v.state));
    vb.setStateKind(version_state_of(v.state));
    vb.setShippedBytes(v.fetched_bytes);
    vb.setStoredBytes(v.stored_bytes);
    vb.setReplicaBytes(v.replica_bytes);
    vb.setEpoch(v.epoch);
    vb.setPath(v.path);
    vb.setEmbedder(v.embedder);
    vb.setClassifier(v.classifier);
    vb.setDim(v.dim);
    vb.setRows(v.rows);
    vb.setLabelCount(v.label_count);
    vb.setOutput(v.output);
    vb.setOutputKind(output_kind_of(v.output));
    vb.setError(v.error);
    vb.setExactPooling(v.exact_pooling);
    vb.setFamily(v.family);
    vb.setEmbedderOf(v.embedder_of);
    auto ss = vb.initShards(static_cast<unsigned>(v.shards.size()));
    for (size_t j = 0; j < v.shards.size(); ++j) {
      const auto& s = v.shards[j];
      auto sb = ss[j];
      sb.setTensor(s.tensor);
      sb.setRowBegin(s.row_begin);
      sb.setRowEnd(s.row_end);
      sb.setBytes(s.bytes);
      auto rs = sb.initReplicas(static_cast<unsigned>(s.replicas.size()));
      for (size_t k = 0; k < s.replicas.size(); ++k) {
        rs[k].setNode(s.replicas[k].node);
        rs[k].setState(to_string(s.replicas[k].state));
        rs[k].setStateKind(replica_state_of(s.replicas[k].state));
        rs[k].setId(s.replicas[k].id);
        rs[k].setError(s.replicas[k].error);
        rs[k].setFetchedBytes(s.replicas[k].fetched_bytes);
        rs[k].setStoredBytes(s.replicas[k].stored_bytes);
      }
    }
  }
  auto ls = b.initLabels(static_cast<unsigned>(m.labels.size()));
  for (size_t i = 0; i < m.labels.size(); ++i) {
    ls[i].setLabel(m.labels[i].first);
    ls[i].setVersion(m.labels[i].second);
  }
}

void fill(Member::Builder b, const member_info& m) {
  b.setName(m.name);
  b.setAddress(m.address);
  auto roles = b.initRoles(static_cast<unsigned>(m.roles.size()));
  for (size_t i = 0; i < m.roles.size(); ++i) roles.set(i, m.roles[i]);
  b.setUp(m.up);
  b.setBudgetBytes(m.budget_bytes);
  b.setUsedBytes(m.used_bytes);
  b.setRssBytes(m.rss_bytes);
  b.setReplicas(m.replicas);
  b.setStoreBytes(m.store_bytes);
  b.setDiskBudgetBytes(m.disk_budget);
  b.setLoadingBytesDone(m.loading_done);
  b.setLoadingBytesTotal(m.loading_total);
  b.setLoadingBytesPerS(m.loading.bytes_per_s);
  b.setLoadingMsLeft(m.loading.ms_left);
  b.setOverheadBytes(m.overhead_bytes);
  b.setDraining(m.draining);
}

void fill(Status::Builder b, const cluster_status& s, model_naming naming) {
  b.setReady(s.ready);
  auto ms = b.initMembers(static_cast<unsigned>(s.members.size()));
  for (size_t i = 0; i < s.members.size(); ++i) fill(ms[i], s.members[i]);
  auto mods = b.initModels(static_cast<unsigned>(s.models.size()));
  for (size_t i = 0; i < s.models.size(); ++i) fill(mods[i], s.models[i], naming);
  b.setHedgesSent(s.hedges_sent);
  b.setHedgesWon(s.hedges_won);
  auto under = b.initUnderReplicated(static_cast<unsigned>(s.under_replicated.size()));
  for (size_t i = 0; i < s.under_replicated.size(); ++i)
    under.set(i, s.under_replicated[i].line(naming == model_naming::tenant));
  b.setPersistError(s.persist_error);
  b.setPersistFailures(s.persist_failures);
}

void fill(ServedBy::Builder b, uint64_t version, uint64_t epoch) {
  b.setVersion(version);
  b.setEpoch(epoch);
}

}  // namespace tessera
