#include "actors/node.hpp"
#include "base/logger.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <thread>

#include <caf/all.hpp>

#include "actors/unhandled.hpp"
#include "base/process_stats.hpp"
#include "package/row_source.hpp"

namespace tessera {
namespace {

std::shared_ptr<spdlog::logger> log() {
  return component_logger("node");
}

// A loader thread's last act: hands its result to the node actor (loaded_atom).
void report_loaded(load_slot& slot, const node_actor& node, const std::string& id,
                   std::shared_ptr<shard_data> data, caf::error err) {
  {
    std::lock_guard<std::mutex> guard{slot.mtx};
    slot.result = std::move(data);
    slot.failure = std::move(err);
  }
  caf::anon_send(node, loaded_atom::value, id);
}

// Runs on a loader thread: reads the replica's rows (and bias) and verifies them.
void load_rows(package pkg, shard_spec spec, std::shared_ptr<load_slot> slot, node_actor node) {
  auto finish = [&](std::shared_ptr<shard_data> data, caf::error err) {
    report_loaded(*slot, node, spec.replica_id, std::move(data), std::move(err));
  };
  auto progress = [&](uint64_t done, uint64_t) { slot->bytes_done = done; };
  // Unload sets `cancelled`: the read stops at its next block and frees what it read.
  auto rows = pkg.read_rows(spec.tensor, spec.row_begin, spec.row_end, progress, &slot->cancelled);
  if (!rows) return finish(nullptr, rows.error());
  auto data = std::make_shared<shard_data>();
  data->spec = spec;
  data->rows = std::move(*rows);
  if (!spec.bias.empty()) {
    auto bias = pkg.read_rows(spec.bias, spec.row_begin, spec.row_end, {}, &slot->cancelled);
    if (!bias) return finish(nullptr, bias.error());
    data->bias = std::move(*bias);
  }
  slot->bytes_done = data->rows.bytes();
  finish(std::move(data), caf::none);
}

// Runs on a loader thread: reads the replica's rows (and bias) through the node's store,
// fetching the blocks it lacks from the spec's package directory (when it names one).
// `copied`: bytes of blocks copied in for it (put_block_atom), fsynced first and counted as
// fetched, not as found stored.
void load_stored(std::shared_ptr<block_store> store, shard_spec spec,
                 std::shared_ptr<load_slot> slot, node_actor node, uint64_t copied) {
  auto finish = [&](std::shared_ptr<shard_data> data, caf::error err) {
    report_loaded(*slot, node, spec.replica_id, std::move(data), std::move(err));
  };
  if (copied > 0)
    if (auto err = store->sync()) return finish(nullptr, std::move(err));
  read_counts counts;
  auto note = [&] {
    const uint64_t moved = std::min(copied, counts.from_store);
    slot->fetched = counts.fetched + moved;
    slot->stored = counts.from_store - moved;
  };
  auto progress = [&](uint64_t done, uint64_t) {
    slot->bytes_done = done;
    note();
  };
  std::optional<package_blocks> rows_src, bias_src;
  if (!spec.package_dir.empty()) {
    rows_src.emplace(spec.package_dir, spec.tensor);
    bias_src.emplace(spec.package_dir, spec.bias);
  }
  auto rows = read_through(*store, spec.rows_blocks, spec.row_begin, spec.row_end,
                           rows_src ? &*rows_src : nullptr, counts, progress, &slot->cancelled);
  note();
  if (!rows) return finish(nullptr, rows.error());
  auto data = std::make_shared<shard_data>();
  data->spec = spec;
  data->rows = std::move(*rows);
  if (!spec.bias.empty()) {
    auto bias = read_through(*store, spec.bias_blocks, spec.row_begin, spec.row_end,
                             bias_src ? &*bias_src : nullptr, counts, {}, &slot->cancelled);
    note();
    if (!bias) return finish(nullptr, bias.error());
    data->bias = std::move(*bias);
  }
  // The blocks it fetched survive a power loss from here on.
  if (counts.fetched > 0)
    if (auto err = store->sync()) return finish(nullptr, std::move(err));
  slot->bytes_done = data->rows.bytes();
  finish(std::move(data), caf::none);
}

std::vector<block_key> blocks_of_spec(const shard_spec& spec) {
  std::vector<block_key> out;
  for (const auto& [sum, bytes] : spec_blocks(spec)) out.emplace_back(sum.high, sum.low, bytes);
  return out;
}

// Checks a spec's blocks against its content and shape (a coordinator's bug or a hostile
// peer must not make the node serve other rows under the recorded content) and returns the
// bytes of its rows and bias. Errors: corrupt_package, invalid_argument.
caf::expected<uint64_t> stored_replica_bytes(const shard_spec& spec) {
  const auto& b = spec.rows_blocks;
  if (spec.row_begin >= spec.row_end || spec.row_end > b.rows)
    return make_error(errc::invalid_argument, "rows [" + std::to_string(spec.row_begin) + ", " +
                                                  std::to_string(spec.row_end) + ") outside " +
                                                  spec.tensor);
  auto digest = blocks_digest(b, spec.row_begin, spec.row_end);
  if (!digest)
    return make_error(errc::corrupt_package,
                      "replica " + spec.replica_id + ": " + message_of(digest.error()));
  std::string content = *digest;
  uint64_t bytes = (spec.row_end - spec.row_begin) * b.cols * sizeof(float);
  if (!spec.bias.empty()) {
    const auto& bb = spec.bias_blocks;
    if (bb.rows != b.rows)
      return make_error(errc::corrupt_package, "bias " + spec.bias + " does not match");
    auto bd = blocks_digest(bb, spec.row_begin, spec.row_end);
    if (!bd)
      return make_error(errc::corrupt_package,
                        "replica " + spec.replica_id + ": " + message_of(bd.error()));
    content += "+" + *bd;
    bytes += (spec.row_end - spec.row_begin) * bb.cols * sizeof(float);
  }
  if (content != spec.content)
    return make_error(errc::corrupt_package,
                      "replica " + spec.replica_id + ": its blocks do not name its content");
  return bytes;
}

// Counts `keys` as used by one more replica.
void hold_blocks(node_state& st, const std::vector<block_key>& keys) {
  for (const auto& k : keys) ++st.block_refs[k];
}

// Drops one replica's counts; a block no replica uses any more leaves the store.
void drop_blocks(node_state& st, const std::vector<block_key>& keys) {
  for (const auto& k : keys) {
    auto it = st.block_refs.find(k);
    if (it == st.block_refs.end()) continue;
    if (--it->second > 0) continue;
    st.block_refs.erase(it);
    if (st.opts.store)
      st.opts.store->remove(checksum128{std::get<0>(k), std::get<1>(k)}, std::get<2>(k));
  }
}

bool is_stored(const node_state& st, const block_key& k) {
  return st.opts.store->contains(checksum128{std::get<0>(k), std::get<1>(k)}, std::get<2>(k));
}

// Refuses a load whose blocks not yet stored would not fit the disk budget next to the stored
// blocks and those other loads here are fetching. Errors: insufficient_storage.
caf::error admit_disk(const node_state& st, const shard_spec& spec,
                      const std::vector<block_key>& keys) {
  if (st.opts.disk_budget == 0) return caf::none;
  uint64_t pending = 0, fresh = 0;
  for (const auto& [k, n] : st.block_refs)
    if (!is_stored(st, k)) pending += std::get<2>(k);
  std::set<block_key> seen;
  for (const auto& k : keys)
    if (!st.block_refs.count(k) && !is_stored(st, k) && seen.insert(k).second)
      fresh += std::get<2>(k);
  const uint64_t used = st.opts.store->used_bytes();
  if (used + pending + fresh <= st.opts.disk_budget) return caf::none;
  return make_error(errc::insufficient_storage,
                    "node " + st.opts.name + " cannot store replica " + spec.replica_id + ": " +
                        std::to_string(fresh) + " bytes of new blocks, " + std::to_string(used) +
                        " stored and " + std::to_string(pending) + " being fetched, disk_budget " +
                        std::to_string(st.opts.disk_budget));
}

// The largest block a copy between nodes carries in one message (node transport frames are
// at most 256 MiB; packages written by tessera have blocks of about 1 MiB).
constexpr uint64_t max_copy_block_bytes = uint64_t{64} << 20;

caf::error no_store(const node_state& st) {
  return make_error(errc::unsupported, "node " + st.opts.name + " has no block store");
}

// The read of a loading replica has ended (rows read, failed or cancelled): its scratch is
// free again.
void end_read(node_state& st, replica_entry& r) {
  st.mem.scratch -= r.scratch;
  r.scratch = 0;
  r.slot.reset();
}

void release(node_state& st, const std::string& id) {
  auto it = st.replicas.find(id);
  if (it == st.replicas.end()) return;
  end_read(st, it->second);
  st.mem.reserved -= it->second.bytes;
  drop_blocks(st, it->second.blocks);
  st.replicas.erase(it);
}

// Row bytes resident now: ready (and stopping) replicas whole, loading ones as far as read.
uint64_t held_bytes(const node_state& st) {
  uint64_t held = 0;
  for (const auto& [id, r] : st.replicas)
    held += r.slot ? std::min(r.slot->bytes_done.load(), r.bytes) : r.bytes;
  return held;
}

uint64_t overhead_bytes(const node_state& st) {
  return node_memory::overhead_of(current_rss_bytes(), held_bytes(st));
}

// A stopping replica has let go of its rows: release its bytes and answer its unload callers.
void finish_stop(node_state& st, const std::string& id) {
  auto it = st.replicas.find(id);
  if (it == st.replicas.end()) return;
  auto unloading = std::move(it->second.unloading);
  release(st, id);
  log()->info("unloaded {}", id);
  for (auto& rp : unloading) rp.deliver(true);
}

}  // namespace

caf::expected<uint64_t> replica_bytes(const package& pkg, const shard_spec& spec) {
  const auto* t = pkg.meta().find_tensor(spec.tensor);
  if (!t) return make_error(errc::corrupt_package, "no tensor " + spec.tensor);
  if (spec.row_begin >= spec.row_end || spec.row_end > t->rows)
    return make_error(errc::invalid_argument, "rows [" + std::to_string(spec.row_begin) + ", " +
                                                  std::to_string(spec.row_end) + ") outside " +
                                                  spec.tensor);
  uint64_t rows = spec.row_end - spec.row_begin;
  uint64_t bytes = rows * t->cols * sizeof(float);
  if (!spec.bias.empty()) {
    const auto* b = pkg.meta().find_tensor(spec.bias);
    if (!b || b->rows != t->rows)
      return make_error(errc::corrupt_package, "bias " + spec.bias + " does not match");
    bytes += rows * b->cols * sizeof(float);
  }
  return bytes;
}

namespace {

// Admits a replica of `bytes` rows (and `scratch` while it reads) against the memory budget
// and records it as loading, with a response promise its loader's report answers; the caller
// starts the loader thread with the returned slot. Errors: insufficient_memory.
caf::expected<std::shared_ptr<load_slot>> admit_load(node_actor::stateful_pointer<node_state> self,
                                                     const shard_spec& spec, uint64_t bytes,
                                                     uint64_t scratch) {
  auto& st = self->state;
  if (auto err = st.mem.admit(bytes, scratch, overhead_bytes(st), st.opts.name, spec.replica_id))
    return err;
  replica_entry entry;
  entry.spec = spec;
  entry.state = hosted_state::loading;
  entry.bytes = bytes;
  entry.scratch = scratch;
  entry.accepted = std::chrono::steady_clock::now();
  entry.slot = std::make_shared<load_slot>();
  entry.waiting.push_back(self->make_response_promise<shard_actor>());
  st.mem.reserved += bytes;
  st.mem.scratch += scratch;
  auto slot = entry.slot;
  st.replicas.emplace(spec.replica_id, std::move(entry));
  return slot;
}

// A load on a node with a store: checked against its content, admitted against the memory
// and disk budgets, then read through the store on a loader thread.
caf::result<shard_actor> load_through_store(node_actor::stateful_pointer<node_state> self,
                                            const shard_spec& spec) {
  auto& st = self->state;
  auto bytes = stored_replica_bytes(spec);
  if (!bytes) return bytes.error();
  const uint64_t scratch =
      std::max(spec.rows_blocks.scratch_bytes(spec.row_begin, spec.row_end),
               spec.bias.empty() ? uint64_t{0}
                                 : spec.bias_blocks.scratch_bytes(spec.row_begin, spec.row_end));
  auto keys = blocks_of_spec(spec);
  if (auto err = admit_disk(st, spec, keys)) return err;
  auto slot = admit_load(self, spec, *bytes, scratch);
  if (!slot) return slot.error();
  auto& entry = st.replicas.at(spec.replica_id);
  entry.blocks = std::move(keys);
  hold_blocks(st, entry.blocks);
  // Blocks copied in for it are its own now.
  uint64_t copied = 0;
  if (auto s = st.staged.find(spec.replica_id); s != st.staged.end()) {
    drop_blocks(st, s->second);
    st.staged.erase(s);
  }
  if (auto c = st.staged_copied.find(spec.replica_id); c != st.staged_copied.end()) {
    copied = c->second;
    st.staged_copied.erase(c);
  }
  std::thread{load_stored, st.opts.store, spec, *slot, node_actor{self}, copied}.detach();
  log()->info("loading {} rows [{}, {}) of {} ({} bytes) through the store", spec.replica_id,
              spec.row_begin, spec.row_end, spec.tensor, *bytes);
  return entry.waiting.back();
}

}  // namespace

node_actor::behavior_type node_impl(node_actor::stateful_pointer<node_state> self,
                                    node_options opts) {
  end_on_exception(self, "node actor " + opts.name);
  self->state.opts = std::move(opts);
  self->state.mem.budget = self->state.opts.budget_bytes;
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    auto it = st.stopping.find(dm.source);
    if (it != st.stopping.end()) {
      auto id = std::move(it->second);
      st.stopping.erase(it);
      return finish_stop(st, id);
    }
    // A ready replica's shard actor died without an unload (a crash): drop the replica so a
    // later load of the same id reads its rows again instead of handing out a dead actor.
    for (auto& [id, r] : st.replicas)
      if (r.state == hosted_state::ready && r.handle && r.handle.address() == dm.source) {
        log()->warn("replica {} died unexpectedly: {}", id, caf::to_string(dm.reason));
        release(st, std::string{id});
        return;
      }
  });
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    for (auto& [id, r] : self->state.replicas) {
      if (r.slot) r.slot->cancelled = true;
      if (r.handle) self->send_exit(r.handle, msg.reason);
    }
    self->quit(msg.reason);
  });
  return {
      [self](load_atom, const shard_spec& spec) -> caf::result<shard_actor> {
        auto& st = self->state;
        if (auto it = st.replicas.find(spec.replica_id); it != st.replicas.end()) {
          auto& r = it->second;
          if (r.spec.content != spec.content)
            return make_error(errc::corrupt_package,
                              "replica " + spec.replica_id + " is held here with other content");
          if (r.state == hosted_state::ready) return r.handle;  // idempotent retry
          if (r.state == hosted_state::stopping)
            return make_error(errc::unavailable, "replica " + spec.replica_id +
                                                     " is being unloaded; load it again later");
          auto rp = self->make_response_promise<shard_actor>();
          r.waiting.push_back(rp);
          return rp;
        }
        if (st.opts.store) return load_through_store(self, spec);
        // Opened (manifest parsed and validated) once here; the loader thread reuses it.
        auto pkg = package::open(spec.package_dir);
        if (!pkg) return pkg.error();
        auto bytes = replica_bytes(*pkg, spec);
        if (!bytes) return bytes.error();
        // The rows must be those recorded when the version was first loaded: a package changed
        // on disk since is refused here (and read_rows checks every block it reads).
        auto content =
            replica_content(pkg->meta(), spec.tensor, spec.bias, spec.row_begin, spec.row_end);
        if (!content) return content.error();
        if (spec.content.empty() || *content != spec.content)
          return make_error(errc::corrupt_package,
                            "package " + spec.package_dir + " changed since replica " +
                                spec.replica_id + " was first loaded: its rows of " + spec.tensor +
                                " now have content " + content->substr(0, 16) + ", recorded " +
                                spec.content.substr(0, 16));
        // Rows and bias are read one after the other, each with at most one scratch block.
        const uint64_t scratch = std::max(
            pkg->read_scratch_bytes(spec.tensor, spec.row_begin, spec.row_end),
            spec.bias.empty() ? uint64_t{0}
                              : pkg->read_scratch_bytes(spec.bias, spec.row_begin, spec.row_end));
        auto slot = admit_load(self, spec, *bytes, scratch);
        if (!slot) return slot.error();
        std::thread{load_rows, std::move(*pkg), spec, *slot, node_actor{self}}.detach();
        log()->info("loading {} rows [{}, {}) of {} ({} bytes)", spec.replica_id, spec.row_begin,
                    spec.row_end, spec.tensor, *bytes);
        return st.replicas.at(spec.replica_id).waiting.back();
      },
      [self](loaded_atom, const std::string& id) {
        auto& st = self->state;
        auto it = st.replicas.find(id);
        if (it == st.replicas.end() || !it->second.slot) return;
        auto& r = it->second;
        std::shared_ptr<shard_data> data;
        caf::error failure;
        {
          std::lock_guard<std::mutex> guard{r.slot->mtx};
          data = std::move(r.slot->result);
          failure = std::move(r.slot->failure);
        }
        if (r.state == hosted_state::stopping) {  // unloaded while loading
          log()->info("load of {} stopped by its unload: {}", id,
                      data ? "it had finished" : describe(failure));
          data.reset();  // the rows go now, before the bytes are released
          end_read(st, r);
          finish_stop(st, id);
          return;
        }
        if (!data) {
          if (!failure) failure = make_error(errc::internal, "loader gave no result");
          log()->warn("load of {} failed: {}", id, describe(failure));
          auto waiting = std::move(r.waiting);
          release(st, id);
          for (auto& rp : waiting) rp.deliver(failure);
          return;
        }
        r.fetched_bytes = r.slot->fetched;
        r.stored_bytes = r.slot->stored;
        r.handle = self->spawn(shard_impl, std::shared_ptr<const shard_data>{std::move(data)});
        self->monitor(r.handle);  // a crash releases the replica (down handler)
        r.state = hosted_state::ready;
        end_read(st, r);
        log()->info("replica {} ready", id);
        for (auto& rp : r.waiting) rp.deliver(r.handle);
        r.waiting.clear();
      },
      [self](unload_atom, const std::string& id) -> caf::result<bool> {
        auto& st = self->state;
        // Blocks copied in for a replica never loaded go with it.
        if (auto s = st.staged.find(id); s != st.staged.end()) {
          drop_blocks(st, s->second);
          st.staged.erase(s);
        }
        st.staged_copied.erase(id);
        auto it = st.replicas.find(id);
        if (it == st.replicas.end()) return false;
        auto& r = it->second;
        // Answered once the rows are freed (loader thread or shard actor gone), so the bytes
        // the caller sees released are really free.
        auto rp = self->make_response_promise<bool>();
        r.unloading.push_back(rp);
        if (r.state == hosted_state::stopping) return rp;  // a second unload: same answer
        if (r.state == hosted_state::loading) {
          r.slot->cancelled = true;  // the loader stops at its next block and reports
          for (auto& w : r.waiting)
            w.deliver(make_error(errc::unavailable, "replica " + id + " unloaded while loading"));
          r.waiting.clear();
          log()->info("unloading {} while it loads: cancelling the read", id);
        } else {
          st.stopping.emplace(r.handle.address(), id);  // monitored since it was spawned
          self->send_exit(r.handle, caf::exit_reason::user_shutdown);
          r.handle = nullptr;
        }
        r.state = hosted_state::stopping;
        return rp;
      },
      [self](health_atom) -> node_status {
        auto& st = self->state;
        node_status out;
        out.name = st.opts.name;
        out.budget_bytes = st.mem.budget;
        out.used_bytes = st.mem.reserved;
        out.rss_bytes = current_rss_bytes();
        out.overhead_bytes = node_memory::overhead_of(out.rss_bytes, held_bytes(st));
        const auto now = std::chrono::steady_clock::now();
        if (auto sender = self->current_sender(); sender && sender->node() != self->node())
          st.peer_seen = now;
        if (st.peer_seen != std::chrono::steady_clock::time_point{})
          out.peer_seen_ms =
              std::chrono::duration_cast<std::chrono::milliseconds>(now - st.peer_seen).count();
        if (st.opts.store) {
          out.store_bytes = st.opts.store->used_bytes();
          out.disk_budget_bytes = st.opts.disk_budget;
        }
        for (auto& [id, r] : st.replicas) {
          replica_status rs;
          rs.replica_id = id;
          rs.state = r.state;
          rs.bytes = r.bytes;
          rs.bytes_done = r.slot ? r.slot->bytes_done.load() : r.bytes;
          rs.fetched_bytes = r.slot ? r.slot->fetched.load() : r.fetched_bytes;
          rs.stored_bytes = r.slot ? r.slot->stored.load() : r.stored_bytes;
          if (r.state == hosted_state::loading)
            rs.load_ms = static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::milliseconds>(now - r.accepted).count());
          out.replicas.push_back(std::move(rs));
        }
        return out;
      },
      [self](missing_atom, const shard_spec& spec) -> caf::result<std::vector<uint32_t>> {
        auto& st = self->state;
        if (!st.opts.store) return no_store(st);
        auto bytes = stored_replica_bytes(spec);
        if (!bytes) return bytes.error();
        auto keys = blocks_of_spec(spec);
        if (auto err = admit_disk(st, spec, keys)) return err;
        std::vector<uint32_t> out;
        std::vector<block_key> present;
        for (uint32_t i = 0; i < keys.size(); ++i) {
          if (is_stored(st, keys[i]))
            present.push_back(keys[i]);
          else
            out.push_back(i);
        }
        hold_blocks(st, present);
        auto& staged = st.staged[spec.replica_id];
        staged.insert(staged.end(), present.begin(), present.end());
        return out;
      },
      [self](read_block_atom, const checksum128& sum,
             uint64_t bytes) -> caf::result<std::vector<char>> {
        auto& st = self->state;
        if (!st.opts.store) return no_store(st);
        if (bytes > max_copy_block_bytes)
          return make_error(errc::unsupported, "block " + to_hex(sum) + " has " +
                                                   std::to_string(bytes) +
                                                   " bytes, more than a copy between nodes "
                                                   "carries");
        std::vector<char> out(bytes);
        if (auto err = st.opts.store->read(sum, bytes, out.data())) return err;
        return out;
      },
      [self](put_block_atom, const std::string& id, const checksum128& sum,
             std::vector<char>& data) -> caf::result<bool> {
        auto& st = self->state;
        if (!st.opts.store) return no_store(st);
        // Held from now (a write in progress is not deleted) until the replica is loaded or
        // unloaded, or the write fails.
        const block_key key{sum.high, sum.low, data.size()};
        hold_blocks(st, {key});
        st.staged[id].push_back(key);
        const uint64_t token = st.next_put++;
        auto result = std::make_shared<caf::error>();
        auto rp = self->make_response_promise<bool>();
        st.puts.emplace(token, node_state::pending_put{id, key, rp, result});
        std::thread{[store = st.opts.store, sum, data = std::move(data), result, token,
                     node = node_actor{self}] {
          *result = store->put(sum, data.data(), data.size());
          caf::anon_send(node, put_done_atom::value, token);
        }}.detach();
        return rp;
      },
      [self](put_done_atom, uint64_t token) {
        auto& st = self->state;
        auto it = st.puts.find(token);
        if (it == st.puts.end()) return;
        auto put = std::move(it->second);
        st.puts.erase(it);
        if (!*put.result) {
          // Counted as fetched by the replica's load, unless it was loaded or unloaded since.
          if (st.staged.count(put.replica_id))
            st.staged_copied[put.replica_id] += std::get<2>(put.key);
          put.rp.deliver(true);
          return;
        }
        // Failed: its hold goes, unless an unload or a load took the staged blocks already.
        if (auto s = st.staged.find(put.replica_id); s != st.staged.end()) {
          auto k = std::find(s->second.begin(), s->second.end(), put.key);
          if (k != s->second.end()) {
            s->second.erase(k);
            drop_blocks(st, {put.key});
          }
        }
        put.rp.deliver(*put.result);
      },
      [self](sweep_atom) -> uint64_t {
        auto& st = self->state;
        if (!st.opts.store) return 0;
        uint64_t removed = 0;
        size_t blocks = 0;
        for (const auto& [sum, bytes] : st.opts.store->list()) {
          if (st.block_refs.count(block_key{sum.high, sum.low, bytes})) continue;
          st.opts.store->remove(sum, bytes);
          removed += bytes;
          ++blocks;
        }
        if (blocks > 0)
          log()->info("swept {} blocks ({} bytes) no replica here uses", blocks, removed);
        return removed;
      },
  };
}

}  // namespace tessera
