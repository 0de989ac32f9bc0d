#include "actors/loading.hpp"
#include "base/logger.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>

#include <caf/all.hpp>

#include "cluster/placement.hpp"

namespace tessera {
namespace {

std::shared_ptr<spdlog::logger> log() {
  return component_logger("coordinator");
}

// Tensors up to this size (one copy) are not split: cutting a small classifier layer across
// nodes only adds a round trip per shard to every request.
constexpr uint64_t whole_tensor_max_bytes = uint64_t{16} << 20;

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 128) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

tensor_shards make_tensor(const tensor_info& t, const std::string& bias, shard_kind kind) {
  tensor_shards out;
  out.tensor = t.name;
  out.bias = bias;
  out.kind = kind;
  out.rows = t.rows;
  out.cols = t.cols;
  return out;
}

// Content identity of an embedder: its name@version and every table block checksum.
std::string fingerprint(const manifest& meta) {
  const auto& e = *meta.embedder;
  uint64_t h = 0;
  for (const auto& name : e.tables) {
    const auto* t = meta.find_tensor(name);
    h = checksum64(t->block_checksums.data(), t->block_checksums.size() * sizeof(uint64_t), h);
    uint64_t shape[2] = {t->rows, t->cols};
    h = checksum64(shape, sizeof shape, h);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return e.name + "@" + std::to_string(e.version) + "#" + hex;
}

caf::error read_hs_tree(version_entry& v, const package& pkg, const classifier_spec& c) {
  auto lines = pkg.read_lines(c.label_counts);
  if (!lines) return lines.error();
  std::vector<int64_t> counts;
  for (const auto& l : *lines) {
    char* end = nullptr;
    counts.push_back(std::strtoll(l.c_str(), &end, 10));
    if (l.empty() || *end != '\0' || counts.back() < 0)
      return make_error(errc::corrupt_package, "label count '" + l + "' is not a count");
  }
  if (counts.size() != v.labels->size() || v.layers().back().rows + 1 != counts.size())
    return make_error(errc::corrupt_package,
                      "hs needs one count per label and labels - 1 output rows");
  v.hs_tree = std::make_shared<const fasttext_hs_tree>(counts);
  return caf::none;
}

// Describes a new version from its package: featurizer, labels, output rule, and candidate
// sub-models (not placed yet).
caf::error describe_version(version_entry& v, const package& pkg) {
  const auto& meta = pkg.meta();
  if (!meta.embedder || meta.embedder->tables.empty())
    return make_error(errc::corrupt_package, "package " + pkg.dir() + " has no embedder table");
  const auto& e = *meta.embedder;
  auto feat = make_featurizer(pkg);
  if (!feat) return feat.error();
  v.feat = std::shared_ptr<const featurizer>{std::move(*feat)};
  v.pooling = e.pooling;
  v.fasttext_rules = e.featurizer.kind == "fasttext";
  v.embedder = std::make_shared<submodel_entry>();
  v.embedder->name = e.name + "@" + std::to_string(e.version);
  v.embedder->fingerprint = fingerprint(meta);
  v.embedder->path = pkg.dir();
  const auto* table = meta.find_tensor(e.tables[0]);
  v.embedder->tensors.push_back(make_tensor(*table, "", shard_kind::embedding));
  if (v.feat->rows() != table->rows)
    return make_error(errc::corrupt_package,
                      "featurizer addresses " + std::to_string(v.feat->rows()) +
                          " rows but the table has " + std::to_string(table->rows));
  if (!meta.classifier) return caf::none;
  const auto& c = *meta.classifier;
  v.output = c.output;
  auto labels = pkg.read_lines(c.labels);
  if (!labels) return labels.error();
  v.labels = std::make_shared<const std::vector<std::string>>(std::move(*labels));
  v.classifier = std::make_shared<submodel_entry>();
  v.classifier->name = c.name + "@" + std::to_string(c.version);
  v.classifier->path = pkg.dir();
  for (const auto& l : c.layers) {
    v.classifier->tensors.push_back(
        make_tensor(*meta.find_tensor(l.weight), l.bias, shard_kind::layer));
    v.activations.push_back(l.activation);
  }
  if (c.output == output_kind::hs) return read_hs_tree(v, pkg, c);
  if (v.layers().back().rows != v.labels->size())
    return make_error(errc::corrupt_package,
                      "output layer has " + std::to_string(v.layers().back().rows) + " rows for " +
                          std::to_string(v.labels->size()) + " labels");
  return caf::none;
}

// The sub-models this load must place and load: the classifier, and the embedder unless an
// identical one is already loaded (then the version pins that one).
caf::expected<std::vector<submodel_entry*>> share_or_new(registry& reg, version_entry& v) {
  std::vector<submodel_entry*> fresh;
  auto it = reg.embedders.find(v.embedder->fingerprint);
  if (it != reg.embedders.end()) {
    if (it->second->state != "ready")
      return make_error(errc::unavailable, "embedder " + it->second->name + " is still " +
                                               it->second->state + "; retry when it is ready");
    v.embedder = it->second;
    v.embedder_reused = true;
  } else {
    fresh.push_back(v.embedder.get());
  }
  if (v.classifier) fresh.push_back(v.classifier.get());
  return fresh;
}

// Asks every node to drop the replicas of `s` (fire and forget, with a deadline).
void release_replicas(coordinator_self self, submodel_entry& s) {
  s.for_each_replica([&](replica_ref& r) {
    auto m = self->state.members.find(r.node);
    if (r.state != "unloaded" && m != self->state.members.end() && m->second.up)
      self->request(m->second.handle, std::chrono::seconds(10), unload_atom::value, r.replica_id)
          .then([](bool) {},
                [id = r.replica_id](caf::error& e) {
                  log()->warn("unload of {} failed: {}", id, describe(e));
                });
    r.state = "unloaded";
    r.handle = nullptr;
  });
  s.state = "unloaded";
}

// Drops a version's hold on its sub-models, freeing those nobody else pins.
void release_version(coordinator_self self, version_entry& v) {
  auto& reg = self->state.reg;
  if (v.classifier && v.classifier->state != "unloaded") release_replicas(self, *v.classifier);
  if (v.embedder && v.embedder->users > 0 && --v.embedder->users == 0) {
    release_replicas(self, *v.embedder);
    reg.embedders.erase(v.embedder->fingerprint);
    log()->info("embedder {} unloaded (no model uses it)", v.embedder->name);
  }
}

void flip(model_entry& m, uint64_t version) {
  if (m.active == version) return;
  if (auto it = m.versions.find(m.active); it != m.versions.end()) {
    it->second->move_to(version_state::ready);
    m.previous = m.active;
  }
  m.active = version;
  m.versions.at(version)->move_to(version_state::serving);
}

struct load_run {
  coordinator_self self;
  std::shared_ptr<version_entry> v;
  std::vector<submodel_entry*> fresh;
  load_request req;
  caf::typed_response_promise<load_reply> rp;
  size_t pending = 0;
  bool failed = false;
};

void fail_load(std::shared_ptr<load_run> run, caf::error err) {
  if (run->failed) return;
  run->failed = true;
  auto& v = *run->v;
  v.move_to(version_state::error);
  v.error = describe(err);
  log()->warn("load of {} v{} failed: {}", v.model, v.version, v.error);
  for (auto* s : run->fresh) s->state = "error";
  release_version(run->self, v);
  run->rp.deliver(std::move(err));
}

void finish_load(std::shared_ptr<load_run> run) {
  auto& v = *run->v;
  for (auto* s : run->fresh) s->state = "ready";
  auto* m = run->self->state.reg.find(v.model);
  if (!m || !m->versions.count(v.version)) {  // unloaded while loading
    run->rp.deliver(make_error(errc::unavailable, "model unloaded while loading"));
    return;
  }
  v.move_to(version_state::ready);
  if (m->active == 0 || run->req.activate) flip(*m, v.version);
  log()->info("model {} v{} (epoch {}) ready{}{}", v.model, v.version, v.epoch,
              m->active == v.version ? " and serving" : "",
              v.embedder_reused ? ", sharing embedder " + v.embedder->name : "");
  run->rp.deliver(load_reply{v.model, v.version});
}

// Places the fresh sub-models over the live shard nodes, against what is already loaded.
caf::error place(coordinator_self self, const std::vector<submodel_entry*>& fresh,
                 uint32_t replicas) {
  auto& st = self->state;
  std::vector<placement_member> members;
  for (auto& [n, m] : st.members)
    if (m.up) members.push_back({n, m.cfg.memory_budget, st.reg.bytes_on(n)});
  std::vector<placement_tensor> tensors;
  std::map<std::string, std::pair<submodel_entry*, tensor_shards*>> targets;  // by tensor name
  for (auto* s : fresh)
    for (auto& t : s->tensors) {
      uint64_t row_bytes = t.cols * sizeof(float) + (t.bias.empty() ? 0 : sizeof(float));
      tensors.push_back({t.tensor, t.rows, row_bytes});
      targets[t.tensor] = {s, &t};
    }
  auto placed = place_model(tensors, members, replicas, whole_tensor_max_bytes);
  if (!placed) return placed.error();
  for (auto& a : *placed) {
    auto [owner, t] = targets.at(a.tensor);
    shard_ref s;
    s.index = a.shard;
    s.rows = a.rows;
    s.bytes = a.bytes;
    for (size_t r = 0; r < a.nodes.size(); ++r) {
      replica_ref ref;
      ref.node = a.nodes[r];
      ref.replica_id = owner->name + "/e" + std::to_string(owner->epoch) + "/" + a.tensor + "/" +
                       std::to_string(a.shard) + "/r" + std::to_string(r);
      ref.spec =
          shard_spec{ref.replica_id, owner->path, t->tensor,    t->bias,
                     a.rows.begin,   a.rows.end,  owner->epoch, static_cast<uint8_t>(t->kind)};
      s.replicas.push_back(std::move(ref));
    }
    t->shards.push_back(std::move(s));
  }
  return caf::none;
}

void load_replicas(std::shared_ptr<load_run> run) {
  auto& st = run->self->state;
  for (auto* sub : run->fresh) sub->for_each_replica([&](replica_ref&) { ++run->pending; });
  if (run->pending == 0) return finish_load(run);
  for (auto* sub : run->fresh)
    sub->for_each_replica([&](replica_ref& r) {
      auto& member = st.members.at(r.node);
      // Registered as in flight so a node that dies mid-load fails the load at once.
      auto sub_id = ++st.next_sub;
      auto fail = [run, node = r.node](caf::error err) {
        fail_load(run, make_error(code_of(err) == errc::internal ? errc::unavailable : code_of(err),
                                  "loading on node " + node + ": " + message_of(err)));
      };
      st.inflight[r.node][sub_id] = fail;
      auto settle = [self = run->self, node = r.node, sub_id] {
        self->state.inflight[node].erase(sub_id);
      };
      run->self->request(member.handle, st.cfg.load_timeout, load_atom::value, r.spec)
          .then(
              [run, ref = &r, settle](shard_actor& h) {
                settle();
                if (run->failed) return;
                ref->handle = h;
                ref->state = "ready";
                if (--run->pending == 0) finish_load(run);
              },
              [fail, settle](caf::error& err) {
                settle();
                fail(std::move(err));
              });
    });
}

}  // namespace

void start_load(coordinator_self self, load_request req,
                caf::typed_response_promise<load_reply> rp) {
  auto& st = self->state;
  auto refuse = [&](caf::error err) { rp.deliver(std::move(err)); };
  auto pkg = package::open(req.path);
  if (!pkg) return refuse(pkg.error());
  auto name = req.name.empty() ? pkg->meta().name : req.name;
  if (!valid_name(name))
    return refuse(make_error(errc::invalid_argument,
                             "model name '" + name + "' must be 1-128 of [A-Za-z0-9_.-]"));
  auto v = std::make_shared<version_entry>();
  v->model = name;
  v->path = pkg->dir();
  v->meta = pkg->meta();
  v->exact_pooling = req.exact_pooling;
  if (auto err = describe_version(*v, *pkg)) return refuse(std::move(err));
  auto fresh = share_or_new(st.reg, *v);
  if (!fresh) return refuse(fresh.error());
  // Epochs first: replica ids and specs carry them.
  v->epoch = st.reg.next_epoch();
  if (!v->embedder_reused) v->embedder->epoch = st.reg.next_epoch();
  if (v->classifier) v->classifier->epoch = v->epoch;
  if (auto err = place(self, *fresh, std::max<uint32_t>(req.replicas, 1)))
    return refuse(std::move(err));
  // Committed: from here the version is visible in status, in state loading.
  auto& model = st.reg.get_or_create(name);
  v->version = model.next_version++;
  model.versions[v->version] = v;
  ++v->embedder->users;
  if (!v->embedder_reused) st.reg.embedders[v->embedder->fingerprint] = v->embedder;
  log()->info("loading model {} v{} (epoch {}) from {}{}", name, v->version, v->epoch, v->path,
              v->embedder_reused ? " reusing embedder " + v->embedder->name : "");
  auto run = std::make_shared<load_run>(
      load_run{self, v, std::move(*fresh), std::move(req), std::move(rp)});
  load_replicas(run);
}

caf::expected<bool> unload(coordinator_self self, const std::string& name, uint64_t version) {
  auto& reg = self->state.reg;
  auto* m = reg.find(name);
  if (!m) return make_error(errc::unknown_model, "no model '" + name + "'");
  std::vector<uint64_t> victims;
  if (version == 0) {
    for (auto& [n, v] : m->versions) victims.push_back(n);
  } else {
    if (!m->versions.count(version))
      return make_error(errc::unknown_model,
                        "model '" + name + "' has no version " + std::to_string(version));
    if (version == m->active && m->versions.size() > 1)
      return make_error(errc::invalid_argument,
                        "version " + std::to_string(version) + " of '" + name +
                            "' is active; activate another version first or unload the model");
    victims.push_back(version);
  }
  for (auto n : victims) {
    auto v = m->versions.at(n);
    m->versions.erase(n);
    if (v->state != version_state::error) {
      v->move_to(version_state::draining);
      reg.draining.push_back(v);
    }
    for (auto it = m->labels.begin(); it != m->labels.end();)
      it = it->second == n ? m->labels.erase(it) : std::next(it);
    if (m->active == n) m->active = 0;
    if (m->previous == n) m->previous = 0;
  }
  if (m->versions.empty()) reg.erase(name);
  reap_drained(self);
  return true;
}

void reap_drained(coordinator_self self) {
  auto& d = self->state.reg.draining;
  for (auto it = d.begin(); it != d.end();) {
    if ((*it)->inflight > 0) {
      ++it;
      continue;
    }
    release_version(self, **it);
    (*it)->move_to(version_state::unloaded);
    log()->info("model {} v{} unloaded", (*it)->model, (*it)->version);
    it = d.erase(it);
  }
}

caf::expected<bool> activate(coordinator_self self, const std::string& name, uint64_t version) {
  auto* m = self->state.reg.find(name);
  if (!m) return make_error(errc::unknown_model, "no model '" + name + "'");
  auto it = m->versions.find(version);
  if (it == m->versions.end())
    return make_error(errc::unknown_model,
                      "model '" + name + "' has no version " + std::to_string(version));
  if (!it->second->serves())
    return make_error(errc::invalid_argument, "version " + std::to_string(version) + " is " +
                                                  to_string(it->second->state) + ", not ready");
  flip(*m, version);
  log()->info("model {} now serves v{} (epoch {})", name, version, it->second->epoch);
  return true;
}

caf::expected<uint64_t> rollback(coordinator_self self, const std::string& name) {
  auto* m = self->state.reg.find(name);
  if (!m) return make_error(errc::unknown_model, "no model '" + name + "'");
  if (m->previous == 0 || !m->versions.count(m->previous))
    return make_error(errc::invalid_argument, "model '" + name + "' has no previous version");
  auto target = m->previous;
  if (auto ok = activate(self, name, target); !ok) return ok.error();
  return target;
}

caf::expected<bool> set_label(coordinator_self self, const std::string& name,
                              const std::string& label, uint64_t version) {
  auto* m = self->state.reg.find(name);
  if (!m) return make_error(errc::unknown_model, "no model '" + name + "'");
  if (!m->versions.count(version))
    return make_error(errc::unknown_model,
                      "model '" + name + "' has no version " + std::to_string(version));
  if (!valid_name(label) || std::all_of(label.begin(), label.end(), ::isdigit))
    return make_error(errc::invalid_argument, "label '" + label + "' is not a valid name");
  m->labels[label] = version;
  return true;
}

void restore_replicas(coordinator_self self, const std::string& node) {
  auto& st = self->state;
  auto& member = st.members.at(node);
  st.reg.for_each_submodel([&](const std::shared_ptr<submodel_entry>& sub) {
    sub->for_each_replica([&](replica_ref& r) {
      if (r.node != node || r.state != "lost") return;
      r.state = "loading";
      // `sub` keeps `r` alive; the state checks skip a replica released meanwhile.
      self->request(member.handle, st.cfg.load_timeout, load_atom::value, r.spec)
          .then(
              [sub, ref = &r](shard_actor& h) {
                if (ref->state != "loading") return;
                ref->handle = h;
                ref->state = "ready";
              },
              [sub, ref = &r](caf::error& err) {
                if (ref->state == "loading") ref->state = "lost";
                log()->warn("restoring {} failed: {}", ref->replica_id, describe(err));
              });
    });
  });
}

}  // namespace tessera
