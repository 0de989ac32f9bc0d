#include "actors/version_builder.hpp"

#include <cstdlib>

namespace tessera {
namespace {

tensor_shards make_tensor(const tensor_info& t, const std::string& bias, shard_kind kind) {
  tensor_shards out;
  out.tensor = t.name;
  out.bias = bias;
  out.kind = kind;
  out.rows = t.rows;
  out.cols = t.cols;
  return out;
}

// Content identity of an embedder: its name@version and the rows_digest of each whole table
// (the tables' shapes and block checksums).
std::string fingerprint_of(const manifest& meta) {
  const auto& e = *meta.embedder;
  std::string out = e.name + "@" + std::to_string(e.version);
  char sep = '#';
  for (const auto& name : e.tables) {
    const auto* t = meta.find_tensor(name);
    auto digest = rows_digest(meta, name, 0, t ? t->rows : 0);
    out += sep;
    out += digest ? *digest : "missing:" + name;  // validate_manifest makes this unreachable
    sep = '+';
  }
  return out;
}

caf::error read_hs_tree(version_entry& v, const package& pkg, const classifier_spec& c) {
  auto lines = pkg.read_lines(c.label_counts);
  if (!lines) return lines.error();
  std::vector<int64_t> counts;
  for (const auto& l : *lines) {
    char* end = nullptr;
    counts.push_back(std::strtoll(l.c_str(), &end, 10));
    if (l.empty() || *end != '\0' || counts.back() < 0)
      return make_error(errc::corrupt_package, "label count '" + l + "' is not a count");
  }
  if (counts.size() != v.labels->size() || v.layers().back().rows + 1 != counts.size())
    return make_error(errc::corrupt_package,
                      "hs needs one count per label and labels - 1 output rows");
  if (auto err = check_hs_counts(counts)) return err;
  v.hs_tree = std::make_shared<const fasttext_hs_tree>(counts);
  return caf::none;
}

}  // namespace

std::string embedder_fingerprint(const manifest& meta) {
  return fingerprint_of(meta);
}

std::string manifest_digest(const manifest& meta) {
  const auto text = to_toml(meta);
  return "xxh3-128:" + to_hex(xxh3_128(text.data(), text.size()));
}

caf::expected<shard_spec> spec_for(const std::string& incarnation, const manifest& meta,
                                   const submodel_entry& owner, const tensor_shards& t,
                                   row_range rows, size_t shard, size_t r) {
  auto content = replica_content(meta, t.tensor, t.bias, rows.begin, rows.end);
  if (!content) return content.error();
  auto id = incarnation.substr(0, 8) + "/" + owner.name + "/e" + std::to_string(owner.epoch) + "/" +
            t.tensor + "/" + std::to_string(shard) + "/r" + std::to_string(r) + "/" +
            content->substr(0, 16);
  return shard_spec{id,
                    owner.path,
                    t.tensor,
                    t.bias,
                    rows.begin,
                    rows.end,
                    owner.epoch,
                    static_cast<uint8_t>(t.kind),
                    std::move(*content)};
}

caf::error describe_version(version_entry& v, const package& pkg) {
  v.path = pkg.dir();
  v.meta = pkg.meta();
  v.content = manifest_digest(v.meta);
  const auto& meta = pkg.meta();
  if (!meta.embedder || meta.embedder->tables.empty())
    return make_error(errc::corrupt_package, "package " + pkg.dir() + " has no embedder table");
  const auto& e = *meta.embedder;
  auto feat = make_featurizer(pkg);
  if (!feat) return feat.error();
  v.feat = std::shared_ptr<const featurizer>{std::move(*feat)};
  v.pooling = e.pooling;
  v.fasttext_rules = e.featurizer.kind == "fasttext";
  v.embedder = std::make_shared<submodel_entry>();
  v.embedder->name = e.name + "@" + std::to_string(e.version);
  v.embedder->fingerprint = fingerprint_of(meta);
  v.embedder->path = pkg.dir();
  const auto* table = meta.find_tensor(e.tables[0]);
  v.embedder->tensors.push_back(make_tensor(*table, "", shard_kind::embedding));
  if (v.feat->rows() != table->rows)
    return make_error(errc::corrupt_package,
                      "featurizer addresses " + std::to_string(v.feat->rows()) +
                          " rows but the table has " + std::to_string(table->rows));
  if (!meta.classifier) return caf::none;
  const auto& c = *meta.classifier;
  v.output = c.output;
  auto labels = pkg.read_lines(c.labels);
  if (!labels) return labels.error();
  v.labels = std::make_shared<const std::vector<std::string>>(std::move(*labels));
  v.classifier = std::make_shared<submodel_entry>();
  v.classifier->name = c.name + "@" + std::to_string(c.version);
  v.classifier->path = pkg.dir();
  for (const auto& l : c.layers) {
    v.classifier->tensors.push_back(
        make_tensor(*meta.find_tensor(l.weight), l.bias, shard_kind::layer));
    v.activations.push_back(l.activation);
  }
  if (c.output == output_kind::hs) return read_hs_tree(v, pkg, c);
  if (v.layers().back().rows != v.labels->size())
    return make_error(errc::corrupt_package,
                      "output layer has " + std::to_string(v.layers().back().rows) + " rows for " +
                          std::to_string(v.labels->size()) + " labels");
  return caf::none;
}

}  // namespace tessera
