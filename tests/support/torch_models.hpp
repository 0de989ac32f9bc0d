#pragma once
// Integration-test support for PyTorch embedding-bag models (docs/MODELS.md):
// tests/torch/make_model.py builds a random torch.nn.EmbeddingBag + torch.nn.Linear model with
// Debian's python3-torch, writes it as safetensors with its spec and computes PyTorch's answers;
// these helpers import it and compare a cluster's answers with PyTorch's.
// Agreement: |got - want| <= 1e-5 * |want| + 1e-6 for every label and dimension.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/lifecycle_support.hpp"

namespace tessera::test {

using json = nlohmann::json;

// Debian's interpreter, which sees python3-torch (a python3 earlier on PATH may not).
extern const char* const torch_python;

// "" when /usr/bin/python3 can import torch, else why a torch test cannot run.
std::string torch_missing();

// A model made by make_model.py and imported into a package.
struct torch_model {
  std::string dir;
  std::string package;  // the whole model (spec.toml)
  json inputs;          // per input: [{"table", "ids", "weights"?}]
  json expected;        // {"pooled": [[...]], "scores": [[...]]}
  // Imports one of the spec files make_model.py writes ("spec_embedder.toml",
  // "spec_classifier.toml") into dir/<out>; returns the package's path.
  std::string import_part(const std::string& spec, const std::string& out) const;
};

// Runs make_model.py into root/name with `args` and imports spec.toml into dir/pkg (model name
// `name`); REQUIREs both to succeed.
torch_model make_torch_model(const temp_dir& root, const std::string& name,
                             std::vector<std::string> args);

// Checks |got - want| <= 1e-5 |want| + 1e-6; `what` names the value.
void close_to(double got, double want, const std::string& what);

// Fills `in` with input `x` of a model: one TableBag per table, by name.
void set_bags(Input::Builder in, const json& x);

// Predicts every input of `m` (batches of 25, k = -1) on model `name` and compares every
// label's score with PyTorch's.
void check_predictions(client& cl, const std::string& name, const torch_model& m);

// Embeds every input of `m` on model `name`: the concatenated pooled vectors.
void check_embeddings(client& cl, const std::string& name, const torch_model& m);

// Outcomes of predict_waves.
struct torch_traffic {
  size_t ok = 0;
  size_t failed = 0;
  std::string first_error;
};

// Sends every input of `m`, `rounds` times over, as single-input predicts (k = -1) on model
// `name`, `concurrency` at a time, checking each answer against PyTorch's. `during(start,
// wave)` runs after each wave's calls are sent (the wave's first call is number `start`) and
// may add its own promises to the wave (a fault, an admin call); each wave is awaited whole.
torch_traffic predict_waves(
    client& cl, const std::string& name, const torch_model& m, size_t rounds, size_t concurrency,
    const std::function<void(size_t start, kj::Vector<kj::Promise<void>>& wave)>& during);

// Every table of `name`'s active version is cut into 3 ranges on 3 nodes (`cl`: an admin's).
void check_tables_split(client& cl, const std::string& name,
                        const std::vector<std::string>& tables);

}  // namespace tessera::test
