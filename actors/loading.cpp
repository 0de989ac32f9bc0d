#include "actors/loading.hpp"

#include <algorithm>
#include <cstdlib>

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "cluster/placement.hpp"

namespace tessera {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto logger = [] {
    auto l = spdlog::get("coordinator");
    return l ? l : spdlog::default_logger()->clone("coordinator");
  }();
  return logger;
}

bool valid_model_name(const std::string& n) {
  if (n.empty() || n.size() > 128) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

// Builds the version's tensors (shards unassigned yet) from its package.
caf::error describe_version(version_entry& v, const package& pkg) {
  const auto& meta = pkg.meta();
  if (!meta.embedder || meta.embedder->tables.empty())
    return make_error(errc::corrupt_package, "package " + pkg.dir() + " has no embedder table");
  auto feat = make_featurizer(pkg);
  if (!feat) return feat.error();
  v.feat = std::shared_ptr<const featurizer>{std::move(*feat)};
  v.pooling = meta.embedder->pooling;
  const auto* table = meta.find_tensor(meta.embedder->tables[0]);
  v.table.tensor = table->name;
  v.table.kind = shard_kind::embedding;
  v.table.rows = table->rows;
  v.table.cols = table->cols;
  if (v.feat->rows() != table->rows)
    return make_error(errc::corrupt_package,
                      "featurizer addresses " + std::to_string(v.feat->rows()) +
                          " rows but table has " + std::to_string(table->rows));
  if (!meta.classifier) return caf::none;
  const auto& c = *meta.classifier;
  v.output = c.output;
  auto labels = pkg.read_lines(c.labels);
  if (!labels) return labels.error();
  v.labels = std::make_shared<const std::vector<std::string>>(std::move(*labels));
  for (const auto& l : c.layers) {
    const auto* w = meta.find_tensor(l.weight);
    tensor_shards t;
    t.tensor = w->name;
    t.bias = l.bias;
    t.kind = shard_kind::layer;
    t.rows = w->rows;
    t.cols = w->cols;
    v.layers.push_back(std::move(t));
    v.activations.push_back(l.activation);
  }
  v.fasttext_rules = meta.embedder->featurizer.kind == "fasttext";
  const auto& out = v.layers.back();
  if (c.output == output_kind::hs) {
    auto lines = pkg.read_lines(c.label_counts);
    if (!lines) return lines.error();
    std::vector<int64_t> counts;
    for (const auto& l : *lines) {
      char* end = nullptr;
      counts.push_back(std::strtoll(l.c_str(), &end, 10));
      if (l.empty() || *end != '\0' || counts.back() < 0)
        return make_error(errc::corrupt_package, "label count '" + l + "' is not a count");
    }
    if (counts.size() != v.labels->size() || out.rows + 1 != counts.size())
      return make_error(errc::corrupt_package,
                        "hs needs one count per label and labels - 1 output rows");
    v.hs_tree = std::make_shared<const fasttext_hs_tree>(counts);
  } else if (out.rows != v.labels->size()) {
    return make_error(errc::corrupt_package, "output layer has " + std::to_string(out.rows) +
                                                 " rows for " + std::to_string(v.labels->size()) +
                                                 " labels");
  }
  return caf::none;
}

std::vector<tensor_shards*> all_tensors(version_entry& v) {
  std::vector<tensor_shards*> out{&v.table};
  for (auto& l : v.layers) out.push_back(&l);
  return out;
}

// Asks every node to drop the replicas of `v` (fire and forget, with a deadline).
void release_replicas(coordinator_self self, version_entry& v) {
  for (auto* t : all_tensors(v))
    for (auto& s : t->shards)
      for (auto& r : s.replicas) {
        auto m = self->state.members.find(r.node);
        if (m == self->state.members.end() || !m->second.up) continue;
        self->request(m->second.handle, std::chrono::seconds(10), unload_atom::value, r.replica_id)
            .then([](bool) {},
                  [id = r.replica_id](caf::error& e) {
                    log()->warn("unload of {} failed: {}", id, describe(e));
                  });
        r.state = "unloaded";
      }
}

void flip(model_entry& m, uint64_t version) {
  if (m.active == version) return;
  if (auto it = m.versions.find(m.active); it != m.versions.end()) {
    it->second->state = "ready";
    m.previous = m.active;
  }
  m.active = version;
  m.versions.at(version)->state = "serving";
}

struct load_run {
  coordinator_self self;
  std::shared_ptr<version_entry> v;
  load_request req;
  caf::typed_response_promise<load_reply> rp;
  size_t pending = 0;
  bool failed = false;
};

void fail_load(std::shared_ptr<load_run> run, caf::error err) {
  if (run->failed) return;
  run->failed = true;
  auto& v = *run->v;
  v.state = "error";
  v.error = describe(err);
  log()->warn("load of {} v{} failed: {}", v.model, v.version, v.error);
  release_replicas(run->self, v);
  run->rp.deliver(std::move(err));
}

void finish_load(std::shared_ptr<load_run> run) {
  auto& v = *run->v;
  auto* m = run->self->state.reg.find(v.model);
  if (!m || !m->versions.count(v.version)) {  // unloaded while loading
    run->rp.deliver(make_error(errc::unavailable, "model unloaded while loading"));
    return;
  }
  v.state = "ready";
  if (m->active == 0 || run->req.activate) flip(*m, v.version);
  log()->info("model {} v{} (epoch {}) ready{}", v.model, v.version, v.epoch,
              m->active == v.version ? " and serving" : "");
  run->rp.deliver(load_reply{v.model, v.version});
}

}  // namespace

void start_load(coordinator_self self, load_request req,
                caf::typed_response_promise<load_reply> rp) {
  auto& st = self->state;
  auto pkg = package::open(req.path);
  if (!pkg) {
    rp.deliver(pkg.error());
    return;
  }
  auto name = req.name.empty() ? pkg->meta().name : req.name;
  if (!valid_model_name(name)) {
    rp.deliver(make_error(errc::invalid_argument,
                          "model name '" + name + "' must be 1-128 of [A-Za-z0-9_.-]"));
    return;
  }
  auto v = std::make_shared<version_entry>();
  v->model = name;
  v->path = pkg->dir();
  v->meta = pkg->meta();
  if (auto err = describe_version(*v, *pkg)) {
    rp.deliver(std::move(err));
    return;
  }
  // Placement over the live shard nodes, against what the registry already holds on each.
  std::vector<placement_member> members;
  for (auto& [n, m] : st.members)
    if (m.up) members.push_back({n, m.cfg.memory_budget, st.reg.bytes_on(n)});
  std::vector<placement_tensor> tensors;
  for (auto* t : all_tensors(*v)) {
    uint64_t row_bytes = t->cols * sizeof(float) + (t->bias.empty() ? 0 : sizeof(float));
    tensors.push_back({t->tensor, t->rows, row_bytes});
  }
  auto placed = place_model(tensors, members, std::max<uint32_t>(req.replicas, 1));
  if (!placed) {
    rp.deliver(placed.error());
    return;
  }
  auto& model = st.reg.get_or_create(name);
  v->version = model.next_version++;
  v->epoch = st.reg.next_epoch();
  for (auto& a : *placed) {
    auto ts = all_tensors(*v);
    auto* t = *std::find_if(ts.begin(), ts.end(), [&](auto* x) { return x->tensor == a.tensor; });
    shard_ref s;
    s.index = a.shard;
    s.rows = a.rows;
    s.bytes = a.bytes;
    for (size_t r = 0; r < a.nodes.size(); ++r) {
      replica_ref ref;
      ref.node = a.nodes[r];
      ref.replica_id = name + "/v" + std::to_string(v->version) + "/" + a.tensor + "/" +
                       std::to_string(a.shard) + "/r" + std::to_string(r);
      ref.spec = shard_spec{ref.replica_id, v->path,    t->tensor, t->bias,
                            a.rows.begin,   a.rows.end, v->epoch,  static_cast<uint8_t>(t->kind)};
      s.replicas.push_back(std::move(ref));
    }
    t->shards.push_back(std::move(s));
  }
  model.versions[v->version] = v;
  auto run = std::make_shared<load_run>(load_run{self, v, std::move(req), std::move(rp)});
  log()->info("loading model {} v{} (epoch {}) from {}", name, v->version, v->epoch, v->path);
  for (auto* t : all_tensors(*v))
    for (size_t si = 0; si < t->shards.size(); ++si)
      for (size_t ri = 0; ri < t->shards[si].replicas.size(); ++ri) {
        ++run->pending;
        auto& r = t->shards[si].replicas[ri];
        auto& member = st.members.at(r.node);
        self->request(member.handle, st.cfg.limits.load_timeout, load_atom::value, r.spec)
            .then(
                [run, t, si, ri](shard_actor& h) {
                  if (run->failed) return;
                  auto& r = t->shards[si].replicas[ri];
                  r.handle = h;
                  r.state = "ready";
                  if (--run->pending == 0) finish_load(run);
                },
                [run, node = r.node](caf::error& err) {
                  fail_load(run, make_error(code_of(err),
                                            "loading on node " + node + ": " + message_of(err)));
                });
      }
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
    v->state = "draining";
    reg.draining.push_back(v);
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
    release_replicas(self, **it);
    (*it)->state = "unloaded";
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
  if (it->second->state != "ready" && it->second->state != "serving")
    return make_error(errc::invalid_argument, "version " + std::to_string(version) + " is " +
                                                  it->second->state + ", not ready");
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
  if (!valid_model_name(label) || std::all_of(label.begin(), label.end(), ::isdigit))
    return make_error(errc::invalid_argument, "label '" + label + "' is not a valid name");
  m->labels[label] = version;
  return true;
}

void restore_replicas(coordinator_self self, const std::string& node) {
  auto& st = self->state;
  auto& member = st.members.at(node);
  for (auto& [name, m] : st.reg.models())
    for (auto& [n, v] : m.versions)
      for (auto* t : all_tensors(*v))
        for (auto& s : t->shards)
          for (auto& r : s.replicas) {
            if (r.node != node || r.state != "lost") continue;
            r.state = "loading";
            self->request(member.handle, st.cfg.limits.load_timeout, load_atom::value, r.spec)
                .then(
                    [v = v, &r](shard_actor& h) {
                      r.handle = h;
                      r.state = "ready";
                    },
                    [v = v, &r](caf::error& err) {
                      r.state = "lost";
                      log()->warn("restoring {} failed: {}", r.replica_id, describe(err));
                    });
          }
}

}  // namespace tessera
