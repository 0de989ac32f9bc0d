#include "actors/control_commits.hpp"

#include <caf/all.hpp>

#include "actors/control_publish.hpp"
#include "actors/control_recovery.hpp"
#include "actors/control_state.hpp"

namespace tessera {
namespace {

// How long a registry write may take before the change it carries is refused (io_error). The
// write itself may still land; a later snapshot is written after it and corrects it.
constexpr auto write_timeout = std::chrono::seconds(60);

void run_commits(control_self self);

// The second half of a commit: the write of `e`'s snapshot ended with `err`.
void written(control_self self, commit_queue::entry& e, const caf::error& err) {
  auto& st = self->state;
  record_write(st, err);
  if (err) return e.done(not_persisted(err));
  if (auto again = e.change->apply()) {
    // The disk holds the change but memory does not (something it needed went away while it
    // was written): the next write, at the tick, puts the disk back in line with memory.
    st.persistence.dirty = true;
    return e.done(std::move(again));
  }
  publish_routes(self);  // before the answer: a call sent after it sees the change
  e.done(caf::none);
}

// Runs a step, or starts the write of a change: applies it, takes the snapshot, takes the
// change back. A change refused, or made without a state_dir, is answered at once.
void start(control_self self, commit_queue::entry e) {
  auto& st = self->state;
  if (!e.change) return e.step();
  if (auto err = e.change->apply()) return e.done(std::move(err));
  if (st.cfg.state_dir.empty()) {  // memory only: applied is all
    publish_routes(self);
    return e.done(caf::none);
  }
  auto snap = snapshot_now(st);
  e.change->revert();
  st.commits.writing = true;
  auto held = std::make_shared<commit_queue::entry>(std::move(e));
  auto ended = [self, held](const caf::error& err) {
    self->state.commits.writing = false;
    written(self, *held, err);
    run_commits(self);
  };
  self->request(st.writer, write_timeout, persist_atom::value, st.cfg.state_dir, std::move(snap))
      .then([ended](bool) { ended(caf::none); }, [ended](caf::error& err) { ended(err); });
}

void run_commits(control_self self) {
  auto& q = self->state.commits;
  if (q.running) return;  // a callback below queued more: the loop takes it
  q.running = true;
  while (!q.writing && !q.pending.empty()) {
    auto e = std::move(q.pending.front());
    q.pending.pop_front();
    start(self, std::move(e));
  }
  q.running = false;
}

}  // namespace

void commit(control_self self, durable_change change, commit_done done, bool next) {
  commit_queue::entry e{std::move(change), nullptr, std::move(done)};
  auto& q = self->state.commits.pending;
  if (next)
    q.push_front(std::move(e));
  else
    q.push_back(std::move(e));
  run_commits(self);
}

void commit_change(control_self self, const model_key& model, std::function<caf::error()> change,
                   commit_done done, std::shared_ptr<version_entry> adding, bool next) {
  auto undo = std::make_shared<std::optional<registry::undo_point>>();
  durable_change c;
  c.apply = [self, model, change = std::move(change), adding, undo] {
    *undo = self->state.reg.save(model, adding);
    return change();
  };
  c.revert = [self, undo] {
    self->state.reg.restore(std::move(**undo));
    undo->reset();
  };
  commit(self, std::move(c), std::move(done), next);
}

void after_commits(control_self self, std::function<void()> step) {
  self->state.commits.pending.push_back({std::nullopt, std::move(step), nullptr});
  run_commits(self);
}

void persist_in_background(control_self self) {
  auto& q = self->state.commits;
  if (q.background_queued) return;
  q.background_queued = true;
  // Once its snapshot is taken, a later change needs a write of its own.
  durable_change now{[self] {
                       self->state.commits.background_queued = false;
                       return caf::error{};
                     },
                     [] {}};
  commit(self, std::move(now), [](const caf::error&) {});  // the outcome is in st.persistence
}

}  // namespace tessera
