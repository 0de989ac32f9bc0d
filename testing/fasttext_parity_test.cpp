// Parity with the real fastText 0.9.2 CLI: models trained by `fasttext` on a corpus built
// here, predicted by `fasttext predict-prob` and by our in-process predictor (through our
// reader), compared byte for byte; then imported to a package and predicted again from the
// package's tensors with the serving output rules. Skips when the binary is missing.
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cluster/fasttext_output.hpp"
#include "importers/fasttext_import.hpp"
#include "package/package.hpp"
#include "testing/fasttext_predict.hpp"

using namespace tessera;

namespace {

const char* fasttext_bin = "/usr/bin/fasttext";

struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/tessera_ft_parity_XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() {
    if (!std::getenv("TESSERA_KEEP_TMP")) std::system(("rm -rf '" + path + "'").c_str());
  }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const std::string& path, const std::string& s) {
  std::ofstream(path, std::ios::binary) << s;
}

int run(const std::string& cmd, const std::string& out = "/dev/null") {
  return std::system((cmd + " > '" + out + "' 2>/dev/null").c_str());
}

// A fixed-seed LCG, so the corpus is the same everywhere.
struct lcg {
  uint64_t s = 42;
  uint32_t next(uint32_t n) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>((s >> 33) % n);
  }
};

struct corpus {
  std::vector<std::string> labels = {"sports", "tech", "food", "music", "travel"};
  std::vector<std::vector<std::string>> topical;
  std::vector<std::string> common = {"the", "a",  "and",     "café", "naïve", "東京", "日本語",
                                     "😀",   "🎉x", "Ünïcödé", "über", "año",   "ok"};
  lcg rng;

  corpus() {
    const char* syl[] = {"ka", "lo", "mi", "tra", "zen", "po", "ri", "ux", "bel", "dor", "ñu"};
    for (size_t l = 0; l < labels.size(); ++l) {
      topical.emplace_back();
      for (int w = 0; w < 25; ++w) {
        std::string word = labels[l].substr(0, 2);
        for (int s = 0; s < 2 + w % 2; ++s) word += syl[rng.next(11)];
        topical.back().push_back(word);
      }
    }
  }
  std::string line(bool with_label) {
    uint32_t l = rng.next(static_cast<uint32_t>(labels.size()));
    std::string s;
    if (with_label) {
      s = "__label__" + labels[l];
      if (rng.next(6) == 0) s += " __label__" + labels[(l + 1) % labels.size()];
    }
    uint32_t n = 3 + rng.next(12);
    for (uint32_t i = 0; i < n; ++i) {
      if (!s.empty()) s += ' ';
      if (rng.next(10) < 7)
        s += topical[l][rng.next(25)];
      else if (rng.next(2))
        s += common[rng.next(static_cast<uint32_t>(common.size()))];
      else
        s += topical[rng.next(5)][rng.next(25)];
    }
    return s;
  }
};

std::string test_input(corpus& c) {
  std::string t;
  for (int i = 0; i < 120; ++i) t += c.line(i % 3 == 0) + "\n";
  t += "\n\n";                                  // empty lines: "</s>" only
  t += "__label__sports\n";                     // only a label
  t += "__label__x " + c.topical[1][0] + "\n";  // unknown label token
  t += c.topical[0][1] + "\t" + c.topical[0][2] + "\t\t" + c.common[0] + "\n";
  t += c.topical[2][3] + "\r\n";  // CR
  t += c.topical[3][4] + "\v" + c.topical[3][5] + "\f" + c.topical[3][6] + "\n";
  t += "café naïve Ünïcödé über año\n";
  t += "東京 日本語 東京都 語\n";
  t += "😀 🎉x 🎉 😀😀 " + c.topical[4][0] + "\n";
  t += "zzunknown qqunseen\n";
  t += c.topical[1][2] + " </s> " + c.topical[1][3] + "\n";  // a literal </s> ends the line
  t += std::string("a\0b ", 4) + c.topical[0][0] + "\n";     // NUL separates tokens
  t += "   \n";
  {
    std::string longline;
    for (int i = 0; i < 5000; ++i) {
      if (i) longline += ' ';
      longline += c.topical[i % 5][static_cast<uint32_t>(i * 7) % 25];
    }
    t += longline + "\n";
  }
  t += c.topical[2][7] + " " + c.topical[2][8];  // final line without newline
  return t;
}

// Predictions from the imported package's tensors, with the serving output rules (one shard).
std::string predict_from_package(const std::string& dir, const std::string& input, int32_t k,
                                 float threshold) {
  auto pkg = package::open(dir);
  REQUIRE(pkg);
  auto feat = make_featurizer(*pkg);
  REQUIRE(feat);
  const auto& m = pkg->meta();
  const auto& emb = *m.find_tensor(m.embedder->tables[0]);
  auto table = pkg->read_rows(emb.name, 0, emb.rows);
  REQUIRE(table);
  const auto& wname = m.classifier->layers[0].weight;
  auto w = pkg->read_rows(wname, 0, m.find_tensor(wname)->rows);
  REQUIRE(w);
  auto labels = pkg->read_lines(m.classifier->labels);
  REQUIRE(labels);
  std::unique_ptr<fasttext_hs_tree> tree;
  if (m.classifier->output == output_kind::hs) {
    auto counts = pkg->read_lines(m.classifier->label_counts);
    REQUIRE(counts);
    std::vector<int64_t> c;
    for (const auto& s : *counts) c.push_back(std::stoll(s));
    tree = std::make_unique<fasttext_hs_tree>(c);
  }
  const auto* ff = dynamic_cast<const fasttext_featurizer*>(feat->get());
  REQUIRE(ff);
  std::string out;
  size_t pos = 0;
  const uint64_t dim = emb.cols;
  while (pos < input.size()) {
    std::vector<int64_t> ids;
    pos += ff->featurize_line(std::string_view(input).substr(pos), ids);
    std::vector<scored_label> res;
    if (!ids.empty()) {
      std::vector<float> h(dim, 0.0f);
      for (auto id : ids)
        for (uint64_t j = 0; j < dim; ++j) h[j] += table->row(static_cast<uint64_t>(id))[j];
      const auto scale = static_cast<float>(1.0 / static_cast<double>(ids.size()));
      for (auto& v : h) v *= scale;
      std::vector<float> logits(w->rows);
      for (uint64_t r = 0; r < w->rows; ++r) {
        float d = 0.0f;
        for (uint64_t j = 0; j < dim; ++j) d += w->row(r)[j] * h[j];
        logits[r] = d;
      }
      if (tree)
        res = tree->predict(logits.data(), k, threshold);
      else if (m.classifier->output == output_kind::ova)
        res = fasttext_ova_topk(logits.data(), static_cast<uint32_t>(logits.size()), k, threshold);
      else
        // Every label a candidate (k = -1 at the shard): fastText's findKBest over all
        // labels. Shards that pre-select k candidates may order true score ties differently.
        res = merge_topk({shard_topk(logits.data(), static_cast<uint32_t>(logits.size()), 0, -1)},
                         k, threshold);
    }
    for (size_t i = 0; i < res.size(); ++i) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), " %g", static_cast<double>(res[i].prob));
      out += (i ? " " : "") + (*labels)[res[i].label] + buf;
    }
    out += '\n';
  }
  return out;
}

// Index of the first differing line, for a readable failure.
std::string first_diff(const std::string& a, const std::string& b) {
  std::istringstream ia(a), ib(b);
  std::string la, lb;
  for (int n = 1;; ++n) {
    bool ga = static_cast<bool>(std::getline(ia, la)), gb = static_cast<bool>(std::getline(ib, lb));
    if (!ga && !gb) return "identical";
    if (la != lb || ga != gb)
      return "line " + std::to_string(n) + ":\n  fasttext: " + la + "\n  ours:     " + lb;
  }
}

// The parity bar between two predict-prob outputs: per line the same labels in the same order
// (a swap allowed only between labels whose probabilities are within 1e-6) and probabilities
// within 1e-5. Returns "" or the first violation; `max_diff` gets the largest prob difference.
std::string parity_violation(const std::string& want, const std::string& got, double& max_diff) {
  std::istringstream a(want), b(got);
  std::string la, lb;
  max_diff = 0;
  for (int line = 1; std::getline(a, la); ++line) {
    if (!std::getline(b, lb)) return "line " + std::to_string(line) + ": missing";
    std::istringstream wa(la), wb(lb);
    std::vector<std::pair<std::string, double>> x, y;
    std::string label;
    double p;
    while (wa >> label >> p) x.emplace_back(label, p);
    while (wb >> label >> p) y.emplace_back(label, p);
    if (x.size() != y.size()) return "line " + std::to_string(line) + ": label count";
    for (size_t i = 0; i < x.size(); ++i) {
      max_diff = std::max(max_diff, std::fabs(x[i].second - y[i].second));
      if (std::fabs(x[i].second - y[i].second) > 1e-5)
        return "line " + std::to_string(line) + ": probability";
      if (x[i].first != y[i].first) {
        bool tied = (i + 1 < x.size() && std::fabs(x[i].second - x[i + 1].second) <= 1e-6) ||
                    (i > 0 && std::fabs(x[i].second - x[i - 1].second) <= 1e-6);
        if (!tied) return "line " + std::to_string(line) + ": label " + y[i].first;
      }
    }
  }
  return "";
}

}  // namespace

TEST_CASE("predict-prob output is byte-identical to the fastText CLI for every loss and .ftz") {
  if (::access(fasttext_bin, X_OK) != 0) {
    WARN("fasttext binary not found; parity test skipped");
    SUCCEED();
    return;
  }
  temp_dir tmp;
  corpus c;
  std::string train;
  for (int i = 0; i < 1500; ++i) train += c.line(true) + "\n";
  spit(tmp.path + "/train.txt", train);
  const std::string input = test_input(c);
  spit(tmp.path + "/test.txt", input);
  // -qout needs an output matrix of at least 256 rows: a second corpus with 300 labels.
  std::string many, many_test;
  lcg r2;
  for (int i = 0; i < 900; ++i) {
    uint32_t l = static_cast<uint32_t>(i % 300);
    std::string line = "__label__L" + std::to_string(l);
    for (int w = 0; w < 4; ++w)
      line += " w" + std::to_string((l * 3 + r2.next(5)) % 400) + "_" + std::to_string(w % 2);
    many += line + "\n";
    if (i % 9 == 0) many_test += line.substr(line.find(' ') + 1) + " zz\n";
  }
  many_test += input;
  spit(tmp.path + "/many.txt", many);
  spit(tmp.path + "/many_test.txt", many_test);

  struct model_case {
    std::string name;
    std::string train_flags;  // empty: quantize `from`
    std::string from;
    std::string quant_flags;
    bool package_exact = true;  // false: quantized output with -qnorm (see fasttext_bin.hpp)
    std::string data = "";      // "" (train.txt, test.txt) or "many" (many.txt, many_test.txt)
  };
  const std::vector<model_case> cases = {
      {"softmax_ng2", "-wordNgrams 2 -bucket 20000", "", "", true},
      {"softmax_sub", "-minn 3 -maxn 5 -bucket 20000", "", "", true},
      {"ova_ng3_sub", "-loss ova -wordNgrams 3 -minn 2 -maxn 4 -bucket 20000", "", "", true},
      {"hs_ng2", "-loss hs -wordNgrams 2 -bucket 20000", "", "", true},
      {"ftz_pruned", "", "softmax_sub", "-qnorm -cutoff 300", true},
      {"many_softmax", "-wordNgrams 2 -bucket 5000", "", "", true, "many"},
      {"ftz_qout", "", "many_softmax", "-qout -cutoff 2000", true, "many"},
      {"ftz_qout_qnorm", "", "many_softmax", "-qnorm -qout", false, "many"},
  };
  const std::string base = std::string(fasttext_bin);
  for (const auto& mc : cases) {
    INFO("model " << mc.name);
    std::string model = tmp.path + "/" + mc.name;
    std::string file;
    const std::string train_file = tmp.path + (mc.data.empty() ? "/train.txt" : "/many.txt");
    const std::string test_file = tmp.path + (mc.data.empty() ? "/test.txt" : "/many_test.txt");
    const std::string& test_text = mc.data.empty() ? input : many_test;
    if (!mc.train_flags.empty()) {
      REQUIRE(run(base + " supervised -input " + train_file + " -output " + model +
                  " -dim 16 -epoch 5 -thread 1 -seed 1 -verbose 0 " + mc.train_flags) == 0);
      file = model + ".bin";
    } else {
      std::string src = tmp.path + "/" + mc.from;
      REQUIRE(run("cp " + src + ".bin " + model + ".bin") == 0);
      REQUIRE(run(base + " quantize -input " + train_file + " -output " + model + " -verbose 0 " +
                  mc.quant_flags) == 0);
      file = model + ".ftz";
    }
    auto pred = fasttext_predictor::load(file);
    REQUIRE(pred);
    std::string pkg_dir = tmp.path + "/pkg_" + mc.name;
    REQUIRE_FALSE(import_fasttext(file, pkg_dir, {}, {}));
    for (auto [k, threshold] :
         {std::pair<int32_t, float>{1, 0.0f}, {3, 0.0f}, {-1, 0.0f}, {-1, 0.05f}}) {
      INFO(mc.name << " k=" << k << " threshold=" << threshold);
      const std::string thr = threshold > 0 ? " 0.05" : "";
      std::string out_path = tmp.path + "/out.txt";
      REQUIRE(run(base + " predict-prob " + file + " " + test_file + " " + std::to_string(k) + thr,
                  out_path) == 0);
      const std::string want = slurp(out_path);
      auto ours = pred->predict_prob(test_text, k, threshold);
      REQUIRE(ours);
      CHECK(first_diff(want, *ours) == "identical");
      const std::string from_pkg = predict_from_package(pkg_dir, test_text, k, threshold);
      if (mc.package_exact) {
        CHECK(first_diff(want, from_pkg) == "identical");
      } else {
        // Dequantized -qnorm output rows: not bit-exact, but within the parity bar.
        double max_diff = 0;
        auto violation = parity_violation(want, from_pkg, max_diff);
        INFO("package path of " << mc.name << " k=" << k << ": max |prob diff| " << max_diff
                                << (first_diff(want, from_pkg) == "identical" ? " (identical)"
                                                                              : ""));
        CHECK(violation == "");
      }
    }
  }
}
