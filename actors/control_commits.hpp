#pragma once
// Acknowledged means durable, without an fsync on the coordinator's thread. Every change that
// must be on disk before it is acknowledged (load, activate, rollback, label, unload, drain)
// goes through one queue, in order, one registry write at a time:
//
//   apply the change in memory -> take the snapshot -> take the change back -> hand the
//   snapshot to the registry writer (actors/control_registry_writer.hpp, its own thread) -> once it
//   is on disk, apply the change again and answer; if the write failed, answer io_error
//   ("the change was not applied") and the registry stays as it was.
//
// So calls keep being answered while the disk is slow, and they never see a change before it
// is durable. Changes wait while a write is in flight, so none is applied between another's
// snapshot and its second application. Control actor thread only.
#include <deque>
#include <functional>
#include <optional>

#include <memory>

#include "actors/control.hpp"
#include "cluster/model_key.hpp"

namespace tessera {

struct control_state;
struct version_entry;
using control_self = control_actor::stateful_pointer<control_state>;

// A change to make durable. apply() makes it in memory (an error: refused, nothing changed);
// revert() takes back the apply() just made (called right after it, nothing in between).
struct durable_change {
  std::function<caf::error()> apply;
  std::function<void()> revert;
};

// Answer of a commit: none once durable and applied; else why not (nothing was applied).
using commit_done = std::function<void(caf::error)>;

// What the coordinator holds of the queue (control_state::commits).
struct commit_queue {
  struct entry {
    std::optional<durable_change> change;  // none: `step` only
    std::function<void()> step;            // runs when no write is in flight
    commit_done done;
  };
  std::deque<entry> pending;
  bool writing = false;  // a snapshot is with the writer
  bool running = false;  // run_commits is on the stack (callbacks may queue more)
  bool background_queued = false;
};

// Queues `change`; `done` gets its answer. `next`: ahead of everything queued (a step that
// prepared this change must see it applied before any other step runs).
void commit(control_self self, durable_change change, commit_done done, bool next = false);

// The common change: `change` touches model `model` only and is taken back with
// registry::save/restore; `adding` is a version it adds (a load), saved with it. Nothing may
// release replicas inside `change`, and it is run twice (see above), so it captures by value.
void commit_change(control_self self, const model_key& model, std::function<caf::error()> change,
                   commit_done done, std::shared_ptr<version_entry> adding = nullptr,
                   bool next = false);

// Runs `step` once no write is in flight and every change queued before it is answered.
void after_commits(control_self self, std::function<void()> step);

// Writes the registry as it is, in the queue's order (a change nobody waits for: re-placement,
// or a retry while st.persistence.dirty). At most one is queued at a time.
void persist_in_background(control_self self);

}  // namespace tessera
