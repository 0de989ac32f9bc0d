#pragma once
// The "fasttext" model family (cluster/model_family.hpp): text featurized into one table
// (fastText's dictionary rules, or tessera's hashing featurizer), or one bag of ids into it;
// mean or sum pooling; softmax, ova or hs outputs with fastText 0.9.2's arithmetic.
#include "cluster/featurizer.hpp"
#include "cluster/model_family.hpp"

namespace tessera {

// The family of a package whose embedder has a text featurizer (hashing, fasttext).
// Errors: as make_featurizer; corrupt_package (hs label counts), unsupported (output sigmoid
// or none, which belong to the embedding-bag family).
// `embedder` gives the featurizer and table, `classifier` (possibly the same package) the
// output rule.
caf::expected<family_ptr> make_fasttext_family(const package& embedder, const package& classifier);

// The same family from parts, for tests: one table of `featurizer.rows()` rows and `cols`
// columns, an ova or softmax output (hs needs a package).
family_ptr make_fasttext_family(std::shared_ptr<const featurizer> feat, uint64_t cols,
                                pooling_kind pooling, output_kind output, bool fasttext_rules);

}  // namespace tessera
