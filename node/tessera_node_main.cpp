// tessera-node --config FILE --name NAME: one node process of a tessera cluster.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "node/config.hpp"
#include "node/node_process.hpp"

int main(int argc, char** argv) {
  CLI::App app{"tessera-node: one process of a tessera model-serving cluster"};
  std::string config_path;
  std::string name;
  app.add_option("--config", config_path, "cluster config (TOML); default: the embedded local one");
  app.add_option("--name", name, "this node's name in the config")->required();
  CLI11_PARSE(app, argc, argv);
  auto cfg = config_path.empty() ? tessera::parse_config(tessera::embedded_local_config())
                                 : tessera::load_config_file(config_path);
  if (!cfg) {
    std::fprintf(stderr, "tessera-node: %s\n", tessera::describe(cfg.error()).c_str());
    return 2;
  }
  return tessera::run_node(*cfg, name);
}
