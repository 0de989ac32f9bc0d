// fastText models end to end over real processes: models trained here by the `fasttext` CLI
// on a generated corpus, imported with `tessera import fasttext`, served by a 3-shard and a
// 1-shard `tessera up` cluster, and `tessera predict --format fasttext` compared with
// `fasttext predict-prob` on an input file full of edge cases (FASTTEXT.md's parity bar).
// Also the refusals: truncated and unsupervised models at import, a corrupted tensor at load.
// Skips (with a warning) when the fasttext binary is missing.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "tests/support/cluster_fixture.hpp"

using namespace tessera::test;
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------------
// The parity bar.

struct label_prob {
  std::string label;
  double prob = 0;
};
using prediction_lines = std::vector<std::vector<label_prob>>;

// Parses `predict-prob` output: one line per input, "label prob label prob ...". Sets *error
// (and returns what it parsed so far) on a malformed line.
prediction_lines parse_predict_prob(const std::string& out, std::string* error) {
  prediction_lines lines;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) {
      *error = "output does not end with a newline";
      return lines;
    }
    std::istringstream in(out.substr(pos, nl - pos));
    pos = nl + 1;
    lines.emplace_back();
    std::string label, prob;
    while (in >> label) {
      char* end = nullptr;
      double p = 0;
      if (!(in >> prob) || (p = std::strtod(prob.c_str(), &end), *end != '\0')) {
        *error = "line " + std::to_string(lines.size()) + ": '" + label +
                 "' is not followed by a probability";
        return lines;
      }
      lines.back().push_back({label, p});
    }
  }
  return lines;
}

std::string line_text(const std::vector<label_prob>& line) {
  std::ostringstream s;
  for (const auto& lp : line) s << lp.label << ' ' << lp.prob << ' ';
  return s.str();
}

// The printed precision of a %g value (one unit in its 6th significant digit).
double print_resolution(double p) {
  return p > 0 ? std::pow(10.0, std::floor(std::log10(p)) - 5) : 0.0;
}

// True when fastText's probabilities a and b are within 1e-6 of each other. Both are printed
// with 6 significant digits, so the printed difference may exceed the true one by one unit.
bool tied(double a, double b) {
  return std::fabs(a - b) <= 1e-6 + print_resolution(std::max(a, b)) + 1e-12;
}

// Checks tessera's predict output `got` against fastText's predict-prob output `want` on the
// same input: per line, the same number of labels; the same labels in the same order except
// among labels whose fastText probabilities are tied (within 1e-6); every probability within
// 1e-5. `all` (optional) is fastText's k = -1 output on the same input: the label at the last
// rank of a top-k list may be swapped with a tied one fastText cut off, which `all` shows.
// Returns "" when the bar holds, else the first few failures.
std::string parity_failures(const std::string& want, const std::string& got,
                            const std::string* all = nullptr) {
  std::string perr, failures;
  int count = 0;
  auto fail = [&](const std::string& f) {
    if (++count <= 5) failures += f + "\n";
  };
  auto w = parse_predict_prob(want, &perr);
  if (!perr.empty()) return "cannot parse fastText's output: " + perr;
  auto g = parse_predict_prob(got, &perr);
  if (!perr.empty()) return "cannot parse tessera's output: " + perr;
  prediction_lines a;
  if (all) {
    a = parse_predict_prob(*all, &perr);
    if (!perr.empty() || a.size() != w.size()) a.clear();
  }
  if (w.size() != g.size())
    return "fastText printed " + std::to_string(w.size()) + " lines, tessera " +
           std::to_string(g.size());
  for (size_t i = 0; i < w.size(); ++i) {
    const auto &wl = w[i], &gl = g[i];
    std::string where = "line " + std::to_string(i + 1);
    std::string both = "\n  fastText: " + line_text(wl) + "\n  tessera:  " + line_text(gl);
    if (wl.size() != gl.size()) {
      fail(where + ": fastText gave " + std::to_string(wl.size()) + " labels, tessera " +
           std::to_string(gl.size()) + both);
      continue;
    }
    std::set<std::string> seen;
    for (size_t r = 0; r < wl.size(); ++r) {
      std::string at = where + ", rank " + std::to_string(r + 1);
      if (!seen.insert(gl[r].label).second) fail(at + ": tessera repeats " + gl[r].label + both);
      if (std::fabs(wl[r].prob - gl[r].prob) > 1e-5 + 1e-12)
        fail(at + ": probability differs by more than 1e-5" + both);
      if (wl[r].label == gl[r].label) continue;
      // A different label is fine only where fastText gives it a probability tied with this
      // rank's: from this line, or (for a label cut off by k or the threshold) from `all`.
      bool tie = false;
      const std::vector<label_prob>* lists[] = {&wl, a.empty() ? nullptr : &a[i]};
      for (const auto* list : lists)
        for (size_t j = 0; list && j < list->size(); ++j)
          if ((*list)[j].label == gl[r].label && tied((*list)[j].prob, wl[r].prob)) tie = true;
      if (!tie)
        fail(at + ": label " + gl[r].label + " where fastText has " + wl[r].label +
             ", and fastText's probability for it is not tied with this rank's" + both);
    }
  }
  if (count > 5) failures += "... and " + std::to_string(count - 5) + " more\n";
  return failures;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

// "" when the outputs are byte-identical, else how many lines differ and the first of them.
std::string first_difference(const std::string& want, const std::string& got) {
  if (want == got) return "";
  auto w = split_lines(want), g = split_lines(got);
  size_t differ = 0, first = 0;
  for (size_t i = 0; i < std::max(w.size(), g.size()); ++i)
    if (i >= w.size() || i >= g.size() || w[i] != g[i]) {
      if (differ++ == 0) first = i;
    }
  if (differ == 0) return "the outputs differ only in their final newline";
  auto at = [first](const std::vector<std::string>& v) {
    return first < v.size() ? v[first] : std::string("<no line>");
  };
  return std::to_string(differ) + " of " + std::to_string(w.size()) +
         " lines differ; the first is line " + std::to_string(first + 1) +
         "\n  fastText: " + at(w) + "\n  tessera:  " + at(g);
}

// ---------------------------------------------------------------------------------------------
// Corpus and test input.

std::string find_fasttext() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (!dir.empty() && ::access((dir + "/fasttext").c_str(), X_OK) == 0) return dir + "/fasttext";
  return "";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const std::string& path, const std::string& s) {
  std::ofstream(path, std::ios::binary) << s;
}

// Splits a command line on spaces (the temporary paths have none).
std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& w : v) s += (s.empty() ? "" : " ") + w;
  return s;
}

// A fixed-seed LCG, so corpus and input are the same everywhere.
struct lcg {
  uint64_t s = 20240611;
  uint32_t next(uint32_t n) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>((s >> 33) % n);
  }
};

struct corpus {
  std::vector<std::string> labels = {"sports", "tech", "food", "music", "travel", "science"};
  std::vector<std::vector<std::string>> topical;
  std::vector<std::string> shared = {"the",  "a",   "and",  "of",    "to",   "is",     "very",
                                     "new",  "ok",  "café", "naïve", "東京", "日本語", "😀",
                                     "über", "año", "día",  "crème", "北京", "🎉"};
  lcg rng;

  corpus() {
    const char* syl[] = {"ka", "lo", "mi", "tra", "zen", "po", "ri", "ux", "bel", "dor", "ñu", "é"};
    const std::vector<std::vector<std::string>> native = {
        {"fútbol", "サッカー", "⚽", "árbitro", "stade"},
        {"ordenador", "电脑", "💻", "réseau", "logiciel"},
        {"ラーメン", "咖啡", "🍜", "pâtisserie", "jalapeño"},
        {"música", "音楽", "🎸", "chanson", "guitarra"},
        {"voyage", "旅行", "✈️", "pasaporte", "île"},
        {"ciência", "科学", "🔬", "théorème", "молекула"}};
    for (size_t l = 0; l < labels.size(); ++l) {
      topical.push_back(native[l]);
      for (int w = 0; w < 35; ++w) {
        std::string word = labels[l].substr(0, 2);
        for (int s = 0; s < 2 + w % 3; ++s) word += syl[rng.next(12)];
        topical.back().push_back(word);
      }
    }
  }

  std::string word_for(size_t l) {
    uint32_t r = rng.next(20);
    if (r < 13) return topical[l][rng.next(static_cast<uint32_t>(topical[l].size()))];
    if (r < 18) return shared[rng.next(static_cast<uint32_t>(shared.size()))];
    const auto& other = topical[rng.next(static_cast<uint32_t>(labels.size()))];
    return other[rng.next(static_cast<uint32_t>(other.size()))];
  }

  // A line of one label's topic (labels skewed, so hs gets an unbalanced Huffman tree),
  // optionally led by its label(s) and sprinkled with unseen words.
  std::string line(bool with_label, bool with_unseen) {
    auto l = std::min(rng.next(6), rng.next(6));
    std::string s;
    if (with_label) {
      s = "__label__" + labels[l];
      if (rng.next(8) == 0) s += " __label__" + labels[(l + 1 + rng.next(5)) % 6];
    }
    uint32_t n = 4 + rng.next(14);
    for (uint32_t i = 0; i < n; ++i) {
      if (!s.empty()) s += ' ';
      if (with_unseen && rng.next(4) == 0)
        s += "zq" + topical[l][rng.next(10) + 5] + "ñ";  // OOV, shares char n-grams
      else
        s += word_for(l);
    }
    return s;
  }
};

std::string training_text(corpus& c) {
  std::string t;
  for (int i = 0; i < 4000; ++i) t += c.line(true, false) + "\n";
  return t;
}

std::string test_input(corpus& c) {
  std::string t;
  t += "\n";                                                            // empty line: "</s>" only
  t += "__label__sports\n";                                             // only a label
  t += "__label__x " + c.topical[1][6] + " " + c.topical[1][7] + "\n";  // unknown label token
  t += "\t" + c.topical[0][6] + "\t" + c.topical[0][7] + "\t\t" + c.shared[0] + " \n";  // tabs
  t += c.topical[2][8] + " " + c.topical[2][9] + "\r\n";                             // CR before LF
  t += c.topical[3][8] + "\r" + c.topical[3][9] + "\r\r" + c.topical[3][10] + "\n";  // bare CR
  t += c.topical[3][11] + "\v" + c.topical[3][12] + "\f" + c.topical[4][13] + "\v\f\n";
  t += "\n";
  t += "café naïve crème über año día jalapeño pâtisserie île\n";  // accented Latin
  t += "東京 日本語 北京 电脑 咖啡 音楽 旅行 科学 東京都 語\n";    // CJK, known and unseen
  t += "😀 🎉 ⚽ 🍜 ✈️ 🎸 😀😀 🎉x 🙂\n";     // emoji
  t += "fútbol サッカー ⚽ __label__x ラーメン 🍜\n";
  t += "zzunknown qqunseen ñandú 北京市\n";  // nothing in the vocabulary
  t += " \t\v\f\r \n";                       // whitespace only
  t += "__label__food __label__x\n";
  for (int i = 0; i < 250; ++i) t += c.line(i % 3 == 0, i % 2 == 0) + "\n";
  std::string longline;  // 5,000 tokens
  for (int i = 0; i < 5000; ++i)
    longline += (i ? " " : "") + c.word_for(static_cast<size_t>(i) % 6);
  t += longline + "\n";
  t += "\n\n";
  t += c.topical[2][10] + " " + c.shared[9] + " " + c.topical[2][0];  // final line, no newline
  return t;
}

// ---------------------------------------------------------------------------------------------
// Models, trained once per test run.

struct model_case {
  std::string name;  // tessera model name
  std::string file;  // the .bin or .ftz fastText predicts with
  std::string package;
};

struct ft_env {
  std::string fasttext = find_fasttext();
  temp_dir dir;
  std::string train = dir / "train.txt";
  std::string input = dir / "input.txt";
  std::vector<model_case> models;
  std::map<std::string, std::string> expected;  // key(model, k, threshold) -> predict-prob output

  static std::string key(const std::string& model, int k, const std::string& threshold) {
    return model + " k=" + std::to_string(k) + (threshold.empty() ? "" : " threshold=" + threshold);
  }

  void run(const std::vector<std::string>& argv) {
    std::string out, err;
    int rc = run_capture(argv, &out, &err);
    INFO("command: " << joined(argv) << "\nstderr: " << err);
    REQUIRE(rc == 0);
  }

  void supervised(const std::string& name, const std::string& flags) {
    auto argv =
        words(fasttext + " supervised -input " + train + " -output " + (dir / name) +
              " -dim 16 -epoch 5 -lr 0.3 -minCount 1 -thread 1 -seed 1 -verbose 0 " + flags);
    run(argv);
  }

  void quantize(const std::string& name, const std::string& from, const std::string& flags) {
    fs::copy_file(dir / (from + ".bin"), dir / (name + ".bin"));
    run(words(fasttext + " quantize -input " + train + " -output " + (dir / name) +
              " -thread 1 -verbose 0 " + flags));
    fs::remove(dir / (name + ".bin"));  // so only the .ftz can be what is imported
  }

  ft_env() {
    if (fasttext.empty()) return;
    corpus c;
    spit(train, training_text(c));
    std::string in = test_input(c);
    REQUIRE(in.back() != '\n');  // the final line has no newline
    spit(input, in);
    supervised("softmax_word", "-loss softmax -wordNgrams 2 -bucket 20000");
    supervised("softmax_char", "-loss softmax -wordNgrams 1 -minn 3 -maxn 5 -bucket 20000");
    supervised("ova", "-loss ova -wordNgrams 2 -bucket 20000");
    supervised("hs", "-loss hs -wordNgrams 2 -bucket 20000");
    // Quantized: the source has 50,000 buckets, the cutoff keeps 3,000 rows (a prune index),
    // norms quantized separately, embeddings retrained after pruning.
    supervised("big", "-loss softmax -wordNgrams 2 -minn 3 -maxn 5 -bucket 50000");
    quantize("quantized", "big", "-qnorm -cutoff 3000 -retrain -epoch 1");
    for (std::string n : {"softmax_word", "softmax_char", "ova", "hs"})
      models.push_back({n, dir / (n + ".bin"), dir / ("pkg_" + n)});
    // (-qout is not covered: fastText cannot quantize an output matrix of fewer than 256 rows.)
    models.push_back({"quantized", dir / "quantized.ftz", dir / "pkg_quantized"});
    for (const auto& m : models) {
      run({bin_path("tessera"), "import", "fasttext", m.file, m.package, "--name", m.name});
      for (int k : {1, 3, -1}) expected[key(m.name, k, "")] = predict_prob(m.file, k, "");
      expected[key(m.name, -1, "0.1")] = predict_prob(m.file, -1, "0.1");
    }
  }

  std::string predict_prob(const std::string& model, int k, const std::string& threshold) {
    std::vector<std::string> argv{fasttext, "predict-prob", model, input, std::to_string(k)};
    if (!threshold.empty()) argv.push_back(threshold);
    std::string out, err;
    int rc = run_capture(argv, &out, &err);
    INFO("fasttext predict-prob " << model << " " << k << " " << threshold << ": " << err);
    REQUIRE(rc == 0);
    return out;
  }
};

ft_env& env() {
  static ft_env e;
  return e;
}

bool skip_without_fasttext() {
  if (!env().fasttext.empty()) return false;
  WARN("fasttext binary not found on PATH: skipping the fastText integration tests");
  return true;
}

// A cluster of `shards` shard nodes with every model loaded under its name, and on several
// shards also as NAME-exact with --exact-pooling (the same package: its embedder is shared).
std::unique_ptr<local_cluster> make_cluster(size_t shards) {
  cluster_options o;
  o.shard_nodes = shards;
  o.request_timeout_ms = 30000;
  auto c = std::make_unique<local_cluster>(o);
  for (const auto& m : env().models) {
    std::string out, err;
    int rc = c->cli({"load", m.package, "--name", m.name}, &out, &err);
    INFO("tessera load " << m.package << ": " << err);
    REQUIRE(rc == 0);
    if (shards > 1) {
      rc = c->cli({"load", m.package, "--name", m.name + "-exact", "--exact-pooling"}, &out, &err);
      INFO("tessera load --exact-pooling " << m.package << ": " << err);
      REQUIRE(rc == 0);
    }
  }
  return c;
}

local_cluster& cluster3() {
  static auto c = make_cluster(3);
  return *c;
}

local_cluster& cluster1() {
  static auto c = make_cluster(1);
  return *c;
}

std::string tessera_predict(const local_cluster& c, const std::string& model, int k,
                            const std::string& threshold) {
  std::vector<std::string> args{"predict", "--model",        model, "--format", "fasttext",
                                "--k",     std::to_string(k)};
  if (!threshold.empty()) args.insert(args.end(), {"--threshold", threshold});
  args.push_back(env().input);
  std::string out, err;
  int rc = c.cli(args, &out, &err);
  INFO("tessera predict --model " << model << " --k " << k << " " << threshold << ": " << err);
  REQUIRE(rc == 0);
  return out;
}

struct predict_case {
  int k;
  std::string threshold;
};
const std::vector<predict_case> predict_cases = {{1, ""}, {3, ""}, {-1, ""}, {-1, "0.1"}};

}  // namespace

TEST_CASE("the parity check accepts ties and reports each kind of mismatch", "[fasttext]") {
  std::string want = "__label__a 0.7 __label__b 0.2 __label__c 0.2\n\n__label__c 1.00001\n";
  CHECK(parity_failures(want, want).empty());
  CHECK(parity_failures(want,
                        "__label__a 0.700004 __label__c 0.2 __label__b 0.2\n\n"
                        "__label__c 1.00001\n")
            .empty());  // a tie swapped, a probability within 1e-5
  CHECK_THAT(parity_failures(want, "__label__a 0.7 __label__b 0.2\n\n__label__c 1.00001\n"),
             Catch::Contains("line 1: fastText gave 3 labels, tessera 2"));
  CHECK_THAT(parity_failures(want,
                             "__label__b 0.7 __label__a 0.2 __label__c 0.2\n\n"
                             "__label__c 1.00001\n"),
             Catch::Contains("line 1, rank 1: label __label__b where fastText has __label__a"));
  CHECK_THAT(parity_failures(want,
                             "__label__a 0.70002 __label__b 0.2 __label__c 0.2\n\n"
                             "__label__c 1.00001\n"),
             Catch::Contains("line 1, rank 1: probability differs by more than 1e-5"));
  CHECK_THAT(parity_failures(want,
                             "__label__a 0.7 __label__d 0.2 __label__c 0.2\n\n"
                             "__label__c 1.00001\n"),
             Catch::Contains("line 1, rank 2: label __label__d where fastText has __label__b"));
  CHECK_THAT(parity_failures(want,
                             "__label__a 0.7 __label__b 0.2 __label__b 0.2\n\n"
                             "__label__c 1.00001\n"),
             Catch::Contains("line 1, rank 3: tessera repeats __label__b"));
  CHECK_THAT(parity_failures(want, "\n"), Catch::Contains("fastText printed 3 lines, tessera 1"));
  // A swap at the cut-off of a top-1 list: fine only when tied with fastText's next label.
  std::string all = "__label__a 0.4 __label__b 0.4 __label__c 0.2\n";
  CHECK(parity_failures("__label__a 0.4\n", "__label__b 0.4\n", &all).empty());
  CHECK_THAT(parity_failures("__label__a 0.4\n", "__label__c 0.4\n", &all),
             Catch::Contains("label __label__c where fastText has __label__a"));
  CHECK_THAT(first_difference("x\ny 1\nz\n", "x\ny 2\nz\n"),
             Catch::Contains("line 2\n  fastText: y 1\n  tessera:  y 2"));
}

TEST_CASE("a 1-shard cluster answers byte for byte like fasttext predict-prob", "[fasttext]") {
  if (skip_without_fasttext()) return;
  auto& c = cluster1();
  for (const auto& m : env().models)
    for (const auto& pc : predict_cases) {
      auto key = ft_env::key(m.name, pc.k, pc.threshold);
      INFO(key);
      const auto& want = env().expected.at(key);
      auto got = tessera_predict(c, m.name, pc.k, pc.threshold);
      CHECK(first_difference(want, got) == "");
      CHECK(parity_failures(want, got, &env().expected.at(ft_env::key(m.name, -1, ""))) == "");
    }
}

// Byte identity on 3 shards holds for ova only. softmax (word, char n-grams, .ftz) and hs
// differ on some lines (3 to 149 of 269, depending on model and k) by one unit in the 6th
// significant digit of a printed probability (at most 1e-6 absolute), never in labels or
// their order: within the parity bar, which is all they are held to here.
const std::set<std::string> identical_on_3_shards = {"ova"};

TEST_CASE("a 3-shard cluster answers like fasttext predict-prob", "[fasttext]") {
  if (skip_without_fasttext()) return;
  auto& c = cluster3();
  for (const auto& m : env().models)
    for (const auto& pc : predict_cases) {
      auto key = ft_env::key(m.name, pc.k, pc.threshold);
      INFO(key);
      const auto& want = env().expected.at(key);
      auto got = tessera_predict(c, m.name, pc.k, pc.threshold);
      CHECK(parity_failures(want, got, &env().expected.at(ft_env::key(m.name, -1, ""))) == "");
      if (identical_on_3_shards.count(m.name)) CHECK(first_difference(want, got) == "");
    }
}

TEST_CASE("a 3-shard cluster with exact pooling answers byte for byte like fastText",
          "[fasttext]") {
  if (skip_without_fasttext()) return;
  auto& c = cluster3();
  for (const auto& m : env().models)
    for (const auto& pc : predict_cases) {
      auto key = ft_env::key(m.name, pc.k, pc.threshold);
      INFO(key << " (exact pooling)");
      auto got = tessera_predict(c, m.name + "-exact", pc.k, pc.threshold);
      CHECK(first_difference(env().expected.at(key), got) == "");
    }
}

TEST_CASE("import refuses a truncated .bin and an unsupervised model, writing no package",
          "[fasttext][errors]") {
  if (skip_without_fasttext()) return;
  auto& e = env();
  temp_dir d;
  std::string out, err;

  SECTION("a .bin cut in half") {
    auto bytes = slurp(e.models[0].file);
    spit(d / "half.bin", bytes.substr(0, bytes.size() / 2));
    int rc = run_capture({bin_path("tessera"), "import", "fasttext", d / "half.bin", d / "pkg"},
                         &out, &err);
    INFO("stderr: " << err);
    CHECK(rc != 0);
    CHECK_THAT(err, Catch::Contains("tessera.corrupt_package"));
    CHECK_THAT(err, Catch::Contains("half.bin"));
    CHECK_FALSE(fs::exists(d / "pkg"));  // not even a partial directory
  }
  SECTION("a skipgram (word-vector) model") {
    e.run(words(e.fasttext + " skipgram -input " + e.train + " -output " + (d / "sg") +
                " -dim 4 -epoch 1 -minCount 1 -bucket 1000 -thread 1 -seed 1 -verbose 0"));
    int rc = run_capture({bin_path("tessera"), "import", "fasttext", d / "sg.bin", d / "pkg"}, &out,
                         &err);
    INFO("stderr: " << err);
    CHECK(rc != 0);
    CHECK_THAT(err, Catch::Contains("tessera.unsupported"));
    CHECK_THAT(err, Catch::Contains("not supervised"));
    CHECK_FALSE(fs::exists(d / "pkg"));  // not even a partial directory
  }
}

TEST_CASE("loading an import whose tensor file was corrupted is refused; serving continues",
          "[fasttext][errors]") {
  if (skip_without_fasttext()) return;
  auto& e = env();
  auto& c = cluster3();
  temp_dir d;
  const auto& m = e.models[0];
  std::string out, err;
  // A model not loaded anywhere, under a new name: loading must read (and verify) its rows.
  int rc = run_capture({bin_path("tessera"), "import", "fasttext", e.dir / "big.bin", d / "pkg",
                        "--name", "corrupted"},
                       &out, &err);
  INFO("import stderr: " << err);
  REQUIRE(rc == 0);
  auto tensor = d / "pkg/embedder.input.f32";
  REQUIRE(fs::exists(tensor));
  {
    std::fstream f(tensor, std::ios::in | std::ios::out | std::ios::binary);
    auto size = static_cast<std::streamoff>(fs::file_size(tensor));
    for (std::streamoff at : {size / 3, size / 2, size - 7}) {
      char b = 0;
      f.seekg(at);
      f.read(&b, 1);
      b = static_cast<char>(b ^ 0x5a);
      f.seekp(at);
      f.write(&b, 1);
    }
  }
  rc = c.cli({"load", d / "pkg", "--name", "corrupted"}, &out, &err);
  INFO("load stderr: " << err);
  CHECK(rc != 0);
  CHECK_THAT(err, Catch::Contains("tessera.corrupt_package"));
  // The models loaded before still serve, exactly as before.
  auto got = tessera_predict(c, m.name, 3, "");
  CHECK(parity_failures(e.expected.at(ft_env::key(m.name, 3, "")), got) == "");
  // And the refused model serves nothing.
  rc = c.cli({"predict", "--model", "corrupted", "--format", "fasttext", e.input}, &out, &err);
  INFO("predict on the refused model: " << err);
  CHECK(rc != 0);
  CHECK(out.empty());
}
