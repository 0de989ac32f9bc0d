// The fastText .bin/.ftz reader (ft::bin_reader) and the importer built on it.
//
// Input: the bytes of a model file. bin_reader::open either refuses with corrupt_package or
// unsupported, or what it read is consistent:
// - the dictionary holds nwords words then nlabels >= 1 labels, and input_rows() is nwords plus
//   the prune index size (pruned) or the bucket count;
// - the output matrix is nlabels x dim (hs: its rows are read the same way) and every input row
//   reads;
// - the featurizer made from the dictionary (as fasttext_predictor does) is accepted, addresses
//   exactly input_rows() rows and featurizes text into them; for hs, the label counts either
//   fail check_hs_counts (corrupt_package) or build a tree that predicts only real labels;
// - a small enough model imports into a package that opens and that describe_version either
//   describes with the same rows or refuses with a typed error.
#include <filesystem>

#include "actors/version_builder.hpp"
#include "fuzz/fuzz_support.hpp"
#include "importers/fasttext_import.hpp"
#include "testing/fasttext_predict.hpp"

using namespace tessera;
using namespace tessera::fuzz;

namespace {

// Imports only models whose input matrix is at most this many bytes: a quantized row of one
// code byte may stand for 65536 floats, and the importer writes them all.
constexpr uint64_t max_import_bytes = uint64_t{1} << 20;

void check_featurizer(const ft::bin_reader& r) {
  auto f = fasttext_featurizer::make(fasttext_config_from_bin(r, "__label__"));
  FUZZ_REQUIRE(f,
               "the featurizer refuses a dictionary the reader accepted: " + describe(f.error()));
  FUZZ_REQUIRE((*f)->rows() == r.input_rows(), "featurizer rows " + std::to_string((*f)->rows()) +
                                                   " != input rows " +
                                                   std::to_string(r.input_rows()));
  std::vector<int64_t> ids;
  for (const auto& e : r.dict().entries) (*f)->featurize(e.word + " x" + e.word + "\n", ids);
  for (int64_t id : ids)
    FUZZ_REQUIRE(id >= 0 && static_cast<uint64_t>(id) < r.input_rows(),
                 "featurizer id " + std::to_string(id) + " outside the input matrix");
}

void check_hs(const ft::bin_reader& r) {
  if (r.args().loss != static_cast<int32_t>(ft::loss_name::hs)) return;
  const auto counts = r.dict().label_counts();
  if (auto err = check_hs_counts(counts)) {
    require_code(err, {errc::corrupt_package}, "check_hs_counts");
    return;
  }
  fasttext_hs_tree tree(counts);
  std::vector<float> logits(counts.size() - 1, 0.25f);
  for (const auto& l : tree.predict(logits.data(), -1, 0.0f))
    FUZZ_REQUIRE(l.label < counts.size(), "hs tree predicts a label that does not exist");
}

void check_import(const std::string& bytes, const ft::bin_reader& r) {
  if (r.input_rows() * r.dim() * sizeof(float) > max_import_bytes) return;
  const std::string model = scratch_dir() + "/model.bin", out = scratch_dir() + "/imported";
  std::error_code ec;
  std::filesystem::remove_all(out, ec);
  write_file(model, bytes);
  fasttext_import_options opts;
  opts.name = "fuzz";
  if (auto err = import_fasttext(model, out, opts, {})) {
    require_code(err, {errc::unsupported, errc::corrupt_package}, "import_fasttext");
    return;
  }
  auto p = package::open(out);
  FUZZ_REQUIRE(p, "an imported package does not open: " + describe(p.error()));
  version_entry v;
  if (auto err = describe_version(v, *p)) {
    require_code(err, {errc::corrupt_package, errc::unsupported}, "describe_version");
    return;
  }
  FUZZ_REQUIRE(v.table().rows == r.input_rows() && v.table().cols == r.dim(),
               "the imported table's shape differs from the model's input matrix");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  auto r = ft::bin_reader::open(make_memory_source(bytes));
  if (!r) {
    require_code(r.error(), {errc::corrupt_package, errc::unsupported}, "bin_reader::open");
    return 0;
  }
  const auto& d = r->dict();
  FUZZ_REQUIRE(d.nwords >= 0 && d.nlabels >= 1, "dictionary without labels");
  FUZZ_REQUIRE(d.entries.size() == static_cast<size_t>(d.nwords) + d.nlabels, "entry count");
  for (size_t i = 0; i < d.entries.size(); ++i)
    FUZZ_REQUIRE(d.entries[i].type == (i < static_cast<size_t>(d.nwords) ? 0 : 1),
                 "entry " + std::to_string(i) + " out of words-then-labels order");
  const uint64_t rows =
      static_cast<uint64_t>(d.nwords) +
      (d.pruned() ? static_cast<uint64_t>(d.prune_size) : static_cast<uint64_t>(r->args().bucket));
  FUZZ_REQUIRE(r->input_rows() == rows, "input rows");
  FUZZ_REQUIRE(r->dim() >= 1, "dim");
  const auto& o = r->output();
  FUZZ_REQUIRE(o.rows == d.nlabels && o.cols == static_cast<int64_t>(r->dim()) &&
                   o.dense.size() == static_cast<size_t>(o.rows * o.cols),
               "output matrix shape");
  std::vector<float> x(r->dim(), 1.0f);
  for (int64_t i = 0; i < o.rows; ++i) (void)o.dot_row(x.data(), i);
  std::vector<float> row(r->dim());
  for (uint64_t i : {uint64_t{0}, rows / 2, rows - 1}) {
    if (rows == 0) break;
    auto err = r->read_input_rows(i, 1, row.data());
    FUZZ_REQUIRE(!err, "input row " + std::to_string(i) + " does not read: " + describe(err));
  }
  FUZZ_REQUIRE(r->read_input_rows(rows, 1, row.data()), "a row past the end reads");
  check_featurizer(*r);
  check_hs(*r);
  check_import(bytes, *r);
  return 0;
}
