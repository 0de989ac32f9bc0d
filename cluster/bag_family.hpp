#pragma once
// The "embedding_bag" model family (cluster/model_family.hpp, docs/MODELS.md): PyTorch
// EmbeddingBag tables, each input giving one bag of ids (optionally weighted) per table, pooled
// with PyTorch's semantics and concatenated in table order; Linear layers; a softmax, sigmoid
// or none output.
//
// Pooling (torch.nn.EmbeddingBag, 1.13): sum, mean or max per table; weights only with sum
// (PyTorch refuses per_sample_weights otherwise); an empty bag pools to zeros in every mode;
// padding_idx ids are dropped before pooling (so mean does not count them); an id outside
// [0, rows) is invalid_argument naming the table.
// Outputs: softmax (probabilities over labels), sigmoid (one probability per label), none (the
// raw scores); best first, equal scores by lower label index; `threshold` filters
// probabilities and does not apply to none.
#include "cluster/model_family.hpp"

namespace tessera {

// The family of a package whose embedder has featurizer kind "ids". Errors: corrupt_package
// (tables and [[embedder.bags]] disagree), unsupported (output ova or hs, fastText's).
// `embedder` gives the tables, `classifier` (possibly the same package) the output rule.
caf::expected<family_ptr> make_bag_family(const package& embedder, const package& classifier);

// The same family from parts, for tests.
family_ptr make_bag_family(std::vector<table_shape> tables, output_kind output,
                           activation_kind last_activation);

}  // namespace tessera
