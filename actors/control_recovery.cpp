#include "actors/control_recovery.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

#include <caf/all.hpp>

#include "actors/replacement_planner.hpp"
#include "actors/version_builder.hpp"
#include "base/logger.hpp"

namespace tessera {
namespace {

// The replica index spec_for made `id` with: its "/r<K>/<digest>" ending.
std::optional<size_t> made_as(const std::string& id) {
  auto last = id.rfind('/');
  if (last == std::string::npos || last == 0) return std::nullopt;
  auto prev = id.rfind('/', last - 1);
  if (prev == std::string::npos || id.compare(prev, 2, "/r") != 0 || last - prev < 3)
    return std::nullopt;
  size_t k = 0;
  for (size_t i = prev + 2; i < last; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(id[i]))) return std::nullopt;
    k = k * 10 + static_cast<size_t>(id[i] - '0');
  }
  return k;
}

// Attaches persisted shards to the sub-model's tensors (matched by name). Errors when the
// records do not cover every tensor with contiguous shards.
caf::error attach(const std::string& incarnation, const manifest& meta, submodel_entry& owner,
                  const std::vector<tensor_record>& records) {
  for (auto& t : owner.tensors) {
    const tensor_record* rec = nullptr;
    for (const auto& r : records)
      if (r.tensor == t.tensor) rec = &r;
    if (!rec || rec->shards.empty())
      return make_error(errc::invalid_argument, "no placement recorded for " + t.tensor);
    uint64_t next_row = 0;
    for (const auto& sr : rec->shards) {
      if (sr.begin != next_row || sr.end > t.rows)
        return make_error(errc::invalid_argument,
                          "recorded shards of " + t.tensor + " do not cover its rows in order");
      next_row = sr.end;
      shard_ref s;
      s.index = sr.index;
      s.rows = {sr.begin, sr.end};
      s.bytes = sr.bytes;
      for (size_t i = 0; i < sr.replicas.size(); ++i) {
        const auto& rr = sr.replicas[i];
        // A moved replica's id is the one it copied plus "/r<N>": check that one.
        const auto base = base_replica_id(rr.id);
        auto spec =
            spec_for(incarnation, meta, owner, t, s.rows, s.index, made_as(base).value_or(i));
        if (!spec) return spec.error();
        if (spec->replica_id != base)  // another incarnation, epoch or content
          return make_error(errc::invalid_argument, "recorded replica " + rr.id +
                                                        " does not match its package (" +
                                                        spec->replica_id + ")");
        replica_ref r;
        r.node = rr.node;
        r.replica_id = rr.id;
        r.state = replica_state::lost;  // until its node answers for it
        r.spec = std::move(*spec);
        r.spec.replica_id = rr.id;
        s.replicas.push_back(std::move(r));
      }
      t.shards.push_back(std::move(s));
    }
    if (next_row != t.rows)
      return make_error(errc::invalid_argument, "recorded shards of " + t.tensor + " end at row " +
                                                    std::to_string(next_row) + " of " +
                                                    std::to_string(t.rows));
  }
  owner.state = submodel_state::ready;
  return caf::none;
}

// R of a version recorded before R was persisted: the most copies any of its shards has.
uint32_t recorded_replicas(const version_record& rec) {
  size_t r = 1;
  for (const auto* ts : {&rec.embedder, &rec.classifier})
    for (const auto& t : *ts)
      for (const auto& s : t.shards) r = std::max(r, s.replicas.size());
  return static_cast<uint32_t>(r);
}

// Rebuilds one version; shares an embedder already rebuilt for the same fingerprint.
// A package gone from its path is described from the metadata kept under `keep_root` when the
// load stored it there; the version keeps its recorded path (nodes read rows from their stores).
caf::expected<std::shared_ptr<version_entry>> rebuild(
    const std::string& incarnation, const version_record& rec,
    std::map<std::string, std::shared_ptr<submodel_entry>>& embedders,
    const std::string& keep_root) {
  auto pkg = package::open(rec.path);
  bool kept = false;
  if (!pkg && !keep_root.empty() && rec.embedder_path.empty()) {
    auto copy = package::open_metadata(kept_package_dir(keep_root, rec.content));
    if (copy) {
      control_log()->warn(
          "recovery: package {} cannot be opened ({}); describing v{} from "
          "its kept metadata",
          rec.path, describe(pkg.error()), rec.version);
      pkg = std::move(copy);
      kept = true;
    }
  }
  if (!pkg) return pkg.error();
  auto v = std::make_shared<version_entry>();
  v->version = rec.version;
  v->epoch = rec.epoch;
  v->exact_pooling = rec.exact_pooling;
  v->replicas = rec.replicas > 0 ? rec.replicas : recorded_replicas(rec);
  v->embedder_model = rec.embedder_model;
  v->embedder_version = rec.embedder_version;
  if (rec.embedder_path.empty()) {
    if (auto err = describe_version(*v, *pkg)) return err;
  } else {
    auto emb = package::open(rec.embedder_path);
    if (!emb) return emb.error();
    if (auto err = describe_version(*v, *pkg, &*emb)) return err;
  }
  if (v->content != rec.content)
    return make_error(errc::corrupt_package,
                      "package " + rec.path + " changed on disk since this version was loaded");
  if (kept) {
    v->path = rec.path;
    for (auto* sub : {v->embedder.get(), v->classifier.get()})
      if (sub) sub->path = rec.path;
  }
  auto shared = embedders.find(v->embedder->fingerprint);
  if (shared != embedders.end()) {
    v->embedder = shared->second;
    v->embedder_reused = true;
  } else {
    v->embedder->epoch = rec.embedder_epoch;
    if (auto err = attach(incarnation, v->meta, *v->embedder, rec.embedder)) return err;
    embedders[v->embedder->fingerprint] = v->embedder;
  }
  if (v->classifier) {
    v->classifier->epoch = rec.epoch;
    if (auto err = attach(incarnation, v->meta, *v->classifier, rec.classifier)) return err;
  }
  v->state = version_state::loading;  // legal moves only: loading -> ready [-> serving]
  v->move_to(version_state::ready);
  if (rec.state == version_state::serving) v->move_to(version_state::serving);
  return v;
}

}  // namespace

void recover_registry(control_self self, const registry_snapshot& snap) {
  auto& st = self->state;
  st.incarnation = snap.incarnation;
  st.reg.resume_epochs(snap.epoch);
  st.reg.restore_retired(snap.retired);
  std::map<std::string, std::shared_ptr<submodel_entry>> embedders;
  size_t versions = 0;
  for (const auto& m : snap.models) {
    std::vector<std::shared_ptr<version_entry>> rebuilt;
    for (const auto& rec : m.versions) {
      auto v = rebuild(snap.incarnation, rec, embedders,
                       st.cfg.state_dir.empty() ? std::string{} : st.cfg.state_dir + "/packages");
      if (!v) {
        control_log()->error("recovery: dropping model {} v{}: {}", m.key.display(), rec.version,
                             describe(v.error()));
        continue;
      }
      rebuilt.push_back(std::move(*v));
    }
    versions += rebuilt.size();
    st.reg.restore_model(m.key, m.next_version, m.active, m.previous, m.labels, rebuilt);
  }
  for (const auto& name : snap.draining) {
    auto it = st.members.find(name);
    if (it != st.members.end())
      it->second.draining = true;
    else
      control_log()->info("recovery: {} was draining and is no longer in the config", name);
  }
  control_log()->info(
      "recovered {} model versions (incarnation {}, epoch {}); waiting for the nodes", versions,
      st.incarnation, snap.epoch);
}

registry_snapshot snapshot_now(const control_state& st) {
  auto snap = snapshot_of(st.reg, st.incarnation);
  for (const auto& [name, m] : st.members)
    if (m.draining) snap.draining.push_back(name);
  return snap;
}

void record_write(control_state& st, const caf::error& err) {
  auto& p = st.persistence;
  if (err) {
    ++p.failures;
    if (p.error.empty())  // logged once per outage, not once per tick
      control_log()->error("cannot persist the registry: {}; changes are refused until it can",
                           describe(err));
    p.error = describe(err);
    p.dirty = true;
    return;
  }
  if (!p.error.empty()) control_log()->info("the registry is persisted again");
  p.error.clear();
  p.dirty = false;
}

caf::error persist_registry_now(control_self self) {
  auto& st = self->state;
  if (st.cfg.state_dir.empty()) return caf::none;
  auto err = write_snapshot(st.cfg.state_dir, snapshot_now(st));
  record_write(st, err);
  return err;
}

caf::error not_persisted(const caf::error& persist_err) {
  return make_error(errc::io_error, "the change was not applied: cannot persist the registry (" +
                                        message_of(persist_err) + ")");
}

void release_orphans(control_self self, const std::string& node) {
  auto& st = self->state;
  auto m = st.members.find(node);
  if (m == st.members.end() || !m->second.up) return;
  self->request(m->second.handle, std::chrono::seconds(10), health_atom::value)
      .then(
          [self, node](node_status& hs) {
            auto& st = self->state;
            std::set<std::string> claimed;
            st.reg.for_each_submodel([&](const std::shared_ptr<submodel_entry>& s) {
              s->for_each_replica([&](replica_ref& r) {
                if (r.node == node && r.state != replica_state::unloaded)
                  claimed.insert(r.replica_id);
              });
            });
            auto it = st.members.find(node);
            if (it == st.members.end() || !it->second.up) return;
            for (const auto& r : hs.replicas) {
              if (claimed.count(r.replica_id)) continue;
              control_log()->warn("releasing orphan replica {} on {} (no version claims it)",
                                  r.replica_id, node);
              self->request(it->second.handle, std::chrono::seconds(10), unload_atom::value,
                            r.replica_id)
                  .then([](bool) {},
                        [id = r.replica_id](caf::error& e) {
                          control_log()->warn("unload of orphan {} failed: {}", id, describe(e));
                        });
            }
          },
          [node](caf::error& e) {
            control_log()->warn("cannot list the replicas of {}: {}", node, describe(e));
          });
}

}  // namespace tessera
