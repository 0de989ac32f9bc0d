#pragma once
// What the serving plane sees of the cluster: an immutable routing snapshot, published by the
// control actor on every change (actors/control_routes.hpp) and read by the serving actors
// (actors/serving.hpp) without locks. A snapshot maps each tenant's model to its versions,
// labels and active version, and each serving version to what a request needs: its featurizer,
// output rule and labels, and per tensor its shard ranges and the ready replicas of each shard
// (node, replica id, shard actor handle).
//
// Lifetime: snapshots are shared (std::shared_ptr<const routing_snapshot>). A request takes the
// serving actor's current snapshot once and keeps it, through a version_route aliasing it, for
// its whole life, every slice of a sliced call included (the gateway hands the first slice's
// build back with the next). The control actor frees a version's or a replica's rows only
// once no snapshot that names it is in use (control_routes: oldest_live()).
//
// Thread: any. Nothing in a snapshot changes after it is published.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/coordinator_types.hpp"
#include "actors/interfaces.hpp"
#include "cluster/model_family.hpp"
#include "cluster/sharding.hpp"
#include "package/package.hpp"

namespace tessera {

// A ready replica of a shard on a member that was up when the snapshot was built.
struct replica_route {
  std::string node;
  std::string id;  // the replica's id on its node
  shard_actor handle;
};

struct shard_route {
  row_range rows;
  std::string name;  // "tensor[begin:end)": how errors and logs name it
  std::string key;   // name@eEPOCH: the hedging tracker's and metrics' key of this shard
  std::vector<replica_route> replicas;  // ready ones only; may be empty
};

struct tensor_route {
  std::string owner;   // the sub-model's name ("sections.embedder@1")
  uint64_t epoch = 0;  // the sub-model version's epoch; every shard message carries it
  std::string tensor;
  uint64_t rows = 0;
  uint64_t cols = 0;
  std::vector<shard_route> shards;
  std::vector<row_range> ranges() const;
};

// One version of a model as requests see it. Only a version in state ready or serving has its
// tensors filled in; the others are listed so a request naming them gets the same error text.
struct version_route {
  model_key model;
  uint64_t version = 0;
  uint64_t epoch = 0;  // the version's (its classifier's) epoch, unique in the cluster
  version_state state = version_state::loading;
  family_ptr family;  // its inputs, pooling and output rules (cluster/model_family.hpp)
  std::shared_ptr<const std::vector<std::string>> labels;
  bool exact_pooling = false;  // gather rows, sum in id order on the serving actor (fastText)
  std::vector<activation_kind> activations;
  std::vector<tensor_route> tables;  // the embedder's tables, as family->tables()
  std::vector<tensor_route> layers;  // the classifier's layers; empty for an embed-only model

  bool serves() const { return state == version_state::ready || state == version_state::serving; }
  bool has_classifier() const { return !layers.empty(); }
  uint32_t dim() const { return static_cast<uint32_t>(family->dim()); }
};

struct model_routes {
  uint64_t active = 0;  // 0 = none
  std::map<std::string, uint64_t> labels;
  std::map<uint64_t, version_route> versions;
};

struct routing_snapshot {
  uint64_t generation = 0;  // 1, 2, ... in publishing order
  std::map<model_key, model_routes> models;
};

using snapshot_ptr = std::shared_ptr<const routing_snapshot>;
using route_ptr = std::shared_ptr<const version_route>;  // aliases (keeps) its snapshot

// The version a request names in `snap`: explicit number, label, or the active one; only
// versions in state ready or serving resolve, and with ref.epoch set the version must carry it.
// The result shares ownership of `snap`. Errors: unknown_model, epoch_mismatch.
caf::expected<route_ptr> resolve(const snapshot_ptr& snap, const model_ref& ref);

}  // namespace tessera

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::snapshot_ptr)
