#pragma once
// Messages between the gateway (via the bridge) and the coordinator's actors: the control actor
// (actors/control.hpp) and the serving actors (actors/serving.hpp). They never leave the
// coordinator's process, so they are plain structs allowed as unsafe (unserialized) types.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>

#include "base/prometheus.hpp"
#include "cluster/hedging.hpp"
#include "cluster/load_progress.hpp"
#include "cluster/model_input.hpp"
#include "cluster/model_key.hpp"
#include "cluster/replica_state.hpp"
#include "cluster/topk.hpp"
#include "cluster/version_lifecycle.hpp"

namespace tessera {

struct version_route;  // actors/serving_routes.hpp

// A tenant's model plus an optional version number or label; neither means the active version.
struct model_ref {
  tenant_id tenant;  // set by the gateway from the session's token, never from the client
  std::string name;
  uint64_t version = 0;  // 0 = not given
  std::string label;     // empty = not given
  // The version epoch a call must run on (0 = any): with it set, resolving fails with
  // epoch_mismatch unless the version carries it. The gateway sets it (with `version`) on every
  // slice after the first; those slices carry predict_request::build too and run on that.
  uint64_t epoch = 0;

  model_key key() const { return {tenant, name}; }
};

// A predict or embed call as the gateway hands it to the coordinator.
struct predict_request {
  model_ref model;
  std::vector<input_item> inputs;
  int32_t k = 1;  // labels per input: >= 1, or -1 for all (check_predict_options)
  float threshold = 0.0f;
  // When the answer is due, set by the gateway from the client's timeout (capped by the
  // config's request_timeout). The default (epoch) means: now + the coordinator's default.
  std::chrono::steady_clock::time_point deadline{};
  // A later slice of a sliced call: the build (version route, with its routing snapshot) the
  // first slice ran on, handed back by the gateway; the call runs on it, whatever the
  // current snapshot says. Null for a first slice: it takes the current snapshot.
  std::shared_ptr<const version_route> build;
};

struct predict_reply {
  std::vector<std::vector<scored_label>> results;          // per input, best first
  std::shared_ptr<const std::vector<std::string>> labels;  // label names by index
  uint64_t version = 0;
  uint64_t epoch = 0;
  std::shared_ptr<const version_route> build;  // what it ran on (see predict_request::build)
};

struct embed_reply {
  uint32_t dim = 0;
  std::vector<float> vectors;  // inputs x dim
  uint64_t version = 0;
  uint64_t epoch = 0;
  std::shared_ptr<const version_route> build;  // what it ran on (see predict_request::build)
};

struct load_request {
  std::string path;  // package directory
  std::string name;  // empty: the manifest's name
  uint32_t replicas = 1;
  bool activate = false;
  bool exact_pooling = false;  // gather rows and sum in id order (see schemas/tessera.capnp)
  tenant_id tenant;  // whose model it becomes: the admin token's tenant (set by the gateway)
  // Composition (tessera load --embedder E[@V]): `path` is a classifier-only package that runs
  // on the embedder of the tenant's model `embedder_model`, version `embedder_version` (0: its
  // active one). The control actor resolves the version and sets `embedder_path`, the
  // embedder's package, before the package is read.
  std::string embedder_model;  // empty: the package's own embedder
  uint64_t embedder_version = 0;
  std::string embedder_path;
};

struct load_reply {
  std::string name;  // the tenant's name of the model
  uint64_t version = 0;
};

struct replica_info {
  std::string node;
  replica_state state = replica_state::loading;
  std::string id;     // the replica's id on its node
  std::string error;  // why it is in state error
  // From its node's last health answer (replica_status): bytes its load fetched into the
  // node's store and bytes it found there; both 0 when unknown or the node has no store.
  uint64_t fetched_bytes = 0;
  uint64_t stored_bytes = 0;
};

struct shard_info {
  std::string tensor;
  uint64_t row_begin = 0;
  uint64_t row_end = 0;
  uint64_t bytes = 0;
  std::vector<replica_info> replicas;
};

struct version_info {
  uint64_t version = 0;
  version_state state = version_state::new_;
  uint64_t epoch = 0;
  std::string path;
  std::string embedder;      // "NAME (epoch E, N users)"
  std::string embedder_of;   // composed versions: "MODEL@VERSION" whose embedder it runs on
  tenant_id embedder_owner;  // whose load registered the embedder (others may share it)
  std::string classifier;
  uint32_t dim = 0;
  uint64_t rows = 0;   // the embedder's tables' rows, summed
  std::string family;  // "fasttext" | "embedding_bag" (cluster/model_family.hpp)
  uint32_t label_count = 0;
  std::string output;
  std::vector<shard_info> shards;
  std::string error;
  bool exact_pooling = false;
  // Its replicas' fetched_bytes and stored_bytes summed, and their bytes (a shard's bytes
  // per replica): shipped vs bytes of the version.
  uint64_t fetched_bytes = 0;
  uint64_t stored_bytes = 0;
  uint64_t replica_bytes = 0;
};

struct model_info {
  tenant_id tenant;
  std::string name;  // the tenant's name of the model
  uint64_t active_version = 0;
  std::vector<version_info> versions;
  std::vector<std::pair<std::string, uint64_t>> labels;
};

struct member_info {
  std::string name;
  std::string address;
  std::vector<std::string> roles;
  bool up = false;
  uint64_t budget_bytes = 0;
  uint64_t used_bytes = 0;
  uint64_t rss_bytes = 0;
  uint32_t replicas = 0;
  uint64_t loading_done = 0;
  uint64_t loading_total = 0;
  load_estimate loading;        // rate and time left of those loads (cluster/load_progress)
  uint64_t overhead_bytes = 0;  // RSS beyond replica rows, held inside the budget too
  bool draining = false;        // `tessera drain`: its replicas move to other members
  uint64_t store_bytes = 0;     // its block store's bytes on disk (0: no store)
  uint64_t disk_budget = 0;     // [[nodes]] disk_budget (0: unlimited)
};

// A shard short of replicas, or a version stuck without them, of one tenant's model.
struct shard_shortfall {
  model_key model;
  std::string detail;  // "vN tensor[begin:end) has K of R replicas" and the like
  // "<model> <detail>", the model shown by display() (operators) or by name (its tenant).
  std::string line(bool tenant_view = false) const {
    return (tenant_view ? model.name : model.display()) + " " + detail;
  }
};

struct cluster_status {
  bool ready = false;
  std::vector<member_info> members;
  std::vector<model_info> models;
  uint64_t hedges_sent = 0;  // sub-requests sent to a second replica because the first was slow
  uint64_t hedges_won = 0;   // of those, how many answered first
  // Shards of ready or serving versions with fewer than R ready replicas on live nodes.
  std::vector<shard_shortfall> under_replicated;
  // The last failure to write the registry to state_dir while it lasts (empty: what status
  // shows is on disk), and how many writes failed since the coordinator started. While it is
  // set, admin changes are refused (io_error) and `ready` is false.
  std::string persist_error;
  uint64_t persist_failures = 0;
};

// What /metrics and /readyz read from the coordinator (metrics_atom). Its status is built from
// the members' last health answers (polled every second), without polling again.
struct coordinator_metrics {
  cluster_status status;
  // Every model with an active version has a ready replica of every shard of it on a live
  // node (registry::all_active_served; versions still loading do not count). Unlike
  // status.ready it does not need every member up: a down node whose shards are replicated
  // elsewhere leaves the cluster serving.
  bool serving = false;
  uint64_t inflight = 0;        // client calls admitted and not yet answered
  uint64_t inflight_limit = 0;  // [limits] max_inflight
  uint64_t draining = 0;        // unloaded versions still named by routing snapshots in use
  uint64_t queued = 0;          // admitted predict calls waiting in the coalescers' queues
  // The serving actors' request and shard sub-request families (request_metrics,
  // shard_metrics), merged.
  prom_families served;
};

// One serving actor's counters (actors/serving.hpp); the control actor merges them per scrape.
struct serving_metrics {
  prom_families families;  // its request_metrics' and shard_metrics' collected families
  hedge_counts hedges;
  uint64_t queued = 0;  // predict calls waiting in its coalescer's queues

  // Adds another serving actor's.
  void merge(const serving_metrics& o) {
    prom_merge(families, o.families);
    hedges.sent += o.hedges.sent;
    hedges.won += o.hedges.won;
    queued += o.queued;
  }
};

}  // namespace tessera

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::coordinator_metrics)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::serving_metrics)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::predict_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::predict_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::embed_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::load_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::load_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::cluster_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tessera::model_key)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<tessera::model_info>)
