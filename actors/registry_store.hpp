#pragma once
// What the coordinator persists of its registry, so that a restarted coordinator serves the
// models its nodes still hold without reading rows again: every ready or serving version
// (model, number, epoch, package path, labels, active and previous version), where each
// of its replicas lives, and which members are draining. Versions still loading or draining are not
// kept: their replicas are released as orphans after a restart.
//
// The file is <state_dir>/registry.json, written atomically (a temp file, fsync, rename, fsync
// of the directory), so a crash leaves either the old or the new snapshot, never a torn one.
// Plain functions and structs; the coordinator calls them on its thread.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "actors/registry.hpp"

namespace tessera {

struct replica_record {
  std::string node;
  std::string id;
};

struct shard_record {
  uint64_t index = 0;
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t bytes = 0;  // of one replica
  std::vector<replica_record> replicas;
};

struct tensor_record {
  std::string tensor;
  std::vector<shard_record> shards;
};

struct version_record {
  uint64_t version = 0;
  uint64_t epoch = 0;           // the classifier's epoch
  uint64_t embedder_epoch = 0;  // the (possibly shared) embedder's
  std::string path;
  std::string content;                         // manifest_digest of the package when it was loaded
  version_state state = version_state::ready;  // ready or serving
  bool exact_pooling = false;
  // R its load asked for; a shared embedder holds the largest of its users'. 0 in files
  // written before it was kept: recovery counts the recorded replicas instead.
  uint32_t replicas = 0;
  std::vector<tensor_record> embedder;
  std::vector<tensor_record> classifier;
  // Composed versions (tessera load --embedder): the model version whose embedder it runs on
  // and that embedder's package; absent (empty) in other versions and in older files.
  std::string embedder_model;
  uint64_t embedder_version = 0;
  std::string embedder_path;
};

struct model_record {
  model_key key;
  uint64_t next_version = 1;
  uint64_t active = 0;
  uint64_t previous = 0;
  std::map<std::string, uint64_t> labels;
  std::vector<version_record> versions;
};

struct registry_snapshot {
  // 2: each model and retired name carries its tenant in a field of its own. Format 1 files
  // (a tenant's model named "T/N") are read and migrated; the next write is format 2.
  static constexpr uint32_t current_format = 2;
  std::string incarnation;  // the cluster's id, kept across coordinator restarts
  uint64_t epoch = 0;       // the last epoch handed out; a restart continues after it
  std::vector<model_record> models;
  std::vector<std::string> draining;  // members being drained (`tessera drain`), by name
  // Models that went away, with the number their next version gets (registry::retired): a
  // version number of a tenant's model name is never issued twice, across unloads and restarts.
  std::map<model_key, uint64_t> retired;
};

// The persistent part of `reg`: ready and serving versions only; labels and active/previous
// that point at anything else are left out.
registry_snapshot snapshot_of(const registry& reg, const std::string& incarnation);

std::string to_json(const registry_snapshot& s);
// Parses and validates (validate_snapshot). Errors: invalid_argument naming what is wrong
// (never throws).
caf::expected<registry_snapshot> snapshot_from_json(const std::string& text);
// Checks every invariant a coordinator relies on, and names the first one broken
// (invalid_argument): model and label names valid and unique; each model's version numbers
// unique, positive and below its next_version; epochs unique, positive and at most the
// registry's epoch (a classifier's epoch is its own; an embedder's epoch names one embedder);
// `active` is 0 or a version in state serving, and no other version serves; `previous` is 0 or
// another version; labels point at versions; a retired name is not also a model.
caf::error validate_snapshot(const registry_snapshot& s);

// Writes <dir>/registry.json atomically, creating `dir` if needed. Errors: io_error.
caf::error write_snapshot(const std::string& dir, const registry_snapshot& s);
// Reads <dir>/registry.json; none when there is no such file. Errors: io_error,
// invalid_argument (a file that does not parse).
caf::expected<std::optional<registry_snapshot>> read_snapshot(const std::string& dir);

// A fresh random incarnation id (32 hex digits).
std::string new_incarnation();

}  // namespace tessera
