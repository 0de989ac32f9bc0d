// Admin and listing subcommands: status, load, unload, activate, rollback, label, models,
// drain and undrain.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "cli/model_ref.hpp"
#include "cli/progress.hpp"
#include "cli/tables.hpp"

namespace tessera::cli {
namespace {

using steady = std::chrono::steady_clock;

double seconds_until(steady::time_point deadline) {
  return std::chrono::duration<double>(deadline - steady::now()).count();
}

bool all_members_up(::Status::Reader st) {
  for (auto m : st.getMembers())
    if (!m.getUp()) return false;
  return true;
}

// Failures that waiting cannot fix: a bad token or a token without the admin role.
bool is_final(const command_error& e) {
  auto code = error_code_of(e.what());
  return code == "tessera.unauthenticated" || code == "tessera.permission_denied" ||
         code == "tessera.invalid_argument";
}

void print_status(::Status::Reader st, bool json) {
  if (json)
    std::cout << status_json(st).dump() << "\n";
  else
    std::cout << render_status_text(st);
  std::cout.flush();
}

std::string absolute_path(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr)
    throw command_error("tessera.io_error: cannot resolve " + path + ": " + std::strerror(errno));
  return buf;
}

// Shows the members' summed load progress on stderr (cli/progress.hpp): the nodes read side
// by side, so their rates add up and the slowest decides the time left. Plain lines every 5%.
class progress_printer {
 public:
  explicit progress_printer(bool tty) : view_("loading", tty, 5) {}
  ~progress_printer() { write_stderr(view_.finish()); }
  void show(::Status::Reader st) {
    uint64_t done = 0, total = 0;
    load_estimate all{0, 0};
    for (auto m : st.getMembers()) {
      if (m.getLoadingBytesTotal() == 0) continue;
      done += m.getLoadingBytesDone();
      total += m.getLoadingBytesTotal();
      all = combine_loads(all, {m.getLoadingBytesPerS(), m.getLoadingMsLeft()});
    }
    write_stderr(view_.update(done, total, all));
  }

 private:
  progress_view view_;
};

kj::Promise<void> progress_loop(kj::Timer& timer, ::Admin::Client admin, progress_printer* p) {
  return timer.afterDelay(500 * kj::MILLISECONDS).then([&timer, admin, p]() mutable {
    return admin.statusRequest()
        .send()
        .then([p](capnp::Response<::Admin::StatusResults>&& r) { p->show(r.getStatus()); },
              [](kj::Exception&&) {})
        .then([&timer, admin, p]() mutable { return progress_loop(timer, admin, p); });
  });
}

}  // namespace

namespace {

int watch_status(const status_options& opts) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  std::unique_ptr<connection> conn;
  for (uint64_t n = 0; opts.watch_count == 0 || n < opts.watch_count; ++n) {
    if (n > 0)
      std::this_thread::sleep_for(std::chrono::duration<double>(std::max(0.1, opts.watch_s)));
    if (tty) std::cout << "\x1b[H\x1b[2J";
    try {
      if (!conn) conn = std::make_unique<connection>(opts.client);
      auto resp = conn->wait(conn->admin().statusRequest().send());
      print_status(resp.getStatus(), opts.json);
    } catch (const command_error& e) {
      if (is_final(e)) throw;
      conn.reset();  // reconnect on the next round
      std::cout << "tessera: " << e.what() << "\n";
    }
    std::cout.flush();
  }
  return 0;
}

}  // namespace

int run_status(const status_options& opts) {
  if (opts.watch_s > 0) return watch_status(opts);
  if (opts.wait_ready_s < 0) {
    connection conn(opts.client);
    auto resp = conn.wait(conn.admin().statusRequest().send());
    print_status(resp.getStatus(), opts.json);
    return 0;
  }
  auto deadline = steady::now() + std::chrono::duration_cast<steady::duration>(
                                      std::chrono::duration<double>(opts.wait_ready_s));
  std::string last = "no answer yet";
  for (;;) {
    try {
      client_options c = opts.client;
      c.timeout_s = std::max(0.5, std::min(c.timeout_s, seconds_until(deadline) + 0.5));
      connection conn(c);
      auto resp = conn.wait(conn.admin().statusRequest().send());
      auto st = resp.getStatus();
      if (st.getReady() && all_members_up(st)) {
        print_status(st, opts.json);
        return 0;
      }
      last = "the cluster reports not ready";
    } catch (const command_error& e) {
      if (is_final(e)) throw;
      last = e.what();
    }
    if (seconds_until(deadline) <= 0) {
      std::cerr << "tessera: cluster at " << opts.client.address << " not ready after "
                << opts.wait_ready_s << " s (last: " << last << ")\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

load_result load_with_progress(const client_options& c, const std::string& abs_path,
                               const std::string& name, uint32_t replicas, bool activate,
                               bool show_progress, bool exact_pooling,
                               const std::string& embedder) {
  // Parsed before connecting: a malformed reference is a usage error.
  std::optional<model_ref> emb;
  if (!embedder.empty()) emb = parse_model_ref(embedder);
  connection conn(c);
  auto req = conn.admin().loadRequest();
  auto o = req.initOptions();
  o.setPath(abs_path);
  o.setName(name);
  o.setReplicas(replicas);
  o.setActivate(activate);
  o.setExactPooling(exact_pooling);
  if (emb) fill(o.initEmbedder(), *emb);
  auto call = req.send();

  std::unique_ptr<connection> poller;
  std::unique_ptr<progress_printer> printer;
  ::Admin::Client poll_admin(nullptr);
  if (show_progress) {
    try {
      client_options pc = c;
      pc.timeout_s = std::min(c.timeout_s, 10.0);
      poller = std::make_unique<connection>(pc);
      poll_admin = poller->admin();
      printer = std::make_unique<progress_printer>(::isatty(STDERR_FILENO) != 0);
    } catch (const command_error&) {
      poller.reset();  // no progress, the load itself still runs
    }
  }
  using load_response = capnp::Response<::Admin::LoadResults>;
  kj::Promise<load_response> done = kj::mv(call);
  if (printer) {
    done = done.exclusiveJoin(
        progress_loop(conn.timer(), poll_admin, printer.get())
            .then([]() -> kj::Promise<load_response> { return kj::NEVER_DONE; }));
  }
  auto resp = conn.wait(kj::mv(done));
  printer.reset();
  return {resp.getName().cStr(), resp.getVersion()};
}

namespace {

// "shipped 1.2 MiB of 205.0 MiB to node stores (0.6%); 203.8 MiB were stored already" on stderr
// once every replica of the version has reported its load (nodes report about every second);
// nothing when the nodes have no block stores or do not report within 3 s.
void report_shipped(const client_options& c, const load_result& r) {
  try {
    connection conn(c);
    for (int i = 0; i < 12; ++i) {
      auto resp = conn.wait(conn.admin().statusRequest().send());
      for (auto m : resp.getStatus().getModels()) {
        if (std::string{m.getName().cStr()} != r.name) continue;
        for (auto v : m.getVersions()) {
          if (v.getVersion() != r.version) continue;
          const uint64_t shipped = v.getShippedBytes(), stored = v.getStoredBytes(),
                         total = v.getReplicaBytes();
          if (total == 0 || shipped + stored < total) continue;
          char pct[32];
          std::snprintf(pct, sizeof pct, "%.1f%%", 100.0 * shipped / total);
          std::cerr << "shipped " << human_bytes(shipped) << " of " << human_bytes(total)
                    << " to node stores (" << pct << "); " << human_bytes(stored)
                    << " were stored already\n";
          return;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  } catch (const command_error&) {
    // The load succeeded; its figures are also in `tessera status`.
  }
}

}  // namespace

int run_load(const load_options& opts) {
  bool show = opts.progress || ::isatty(STDERR_FILENO) != 0;
  auto r = load_with_progress(opts.client, absolute_path(opts.path), opts.name, opts.replicas,
                              opts.activate, show, opts.exact_pooling, opts.embedder);
  std::cout << r.version << std::endl;
  report_shipped(opts.client, r);
  return 0;
}

int run_unload(const client_options& c, const std::string& name, uint64_t version) {
  connection conn(c);
  auto req = conn.admin().unloadRequest();
  req.setName(name);
  req.setVersion(version);
  conn.wait(req.send());
  return 0;
}

int run_activate(const client_options& c, const std::string& name, uint64_t version) {
  connection conn(c);
  auto req = conn.admin().activateRequest();
  req.setName(name);
  req.setVersion(version);
  conn.wait(req.send());
  return 0;
}

int run_rollback(const client_options& c, const std::string& name) {
  connection conn(c);
  auto req = conn.admin().rollbackRequest();
  req.setName(name);
  auto resp = conn.wait(req.send());
  std::cout << resp.getVersion() << std::endl;
  return 0;
}

int run_label(const client_options& c, const std::string& name, const std::string& label,
              uint64_t version) {
  connection conn(c);
  auto req = conn.admin().setLabelRequest();
  req.setName(name);
  req.setLabel(label);
  req.setVersion(version);
  conn.wait(req.send());
  return 0;
}

int run_drain(const client_options& c, const std::string& node, bool drain) {
  connection conn(c);
  if (drain) {
    auto req = conn.admin().drainRequest();
    req.setNode(node);
    conn.wait(req.send());
    std::cout << node << " is draining: its replicas move to other members; `tessera status` "
              << "shows it DRAINED when it holds none, then it can be stopped and removed\n";
  } else {
    auto req = conn.admin().undrainRequest();
    req.setNode(node);
    conn.wait(req.send());
    std::cout << node << " is no longer draining (replicas already moved stay where they are)\n";
  }
  std::cout.flush();
  return 0;
}

int run_models(const client_options& c, bool json) {
  connection conn(c);
  auto resp = conn.wait(conn.session().listModelsRequest().send());
  if (json)
    std::cout << models_json(resp.getModels()).dump() << "\n";
  else
    std::cout << render_models_text(resp.getModels());
  std::cout.flush();
  return 0;
}

}  // namespace tessera::cli
