// manifest.toml <-> tessera::manifest. The format is documented in docs/PACKAGE.md and at the
// top of package/package.cpp. Parsing checks syntax, required keys, types and value ranges;
// consistency between sections and with the directory is validate_manifest's job.
#include <limits>
#include <sstream>

#include "base/toml.hpp"
#include "package/package.hpp"

namespace tessera {
namespace {

constexpr uint64_t max_int = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// Reads typed keys of one TOML table; `where_` names the table in messages ("[embedder]").
class table_reader {
 public:
  table_reader(const toml::table& t, std::string origin, std::string where)
      : t_(t), origin_(std::move(origin)), where_(std::move(where)) {}

  caf::error fail(const std::string& what) const {
    return make_error(errc::corrupt_package, origin_ + ": " + where_ + " " + what);
  }

  caf::error str(const char* key, std::string& out, bool required) const {
    const toml::node* n = t_.get(key);
    if (!n) return required ? fail(std::string("is missing key '") + key + "'") : caf::error{};
    auto v = n->value_exact<std::string>();
    if (!v) return fail(std::string("key '") + key + "' must be a string");
    out = std::move(*v);
    return {};
  }

  caf::error u64(const char* key, uint64_t& out, bool required, uint64_t max = max_int) const {
    const toml::node* n = t_.get(key);
    if (!n) return required ? fail(std::string("is missing key '") + key + "'") : caf::error{};
    auto v = n->value_exact<int64_t>();
    if (!v) return fail(std::string("key '") + key + "' must be an integer");
    if (*v < 0 || static_cast<uint64_t>(*v) > max)
      return fail(std::string("key '") + key + "' = " + std::to_string(*v) +
                  " is out of range [0, " + std::to_string(max) + "]");
    out = static_cast<uint64_t>(*v);
    return {};
  }

  caf::error u32(const char* key, uint32_t& out, bool required) const {
    uint64_t v = out;
    if (auto err = u64(key, v, required, std::numeric_limits<uint32_t>::max())) return err;
    out = static_cast<uint32_t>(v);
    return {};
  }

  // A checksum: exactly 32 hex digits (XXH3-128, high half first).
  caf::error hex(const std::string& what, const toml::node* n, checksum128& out) const {
    auto v = n ? n->value_exact<std::string>() : std::nullopt;
    if (!v || v->size() != 32) return fail(what + " must be a hex string of 32 digits");
    auto sum = checksum_from_hex(*v);
    if (!sum) return fail(what + " '" + *v + "' is not hexadecimal");
    out = *sum;
    return {};
  }

  const toml::table* sub(const char* key) const { return t_.get_as<toml::table>(key); }
  const toml::array* arr(const char* key) const { return t_.get_as<toml::array>(key); }
  bool has(const char* key) const { return t_.contains(key); }
  const std::string& origin() const { return origin_; }
  const std::string& where() const { return where_; }

 private:
  const toml::table& t_;
  std::string origin_;
  std::string where_;
};

template <class Enum, size_t N>
caf::error parse_enum(const table_reader& r, const char* key, const char* const (&names)[N],
                      Enum& out, bool required) {
  std::string s;
  if (auto err = r.str(key, s, required)) return err;
  if (s.empty() && !required) return {};
  for (size_t i = 0; i < N; ++i)
    if (s == names[i]) {
      out = static_cast<Enum>(i);
      return {};
    }
  return r.fail(std::string("key '") + key + "' has unknown value '" + s + "'");
}

// Same order as the enums in package.hpp.
const char* const pooling_names[] = {"mean", "sum", "max"};
const char* const activation_names[] = {"none", "relu", "tanh", "sigmoid"};
const char* const output_names[] = {"softmax", "ova", "hs", "sigmoid", "none"};

caf::error parse_featurizer(const table_reader& r, featurizer_spec& f) {
  if (auto err = r.str("kind", f.kind, true)) return err;
  if (auto err = r.str("vocab", f.vocab, f.kind != "ids")) return err;
  if (auto err = r.u64("buckets", f.buckets, false)) return err;
  if (auto err = r.u32("word_ngrams", f.word_ngrams, false)) return err;
  if (auto err = r.u32("minn", f.minn, false)) return err;
  if (auto err = r.u32("maxn", f.maxn, false)) return err;
  if (auto err = r.str("label_prefix", f.label_prefix, false)) return err;
  return r.str("word_types", f.word_types, false);
}

caf::error parse_embedder(const table_reader& r, embedder_spec& e) {
  if (auto err = r.str("name", e.name, true)) return err;
  if (auto err = r.u64("version", e.version, false)) return err;
  const toml::array* tables = r.arr("tables");
  if (!tables) return r.fail("is missing array 'tables'");
  for (const auto& n : *tables) {
    auto v = n.value_exact<std::string>();
    if (!v) return r.fail("'tables' must hold strings");
    e.tables.push_back(std::move(*v));
  }
  if (auto err = parse_enum(r, "pooling", pooling_names, e.pooling, true)) return err;
  const toml::table* f = r.sub("featurizer");
  if (!f) return r.fail("is missing table [embedder.featurizer]");
  if (auto err =
          parse_featurizer(table_reader(*f, r.origin(), "[embedder.featurizer]"), e.featurizer))
    return err;
  if (!r.has("bags")) return {};
  const toml::array* bags = r.arr("bags");
  if (!bags) return r.fail("'bags' must be an array of tables");
  for (size_t i = 0; i < bags->size(); ++i) {
    const toml::table* t = (*bags)[i].as_table();
    if (!t) return r.fail("bag #" + std::to_string(i) + " is not a table");
    table_reader b(*t, r.origin(), "[[embedder.bags]] #" + std::to_string(i));
    bag_spec spec;
    if (auto err = b.str("name", spec.name, true)) return err;
    if (auto err = parse_enum(b, "pooling", pooling_names, spec.pooling, true)) return err;
    uint64_t padding = 0;
    if (b.has("padding_idx")) {
      if (auto err = b.u64("padding_idx", padding, true)) return err;
      spec.padding_idx = static_cast<int64_t>(padding);
    }
    e.bags.push_back(std::move(spec));
  }
  return {};
}

caf::error parse_classifier(const table_reader& r, classifier_spec& c) {
  if (auto err = r.str("name", c.name, true)) return err;
  if (auto err = r.u64("version", c.version, false)) return err;
  if (auto err = parse_enum(r, "output", output_names, c.output, true)) return err;
  if (auto err = r.str("labels", c.labels, true)) return err;
  if (auto err = r.str("label_counts", c.label_counts, false)) return err;
  const toml::array* layers = r.arr("layers");
  if (!layers) return r.fail("is missing [[classifier.layers]]");
  for (size_t i = 0; i < layers->size(); ++i) {
    const toml::table* t = (*layers)[i].as_table();
    std::string where = "[[classifier.layers]] #" + std::to_string(i);
    if (!t) return r.fail("layer #" + std::to_string(i) + " is not a table");
    table_reader lr(*t, r.origin(), where);
    layer_spec l;
    if (auto err = lr.str("weight", l.weight, true)) return err;
    if (auto err = lr.str("bias", l.bias, false)) return err;
    if (auto err = parse_enum(lr, "activation", activation_names, l.activation, false)) return err;
    c.layers.push_back(std::move(l));
  }
  return {};
}

caf::error parse_tensor(const table_reader& r, tensor_info& t) {
  if (auto err = r.str("name", t.name, true)) return err;
  if (auto err = r.str("file", t.file, true)) return err;
  if (auto err = r.u64("rows", t.rows, true)) return err;
  if (auto err = r.u64("cols", t.cols, true)) return err;
  if (auto err = r.u64("block_rows", t.block_rows, true)) return err;
  const toml::array* sums = r.arr("block_checksums");
  if (!sums) return r.fail("is missing array 'block_checksums'");
  t.block_checksums.reserve(sums->size());
  for (size_t i = 0; i < sums->size(); ++i) {
    checksum128 x;
    if (auto err = r.hex("block_checksums[" + std::to_string(i) + "]", sums->get(i), x)) return err;
    t.block_checksums.push_back(x);
  }
  return {};
}

caf::error parse_root(const toml::table& root, const std::string& origin, manifest& m) {
  table_reader r(root, origin, "top level");
  uint64_t format = 0;
  if (auto err = r.u64("format", format, true)) return err;
  if (format == 1)
    return r.fail(
        "has format = 1: this package was written by an older tessera (checksum64 block "
        "and file checksums), and this build reads only format " +
        std::to_string(manifest::current_format) + " (" + manifest::checksum_algorithm +
        " checksums). Write it again with this build, into a new directory: re-import "
        "it (tessera import fasttext MODEL.bin OUT_DIR), re-generate it (tessera "
        "gen-model OUT_DIR ...), or for the default model run scripts/default_model.sh");
  if (format != manifest::current_format)
    return r.fail("has format = " + std::to_string(format) + ", but this build reads only format " +
                  std::to_string(manifest::current_format));
  m.format = static_cast<uint32_t>(format);
  std::string algorithm;
  if (auto err = r.str("checksum", algorithm, true)) return err;
  if (algorithm != manifest::checksum_algorithm)
    return r.fail("has checksum = '" + algorithm + "', but this build reads only '" +
                  manifest::checksum_algorithm + "'");
  if (auto err = r.str("name", m.name, true)) return err;
  if (r.has("embedder")) {
    const toml::table* t = r.sub("embedder");
    if (!t) return r.fail("'embedder' must be a table");
    m.embedder.emplace();
    if (auto err = parse_embedder(table_reader(*t, origin, "[embedder]"), *m.embedder)) return err;
  }
  if (r.has("classifier")) {
    const toml::table* t = r.sub("classifier");
    if (!t) return r.fail("'classifier' must be a table");
    m.classifier.emplace();
    if (auto err = parse_classifier(table_reader(*t, origin, "[classifier]"), *m.classifier))
      return err;
  }
  if (r.has("tensors")) {
    const toml::array* ts = r.arr("tensors");
    if (!ts) return r.fail("'tensors' must be an array of tables");
    for (size_t i = 0; i < ts->size(); ++i) {
      const toml::table* t = (*ts)[i].as_table();
      if (!t) return r.fail("tensors #" + std::to_string(i) + " is not a table");
      tensor_info info;
      if (auto err =
              parse_tensor(table_reader(*t, origin, "[[tensors]] #" + std::to_string(i)), info))
        return err;
      m.tensors.push_back(std::move(info));
    }
  }
  if (r.has("files")) {
    const toml::table* fs = r.sub("files");
    if (!fs) return r.fail("'files' must be a table");
    for (const auto& [key, node] : *fs) {
      std::string k(key.str());
      const toml::table* t = node.as_table();
      if (!t) return r.fail("[files." + k + "] is not a table");
      table_reader fr(*t, origin, "[files." + k + "]");
      text_file_info info;
      if (auto err = fr.str("file", info.file, true)) return err;
      if (auto err = fr.u64("lines", info.lines, true)) return err;
      if (auto err = fr.hex("key 'checksum'", t->get("checksum"), info.checksum)) return err;
      m.files.emplace_back(std::move(k), std::move(info));
    }
  }
  return {};
}

// TOML integers are signed 64-bit; values above INT64_MAX cannot come from a valid manifest.
int64_t as_int(uint64_t x) {
  return static_cast<int64_t>(x > max_int ? max_int : x);
}

}  // namespace

caf::expected<manifest> parse_manifest(std::string_view text, const std::string& origin) {
  try {
    toml::table root = toml::parse(text, origin);
    manifest m;
    if (auto err = parse_root(root, origin, m)) return err;
    return m;
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << origin << ": TOML syntax error at line " << e.source().begin.line << ", column "
        << e.source().begin.column << ": " << e.description();
    return make_error(errc::corrupt_package, msg.str());
  } catch (const std::exception& e) {
    return make_error(errc::corrupt_package, origin + ": cannot parse: " + e.what());
  }
}

std::string to_toml(const manifest& m) {
  toml::table root;
  root.insert("format", static_cast<int64_t>(m.format));
  root.insert("checksum", manifest::checksum_algorithm);
  root.insert("name", m.name);
  if (m.embedder) {
    const embedder_spec& e = *m.embedder;
    const featurizer_spec& f = e.featurizer;
    toml::array tables;
    for (const auto& t : e.tables) tables.push_back(t);
    toml::table ft{{"kind", f.kind},
                   {"vocab", f.vocab},
                   {"buckets", as_int(f.buckets)},
                   {"word_ngrams", static_cast<int64_t>(f.word_ngrams)},
                   {"minn", static_cast<int64_t>(f.minn)},
                   {"maxn", static_cast<int64_t>(f.maxn)},
                   {"label_prefix", f.label_prefix},
                   {"word_types", f.word_types}};
    toml::table et{{"name", e.name},
                   {"version", as_int(e.version)},
                   {"tables", std::move(tables)},
                   {"pooling", to_string(e.pooling)}};
    et.insert("featurizer", std::move(ft));
    if (!e.bags.empty()) {
      toml::array bags;
      for (const auto& b : e.bags) {
        toml::table bt{{"name", b.name}, {"pooling", to_string(b.pooling)}};
        if (b.padding_idx >= 0) bt.insert("padding_idx", b.padding_idx);
        bags.push_back(std::move(bt));
      }
      et.insert("bags", std::move(bags));
    }
    root.insert("embedder", std::move(et));
  }
  if (m.classifier) {
    const classifier_spec& c = *m.classifier;
    toml::array layers;
    for (const auto& l : c.layers)
      layers.push_back(toml::table{
          {"weight", l.weight}, {"bias", l.bias}, {"activation", to_string(l.activation)}});
    toml::table ct{{"name", c.name},
                   {"version", as_int(c.version)},
                   {"output", to_string(c.output)},
                   {"labels", c.labels},
                   {"label_counts", c.label_counts}};
    ct.insert("layers", std::move(layers));
    root.insert("classifier", std::move(ct));
  }
  toml::array tensors;
  for (const auto& t : m.tensors) {
    toml::array sums;
    for (const checksum128& s : t.block_checksums) sums.push_back(to_hex(s));
    tensors.push_back(toml::table{{"name", t.name},
                                  {"file", t.file},
                                  {"rows", as_int(t.rows)},
                                  {"cols", as_int(t.cols)},
                                  {"block_rows", as_int(t.block_rows)},
                                  {"block_checksums", std::move(sums)}});
  }
  root.insert("tensors", std::move(tensors));
  toml::table files;
  for (const auto& [key, f] : m.files)
    files.insert(
        key, toml::table{
                 {"file", f.file}, {"lines", as_int(f.lines)}, {"checksum", to_hex(f.checksum)}});
  root.insert("files", std::move(files));
  std::ostringstream out;
  out << "# tessera model package manifest (docs/PACKAGE.md)\n" << root << "\n";
  return out.str();
}

}  // namespace tessera
