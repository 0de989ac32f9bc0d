@0xc298b032b1d0e686;

# Client API of the tessera gateway. Object-capability style: the bootstrap interface only
# authenticates; what a client may do is what the returned capabilities allow.
#
# Errors are Cap'n Proto exceptions. The type says what to do (OVERLOADED: retry later, for
# overloaded, unavailable and deadline_exceeded; DISCONNECTED: reconnect; UNIMPLEMENTED: a valid
# request tessera does not do, code unsupported; FAILED: the request is wrong or cannot be
# served, or our own bug, code internal) and the description reads
# "tessera.<code>: <message>", code as in base/errors.hpp. An overloaded refusal's message ends
# "retry_after_ms=N"; predict and embed can answer it as a typed Refusal instead
# (refusalAsResult).

struct Input {
  # One input: text to featurize (fastText models), row ids (with optional per-id weights)
  # into the embedder's first table, or a bag per table (embedding-bag models, docs/MODELS.md;
  # a table without a bag pools an empty bag).
  union {
    text @0 :Text;
    ids @1 :IdBag;
    tables @2 :List(TableBag);
  }
}

struct IdBag {
  ids @0 :List(Int64);
  weights @1 :List(Float32);  # empty, or one per id
}

struct TableBag {
  # One table's bag of an input: the table by its name (as in the model's spec) or its index
  # in concatenation order.
  union {
    name @0 :Text;
    index @1 :UInt32;
  }
  ids @2 :List(Int64);
  weights @3 :List(Float32);  # empty, or one per id (tables pooled by sum only)
}

struct Label {
  label @0 :Text;
  prob @1 :Float32;    # as fastText prints it: expf(log(p + 1e-5)) for softmax outputs
  index @2 :UInt32;
}

struct Prediction {
  labels @0 :List(Label);  # best first
}

struct ModelRef {
  # A model name with an optional version number or label ("stable", "canary").
  name @0 :Text;
  union {
    active @1 :Void;
    version @2 :UInt64;
    label @3 :Text;
  }
}

struct ServedBy {
  version @0 :UInt64;
  epoch @1 :UInt64;   # the activation epoch every shard of the request ran on
}

struct ModelInfo {
  # The tenant's name of the model; in a cluster admin's status, "TENANT/NAME" for the models
  # of tenants other than the default one.
  name @0 :Text;
  activeVersion @1 :UInt64;
  versions @2 :List(VersionInfo);
  labels @3 :List(LabelPin);
  tenant @4 :Text;  # whose model it is ("default" for the default tenant)
}

struct LabelPin {
  label @0 :Text;
  version @1 :UInt64;
}

# A version's state, typed (VersionInfo.stateKind); VersionInfo.state is its name as text.
enum VersionState {
  unspecified @0;  # not set (an older server)
  new @1;
  loading @2;
  ready @3;
  serving @4;
  draining @5;
  unloaded @6;
  error @7;
}

# A version's output rule, typed (VersionInfo.outputKind); VersionInfo.output is its name.
enum OutputKind {
  unspecified @0;  # not set (an older server)
  none @1;         # embed only: no classifier
  softmax @2;
  ova @3;
  hs @4;
  sigmoid @5;      # embedding-bag models: one probability per label
  raw @6;          # embedding-bag models: the raw scores (the spec's output "none")
}

# A replica's state, typed (ReplicaInfo.stateKind); ReplicaInfo.state is its name as text.
enum ReplicaState {
  unspecified @0;  # not set (an older server)
  loading @1;
  ready @2;
  lost @3;
  unloaded @4;
  error @5;
}

struct VersionInfo {
  version @0 :UInt64;
  state @1 :Text;          # new, loading, ready, serving, draining, unloaded, error
  epoch @2 :UInt64;
  path @3 :Text;
  embedder @4 :Text;       # sub-model name@version
  classifier @5 :Text;
  dim @6 :UInt32;
  rows @7 :UInt64;         # rows of the embedding tables, summed
  labelCount @8 :UInt32;
  output @9 :Text;         # softmax, ova, hs, sigmoid, raw; none: no classifier
  shards @10 :List(ShardInfo);
  error @11 :Text;
  exactPooling @12 :Bool;
  stateKind @13 :VersionState;  # `state`, typed
  outputKind @14 :OutputKind;   # `output`, typed
  family @15 :Text;             # fasttext | embedding_bag (docs/MODELS.md)
  embedderOf @16 :Text;         # composed versions: "MODEL@VERSION" whose embedder it runs on
  shippedBytes @17 :UInt64;     # its replicas' fetchedBytes summed: what loading it shipped
  storedBytes @18 :UInt64;      # its replicas' storedBytes summed: what nodes already held
  replicaBytes @19 :UInt64;     # bytes of all its replicas (shard bytes x copies)
}

struct ShardInfo {
  tensor @0 :Text;
  rowBegin @1 :UInt64;
  rowEnd @2 :UInt64;
  bytes @3 :UInt64;
  replicas @4 :List(ReplicaInfo);
}

struct ReplicaInfo {
  node @0 :Text;
  state @1 :Text;   # loading, ready, lost, unloaded, error
  id @2 :Text;      # the replica's id on its node
  error @3 :Text;   # why it is in state error (e.g. its package changed since first loaded)
  stateKind @4 :ReplicaState;  # `state`, typed
  fetchedBytes @5 :UInt64;  # bytes of blocks its load fetched into its node's block store
  storedBytes @6 :UInt64;   # bytes of blocks its load found there already (0 without a store)
}

struct Member {
  name @0 :Text;
  address @1 :Text;       # host:port of its node actor
  roles @2 :List(Text);
  up @3 :Bool;
  budgetBytes @4 :UInt64;
  usedBytes @5 :UInt64;   # bytes of loaded replicas
  rssBytes @6 :UInt64;
  replicas @7 :UInt32;
  loadingBytesDone @8 :UInt64;
  loadingBytesTotal @9 :UInt64;
  loadingBytesPerS @10 :UInt64;  # average read rate of those loads; 0 = not known yet
  loadingMsLeft @11 :Int64;      # time left at that rate; -1 = not known (or nothing loading)
  overheadBytes @12 :UInt64;     # RSS beyond the replicas' rows: the process itself, which
                                 # the budget holds too (docs/CONFIG.md, memory_budget)
  draining @13 :Bool;            # Admin.drain: its replicas move to other members
  storeBytes @14 :UInt64;        # bytes in its block store ([[nodes]] data_dir); 0 = none
  diskBudgetBytes @15 :UInt64;   # its [[nodes]] disk_budget; 0 = unlimited
}

struct Status {
  ready @0 :Bool;          # every member up and every active model fully served
  members @1 :List(Member);
  models @2 :List(ModelInfo);
  hedgesSent @3 :UInt64;   # sub-requests also sent to a second replica: the first was slower
                           # than its shard's recent p95 ([hedging])
  hedgesWon @4 :UInt64;    # hedges whose answer came first
  underReplicated @5 :List(Text);
  coordinator @6 :CoordinatorInfo;  # the coordinator process and its gateway
  persistError @7 :Text;            # the registry cannot be written to state_dir (while it
                                    # lasts): admin changes are refused, ready is false
  persistFailures @8 :UInt64;       # failed writes of the registry since the coordinator started
  # shards of ready or serving versions with fewer than R ready replicas on live nodes, e.g.
  # "m v1 embedder.input[0:1000) has 1 of 2 replicas"; empty when every shard has R. Also
  # the replicas a drain cannot move for want of room, e.g. "m v1 embedder.input[0:1000)
  # cannot move off draining shard-2: no other member has room"
}

struct CoordinatorInfo {
  name @0 :Text;
  rssBytes @1 :UInt64;           # resident memory of the coordinator process
  budgetBytes @2 :UInt64;        # its memory_budget (coordinator-only node); 0 = none
  connections @3 :UInt64;        # client connections open now
  refusedQuota @4 :UInt64;       # calls refused by tenant quotas or priority shedding
  refusedMemory @5 :UInt64;      # calls refused while RSS was over the budget
  failedLogins @6 :UInt64;
}

struct LoadOptions {
  path @0 :Text;           # package directory, readable at this path on every node whose
                           # block store lacks its blocks (docs/ARCHITECTURE.md, "Block
                           # stores") and on the coordinator
  name @1 :Text;           # model name; empty = the manifest's name
  replicas @2 :UInt32;     # replication factor R; 0 = default (1)
  activate @3 :Bool;       # activate once ready (the first version always activates)
  exactPooling @4 :Bool;   # pool by gathering rows and summing them in id order on the
                           # coordinator: bit-identical to one shard (fastText parity), at the
                           # cost of moving rows instead of one partial sum per shard
  embedder @5 :ModelRef;   # composition (docs/MODELS.md): `path` is a classifier-only package
                           # that runs on the embedder of this model's version (active or a
                           # number; a label is refused), sharing its rows; empty name = none
}

interface Tessera @0xeb255bec4488fdf6 {
  authenticate @0 (token :Text) -> (session :Session);
}

struct Refusal {
  # A predict or embed call refused before it ran because the server is busy for its caller
  # (what tessera.overloaded says as an exception): a tenant quota, priority shedding, the
  # coordinator's memory budget or its max_inflight calls. The same call can pass after
  # retryAfterMs; 0 means no estimate (back off as for any OVERLOADED exception).
  retryAfterMs @0 :UInt32;
  reason @1 :Text;  # the message, without the exception's "; retry_after_ms=N" tail
}

interface Session {
  predict @0 (model :ModelRef, inputs :List(Input), topK :Int32, threshold :Float32,
              timeoutMs :UInt32, refusalAsResult :Bool)
      -> (results :List(Prediction), servedBy :ServedBy, refusal :Refusal);
  # topK: labels per input, >= 1, or -1 for every label (as fastText's predict-prob); 0 and
  # values below -1 fail with tessera.invalid_argument, and so does a NaN or infinite
  # threshold. Labels with a probability below threshold are left out.
  # timeoutMs: the call's deadline, from when the gateway receives it; 0 = the server's
  # limits.request_timeout, which is also the most a client may ask for. A call whose deadline
  # passes fails with tessera.deadline_exceeded (OVERLOADED), also while it waits in a queue.
  # refusalAsResult: an overloaded refusal (see Refusal) is answered as a result, `refusal` set
  # and nothing else, instead of a tessera.overloaded exception: the retry hint arrives as a
  # typed field. Every other failure stays an exception. Off by default.
  embed @1 (model :ModelRef, inputs :List(Input), timeoutMs :UInt32, refusalAsResult :Bool)
      -> (vectors :List(List(Float32)), servedBy :ServedBy, refusal :Refusal);
  # refusalAsResult: as for predict.
  listModels @2 () -> (models :List(ModelInfo));
  admin @3 () -> (admin :Admin);
  # Fails with tessera.permission_denied unless the token has the admin role.
}

interface Admin {
  load @0 (options :LoadOptions) -> (name :Text, version :UInt64);
  activate @1 (name :Text, version :UInt64) -> ();
  rollback @2 (name :Text) -> (version :UInt64);
  setLabel @3 (name :Text, label :Text, version :UInt64) -> ();
  unload @4 (name :Text, version :UInt64) -> ();
  # version 0 unloads the whole model.
  status @5 () -> (status :Status);
  members @6 () -> (members :List(Member));
  drain @7 (node :Text) -> ();
  # Drains a shard node (a [[nodes]] name): nothing new is placed on it, and each replica it
  # holds of a ready or serving version moves to another member (the old copy serves until the
  # new one is ready). Status shows it draining, and with 0 replicas it can be stopped and its
  # entry removed. Idempotent. Errors: invalid_argument (no shard node of that name),
  # permission_denied (an admin of another tenant than the default one).
  undrain @8 (node :Text) -> ();
  # Ends a drain: no further moves; replicas already moved stay where they are.
}
