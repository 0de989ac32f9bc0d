// `tessera`: flag wiring only. Each subcommand fills an options struct and runs a run_* function
// from cli/; failures print "tessera: <description>" and exit 2 (usage) or 1 (anything else).
#include <functional>
#include <iostream>
#include <stdexcept>

#include <CLI/CLI.hpp>

#include "cli/bench.hpp"
#include "cli/certs.hpp"
#include "cli/commands.hpp"
#include "cli/launcher.hpp"
#include "cli/token_commands.hpp"
#include "cli/tool_commands.hpp"

using namespace tessera::cli;

namespace {

struct globals {
  client_options client;
  double timeout_s = -1;  // < 0: the subcommand's default
  client_options resolved(double default_timeout) const {
    client_options c = client;
    c.timeout_s = timeout_s > 0 ? timeout_s : default_timeout;
    return c;
  }
};

using action = std::function<int()>;

void add_client_flags(CLI::App* app, globals& g) {
  app->add_option("--connect", g.client.address, "gateway HOST:PORT")->capture_default_str();
  app->add_option("--token", g.client.token, "token (default: $TESSERA_TOKEN, else the dev admin)");
  app->add_option("--timeout", g.timeout_s, "seconds per call (default 30; load 3600)");
  app->add_option("--tls-ca", g.client.tls.ca,
                  "PEM CA the gateway's certificate must chain to; turns TLS on (default: "
                  "$TESSERA_TLS_CA)");
  app->add_option("--tls-cert", g.client.tls.cert,
                  "PEM client certificate, for a gateway that requires one (default: "
                  "$TESSERA_TLS_CERT)");
  app->add_option("--tls-key", g.client.tls.key,
                  "PEM private key of --tls-cert (default: $TESSERA_TLS_KEY)");
  app->add_flag("--insecure", g.client.tls.insecure,
                "allow plaintext (no --tls-ca) to a gateway that is not on loopback: the token "
                "and data cross the network readable");
}

CLI::App* client_sub(CLI::App& app, globals& g, const char* name, const char* help) {
  CLI::App* sub = app.add_subcommand(name, help);
  add_client_flags(sub, g);
  return sub;
}

void wire_up(CLI::App& app, globals& g, action& run) {
  static up_options o;
  static std::vector<std::string> loads, names;
  auto* sub = app.add_subcommand("up", "start a local cluster in the foreground");
  sub->add_option("--config", o.config_path, "cluster config (default: the embedded one)");
  sub->add_option("--load", loads, "package directory to load once ready (repeatable)");
  sub->add_option("--name", names, "model name for the --load of the same position");
  sub->add_option("--log-dir", o.log_dir, "write each node's output to DIR/<node>.log");
  sub->add_option("--ready-timeout", o.ready_timeout_s, "seconds to wait for ready")
      ->capture_default_str();
  sub->add_option("--pid-file", o.pid_file, "write 'NAME PID' per node (rewritten on restarts)");
  sub->add_flag("!--no-restart", o.restart,
                "do not restart a node that exits unexpectedly (default: restart with backoff)");
  sub->callback([&run, &g] {
    o.token = g.client.token;
    if (names.size() > loads.size())
      throw CLI::ValidationError("--name", "more --name than --load");
    for (size_t i = 0; i < loads.size(); ++i)
      o.loads.push_back({loads[i], i < names.size() ? names[i] : ""});
    run = [] { return run_up(o); };
  });
}

void wire_admin(CLI::App& app, globals& g, action& run) {
  static status_options st;
  auto* s = client_sub(app, g, "status", "members, memory, load progress and models");
  s->add_option("--wait-ready", st.wait_ready_s, "retry until ready for up to SECONDS");
  s->add_flag("--json", st.json, "one JSON object");
  s->add_option("--watch", st.watch_s, "print again every SECONDS (on a terminal: in place)");
  s->add_option("--count", st.watch_count, "with --watch: stop after N prints (default: never)");
  s->callback([&] {
    st.client = g.resolved(30);
    run = [] { return run_status(st); };
  });

  static load_options lo;
  auto* l = client_sub(app, g, "load", "load a package; prints the new version");
  l->add_option("PACKAGE_DIR", lo.path, "package directory")->required();
  l->add_option("--name", lo.name, "model name (default: the manifest's)");
  l->add_option("--replicas", lo.replicas, "replication factor (default 1)");
  l->add_flag("--activate", lo.activate, "activate once ready");
  l->add_flag("--exact-pooling", lo.exact_pooling,
              "gather rows and sum them in id order on the coordinator: bit-identical to one "
              "shard (fastText parity), at the cost of moving rows");
  l->add_option("--embedder", lo.embedder,
                "NAME[@VERSION]: PACKAGE_DIR is a classifier-only package that runs on that "
                "model version's embedder, sharing its rows (docs/MODELS.md)");
  l->add_flag("--progress", lo.progress, "show progress even when stderr is not a tty");
  l->callback([&] {
    lo.client = g.resolved(3600);
    run = [] { return run_load(lo); };
  });

  static std::string name, label;
  static uint64_t version = 0;
  auto* u = client_sub(app, g, "unload", "unload a version, or the whole model");
  u->add_option("NAME", name)->required();
  u->add_option("VERSION", version, "version (default: the whole model)");
  u->callback([&] { run = [&] { return run_unload(g.resolved(30), name, version); }; });

  auto* a = client_sub(app, g, "activate", "make a loaded version the active one");
  a->add_option("NAME", name)->required();
  a->add_option("VERSION", version)->required();
  a->callback([&] { run = [&] { return run_activate(g.resolved(30), name, version); }; });

  auto* r = client_sub(app, g, "rollback", "flip back to the previous version; prints it");
  r->add_option("NAME", name)->required();
  r->callback([&] { run = [&] { return run_rollback(g.resolved(30), name); }; });

  auto* lb = client_sub(app, g, "label", "point a label (stable, canary, ...) at a version");
  lb->add_option("NAME", name)->required();
  lb->add_option("LABEL", label)->required();
  lb->add_option("VERSION", version)->required();
  lb->callback([&] { run = [&] { return run_label(g.resolved(30), name, label, version); }; });

  static std::string node;
  auto* dr = client_sub(app, g, "drain", "move a shard node's replicas to other members");
  dr->add_option("NODE", node, "a shard node's name in the config")->required();
  dr->callback([&] { run = [&] { return run_drain(g.resolved(30), node, true); }; });
  auto* ud = client_sub(app, g, "undrain", "stop draining a shard node");
  ud->add_option("NODE", node, "a shard node's name in the config")->required();
  ud->callback([&] { run = [&] { return run_drain(g.resolved(30), node, false); }; });

  static bool models_json = false;
  auto* m = client_sub(app, g, "models", "models, versions, shards and replicas");
  m->add_flag("--json", models_json, "JSON array");
  m->callback([&] { run = [&] { return run_models(g.resolved(30), models_json); }; });
}

void wire_data(CLI::App& app, globals& g, action& run) {
  static predict_options p;
  static std::string format = "text", pinput = "text";
  auto* pr = client_sub(app, g, "predict", "classify each input line");
  pr->add_option("--model", p.model, "NAME[@VERSION|@LABEL]")->required();
  pr->add_option("--k", p.k, "labels per input: >= 1, or -1 = all")->capture_default_str();
  pr->add_option("--threshold", p.threshold, "minimum probability (finite)")->capture_default_str();
  pr->add_option("--format", format, "text, json or fasttext")->capture_default_str();
  pr->add_option("--batch", p.batch, "inputs per call (at most 1024)")->capture_default_str();
  pr->add_option("--input", pinput, "each line as text, or ids: TABLE:ID[:WEIGHT] tokens")
      ->capture_default_str();
  pr->add_option("FILE", p.input, "input lines ('-' or absent: stdin)");
  pr->callback([&] {
    p.client = g.resolved(30);
    p.format = parse_output_format(format);
    p.mode = parse_input_mode(pinput);
    run = [] { return run_predict(p); };
  });

  static predict_options e;
  static std::string eformat = "text", einput = "text";
  auto* em = client_sub(app, g, "embed", "print the pooled vector of each input line");
  em->add_option("--model", e.model, "NAME[@VERSION|@LABEL]")->required();
  em->add_option("--format", eformat, "text or json")->capture_default_str();
  em->add_option("--batch", e.batch, "inputs per call (at most 1024)")->capture_default_str();
  em->add_option("--input", einput, "each line as text, or ids: TABLE:ID[:WEIGHT] tokens")
      ->capture_default_str();
  em->add_option("FILE", e.input, "input lines ('-' or absent: stdin)");
  em->callback([&] {
    e.client = g.resolved(30);
    e.format = parse_output_format(eformat);
    e.mode = parse_input_mode(einput);
    run = [] { return run_embed(e); };
  });

  static bench_options b;
  static std::string binput = "text";
  auto* bn = client_sub(app, g, "bench", "bounded predict load generator");
  bn->add_option("--model", b.model, "NAME[@VERSION|@LABEL]")->required();
  bn->add_option("--concurrency", b.concurrency, "calls in flight")->capture_default_str();
  bn->add_option("--connections", b.connections,
                 "connections (one thread each) the calls in flight are spread over")
      ->capture_default_str();
  bn->add_option("--duration", b.duration_s, "measured seconds (default 10)");
  bn->add_option("--batch", b.batch, "inputs per call")->capture_default_str();
  bn->add_option("--k", b.k, "labels per input: >= 1, or -1 = all")->capture_default_str();
  bn->add_option("--requests", b.requests, "stop after N measured calls");
  bn->add_option("--warmup", b.warmup_s, "unmeasured seconds first")->capture_default_str();
  bn->add_flag("--json", b.json, "one JSON object");
  bn->add_option("--input", binput,
                 "each line as text, or ids: TABLE:ID[:WEIGHT] tokens, parsed before the run")
      ->capture_default_str();
  bn->add_option("FILE", b.input, "input lines, cycled")->required();
  bn->callback([&] {
    b.client = g.resolved(30);
    b.mode = parse_input_mode(binput);
    run = [] { return run_bench(b); };
  });
}

void wire_tools(CLI::App& app, action& run) {
  static import_options im;
  auto* imp = app.add_subcommand("import", "convert a model into a tessera package");
  imp->require_subcommand(1);
  auto* ft = imp->add_subcommand("fasttext", "import a fastText .bin");
  ft->add_option("MODEL", im.bin_path, "fastText model.bin")->required();
  ft->add_option("OUT_DIR", im.out_dir, "package directory to create")->required();
  ft->add_option("--label-prefix", im.label_prefix)->capture_default_str();
  ft->add_option("--name", im.name, "model name");
  ft->callback([&run] { run = [] { return run_import_fasttext(im); }; });

  static import_safetensors_options is;
  auto* st = imp->add_subcommand("safetensors", "import a PyTorch embedding-bag model");
  st->add_option("MODEL", is.model_path, "model.safetensors")->required();
  st->add_option("OUT_DIR", is.out_dir, "package directory to create")->required();
  st->add_option("--spec", is.spec_path, "TOML naming the tables and layers (docs/CLI.md)")
      ->required();
  st->add_option("--name", is.name, "model name (default: the spec's name, else MODEL's stem)");
  st->callback([&run] { run = [] { return run_import_safetensors(is); }; });

  static gen_model_options gm;
  auto* gen = app.add_subcommand("gen-model", "write a deterministic synthetic package");
  gen->add_option("OUT_DIR", gm.out_dir)->required();
  gen->add_option("--name", gm.name)->capture_default_str();
  gen->add_option("--rows-vocab", gm.vocab, "vocabulary rows")->capture_default_str();
  gen->add_option("--buckets", gm.buckets, "hashed n-gram rows")->capture_default_str();
  gen->add_option("--word-ngrams", gm.word_ngrams)->capture_default_str();
  gen->add_option("--dim", gm.dim)->capture_default_str();
  gen->add_option("--hidden", gm.hidden, "hidden layer widths, e.g. 64,32 (none: 0 values)")
      ->delimiter(',')
      ->expected(0, -1);
  gen->add_option("--labels", gm.labels)->capture_default_str();
  gen->add_option("--output", gm.output, "softmax, ova or hs")->capture_default_str();
  gen->add_option("--pooling", gm.pooling, "mean or sum")->capture_default_str();
  gen->add_option("--seed", gm.seed)->capture_default_str();
  gen->add_option("--classifier-seed", gm.classifier_seed,
                  "seed of the classifier weights only (0 = --seed); same --seed keeps the "
                  "embedder bit-identical, so the cluster shares it");
  gen->add_option("--classifier-version", gm.classifier_version)->capture_default_str();
  gen->add_option("--changed-rows", gm.changed_rows,
                  "BEGIN:END: those table rows from another stream, the rest identical to the "
                  "same --seed (a delta version, e.g. for bench/store.sh)");
  gen->callback([&run] { run = [] { return run_gen_model(gm); }; });
}

void wire_certs(CLI::App& app, action& run) {
  static certs_options o;
  auto* certs = app.add_subcommand("certs", "TLS certificates for the nodes of a config");
  certs->require_subcommand(1);
  auto* init = certs->add_subcommand(
      "init", "make the cluster CA and a certificate + key per node, where missing");
  init->add_option("--config", o.config_path, "cluster config (default: the embedded one)");
  init->add_option("--dir", o.dir, "output directory (default: the config's [tls] dir)");
  init->callback([&run] { run = [] { return run_certs_init(o); }; });
}

void wire_token(CLI::App& app, action& run) {
  static token_create_options o;
  auto* token = app.add_subcommand("token", "client tokens: the config holds only their hashes");
  token->require_subcommand(1);
  auto* create = token->add_subcommand(
      "create", "print a new token (first line, shown once) and the [[tokens]] table for it");
  create->add_option("--name", o.name, "who the token is, for logs")->required();
  create->add_flag("--admin", o.admin, "may use the Admin interface");
  create->add_option("--models", o.models, "models it may use (default: all of its tenant)")
      ->delimiter(',');
  create->add_option("--tenant", o.tenant, "its tenant (default: the default tenant)");
  create->callback([&run] { run = [] { return run_token_create(o, std::cout, std::cerr); }; });
  auto* hash = token->add_subcommand("hash", "read a token from stdin, print its hash line");
  hash->callback([&run] { run = [] { return run_token_hash(std::cin, std::cout); }; });
}

int run_action(const action& run) {
  try {
    return run();
  } catch (const command_error& e) {
    std::cerr << "tessera: " << e.what() << "\n";
    return e.exit_code;
  } catch (const std::invalid_argument& e) {
    std::cerr << "tessera: " << e.what() << "\n";
    return 2;
  } catch (const kj::Exception& e) {
    std::cerr << "tessera: " << describe_rpc_failure(e, "the gateway", 0) << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "tessera: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  quiet_kj_logs quiet;
  static globals g;
  g.client.address = default_address();
  g.client.token = default_token();
  g.client.tls = default_tls();
  action run;
  CLI::App app{"tessera: model-serving cluster client and launcher"};
  app.require_subcommand(1);
  add_client_flags(&app, g);
  wire_up(app, g, run);
  wire_admin(app, g, run);
  wire_data(app, g, run);
  wire_tools(app, run);
  wire_certs(app, run);
  wire_token(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "tessera: " << e.what() << "\n";
    return 2;
  }
  return run_action(run);
}
