#include "actors/control_block_copy.hpp"
#include "base/logger.hpp"

#include <memory>
#include <vector>

#include <caf/all.hpp>

namespace tessera {
namespace {

// One block request or store on a node: a block is about 1 MiB.
constexpr auto block_timeout = std::chrono::seconds(60);

struct copy_run {
  control_self self;
  std::string node, source;
  shard_spec spec;
  std::vector<std::pair<checksum128, uint64_t>> blocks;  // the spec's, rows then bias
  std::vector<uint32_t> todo;                            // indices the node lacks
  size_t next = 0, inflight = 0;
  uint64_t copied = 0;
  bool finished = false;
  std::function<void(caf::error, uint64_t)> done;

  void finish(caf::error err) {
    if (finished) return;
    finished = true;
    done(std::move(err), copied);
  }
};

// Starts block copies until copy_window are in flight; finishes when all are stored.
void pump(std::shared_ptr<copy_run> run) {
  auto& st = run->self->state;
  auto target = st.members.find(run->node), from = st.members.find(run->source);
  if (target == st.members.end() || from == st.members.end())
    return run->finish(make_error(
        errc::unavailable, "node " + run->node + " or " + run->source + " is no longer a member"));
  while (!run->finished && run->inflight < copy_window && run->next < run->todo.size()) {
    const auto [sum, bytes] = run->blocks.at(run->todo[run->next++]);
    ++run->inflight;
    auto to = target->second.handle;
    run->self->request(from->second.handle, block_timeout, read_block_atom::value, sum, bytes)
        .then(
            [run, to, sum = sum, bytes = bytes](std::vector<char>& data) {
              if (run->finished) return;
              run->self
                  ->request(to, block_timeout, put_block_atom::value, run->spec.replica_id, sum,
                            std::move(data))
                  .then(
                      [run, bytes](bool) {
                        --run->inflight;
                        run->copied += bytes;
                        if (run->next == run->todo.size() && run->inflight == 0)
                          return run->finish(caf::none);
                        pump(run);
                      },
                      [run](caf::error& err) {
                        run->finish(make_error(code_of(err), "storing a block on " + run->node +
                                                                 ": " + message_of(err)));
                      });
            },
            [run](caf::error& err) {
              run->finish(make_error(code_of(err),
                                     "reading a block on " + run->source + ": " + message_of(err)));
            });
  }
}

}  // namespace

std::string live_holder(control_state& st, const std::string& node, const shard_spec& spec) {
  std::string found;
  st.reg.for_each_submodel([&](const std::shared_ptr<submodel_entry>& sub) {
    sub->for_each_replica([&](replica_ref& r) {
      if (!found.empty() || r.node == node || r.state != replica_state::ready) return;
      if (r.spec.content != spec.content) return;
      auto m = st.members.find(r.node);
      if (m != st.members.end() && m->second.up && m->second.handle) found = r.node;
    });
  });
  return found;
}

void copy_blocks(control_self self, const std::string& node, const std::string& source,
                 const shard_spec& spec, std::function<void(caf::error, uint64_t)> done) {
  auto run = std::make_shared<copy_run>();
  run->self = self;
  run->node = node;
  run->source = source;
  run->spec = spec;
  run->blocks = spec_blocks(spec);
  run->done = std::move(done);
  auto& st = self->state;
  auto target = st.members.find(node);
  if (target == st.members.end() || !target->second.handle)
    return run->finish(make_error(errc::unavailable, "node " + node + " is not connected"));
  self->request(target->second.handle, block_timeout, missing_atom::value, spec)
      .then(
          [run](std::vector<uint32_t>& todo) {
            for (auto i : todo)
              if (i >= run->blocks.size())
                return run->finish(make_error(errc::internal, "node " + run->node +
                                                                  " named a block the spec "
                                                                  "does not list"));
            run->todo = std::move(todo);
            if (run->todo.empty()) return run->finish(caf::none);
            control_log()->info("copying {} of {} blocks of {} from {} to {}", run->todo.size(),
                                run->blocks.size(), run->spec.replica_id, run->source, run->node);
            pump(run);
          },
          [run](caf::error& err) { run->finish(std::move(err)); });
}

}  // namespace tessera
