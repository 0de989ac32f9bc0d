#pragma once
// The coordinator's model registry: models, their versions, the sub-models they pin and where
// every replica lives. Owned by the coordinator actor and touched only on its thread.
//
// Sub-models are loaded once and shared: a model version pins one embedder and owns one
// classifier. Embedders are keyed by content (name@version plus their tables' checksums), so
// two packages carrying the same embedder, or a new version that only changes the classifier,
// reuse the loaded rows; memory is counted once. Requests pin a version by holding its
// shared_ptr, so a flip of the active version never changes a running request.
//
// Version states and their legal moves are cluster/version_lifecycle.hpp's; versions start in
// loading (the coordinator creates them when the load is accepted).
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/coordinator_types.hpp"
#include "actors/interfaces.hpp"
#include "cluster/fasttext_output.hpp"
#include "cluster/featurizer.hpp"
#include "package/package.hpp"
#include "cluster/sharding.hpp"
#include "cluster/version_lifecycle.hpp"

namespace tessera {

struct replica_ref {
  std::string node;
  std::string replica_id;
  shard_actor handle;             // valid once ready
  std::string state = "loading";  // loading, ready, lost, unloaded
  shard_spec spec;                // what the node was told to load (reused on rejoin)
};

struct shard_ref {
  size_t index = 0;
  row_range rows;
  uint64_t bytes = 0;  // bytes of one replica
  std::vector<replica_ref> replicas;
  size_t next = 0;  // round-robin cursor over replicas
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
  std::string name;               // "sections.embedder@1"
  std::string fingerprint;        // embedders: name@version and table checksums (the sharing key)
  uint64_t epoch = 0;             // unique in the cluster; every shard message to it carries it
  std::string path;               // package it was loaded from
  std::string state = "loading";  // loading, ready, error, unloaded
  std::vector<tensor_shards> tensors;
  uint64_t users = 0;  // model versions that pin it
  // Every shard has a ready replica.
  bool fully_served() const;
  uint64_t bytes_on(const std::string& node) const;
  uint64_t bytes() const;  // all replicas on all nodes
  void for_each_replica(const std::function<void(replica_ref&)>& f);
};

struct version_entry {
  std::string model;
  uint64_t version = 0;
  uint64_t epoch = 0;  // unique in the cluster; the classifier's replicas carry it
  std::string path;
  version_state state = version_state::loading;
  std::string error;
  manifest meta;
  std::shared_ptr<submodel_entry> embedder;    // shared with other versions and models
  std::shared_ptr<submodel_entry> classifier;  // owned; null for an embed-only model
  bool embedder_reused = false;                // the embedder was already loaded
  std::shared_ptr<const featurizer> feat;
  std::shared_ptr<const std::vector<std::string>> labels;
  std::shared_ptr<const fasttext_hs_tree> hs_tree;  // hs only
  bool fasttext_rules = false;  // fastText featurizer: ova uses fastText's table sigmoid
  pooling_kind pooling = pooling_kind::mean;
  bool exact_pooling = false;  // gather rows, sum in id order on the coordinator
  output_kind output = output_kind::softmax;
  std::vector<activation_kind> activations;
  uint64_t inflight = 0;  // requests running on this version

  tensor_shards& table() { return embedder->tensors.at(0); }
  const tensor_shards& table() const { return embedder->tensors.at(0); }
  std::vector<tensor_shards>& layers() { return classifier->tensors; }
  bool has_classifier() const { return classifier && !classifier->tensors.empty(); }
  uint32_t dim() const { return static_cast<uint32_t>(table().cols); }
  bool fully_served() const;
  version_info info() const;
  // Moves to `to`; asserts the move is legal (an illegal one is our bug).
  void move_to(version_state to);
  bool serves() const { return state == version_state::ready || state == version_state::serving; }
};

struct model_entry {
  std::string name;
  std::map<uint64_t, std::shared_ptr<version_entry>> versions;
  uint64_t active = 0;    // 0 = none
  uint64_t previous = 0;  // what rollback returns to
  std::map<std::string, uint64_t> labels;
  uint64_t next_version = 1;
  model_info info() const;
};

class registry {
 public:
  // The version a request names: explicit number, label, or the active one. Only versions in
  // state ready or serving resolve. Errors: unknown_model.
  caf::expected<std::shared_ptr<version_entry>> resolve(const model_ref& ref) const;

  model_entry* find(const std::string& name);
  model_entry& get_or_create(const std::string& name);
  void erase(const std::string& name) { models_.erase(name); }
  const std::map<std::string, model_entry>& models() const { return models_; }

  // Loaded embedders by fingerprint.
  std::map<std::string, std::shared_ptr<submodel_entry>> embedders;
  // Versions removed from their model that still have requests in flight (state draining).
  std::vector<std::shared_ptr<version_entry>> draining;

  // Every distinct loaded sub-model: embedders once, then each version's classifier.
  void for_each_submodel(const std::function<void(const std::shared_ptr<submodel_entry>&)>& f);
  // Marks every replica on `node` lost (its process went away).
  void mark_node_lost(const std::string& node);
  // Bytes held on `node` by every sub-model not yet unloaded (shared embedders once).
  uint64_t bytes_on(const std::string& node);
  // Every model with an active version has it fully served.
  bool all_active_served() const;
  std::vector<model_info> infos() const;

  uint64_t next_epoch() { return ++epoch_; }

 private:
  std::map<std::string, model_entry> models_;
  uint64_t epoch_ = 0;
};

}  // namespace tessera
