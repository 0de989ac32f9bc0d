#pragma once
// The coordinator's model registry: models, their versions, the sub-models they pin and where
// every replica lives, plus the rules that move versions between states (activate, rollback,
// labels, unload and drain). A plain class: no actor, no messages; the coordinator carries out
// what it returns (replicas to free). Owned by the coordinator and touched only on its thread.
//
// Sub-models are loaded once and shared: a model version pins one embedder and owns one
// classifier. Embedders are keyed by content (name@version plus their tables' checksums), so
// two packages carrying the same embedder, or a new version that only changes the classifier,
// reuse the loaded rows; memory is counted once. The registry is data: names, versions, epochs,
// placement and states, and no live handles (the control actor keeps those,
// actors/control_routes.hpp). Requests run on routing snapshots built from it, so a flip of the
// active version never changes a running request, and an unloaded version drains until no
// snapshot that names it is in use (reap_drained).
//
// Version states and their legal moves are cluster/version_lifecycle.hpp's; versions start in
// loading (the coordinator creates them when the load is accepted).
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "actors/coordinator_types.hpp"
#include "actors/interfaces.hpp"
#include "cluster/model_family.hpp"
#include "cluster/sharding.hpp"
#include "package/package.hpp"

namespace tessera {

struct replica_ref {
  std::string node;
  std::string replica_id;
  replica_state state = replica_state::loading;
  std::string error;  // why it is in state error
  shard_spec spec;    // what the node was told to load (reused on rejoin)
  // Placed by re-placement while a replica's node stayed down
  // (actors/replacement_planner.hpp); not counted in the shard's replication factor, and
  // released once no longer needed.
  bool spare = false;
  // Set on a copy loading to take over from the replica with this id, whose node is draining
  // or gone from the config (a move, actors/replacement_planner.hpp). While set the copy is a
  // spare; once ready it takes the old replica's place and the old one is released.
  std::string replaces;
};

struct shard_ref {
  size_t index = 0;
  row_range rows;
  uint64_t bytes = 0;  // bytes of one replica
  // A deque: re-placement appends several copies to a shard and hands out pointers to them
  // for the same tick. Nothing keeps a pointer across messages (a pending load finds its
  // replica by id), so released replicas are erased (submodel_entry::drop_released).
  std::deque<replica_ref> replicas;
  // Lower bound of the index the next copy's id gets (new_replica_id): ids are never reused
  // while the coordinator runs, so a late answer to a dropped replica's load finds nothing.
  size_t next_id = 0;
};

struct tensor_shards {
  std::string tensor;
  std::string bias;
  shard_kind kind = shard_kind::embedding;
  uint64_t rows = 0;
  uint64_t cols = 0;
  std::vector<shard_ref> shards;
  std::vector<row_range> ranges() const;
};

// One loaded sub-model version (an embedder's tables, or a classifier's layers).
struct submodel_entry {
  std::string name;         // "sections.embedder@1"
  std::string fingerprint;  // embedders: name@version and table checksums (the sharing key)
  tenant_id owner;          // whose load registered it (an embedder may serve other tenants too)
  uint64_t epoch = 0;       // unique in the cluster; every shard message to it carries it
  std::string path;         // package it was loaded from
  submodel_state state = submodel_state::loading;
  std::vector<tensor_shards> tensors;
  uint64_t users = 0;  // model versions that pin it
  // R, the copies each shard must hold: the largest R asked by the versions that use it (a
  // shared embedder's falls back when its largest user goes; copies beyond it stay loaded).
  // 0 = not known (a test's sub-model): a shard's own non-spare replicas count instead.
  uint32_t replicas = 0;
  // Every shard has a ready replica.
  bool fully_served() const;
  uint64_t bytes_on(const std::string& node) const;
  void for_each_replica(const std::function<void(replica_ref&)>& f);
  // The replica with this id (ids are unique within a sub-model), or null once dropped.
  replica_ref* find_replica(const std::string& id);
  // Erases every released (unloaded) replica from its shard; returns how many. Their unloads
  // must already be sent or queued (by value): nothing refers to them afterwards.
  size_t drop_released();
};

struct version_entry {
  model_key model;
  uint64_t version = 0;
  uint64_t epoch = 0;  // unique in the cluster; the classifier's replicas carry it
  std::string path;
  std::string content;  // manifest_digest of its package when it was loaded
  version_state state = version_state::loading;
  std::string error;
  manifest meta;
  std::shared_ptr<submodel_entry> embedder;    // shared with other versions and models
  std::shared_ptr<submodel_entry> classifier;  // owned; null for an embed-only model
  bool embedder_reused = false;                // the embedder was already loaded
  // Composed (tessera load --embedder): the tenant's model version whose embedder it runs on;
  // that version cannot be unloaded while this one is in the model map. Persisted.
  std::string embedder_model;  // empty: not composed
  uint64_t embedder_version = 0;
  family_ptr family;  // set by describe_version (actors/version_builder.hpp)
  std::shared_ptr<const std::vector<std::string>> labels;
  bool exact_pooling = false;  // gather rows, sum in id order on the coordinator
  output_kind output = output_kind::softmax;
  std::vector<activation_kind> activations;
  uint32_t replicas = 0;  // R its load asked for (0 = not known); persisted
  // Once unloaded: the last routing snapshot generation that may name it (registry::unload).
  uint64_t named_until = 0;
  bool released = false;  // its hold on its sub-models was dropped (once)

  tensor_shards& table() { return embedder->tensors.at(0); }
  const tensor_shards& table() const { return embedder->tensors.at(0); }
  std::vector<tensor_shards>& layers() { return classifier->tensors; }
  bool has_classifier() const { return classifier && !classifier->tensors.empty(); }
  // The pooled width: the family's (every table's cols), or tables[0]'s before it is set.
  uint32_t dim() const { return static_cast<uint32_t>(family ? family->dim() : table().cols); }
  bool fully_served() const;
  version_info info() const;
  // Moves to `to`. An illegal move is our own bug: TESSERA_CHECK, on in every build.
  void move_to(version_state to);
  bool serves() const { return state == version_state::ready || state == version_state::serving; }
};

struct model_entry {
  model_key key;
  std::map<uint64_t, std::shared_ptr<version_entry>> versions;
  uint64_t active = 0;    // 0 = none
  uint64_t previous = 0;  // what rollback returns to
  std::map<std::string, uint64_t> labels;
  // The number the next load gets. Never reused: when a model goes away with its last version,
  // registry keeps its next number (retired()), and a later model of that name continues it.
  uint64_t next_version = 1;
  model_info info() const;
};

// A replica the coordinator must ask its node to drop.
struct replica_release {
  std::string node;
  std::string replica_id;
  bool operator==(const replica_release& o) const {
    return node == o.node && replica_id == o.replica_id;
  }
};

class registry {
 public:
  // What a change to one model may touch, saved so that the change can be taken back (the
  // commit queue applies a change, snapshots, takes it back: actors/control_commits.hpp): the
  // model's entry, the states
  // of its versions and their sub-models, the shared-embedder table, the draining list's length
  // and the retired numbers. Valid only until the next change to the registry.
  struct undo_point {
    model_key model;
    std::optional<model_entry> entry;  // none: the model did not exist
    std::vector<std::tuple<std::shared_ptr<version_entry>, version_state, std::string>> versions;
    std::vector<std::tuple<std::shared_ptr<submodel_entry>, submodel_state, uint64_t>> submodels;
    std::map<std::string, std::shared_ptr<submodel_entry>> embedders;
    std::map<model_key, uint64_t> retired;
    size_t draining = 0;
  };
  // Saves what a change to model `key` may touch; `extra` is a version not (yet) in the model
  // (a load about to be added) whose state is saved too.
  undo_point save(const model_key& key, std::shared_ptr<version_entry> extra = nullptr) const;
  // Puts back what `u` saved. Only for a change made right after save() and before any other
  // (no reap, no release in between): versions get back their state, the model its entry.
  void restore(undo_point u);

  model_entry* find(const model_key& key);
  const std::map<model_key, model_entry>& models() const { return models_; }

  // --- loading ---------------------------------------------------------------------------
  // The loaded embedder with this fingerprint, or null.
  std::shared_ptr<submodel_entry> embedder(const std::string& fingerprint) const;
  // Commits a described, placed version (state loading) to model `key`: gives it the next
  // version number, pins its embedder and registers a new embedder for sharing. The
  // sub-models' R becomes at least the version's (a reused embedder's extra copies must be
  // placed before: actors/replication.hpp).
  void add_version(const model_key& key, const std::shared_ptr<version_entry>& v);
  // Every replica of the version's fresh sub-models is ready: the version becomes ready, and
  // serving when it is the model's first version or `activate` is set. Errors: unknown_model
  // when the version was unloaded while it loaded (its replicas are then already released).
  caf::error finish_load(version_entry& v, bool activate);
  // A load failed: the version goes to error with `why`; returns the replicas to free.
  std::vector<replica_release> fail_load(version_entry& v, const std::string& why);

  // --- lifecycle rules -------------------------------------------------------------------
  // Makes a ready version the active one, in one step. Errors: unknown_model, invalid_argument
  // (not ready).
  caf::error activate(const model_key& key, uint64_t version);
  // Flips back to the previously active version and returns it. Errors: unknown_model,
  // invalid_argument (no previous version).
  caf::expected<uint64_t> rollback(const model_key& key);
  // Points `label` (a name, not all digits) at `version`. Errors: unknown_model,
  // invalid_argument.
  caf::error set_label(const model_key& key, const std::string& label, uint64_t version);
  // Removes `version` of `key` (0: every version) from the model and starts its drain; the
  // model goes away with its last version. Refused (invalid_argument) for the active version
  // while the model has other versions: activate another first, so a model never loses its
  // only serving version by accident. Refused (invalid_argument, naming them) while versions
  // composed on an unloaded version's embedder (embedder_model) are still in a model map.
  // Errors: unknown_model.
  caf::error unload(const model_key& key, uint64_t version);
  // Versions that drained (no snapshot that names them is in use: `oldest_live` is the oldest
  // snapshot generation still in use; 0 = none is) become unloaded; returns the replicas of every
  // sub-model no version uses any more (a shared embedder only with its last user).
  std::vector<replica_release> reap_drained(uint64_t oldest_live);
  // The routing snapshot generation last published from this registry (control_routes): a
  // version unloaded now is named by no snapshot after it.
  void published(uint64_t generation) { published_ = generation; }

  // Erases the released replicas of every ready sub-model (drop_released); returns how many.
  size_t drop_released();

  // --- membership ------------------------------------------------------------------------
  // Marks every replica on `node` lost (its process went away).
  void mark_node_lost(const std::string& node);
  // Every distinct loaded sub-model: embedders once, then each version's classifier.
  void for_each_submodel(const std::function<void(const std::shared_ptr<submodel_entry>&)>& f);
  // Bytes held on `node` by every sub-model not yet unloaded (shared embedders once).
  uint64_t bytes_on(const std::string& node);
  // Every model with an active version has it fully served.
  bool all_active_served() const;
  // Every model with its versions, including unloaded versions still draining.
  std::vector<model_info> infos() const;
  // Versions unloaded while snapshots in use still name them.
  size_t draining() const { return draining_.size(); }

  uint64_t next_epoch() { return ++epoch_; }
  uint64_t epoch() const { return epoch_; }

  // --- recovery --------------------------------------------------------------------------
  // Continues epochs after `epoch` (the last one a previous coordinator handed out).
  void resume_epochs(uint64_t epoch) { epoch_ = std::max(epoch_, epoch); }
  // Models that went away with their last version, and the number their next version gets
  // (persisted, so a version number of a tenant's model name is never issued twice).
  const std::map<model_key, uint64_t>& retired() const { return retired_; }
  void restore_retired(std::map<model_key, uint64_t> r) { retired_ = std::move(r); }
  // Re-creates model `key` from persisted state. Each version is described and placed
  // (replicas lost, no handles yet) and in state ready or serving; embedders with one
  // fingerprint must already be one shared entry. Versions keep their numbers.
  void restore_model(const model_key& key, uint64_t next_version, uint64_t active,
                     uint64_t previous, const std::map<std::string, uint64_t>& labels,
                     const std::vector<std::shared_ptr<version_entry>>& versions);

 private:
  // Drops a version's hold on its sub-models; returns the replicas of those nobody uses.
  std::vector<replica_release> release_version(version_entry& v);
  // Sets a shared embedder's R to the largest R of the versions that still pin it.
  void recount_replicas(submodel_entry& embedder);
  void flip(model_entry& m, uint64_t version);

  std::map<model_key, model_entry> models_;
  std::map<std::string, std::shared_ptr<submodel_entry>> embedders_;  // by fingerprint
  std::vector<std::shared_ptr<version_entry>> draining_;
  std::map<model_key, uint64_t> retired_;  // see retired()
  uint64_t epoch_ = 0;
  uint64_t published_ = 0;  // see published()
};

// "tensor[begin:end)", how errors and logs name a shard.
std::string shard_name(const tensor_shards& t, const shard_ref& s);

// A model or label name: 1-128 of [A-Za-z0-9_.-].
bool valid_name(const std::string& n);

}  // namespace tessera
