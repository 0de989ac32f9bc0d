#include "actors/version_builder.hpp"

#include <algorithm>

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

}  // namespace

std::string embedder_fingerprint(const manifest& meta) {
  return fingerprint_of(meta);
}

std::string manifest_digest(const manifest& meta) {
  const auto text = to_toml(meta);
  return "xxh3-128:" + to_hex(xxh3_128(text.data(), text.size()));
}

std::string kept_package_name(const std::string& content) {
  std::string name = content;
  for (auto& c : name)
    if (c == ':' || c == '/') c = '-';
  return name;
}

std::string kept_package_dir(const std::string& root, const std::string& content) {
  return root + "/" + kept_package_name(content);
}

caf::expected<shard_spec> spec_for(const std::string& incarnation, const manifest& meta,
                                   const submodel_entry& owner, const tensor_shards& t,
                                   row_range rows, size_t shard, size_t r) {
  auto content = replica_content(meta, t.tensor, t.bias, rows.begin, rows.end);
  if (!content) return content.error();
  auto id = incarnation.substr(0, 8) + "/" + owner.name + "/e" + std::to_string(owner.epoch) + "/" +
            t.tensor + "/" + std::to_string(shard) + "/r" + std::to_string(r) + "/" +
            content->substr(0, 16);
  auto blocks = blocks_of(meta, t.tensor, rows.begin, rows.end);
  if (!blocks) return blocks.error();
  tensor_blocks bias_blocks;
  if (!t.bias.empty()) {
    auto b = blocks_of(meta, t.bias, rows.begin, rows.end);
    if (!b) return b.error();
    bias_blocks = std::move(*b);
  }
  shard_spec spec;
  spec.replica_id = std::move(id);
  spec.package_dir = owner.path;
  spec.tensor = t.tensor;
  spec.bias = t.bias;
  spec.row_begin = rows.begin;
  spec.row_end = rows.end;
  spec.epoch = owner.epoch;
  spec.kind = static_cast<uint8_t>(t.kind);
  spec.content = std::move(*content);
  spec.rows_blocks = std::move(*blocks);
  spec.bias_blocks = std::move(bias_blocks);
  return spec;
}

namespace {

// v.meta for a version composed of a classifier package and another package's embedder: the
// classifier's manifest plus the embedder's section and tensors, so that every tensor the
// version places or digests is found by name. Errors: invalid_argument (a package of the
// wrong kind, or a tensor name both use).
caf::expected<manifest> composed_meta(const package& pkg, const package& emb) {
  if (pkg.meta().embedder || !pkg.meta().classifier)
    return make_error(errc::invalid_argument, "package " + pkg.dir() +
                                                  " is not a classifier-only package; only those " +
                                                  "load on another model's embedder");
  if (!emb.meta().embedder)
    return make_error(errc::invalid_argument, "package " + emb.dir() + " has no embedder");
  manifest m = pkg.meta();
  m.embedder = emb.meta().embedder;
  for (const auto& t : emb.meta().tensors) {
    if (std::find(m.embedder->tables.begin(), m.embedder->tables.end(), t.name) ==
        m.embedder->tables.end())
      continue;
    if (m.find_tensor(t.name))
      return make_error(errc::invalid_argument, "tensor '" + t.name + "' is in both " + pkg.dir() +
                                                    " and the embedder's package " + emb.dir());
    m.tensors.push_back(t);
  }
  return m;
}

}  // namespace

caf::error describe_version(version_entry& v, const package& pkg, const package* embedder_pkg) {
  const package& emb = embedder_pkg ? *embedder_pkg : pkg;
  v.path = pkg.dir();
  if (embedder_pkg) {
    auto m = composed_meta(pkg, emb);
    if (!m) return m.error();
    v.meta = std::move(*m);
  } else {
    if (!pkg.meta().embedder && pkg.meta().classifier)
      return make_error(errc::invalid_argument,
                        "package " + pkg.dir() + " holds only a classifier: load it with " +
                            "--embedder MODEL[@VERSION] on a model whose embedder it takes");
    v.meta = pkg.meta();
  }
  v.content = manifest_digest(v.meta);
  const auto& meta = v.meta;
  auto family = make_family(emb, pkg);  // refuses a package without an embedder table
  if (!family) return family.error();
  v.family = std::move(*family);
  const auto& e = *meta.embedder;
  v.embedder = std::make_shared<submodel_entry>();
  v.embedder->name = e.name + "@" + std::to_string(e.version);
  v.embedder->fingerprint = fingerprint_of(emb.meta());
  v.embedder->path = emb.dir();
  for (const auto& t : v.family->tables())
    v.embedder->tensors.push_back(
        make_tensor(*meta.find_tensor(t.tensor), "", shard_kind::embedding));
  if (!meta.classifier) return caf::none;
  const auto& c = *meta.classifier;
  if (embedder_pkg) {
    const auto* first = meta.find_tensor(c.layers.front().weight);
    if (first->cols != v.family->dim())
      return make_error(errc::invalid_argument, "the classifier's first layer '" + first->name +
                                                    "' takes " + std::to_string(first->cols) +
                                                    " inputs, but embedder " + v.embedder->name +
                                                    " gives " + std::to_string(v.family->dim()));
  }
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
  return v.family->check_output_rows(v.layers().back().rows, v.labels->size());
}

}  // namespace tessera
