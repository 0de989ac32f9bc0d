#include "actors/registry.hpp"

#include <algorithm>

#include "base/check.hpp"

namespace tessera {
namespace {

// Marks every not yet unloaded replica of `s` unloaded and collects it; `s` becomes unloaded.
void release_submodel(submodel_entry& s, std::vector<replica_release>& out) {
  s.for_each_replica([&](replica_ref& r) {
    if (r.state == replica_state::unloaded) return;
    out.push_back({r.node, r.replica_id});
    r.state = replica_state::unloaded;
  });
  s.state = submodel_state::unloaded;
}

// Error texts reach the model's tenant: they name its model as the tenant does.
std::string no_model(const model_key& key) {
  return "no model '" + key.name + "'";
}

std::string no_version(const model_key& key, uint64_t version) {
  return "model '" + key.name + "' has no version " + std::to_string(version);
}

}  // namespace

std::string shard_name(const tensor_shards& t, const shard_ref& s) {
  return t.tensor + "[" + std::to_string(s.rows.begin) + ":" + std::to_string(s.rows.end) + ")";
}

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 128) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

std::vector<row_range> tensor_shards::ranges() const {
  std::vector<row_range> out;
  out.reserve(shards.size());
  for (const auto& s : shards) out.push_back(s.rows);
  return out;
}

bool submodel_entry::fully_served() const {
  for (const auto& t : tensors)
    for (const auto& s : t.shards) {
      bool any = false;
      for (const auto& r : s.replicas) any = any || r.state == replica_state::ready;
      if (!any) return false;
    }
  return true;
}

uint64_t submodel_entry::bytes_on(const std::string& node) const {
  uint64_t total = 0;
  for (const auto& t : tensors)
    for (const auto& s : t.shards)
      for (const auto& r : s.replicas)
        if (r.node == node &&
            (r.state == replica_state::ready || r.state == replica_state::loading))
          total += s.bytes;
  return total;
}

void submodel_entry::for_each_replica(const std::function<void(replica_ref&)>& f) {
  for (auto& t : tensors)
    for (auto& s : t.shards)
      for (auto& r : s.replicas) f(r);
}

replica_ref* submodel_entry::find_replica(const std::string& id) {
  for (auto& t : tensors)
    for (auto& s : t.shards)
      for (auto& r : s.replicas)
        if (r.replica_id == id) return &r;
  return nullptr;
}

size_t submodel_entry::drop_released() {
  size_t dropped = 0;
  for (auto& t : tensors)
    for (auto& s : t.shards) {
      const auto before = s.replicas.size();
      s.replicas.erase(
          std::remove_if(s.replicas.begin(), s.replicas.end(),
                         [](const replica_ref& r) { return r.state == replica_state::unloaded; }),
          s.replicas.end());
      dropped += before - s.replicas.size();
    }
  return dropped;
}

bool version_entry::fully_served() const {
  return embedder && embedder->fully_served() && (!classifier || classifier->fully_served());
}

void version_entry::move_to(version_state to) {
  TESSERA_CHECK(can_transition(state, to), model.display() + " v" + std::to_string(version) + ": " +
                                               to_string(state) + " -> " + to_string(to));
  state = to;
}

version_info version_entry::info() const {
  version_info vi;
  vi.version = version;
  vi.state = state;
  vi.epoch = epoch;
  vi.path = path;
  if (embedder) {
    vi.embedder = embedder->name + " (epoch " + std::to_string(embedder->epoch) + ", " +
                  std::to_string(embedder->users) + " user" + (embedder->users == 1 ? "" : "s") +
                  ")";
    vi.embedder_owner = embedder->owner;
    if (!embedder_model.empty())
      vi.embedder_of = embedder_model + "@" + std::to_string(embedder_version);
    vi.dim = dim();
    vi.rows = 0;
    for (const auto& t : embedder->tensors) vi.rows += t.rows;
    vi.family = family ? family->name() : "";
  }
  if (classifier) vi.classifier = classifier->name;
  vi.label_count = labels ? static_cast<uint32_t>(labels->size()) : 0;
  // "none" is an embed-only version's; a classifier's raw-score output shows as "raw".
  vi.output = !has_classifier() ? "none" : output == output_kind::none ? "raw" : to_string(output);
  vi.error = error;
  vi.exact_pooling = exact_pooling;
  for (const auto* sub : {embedder.get(), classifier.get()}) {
    if (!sub) continue;
    for (const auto& t : sub->tensors)
      for (const auto& s : t.shards) {
        shard_info si;
        si.tensor = t.tensor;
        si.row_begin = s.rows.begin;
        si.row_end = s.rows.end;
        si.bytes = s.bytes;
        for (const auto& r : s.replicas)
          si.replicas.push_back({r.node, r.state, r.replica_id, r.error});
        vi.shards.push_back(std::move(si));
      }
  }
  return vi;
}

model_info model_entry::info() const {
  model_info mi;
  mi.tenant = key.tenant;
  mi.name = key.name;
  mi.active_version = active;
  for (const auto& [n, v] : versions) mi.versions.push_back(v->info());
  for (const auto& [l, v] : labels) mi.labels.emplace_back(l, v);
  return mi;
}

model_entry* registry::find(const model_key& key) {
  auto it = models_.find(key);
  return it == models_.end() ? nullptr : &it->second;
}

std::shared_ptr<submodel_entry> registry::embedder(const std::string& fingerprint) const {
  auto it = embedders_.find(fingerprint);
  return it == embedders_.end() ? nullptr : it->second;
}

void registry::add_version(const model_key& key, const std::shared_ptr<version_entry>& v) {
  auto [it, fresh] = models_.try_emplace(key);
  auto& m = it->second;
  if (fresh) {  // a new model: it continues the numbers of an earlier one of its name
    m.key = key;
    if (auto r = retired_.find(key); r != retired_.end()) {
      m.next_version = std::max(m.next_version, r->second);
      retired_.erase(r);
    }
  }
  v->model = key;
  v->version = m.next_version++;
  m.versions[v->version] = v;
  ++v->embedder->users;
  if (!v->embedder_reused) {
    v->embedder->owner = key.tenant;
    embedders_[v->embedder->fingerprint] = v->embedder;
  }
  if (v->classifier) {
    v->classifier->owner = key.tenant;
    v->classifier->replicas = v->replicas;
  }
  recount_replicas(*v->embedder);
}

void registry::recount_replicas(submodel_entry& embedder) {
  uint32_t r = 0;
  auto count = [&](const version_entry& v) {
    if (!v.released && v.embedder.get() == &embedder) r = std::max(r, v.replicas);
  };
  for (const auto& [name, m] : models_)
    for (const auto& [n, v] : m.versions) count(*v);
  for (const auto& v : draining_) count(*v);
  embedder.replicas = r;
}

void registry::restore_model(const model_key& key, uint64_t next_version, uint64_t active,
                             uint64_t previous, const std::map<std::string, uint64_t>& labels,
                             const std::vector<std::shared_ptr<version_entry>>& versions) {
  auto& m = models_[key];
  m.key = key;
  m.next_version = next_version;
  retired_.erase(key);
  for (const auto& v : versions) {
    TESSERA_CHECK(v->serves(), "restored version in state " + std::string{to_string(v->state)});
    v->model = key;
    m.versions[v->version] = v;
    ++v->embedder->users;
    if (embedders_.emplace(v->embedder->fingerprint, v->embedder).second)
      v->embedder->owner = key.tenant;  // the first model restored that uses it
    if (v->classifier) {
      v->classifier->owner = key.tenant;
      v->classifier->replicas = v->replicas;
    }
    recount_replicas(*v->embedder);
  }
  m.active = m.versions.count(active) ? active : 0;
  m.previous = m.versions.count(previous) ? previous : 0;
  for (const auto& [l, v] : labels)
    if (m.versions.count(v)) m.labels[l] = v;
  if (m.versions.empty()) {  // every version was dropped: its numbers stay used
    retired_[key] = std::max(retired_[key], m.next_version);
    models_.erase(key);
  }
}

registry::undo_point registry::save(const model_key& key,
                                    std::shared_ptr<version_entry> extra) const {
  undo_point u;
  u.model = key;
  if (auto it = models_.find(key); it != models_.end()) u.entry = it->second;
  std::vector<std::shared_ptr<version_entry>> vs;
  if (u.entry)
    for (const auto& [n, v] : u.entry->versions) vs.push_back(v);
  if (extra) vs.push_back(std::move(extra));
  for (const auto& v : vs) {
    u.versions.emplace_back(v, v->state, v->error);
    for (const auto& s : {v->embedder, v->classifier})
      if (s) u.submodels.emplace_back(s, s->state, s->users);
  }
  u.embedders = embedders_;
  u.retired = retired_;
  u.draining = draining_.size();
  return u;
}

void registry::restore(undo_point u) {
  TESSERA_CHECK(draining_.size() >= u.draining, "registry restore after a reap");
  draining_.resize(u.draining);
  for (auto& [v, state, error] : u.versions) {
    v->state = state;  // a state it was in a moment ago: not a transition
    v->error = std::move(error);
  }
  for (auto& [s, state, users] : u.submodels) {
    s->state = state;
    s->users = users;  // add_version pinned it; no release ran since save()
  }
  if (u.entry)
    models_[u.model] = std::move(*u.entry);
  else
    models_.erase(u.model);
  embedders_ = std::move(u.embedders);
  retired_ = std::move(u.retired);
}

caf::error registry::finish_load(version_entry& v, bool activate) {
  auto* m = find(v.model);
  if (v.state != version_state::loading || !m || !m->versions.count(v.version))
    return make_error(errc::unknown_model, "model '" + v.model.name + "' v" +
                                               std::to_string(v.version) +
                                               " was unloaded while it loaded");
  for (auto* s : {v.embedder.get(), v.classifier.get()})
    if (s && s->state == submodel_state::loading) s->state = submodel_state::ready;
  v.move_to(version_state::ready);
  if (m->active == 0 || activate) flip(*m, v.version);
  return caf::none;
}

std::vector<replica_release> registry::fail_load(version_entry& v, const std::string& why) {
  if (v.state != version_state::loading) return {};  // already failed or unloaded
  v.move_to(version_state::error);
  v.error = why;
  for (auto* s : {v.embedder.get(), v.classifier.get()})
    if (s && s->state == submodel_state::loading) s->state = submodel_state::error;
  return release_version(v);
}

void registry::flip(model_entry& m, uint64_t version) {
  if (m.active == version) return;
  if (auto it = m.versions.find(m.active); it != m.versions.end()) {
    it->second->move_to(version_state::ready);
    m.previous = m.active;
  }
  m.active = version;
  m.versions.at(version)->move_to(version_state::serving);
}

caf::error registry::activate(const model_key& key, uint64_t version) {
  auto* m = find(key);
  if (!m) return make_error(errc::unknown_model, no_model(key));
  auto it = m->versions.find(version);
  if (it == m->versions.end()) return make_error(errc::unknown_model, no_version(key, version));
  if (!it->second->serves())
    return make_error(errc::invalid_argument, "version " + std::to_string(version) + " is " +
                                                  to_string(it->second->state) + ", not ready");
  flip(*m, version);
  return caf::none;
}

caf::expected<uint64_t> registry::rollback(const model_key& key) {
  auto* m = find(key);
  if (!m) return make_error(errc::unknown_model, no_model(key));
  if (m->previous == 0 || !m->versions.count(m->previous))
    return make_error(errc::invalid_argument, "model '" + key.name + "' has no previous version");
  auto target = m->previous;
  if (auto err = activate(key, target)) return err;
  return target;
}

caf::error registry::set_label(const model_key& key, const std::string& label, uint64_t version) {
  auto* m = find(key);
  if (!m) return make_error(errc::unknown_model, no_model(key));
  if (!m->versions.count(version)) return make_error(errc::unknown_model, no_version(key, version));
  if (!valid_name(label) || std::all_of(label.begin(), label.end(), ::isdigit))
    return make_error(errc::invalid_argument, "label '" + label + "' is not a valid name");
  m->labels[label] = version;
  return caf::none;
}

caf::error registry::unload(const model_key& key, uint64_t version) {
  auto* m = find(key);
  if (!m) return make_error(errc::unknown_model, no_model(key));
  std::vector<uint64_t> victims;
  if (version == 0) {
    for (auto& [n, v] : m->versions) victims.push_back(n);
  } else {
    if (!m->versions.count(version))
      return make_error(errc::unknown_model, no_version(key, version));
    if (version == m->active && m->versions.size() > 1)
      return make_error(errc::invalid_argument,
                        "version " + std::to_string(version) + " of '" + key.name +
                            "' is active; activate another version first or unload the model");
    victims.push_back(version);
  }
  // A version whose embedder composed versions run on stays until they are unloaded.
  std::string users;
  for (auto n : victims)
    for (const auto& [k, other] : models_)
      for (const auto& [on, ov] : other.versions)
        if (k.tenant == key.tenant && ov->embedder_model == key.name && ov->embedder_version == n &&
            !(k == key && std::count(victims.begin(), victims.end(), on)))
          users += (users.empty() ? "" : ", ") + k.name + " v" + std::to_string(on);
  if (!users.empty())
    return make_error(errc::invalid_argument, "the embedder of '" + key.name + "' is in use by " +
                                                  users + "; unload those first");
  for (auto n : victims) {
    auto v = m->versions.at(n);
    m->versions.erase(n);
    v->named_until = published_;  // later snapshots leave it out
    switch (v->state) {
      case version_state::loading:  // cancels the load: its replicas are freed by the reap
        v->move_to(version_state::error);
        v->error = "unloaded while loading";
        draining_.push_back(v);
        break;
      case version_state::ready:
      case version_state::serving:
        v->move_to(version_state::draining);
        draining_.push_back(v);
        break;
      case version_state::error:  // its load failed: nothing left to free but its hold
        draining_.push_back(v);
        break;
      default:
        TESSERA_CHECK(false,
                      "version in the model map in state " + std::string(to_string(v->state)));
    }
    for (auto it = m->labels.begin(); it != m->labels.end();)
      it = it->second == n ? m->labels.erase(it) : std::next(it);
    if (m->active == n) m->active = 0;
    if (m->previous == n) m->previous = 0;
  }
  if (m->versions.empty()) {
    retired_[key] = m->next_version;
    models_.erase(key);
  }
  return caf::none;
}

std::vector<replica_release> registry::reap_drained(uint64_t oldest_live) {
  std::vector<replica_release> out;
  for (auto it = draining_.begin(); it != draining_.end();) {
    auto& v = **it;
    if (oldest_live != 0 && oldest_live <= v.named_until) {
      ++it;
      continue;
    }
    auto freed = release_version(v);
    out.insert(out.end(), freed.begin(), freed.end());
    v.move_to(version_state::unloaded);
    it = draining_.erase(it);
  }
  return out;
}

std::vector<replica_release> registry::release_version(version_entry& v) {
  std::vector<replica_release> out;
  if (v.released) return out;
  v.released = true;
  if (v.classifier && v.classifier->state != submodel_state::unloaded)
    release_submodel(*v.classifier, out);
  if (v.embedder && v.embedder->users > 0 && --v.embedder->users == 0) {
    release_submodel(*v.embedder, out);
    auto it = embedders_.find(v.embedder->fingerprint);
    if (it != embedders_.end() && it->second == v.embedder) embedders_.erase(it);
  } else if (v.embedder) {
    recount_replicas(*v.embedder);  // may fall back; the copies beyond it stay loaded
  }
  return out;
}

size_t registry::drop_released() {
  size_t dropped = 0;
  for_each_submodel([&](const std::shared_ptr<submodel_entry>& s) {
    if (s->state == submodel_state::ready) dropped += s->drop_released();
  });
  return dropped;
}

void registry::for_each_submodel(
    const std::function<void(const std::shared_ptr<submodel_entry>&)>& f) {
  for (auto& [fp, e] : embedders_) f(e);
  auto classifier_of = [&](version_entry& v) {
    if (v.classifier) f(v.classifier);
  };
  for (auto& [name, m] : models_)
    for (auto& [n, v] : m.versions) classifier_of(*v);
  for (auto& v : draining_) classifier_of(*v);
}

void registry::mark_node_lost(const std::string& node) {
  for_each_submodel([&](const std::shared_ptr<submodel_entry>& s) {
    s->for_each_replica([&](replica_ref& r) {
      if (r.node == node && r.state != replica_state::unloaded) {
        r.state = replica_state::lost;
      }
    });
  });
}

uint64_t registry::bytes_on(const std::string& node) {
  uint64_t total = 0;
  for_each_submodel([&](const std::shared_ptr<submodel_entry>& s) { total += s->bytes_on(node); });
  return total;
}

bool registry::all_active_served() const {
  for (const auto& [name, m] : models_) {
    if (m.active == 0) continue;
    auto it = m.versions.find(m.active);
    if (it == m.versions.end() || !it->second->fully_served()) return false;
  }
  return true;
}

std::vector<model_info> registry::infos() const {
  std::map<model_key, model_info> by_name;
  for (const auto& [key, m] : models_) by_name[key] = m.info();
  // Unloaded versions still held by requests are listed (draining) until they are freed,
  // under their model even when the model itself is gone.
  for (const auto& v : draining_) {
    auto& mi = by_name[v->model];
    mi.tenant = v->model.tenant;
    mi.name = v->model.name;
    mi.versions.push_back(v->info());
  }
  std::vector<model_info> out;
  for (auto& [name, mi] : by_name) {
    std::sort(mi.versions.begin(), mi.versions.end(),
              [](const version_info& a, const version_info& b) { return a.version < b.version; });
    out.push_back(std::move(mi));
  }
  return out;
}

}  // namespace tessera
