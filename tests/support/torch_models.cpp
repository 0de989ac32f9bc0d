#include "tests/support/torch_models.hpp"

#include <capnp/compat/std-iterator.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <set>

namespace tessera::test {

const char* const torch_python = "/usr/bin/python3";

std::string torch_missing() {
  std::string out, err;
  if (run_capture({torch_python, "-c", "import torch"}, &out, &err) != 0)
    return "Debian's python3-torch is not installed (apt-get install python3-torch)";
  return "";
}

std::string torch_model::import_part(const std::string& spec, const std::string& out) const {
  std::string o, err;
  const std::string pkg = dir + "/" + out;
  const int rc = run_capture({bin_path("tessera"), "import", "safetensors",
                              dir + "/model.safetensors", "--spec", dir + "/" + spec, pkg},
                             &o, &err);
  INFO(spec << ": " << err);
  REQUIRE(rc == 0);
  return pkg;
}

torch_model make_torch_model(const temp_dir& root, const std::string& name,
                             std::vector<std::string> args) {
  torch_model m;
  m.dir = root / name;
  std::vector<std::string> argv{torch_python, source_path("tests/torch/make_model.py"), m.dir};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out, err;
  int rc = run_capture(argv, &out, &err);
  INFO(err);
  REQUIRE(rc == 0);
  m.package = m.dir + "/pkg";
  rc = run_capture({bin_path("tessera"), "import", "safetensors", m.dir + "/model.safetensors",
                    "--spec", m.dir + "/spec.toml", m.package, "--name", name},
                   &out, &err);
  REQUIRE(rc == 0);
  m.inputs = json::parse(read_text(m.dir + "/inputs.json"));
  m.expected = json::parse(read_text(m.dir + "/expected.json"));
  return m;
}

void close_to(double got, double want, const std::string& what) {
  INFO(what << ": got " << got << ", PyTorch " << want);
  CHECK(std::fabs(got - want) <= 1e-5 * std::fabs(want) + 1e-6);
}

// Fills `in` with input `x` of a model: one TableBag per table, by name.
void set_bags(Input::Builder in, const json& x) {
  auto bags = in.initTables(static_cast<unsigned>(x.size()));
  for (size_t t = 0; t < x.size(); ++t) {
    const auto& b = x[t];
    bags[t].setName(b.at("table").get<std::string>());
    const auto& ids = b.at("ids");
    auto out = bags[t].initIds(static_cast<unsigned>(ids.size()));
    for (size_t i = 0; i < ids.size(); ++i) out.set(i, ids[i].get<int64_t>());
    if (!b.contains("weights")) continue;
    const auto& w = b.at("weights");
    auto ws = bags[t].initWeights(static_cast<unsigned>(w.size()));
    for (size_t i = 0; i < w.size(); ++i) ws.set(i, w[i].get<float>());
  }
}

// Predicts every input of `m` (batches of 25, k = -1) on model `name` and compares every
// label's score with PyTorch's.
void check_predictions(client& cl, const std::string& name, const torch_model& m) {
  const size_t n = m.inputs.size();
  for (size_t start = 0; start < n; start += 25) {
    const size_t count = std::min<size_t>(25, n - start);
    auto req = cl.session().predictRequest();
    req.initModel().setName(name);
    req.setTopK(-1);
    auto ins = req.initInputs(static_cast<unsigned>(count));
    for (size_t i = 0; i < count; ++i) set_bags(ins[i], m.inputs[start + i]);
    auto res = req.send().wait(cl.wait_scope());
    REQUIRE(res.getResults().size() == count);
    for (size_t i = 0; i < count; ++i) {
      const auto& want = m.expected.at("scores")[start + i];
      auto labels = res.getResults()[i].getLabels();
      REQUIRE(labels.size() == want.size());
      std::set<uint32_t> seen;
      double previous = INFINITY;
      for (auto l : labels) {
        REQUIRE(l.getIndex() < want.size());
        seen.insert(l.getIndex());
        CHECK(l.getProb() <= previous);  // best first
        previous = l.getProb();
        close_to(l.getProb(), want[l.getIndex()].get<double>(),
                 name + " input " + std::to_string(start + i) + " label " +
                     std::to_string(l.getIndex()));
      }
      CHECK(seen.size() == want.size());
    }
  }
}

// Embeds every input of `m` on model `name`: the concatenated pooled vectors.
void check_embeddings(client& cl, const std::string& name, const torch_model& m) {
  auto req = cl.session().embedRequest();
  req.initModel().setName(name);
  auto ins = req.initInputs(static_cast<unsigned>(m.inputs.size()));
  for (size_t i = 0; i < m.inputs.size(); ++i) set_bags(ins[i], m.inputs[i]);
  auto res = req.send().wait(cl.wait_scope());
  REQUIRE(res.getVectors().size() == m.inputs.size());
  for (size_t i = 0; i < m.inputs.size(); ++i) {
    const auto& want = m.expected.at("pooled")[i];
    auto got = res.getVectors()[i];
    REQUIRE(got.size() == want.size());
    for (size_t d = 0; d < got.size(); ++d)
      close_to(got[d], want[d].get<double>(),
               name + " input " + std::to_string(i) + " dim " + std::to_string(d));
  }
}

// Every table of `name`'s active version is cut into 3 ranges on 3 nodes (`cl`: an admin's).
void check_tables_split(client& cl, const std::string& name,
                        const std::vector<std::string>& tables) {
  for (const auto& t : tables) {
    INFO(name << " table " << t);
    auto ranges = tensor_row_ranges(cl, name, "embedder." + t);
    REQUIRE(ranges.size() == 3);
    CHECK(ranges.front().first == 0);
  }
}

torch_traffic predict_waves(
    client& cl, const std::string& name, const torch_model& m, size_t rounds, size_t concurrency,
    const std::function<void(size_t start, kj::Vector<kj::Promise<void>>& wave)>& during) {
  torch_traffic out;
  const size_t n = m.inputs.size();
  for (size_t start = 0; start < n * rounds; start += concurrency) {
    kj::Vector<kj::Promise<void>> wave;
    for (size_t j = start; j < start + concurrency && j < n * rounds; ++j) {
      const size_t i = j % n;
      auto req = cl.session().predictRequest();
      req.initModel().setName(name);
      req.setTopK(-1);
      set_bags(req.initInputs(1)[0], m.inputs[i]);
      wave.add(req.send().then(
          [&out, &m, i](capnp::Response<Session::PredictResults>&& res) {
            ++out.ok;
            const auto& want = m.expected.at("scores")[i];
            auto labels = res.getResults()[0].getLabels();
            REQUIRE(labels.size() == want.size());
            for (auto l : labels)
              close_to(l.getProb(), want[l.getIndex()].get<double>(), "input " + std::to_string(i));
          },
          [&out](kj::Exception&& e) {
            ++out.failed;
            if (out.first_error.empty()) out.first_error = e.getDescription().cStr();
          }));
    }
    during(start, wave);
    kj::joinPromises(wave.releaseAsArray()).wait(cl.wait_scope());
  }
  return out;
}

}  // namespace tessera::test
