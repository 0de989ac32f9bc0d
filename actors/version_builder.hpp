#pragma once
// Describes a model version from its package, before it is placed: featurizer, labels, output
// rule, activations, and its sub-models with their tensors (no shards yet). Used by a load and
// by a coordinator recovering its registry. Plain functions; no actor.
#include "actors/registry.hpp"

namespace tessera {

// Fills `v` from `pkg`: path, manifest and its digest (`content`), model family, embedder
// (with its content fingerprint) and classifier. With `embedder_pkg`, `pkg` is a
// classifier-only package composed with that package's embedder (tessera load --embedder):
// v.meta is then the classifier's manifest plus the embedder's section and tables.
// Errors: corrupt_package (naming what does not fit), io_error, invalid_argument (a
// classifier-only package without `embedder_pkg`, a package with its own embedder with it, or
// a classifier whose first layer does not take the embedder's width, naming both), unsupported.
caf::error describe_version(version_entry& v, const package& pkg,
                            const package* embedder_pkg = nullptr);

// Content identity of a package's embedder: its name@version and every table's checksums and
// shape. Two packages with the same fingerprint carry bit-identical embedder tables.
std::string embedder_fingerprint(const manifest& meta);

// A digest of everything in a package's manifest (every tensor's and file's checksums, shapes,
// featurizer and classifier settings): equal digests mean the package serves the same answers.
// Persisted with each version so a recovered version is refused if its package changed.
std::string manifest_digest(const manifest& meta);

// Where a coordinator keeps the metadata of the package whose manifest_digest is `content`
// (package/kept_package.hpp) under `root` (<state_dir>/packages).
std::string kept_package_dir(const std::string& root, const std::string& content);
// Its last path component.
std::string kept_package_name(const std::string& content);

// What a node is told to load for replica `r` of shard `shard` (rows `rows`) of tensor `t` of
// `owner`, whose package manifest is `meta`. Its id names the cluster incarnation, sub-model,
// epoch, tensor, shard, replica and a prefix of the rows' content digest; the spec carries the
// whole digest. Errors: invalid_argument (a range outside the tensor: our bug).
caf::expected<shard_spec> spec_for(const std::string& incarnation, const manifest& meta,
                                   const submodel_entry& owner, const tensor_shards& t,
                                   row_range rows, size_t shard, size_t r);

}  // namespace tessera
