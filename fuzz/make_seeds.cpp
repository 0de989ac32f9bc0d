// Writes the seed corpora of the fuzz targets: small valid inputs made by the project's own
// code (fuzz/make_corpus.sh runs it; see fuzz/README.md).
//
//   make_seeds CORPUS_DIR     writes CORPUS_DIR/<target>/<seed> for every target
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <filesystem>
#include <iostream>

#include "fuzz/fuzz_support.hpp"
#include "fuzz/package_archive.hpp"
#include "importers/fasttext_import.hpp"
#include "importers/synthetic_model.hpp"
#include "node/config.hpp"
#include "schemas/tessera.capnp.h"
#include "testing/fasttext_testing.hpp"
#include "testing/package_builder.hpp"
#include "testing/safetensors_writer.hpp"

using namespace tessera;
using namespace tessera::fuzz;

namespace {

std::string out_root;

void seed(const std::string& target, const std::string& name, std::string_view bytes) {
  std::filesystem::create_directories(out_root + "/" + target);
  write_file(out_root + "/" + target + "/" + name, bytes);
}

void check(const caf::error& err, const std::string& what) {
  FUZZ_REQUIRE(!err, what + ": " + describe(err));
}

// ---- gateway_request: Session.predict parameters ----------------------------------------

// Writes the seed `name`: the parameters `fill` sets, as one flat message.
template <class F>
void gateway_seed(const std::string& name, F fill) {
  capnp::MallocMessageBuilder m;
  auto p = m.initRoot<Session::PredictParams>();
  p.initModel().setName("sections");
  fill(p);
  auto words = capnp::messageToFlatArray(m);
  auto bytes = words.asBytes();
  seed("gateway_request", name,
       std::string_view(reinterpret_cast<const char*>(bytes.begin()), bytes.size()));
}

void gateway_seeds() {
  gateway_seed("texts", [](Session::PredictParams::Builder p) {
    auto in = p.initInputs(2);
    in[0].setText("python library to parse yaml files\n");
    in[1].setText("a chess game for the terminal\n");
    p.setTopK(3);
  });
  gateway_seed("ids-weights-version", [](Session::PredictParams::Builder p) {
    p.getModel().setVersion(2);
    auto in = p.initInputs(2);
    auto bag = in[0].initIds();
    auto ids = bag.initIds(3);
    auto w = bag.initWeights(3);
    for (unsigned i = 0; i < 3; ++i) {
      ids.set(i, i * 5);
      w.set(i, 0.5f * static_cast<float>(i + 1));
    }
    in[1].initIds().initIds(1).set(0, 7);
    p.setTopK(-1);
    p.setThreshold(0.1f);
    p.setTimeoutMs(250);
  });
  // At the target's limit of 64 ids per input (fuzz/gateway_request_fuzz.cpp), followed by a
  // text, so that a list grown by a mutation still lies inside the message.
  gateway_seed("ids-at-limit", [](Session::PredictParams::Builder p) {
    auto in = p.initInputs(2);
    auto bag = in[0].initIds();
    auto ids = bag.initIds(64);
    auto w = bag.initWeights(64);
    for (unsigned i = 0; i < 64; ++i) {
      ids.set(i, i);
      w.set(i, 1.0f);
    }
    in[1].setText(std::string(200, 'x'));
    p.setTopK(1);
  });
  // Embedding-bag inputs: bags by table name (weighted) and index, and an empty bag, for the
  // target's three-table model ("a", "b", "c").
  gateway_seed("table-bags", [](Session::PredictParams::Builder p) {
    auto in = p.initInputs(2);
    auto bags = in[0].initTables(3);
    bags[0].setName("a");
    auto ids = bags[0].initIds(3);
    auto w = bags[0].initWeights(3);
    for (unsigned i = 0; i < 3; ++i) {
      ids.set(i, i + 2);
      w.set(i, 0.25f * static_cast<float>(i + 1));
    }
    bags[1].setIndex(2);
    bags[1].initIds(2).set(1, 39);
    bags[2].setName("b");
    in[1].initTables(1)[0].setName("c");
    p.setTopK(-1);
  });
  gateway_seed("label-eos", [](Session::PredictParams::Builder p) {
    p.getModel().setLabel("stable");
    p.initInputs(1)[0].setText("fonts for chinese japanese and korean </s> more");
    p.setTopK(1);
  });
}

// ---- package: archives of packages the project writes ------------------------------------

void package_seed(const std::string& name, const std::string& dir) {
  seed("package", name, pack_archive(read_package_dir(dir)));
}

void package_seeds(const std::string& work) {
  synthetic_spec s;
  s.name = "tiny";
  s.vocab = 12;
  s.buckets = 6;
  s.dim = 3;
  s.hidden = {2};
  s.labels = 3;
  check(write_synthetic_package(work + "/softmax", s), "synthetic softmax");
  package_seed("synthetic-softmax", work + "/softmax");
  s.hidden = {};
  s.output = output_kind::hs;
  s.labels = 4;
  s.pooling = pooling_kind::sum;
  check(write_synthetic_package(work + "/hs", s), "synthetic hs");
  package_seed("synthetic-hs", work + "/hs");
  for (const char* model : {"tiny.bin", "tiny.ftz", "tiny_hs.bin"}) {
    std::string out = work + "/" + model;
    check(import_fasttext(data_path(model), out, {}, {}), std::string("import ") + model);
    package_seed(std::string("fasttext-") + model, out);
  }
}

// ---- fasttext_bin: trained models and the hand-written layouts of the reader's tests ------

void fasttext_bin_seeds() {
  for (const char* model : {"tiny.bin", "tiny.ftz", "tiny_hs.bin"})
    seed("fasttext_bin", model, testing::slurp(data_path(model)));
  ft_testing::bin_builder b;
  seed("fasttext_bin", "built-dense", b.bytes());
  b.version = 11;
  seed("fasttext_bin", "built-v11", b.bytes());
  b.version = 12;
  b.args.loss = static_cast<int32_t>(ft::loss_name::hs);
  seed("fasttext_bin", "built-hs", b.bytes());
  b.args.loss = static_cast<int32_t>(ft::loss_name::softmax);
  b.quant_input = true;
  b.qout = true;
  b.quant.qnorm = true;
  seed("fasttext_bin", "built-quantized", b.bytes());
  b.prune_size = 2;
  b.prune = {{3, 1}, {7, 0}};
  seed("fasttext_bin", "built-pruned", b.bytes());
}

// ---- featurizer: text (bytes 0 and 1 set the made-up dictionary of checks 2 and 3) --------

// A string literal with its NUL bytes.
template <size_t N>
std::string raw(const char (&s)[N]) {
  return std::string(s, N - 1);
}

void featurizer_seeds() {
  seed("featurizer", "train-lines", raw("\x05\x40") + testing::slurp(data_path("train.txt")));
  seed("featurizer", "hashing-bigrams",
       raw("\x15\x10python yaml library python\n"
           "parse python yaml files\n"));
  seed("featurizer", "ngrams-pruned",
       raw("\xb7\x20\x01\x02\x03\x00 caf\xc3\xa9 na\xc3\xafve __label__x\n"
           "na\xc3\xafve caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\t</s> tail\n"));
  seed("featurizer", "eos", raw("\x00\x00</s>\nhello </s> world\n\n"));
}

// ---- config and parse_size --------------------------------------------------------------

void config_seeds() {
  seed("config", "local.toml", embedded_local_config());
  seed("config", "multihost.toml", testing::slurp(data_path("../../config/multihost.toml")));
  int i = 0;
  for (const char* s : {"512", "1.4GB", "2GiB", "1.5e3", "0.5 MiB", "1.1KiB", "3 TB", "1e-3KiB",
                        " 7B ", ".5KB", "18446744073709551615"})
    seed("parse_size", "size-" + std::to_string(i++), s);
}

// ---- safetensors --------------------------------------------------------------------------

void safetensors_seeds() {
  auto two_bytes = [](std::initializer_list<uint16_t> values) {
    std::string out;
    for (uint16_t v : values) {
      out += static_cast<char>(v & 0xff);
      out += static_cast<char>(v >> 8);
    }
    return out;
  };
  seed("safetensors", "ctr",
       testing::safetensors_bytes(
           {{"emb.user.weight", "F32", {4, 2}, testing::f32_bytes({1, 2, 3, 4, 5, 6, 7, 8})},
            {"mlp.0.weight", "F16", {2, 2}, two_bytes({0x3c00, 0xc000, 0x0001, 0x7bff})},
            {"mlp.0.bias", "BF16", {2}, two_bytes({0x3f80, 0xc049})}},
           {{"format", "pt"}}));
  seed("safetensors", "empty", testing::safetensors_bytes({}));
  seed("safetensors", "scalar",
       testing::safetensors_bytes({{"s", "F32", {}, testing::f32_bytes({1.5f})}}));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds CORPUS_DIR\n";
    return 2;
  }
  out_root = argv[1];
  testing::temp_dir work;
  gateway_seeds();
  package_seeds(work.path);
  fasttext_bin_seeds();
  featurizer_seeds();
  config_seeds();
  safetensors_seeds();
  std::cout << "make_seeds: wrote the seed corpora under " << out_root << "\n";
  return 0;
}
