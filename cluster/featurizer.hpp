#pragma once
// Text to row ids, on the coordinator. Shards never see text.
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "package/package.hpp"

namespace tessera {

class featurizer {
 public:
  virtual ~featurizer() = default;
  // Appends the row ids (into the embedder's tables[0]) of one input text to `ids`, in the
  // order pooling must sum them. A trailing '\n' is part of the text (fastText turns it into
  // "</s>"). Const and thread-safe.
  virtual void featurize(std::string_view text, std::vector<int64_t>& ids) const = 0;
  // Rows of the table the ids index.
  virtual uint64_t rows() const = 0;
};

// Builds the featurizer an embedder's manifest describes, reading its vocabulary files from the
// package. Errors: corrupt_package (inconsistent vocabulary/rows), unsupported (unknown kind).
caf::expected<std::unique_ptr<featurizer>> make_featurizer(const package& pkg);

// The "hashing" featurizer, exposed for tests.
std::unique_ptr<featurizer> make_hashing_featurizer(std::vector<std::string> vocab,
                                                    uint64_t buckets, uint32_t word_ngrams);

}  // namespace tessera
